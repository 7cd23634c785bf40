package election_test

import (
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are the module paths that package election, its test harness, the board's formats (ledger/tlog)
// and the verifier (verify) must never link: a verifier or a voting client built on them must not carry a gRPC
// stack, a database or a metrics system. The record messages live in their own package (api/recount/record/v1) for this
// reason; the services beside them use gRPC. For the same reason the board is split: ledger/tlog (formats, proofs,
// the export reader) beside ledger (the bbolt Log).
var forbiddenDeps = []string{
	"google.golang.org/grpc",
	"go.etcd.io/bbolt",
	"github.com/prometheus",
}

// TestPureDependencies fails if package election, electiontest, ledger/tlog or verify depends, directly or through
// any import, on a package of forbiddenDeps, naming for each such module the shortest chain of imports that brings
// it in.
func TestPureDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH:", err)
	}
	roots := []string{
		"github.com/recount-vote/recount/election",
		"github.com/recount-vote/recount/election/electiontest",
		"github.com/recount-vote/recount/ledger/tlog",
		"github.com/recount-vote/recount/verify",
	}
	args := append([]string{"list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`}, roots...)
	out, err := exec.Command(goTool, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	imports := make(map[string][]string) // package -> its direct imports
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) > 0 {
			imports[fields[0]] = fields[1:]
		}
	}
	for _, root := range roots {
		if _, ok := imports[root]; !ok {
			t.Fatalf("go list did not list %s", root)
		}
		// Breadth-first from root, so that each chain reported is a shortest one.
		parent := map[string]string{root: ""}
		reported := make(map[string]bool) // modules of forbiddenDeps already reported for root
		queue := []string{root}
		for len(queue) > 0 {
			pkg := queue[0]
			queue = queue[1:]
			if mod := forbiddenModule(pkg); mod != "" {
				if reported[mod] {
					continue
				}
				reported[mod] = true
				chain := []string{pkg}
				for p := parent[pkg]; p != ""; p = parent[p] {
					chain = append(chain, p)
				}
				for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
					chain[i], chain[j] = chain[j], chain[i]
				}
				t.Errorf("%s depends on %s:\n\t%s", root, pkg, strings.Join(chain, "\n\t-> "))
				continue
			}
			for _, imp := range imports[pkg] {
				if _, seen := parent[imp]; !seen {
					parent[imp] = pkg
					queue = append(queue, imp)
				}
			}
		}
	}
}

// forbiddenModule returns the entry of forbiddenDeps that pkg is in, or "" if none.
func forbiddenModule(pkg string) string {
	for _, mod := range forbiddenDeps {
		if pkg == mod || strings.HasPrefix(pkg, mod+"/") {
			return mod
		}
	}
	return ""
}

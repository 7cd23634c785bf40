package election_test

import (
	"os/exec"
	"slices"
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

// nodePkg is the node (the server), which no client of it links.
const nodePkg = "github.com/recount-vote/recount/node"

// forbiddenFor maps each package checked to the module paths it must not link. The voting client (client) links
// no gRPC either, so that it builds for a browser (WebAssembly) and any transport carries it: the gRPC one is
// client/grpcnode, beside it; nor does it link the node. The trustee daemon (trustee) follows the board over gRPC
// and keeps its sealed store in bbolt, but links neither the node nor a metrics system.
var forbiddenFor = map[string][]string{
	"github.com/recount-vote/recount/election":              forbiddenDeps,
	"github.com/recount-vote/recount/election/electiontest": forbiddenDeps,
	"github.com/recount-vote/recount/ledger/tlog":           forbiddenDeps,
	"github.com/recount-vote/recount/verify":                forbiddenDeps,
	"github.com/recount-vote/recount/client":                append(slices.Clone(forbiddenDeps), nodePkg),
	"github.com/recount-vote/recount/client/webnode":        append(slices.Clone(forbiddenDeps), nodePkg),
	"github.com/recount-vote/recount/client/booth":          append(slices.Clone(forbiddenDeps), nodePkg),
	"github.com/recount-vote/recount/trustee":               {"github.com/prometheus", nodePkg},
}

func TestPureDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH:", err)
	}
	var roots []string
	for root := range forbiddenFor {
		roots = append(roots, root)
	}
	slices.Sort(roots)
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
		reported := make(map[string]bool) // forbidden modules already reported for root
		queue := []string{root}
		for len(queue) > 0 {
			pkg := queue[0]
			queue = queue[1:]
			if mod := forbiddenModule(pkg, forbiddenFor[root]); mod != "" {
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

// forbiddenModule returns the entry of forbidden that pkg is in, or "" if none.
func forbiddenModule(pkg string, forbidden []string) string {
	for _, mod := range forbidden {
		if pkg == mod || strings.HasPrefix(pkg, mod+"/") {
			return mod
		}
	}
	return ""
}

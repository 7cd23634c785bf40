package node

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// notInCore are the imports of the gRPC side: the service messages and stubs, and gRPC itself.
var notInCore = []string{
	"github.com/recount-vote/recount/api/recount/v1",
	"google.golang.org/grpc",
	"google.golang.org/genproto",
}

// TestCoreImportsNoGRPC: the node's core (every file but grpc_*.go, which translate to and from the services'
// messages and status codes) takes and returns domain values only, so that it imports neither gRPC nor the
// service messages.
func TestCoreImportsNoGRPC(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	core := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.HasPrefix(name, "grpc_") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		core++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range notInCore {
				if path == p || strings.HasPrefix(path, p+"/") {
					t.Errorf("%s imports %s: only grpc_*.go may; the core takes and returns domain values", name, path)
				}
			}
		}
	}
	if core == 0 {
		t.Fatal("no core file found")
	}
}

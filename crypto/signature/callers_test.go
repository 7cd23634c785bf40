package signature

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOneVerifier: outside this package, no code of the module verifies an Ed25519 signature or reads a note
// verifier key by itself (crypto/ed25519.Verify, note.NewVerifier), so every key and signature of the record goes
// through CheckKey and Verify (ledger/tlog.NewVerifier wraps note.NewVerifier with CheckKey; tests are free).
func TestOneVerifier(t *testing.T) {
	direct := regexp.MustCompile(`\bed25519\.Verify(WithOptions)?\(|\bnote\.NewVerifier\(`)
	allowed := map[string]int{filepath.FromSlash("ledger/tlog/key.go"): 1}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Dir(rel) == filepath.FromSlash("crypto/signature") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := len(direct.FindAll(src, -1)); n > allowed[rel] {
			t.Errorf("%s verifies Ed25519 by itself (%d calls); call package crypto/signature", rel, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

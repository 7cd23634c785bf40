package booth

import (
	"crypto/rand"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
)

// TestCosigners: the names on a cosigned checkpoint's other signature lines, once the board's signature is
// checked; a wrong board key or a malformed note gives none.
func TestCosigners(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "board.example/test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.SignCheckpoint(signer, "board.example/test", 7, [32]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	cosigned := append(append([]byte(nil), cp.Signed...), "\u2014 witness.example/a AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\u2014 observer.example/b AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"...)
	got, names, ok := cosigners(cosigned, vkey)
	if !ok || got.Size != 7 || len(names) != 2 || names[0] != "witness.example/a" || names[1] != "observer.example/b" {
		t.Fatalf("cosigners: %v %v %v", got, names, ok)
	}
	_, otherKey, _ := note.GenerateKey(rand.Reader, "board.example/test")
	for name, c := range map[string]struct {
		note []byte
		key  string
	}{
		"another board's key": {cosigned, otherKey},
		"no signatures":       {[]byte("board.example/test\n7\nAQ==\n"), vkey},
		"a malformed line":    {append(append([]byte(nil), cp.Signed...), "not a signature\n"...), vkey},
		"empty":               {nil, vkey},
	} {
		if _, _, ok := cosigners(c.note, c.key); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

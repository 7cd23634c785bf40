package ledger

import (
	"bytes"
	"strings"
	"testing"

	"github.com/recount-vote/recount/ledger/tlog"
	"golang.org/x/mod/sumdb/note"
)

func TestKeyFile(t *testing.T) {
	t.Parallel()
	l, dir := newTestLog(t)
	s, vkey, err := readKeyFile(dir + "/" + KeyFileName)
	if err != nil {
		t.Fatal(err)
	}
	if vkey != l.VerifierKey() || s.Name() != testOrigin {
		t.Fatalf("key file holds %s (%s), board has %s", vkey, s.Name(), l.VerifierKey())
	}
	if !strings.HasPrefix(vkey, testOrigin+"+") {
		t.Fatalf("verifier key %q is not named by the origin", vkey)
	}
	if fp := tlog.KeyFingerprint(vkey); !strings.HasPrefix(fp, "sha256:") || len(fp) != 7+64 {
		t.Fatalf("fingerprint %q", fp)
	}
	if tlog.KeyFingerprint(vkey) == tlog.KeyFingerprint(mustOtherKey(t)) {
		t.Fatal("two keys with one fingerprint")
	}
}

func FuzzParseKeys(f *testing.F) {
	skey, vkey, err := note.GenerateKey(bytes.NewReader(make([]byte, 64)), testOrigin)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(skey)
	f.Add(vkey)
	f.Add("PRIVATE+KEY+a+00000000+")
	f.Fuzz(func(t *testing.T, key string) {
		if v, err := tlog.NewVerifier(key); err == nil {
			canon, err := note.NewVerifier(key)
			if err != nil || canon.Name() != v.Name() {
				t.Fatalf("accepted verifier key %q that note refuses", key)
			}
			if tlog.CheckOrigin(v.Name()) != nil {
				t.Fatalf("accepted verifier key %q with a bad name", key)
			}
		}
		if s, vk, err := parseSignerKey(key); err == nil {
			if _, err := tlog.NewVerifier(vk); err != nil {
				t.Fatalf("private key %q gives an invalid verifier key %q: %v", key, vk, err)
			}
			if s.Name() == "" {
				t.Fatal("empty name")
			}
		}
	})
}

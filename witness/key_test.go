package witness

import (
	"crypto/rand"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
)

func TestKeyRoundTrip(t *testing.T) {
	skey, vkey, err := GenerateKey("witness.example/w1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifierKey(skey)
	if err != nil || got != vkey {
		t.Fatalf("VerifierKey = %q, %v; want %q", got, err, vkey)
	}
	// The published key reads with transparency-dev/formats as a cosignature/v1 key of the same name and ID.
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name() != s.Name() || v.KeyHash() != s.KeyHash() {
		t.Fatalf("formats reads %s+%08x, the signer is %s+%08x", v.Name(), v.KeyHash(), s.Name(), s.KeyHash())
	}
	if !strings.HasPrefix(vkey, "witness.example/w1+") {
		t.Fatalf("vkey %q", vkey)
	}
}

func TestBadKeys(t *testing.T) {
	skey, _, err := GenerateKey("witness.example/w1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(skey, "+", 5)
	for name, bad := range map[string]string{
		"empty":        "",
		"not private":  "PUBLIC+KEY+" + strings.Join(parts[2:], "+"),
		"wrong key ID": "PRIVATE+KEY+" + parts[2] + "+00000000+" + parts[4],
		"other name":   "PRIVATE+KEY+witness.example/w2+" + parts[3] + "+" + parts[4],
		"space name":   "PRIVATE+KEY+w 1+" + parts[3] + "+" + parts[4],
		"Ed25519 type": "PRIVATE+KEY+" + parts[2] + "+" + parts[3] + "+AQ" + parts[4][2:],
		"short key":    "PRIVATE+KEY+" + parts[2] + "+" + parts[3] + "+BAAA",
	} {
		if _, err := NewSigner(bad); err == nil {
			t.Errorf("%s: NewSigner(%q) succeeded", name, bad)
		}
	}
	if _, _, err := GenerateKey("has space", rand.Reader); err == nil {
		t.Error("GenerateKey accepted a name with a space")
	}
}

package tlog

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"filippo.io/edwards25519"
	"golang.org/x/mod/sumdb/note"
)

// TestNewVerifierKeyRule: the board's key obeys the rule of every key the record holds (docs/protocol.md,
// section 14): a verifier key holding a small-order, mixed-order or non-canonically encoded point is refused,
// though note.NewVerifier (and crypto/ed25519.Verify behind it) takes it.
func TestNewVerifierKeyRule(t *testing.T) {
	t.Parallel()
	honest := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	a, err := new(edwards25519.Point).SetBytes(honest)
	if err != nil {
		t.Fatal(err)
	}
	order8, err := new(edwards25519.Point).SetBytes([]byte{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05})
	if err != nil {
		t.Fatal(err)
	}
	identityYPlusP := append([]byte{0xee}, []byte(strings.Repeat("\xff", 30)+"\x7f")...)
	for _, c := range []struct {
		name string
		key  []byte
		ok   bool
	}{
		{"honest", honest, true},
		{"the identity", edwards25519.NewIdentityPoint().Bytes(), false},
		{"the identity, y = 1 + p", identityYPlusP, false},
		{"order 8", order8.Bytes(), false},
		{"mixed order", new(edwards25519.Point).Add(a, order8).Bytes(), false},
	} {
		vkey, err := note.NewEd25519VerifierKey(testOrigin, c.key)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if _, err := note.NewVerifier(vkey); err != nil {
			t.Fatalf("%s: note.NewVerifier refuses it already: %v", c.name, err)
		}
		_, err = NewVerifier(vkey)
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %v, want ErrBadKey", c.name, err)
		}
	}
}

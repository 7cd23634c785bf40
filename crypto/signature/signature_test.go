package signature

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"filippo.io/edwards25519"
)

// torsion returns the 8 points of order dividing 8, as multiples of one of order 8.
func torsion(t *testing.T) []*edwards25519.Point {
	t8, err := new(edwards25519.Point).SetBytes([]byte{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05})
	if err != nil {
		t.Fatal(err)
	}
	out := []*edwards25519.Point{edwards25519.NewIdentityPoint()}
	for i := 1; i < 8; i++ {
		out = append(out, new(edwards25519.Point).Add(out[i-1], t8))
	}
	if new(edwards25519.Point).Add(out[7], t8).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("the point is not of order 8")
	}
	return out[:8]
}

// TestCheckKey: every key crypto/ed25519 makes passes; each of them plus a nonzero torsion point fails as mixed
// order; each torsion point fails as small order.
func TestCheckKey(t *testing.T) {
	tor := torsion(t)
	for i := 0; i < 64; i++ {
		seed := make([]byte, ed25519.SeedSize)
		seed[0], seed[1] = byte(i), 0x5a
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if err := CheckKey(pub); err != nil {
			t.Fatalf("honest key %x: %v", pub, err)
		}
		a, err := new(edwards25519.Point).SetBytes(pub)
		if err != nil {
			t.Fatal(err)
		}
		for j, T := range tor[1:] {
			mixed := new(edwards25519.Point).Add(a, T).Bytes()
			if err := CheckKey(mixed); !errors.Is(err, ErrBadKey) {
				t.Fatalf("key plus torsion point %d: %v, want ErrBadKey", j+1, err)
			}
		}
	}
	for j, T := range tor {
		if err := CheckKey(T.Bytes()); !errors.Is(err, ErrBadKey) {
			t.Fatalf("torsion point %d: %v, want ErrBadKey", j, err)
		}
	}
}

func TestVerify(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	msg := []byte("message")
	sig := ed25519.Sign(priv, msg)
	if err := Verify(pub, msg, sig); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		pub, msg, sig []byte
		want          error
	}{
		{"another message", pub, []byte("massage"), sig, ErrBadSignature},
		{"short signature", pub, msg, sig[:63], ErrBadSignature},
		{"no signature", pub, msg, nil, ErrBadSignature},
		{"short key", pub[:31], msg, sig, ErrBadKey},
		{"no key", nil, msg, sig, ErrBadKey},
	} {
		if err := Verify(c.pub, c.msg, c.sig); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		// For keys of the right length (CheckKey's job is the rest), VerifyCheckedKey decides as Verify.
		if err := VerifyCheckedKey(c.pub, c.msg, c.sig); !errors.Is(err, c.want) {
			t.Errorf("%s: VerifyCheckedKey: %v, want %v", c.name, err, c.want)
		}
	}
	if err := VerifyCheckedKey(pub, msg, sig); err != nil {
		t.Fatal(err)
	}
	// A signature that verifies under another key does not verify under this one.
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	if err := VerifyCheckedKey(pub, msg, ed25519.Sign(other, msg)); !errors.Is(err, ErrBadSignature) {
		t.Errorf("another key's signature: %v, want %v", err, ErrBadSignature)
	}
}

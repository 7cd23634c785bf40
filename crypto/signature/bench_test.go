package signature

import (
	"crypto/ed25519"
	"testing"
)

// BenchmarkCheckKey: the key rule runs once per credential published and once per ballot.
func BenchmarkCheckKey(b *testing.B) {
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	for b.Loop() {
		if err := CheckKey(pub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 1000)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if err := Verify(pub, msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCheckedKey is BenchmarkVerify without the key rule's check, as for a listed credential.
func BenchmarkVerifyCheckedKey(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	msg := make([]byte, 1000)
	sig := ed25519.Sign(priv, msg)
	for b.Loop() {
		if err := VerifyCheckedKey(pub, msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

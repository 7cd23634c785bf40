package elgamal

import (
	"testing"

	"github.com/recount-vote/recount/crypto/group"
)

func BenchmarkEncrypt(b *testing.B) {
	_, pk, _ := GenerateKey(nil)
	nonce, _ := group.RandomScalar(nil)
	for b.Loop() {
		pk.Encrypt(1, nonce)
	}
}

func BenchmarkNewPublicKey(b *testing.B) {
	_, pk, _ := GenerateKey(nil)
	k := pk.Element()
	for b.Loop() {
		if _, err := NewPublicKey(k); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMulBatch3x3 is the multiplications of an encryption with its {0, 1} proof: three with base g, three
// with base K.
func BenchmarkMulBatch3x3(b *testing.B) {
	_, pk, _ := GenerateKey(nil)
	gs, ks := make([]*group.Scalar, 3), make([]*group.Scalar, 3)
	gOut, kOut := make([]*group.Element, 3), make([]*group.Element, 3)
	for i := range gs {
		gs[i], _ = group.RandomScalar(nil)
		ks[i], _ = group.RandomScalar(nil)
		gOut[i], kOut[i] = group.NewElement(), group.NewElement()
	}
	pk.MulBatch(gOut, gs, kOut, ks)
	for b.Loop() {
		pk.MulBatch(gOut, gs, kOut, ks)
	}
}

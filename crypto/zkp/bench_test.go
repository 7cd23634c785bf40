package zkp

import (
	"testing"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
)

// Benchmarks of the proofs, one core: go test -bench . -cpu 1 ./crypto/zkp

func benchKey(b *testing.B) *elgamal.PublicKey {
	_, pk, err := elgamal.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	return pk
}

// BenchmarkEncryptOption is the voter's work per option of a ballot: encrypt 0 or 1 and prove it in {0, 1}.
func BenchmarkEncryptOption(b *testing.B) {
	pk := benchKey(b)
	for b.Loop() {
		if _, _, _, err := EncryptInRange(testCtx, pk, 1, 0, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyOption is the verifier's work per option: check the {0, 1} proof of a ciphertext.
func BenchmarkVerifyOption(b *testing.B) {
	pk := benchKey(b)
	ct, _, p, err := EncryptInRange(testCtx, pk, 1, 0, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	pk.VarTimeTable() // built once per election, not per proof
	for b.Loop() {
		if err := p.Verify(testCtx, pk, ct, 0, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProveRange0to10(b *testing.B) {
	pk := benchKey(b)
	ct, nonce, err := pk.EncryptRandom(7, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ProveRange(testCtx, pk, ct, 7, nonce, 0, 10, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRange0to10(b *testing.B) {
	pk := benchKey(b)
	ct, _, p, err := EncryptInRange(testCtx, pk, 7, 0, 10, nil)
	if err != nil {
		b.Fatal(err)
	}
	pk.VarTimeTable()
	for b.Loop() {
		if err := p.Verify(testCtx, pk, ct, 0, 10); err != nil {
			b.Fatal(err)
		}
	}
}

// The textbook prover and verifier of rangeproof_ref_test.go, for comparison.

func BenchmarkEncryptOptionReference(b *testing.B) {
	pk := benchKey(b)
	for b.Loop() {
		if _, _, _, err := refEncryptInRange(testCtx, pk, 1, 0, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyOptionReference(b *testing.B) {
	pk := benchKey(b)
	ct, _, p, err := EncryptInRange(testCtx, pk, 1, 0, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := refVerifyRange(p, testCtx, pk, ct, 0, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSchnorrProve(b *testing.B) {
	x := rnd(b)
	X := group.NewElement().ScalarBaseMult(x)
	for b.Loop() {
		if _, err := ProveSchnorr(testCtx, x, X, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSchnorrVerify(b *testing.B) {
	x := rnd(b)
	X := group.NewElement().ScalarBaseMult(x)
	p, _ := ProveSchnorr(testCtx, x, X, nil)
	for b.Loop() {
		if err := p.Verify(testCtx, X); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChaumPedersenProve(b *testing.B) {
	s := rnd(b)
	H := group.NewElement().ScalarBaseMult(rnd(b))
	X := group.NewElement().ScalarBaseMult(s)
	Y := group.NewElement().ScalarMult(s, H)
	for b.Loop() {
		if _, err := ProveChaumPedersen(testCtx, s, H, X, Y, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChaumPedersenVerify(b *testing.B) {
	s := rnd(b)
	H := group.NewElement().ScalarBaseMult(rnd(b))
	X := group.NewElement().ScalarBaseMult(s)
	Y := group.NewElement().ScalarMult(s, H)
	p, _ := ProveChaumPedersen(testCtx, s, H, X, Y, nil)
	for b.Loop() {
		if err := p.Verify(testCtx, H, X, Y); err != nil {
			b.Fatal(err)
		}
	}
}

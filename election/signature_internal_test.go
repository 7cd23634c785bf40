package election

import (
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"
	"strings"
	"testing"

	"filippo.io/edwards25519"
)

// TestBallotSignatureKeyRule: a ballot whose credential has a torsion component is refused by check 10 even when
// its signature verifies under crypto/ed25519.Verify alone (k a multiple of 8), and the reason names the key.
func TestBallotSignatureKeyRule(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	h := sha512.Sum512(seed)
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	order8, err := new(edwards25519.Point).SetBytes([]byte{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05})
	if err != nil {
		t.Fatal(err)
	}
	mixed := new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(a), order8).Bytes()
	r, err := edwards25519.NewScalar().SetUniformBytes(make([]byte, 64))
	if err != nil {
		t.Fatal(err)
	}
	r.Add(r, a) // any nonzero nonce
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
	for n := 0; ; n++ {
		body := fmt.Appendf(nil, "ballot %d", n)
		msg := append([]byte(ballotSignaturePrefix), body...)
		kh := sha512.New()
		kh.Write(R)
		kh.Write(mixed)
		kh.Write(msg)
		k, err := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		sig := append(append([]byte{}, R...), edwards25519.NewScalar().MultiplyAdd(k, a, r).Bytes()...)
		if !ed25519.Verify(mixed, msg, sig) {
			continue // k not a multiple of 8: try the next body
		}
		b := &Ballot{body: body, signature: sig}
		copy(b.Credential[:], mixed)
		err = b.CheckSignature()
		if err == nil || !strings.Contains(err.Error(), "credential") || !strings.Contains(err.Error(), "torsion") {
			t.Fatalf("a mixed-order credential whose signature crypto/ed25519 accepts: %v", err)
		}
		return
	}
}

package dkg

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"testing"

	"github.com/recount-vote/recount/crypto/group"
)

// frame is docs/protocol.md's frame(name, value).
func frame(name string, value []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

// TestSpecCoefficientProof recomputes a coefficient proof's challenge and the commitment's bytes from
// docs/protocol.md (section 10, "Key ceremony") alone.
func TestSpecCoefficientProof(t *testing.T) {
	p := Params{N: 4, T: 3, Election: election}
	const dealer = 3
	d, err := NewDealer(p, dealer, testRand(20))
	if err != nil {
		t.Fatal(err)
	}
	c := d.Commitment()
	enc := c.Bytes()
	want := []byte{0, dealer, 0, 3}
	for k := 0; k < p.T; k++ {
		C := &c.Coefficients[k]
		if group.NewElement().ScalarBaseMult(&d.coeffs[k]).Equal(C) != 1 {
			t.Fatal("C_k != a_k·g")
		}
		cc, z := &c.Proofs[k].C, &c.Proofs[k].Z
		// R' = z·g - c·C_k
		R := group.NewElement().Subtract(group.NewElement().ScalarBaseMult(z), group.NewElement().ScalarMult(cc, C))
		bind := []byte{'d', 'k', 'g', 0, dealer, 0, byte(k)}
		h := sha512.New()
		h.Write(frame("recount-transcript-v1", []byte("recount/schnorr/v1")))
		h.Write(frame("election", election))
		h.Write(frame("context", bind))
		h.Write(frame("X", C.Bytes()))
		h.Write(frame("R", R.Bytes()))
		h.Write(frame("challenge", []byte("c")))
		got, _ := group.NewScalar().SetUniformBytes(h.Sum(nil))
		if got.Equal(cc) != 1 {
			t.Fatalf("coefficient %d: the challenge is not the one the spec defines", k)
		}
		want = append(want, C.Bytes()...)
		want = append(want, cc.Bytes()...)
		want = append(want, z.Bytes()...)
	}
	if !bytes.Equal(enc, want) {
		t.Fatal("the commitment's encoding is not the one the spec defines")
	}
}

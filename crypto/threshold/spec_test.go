package threshold

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"testing"

	"github.com/recount-vote/recount/crypto/group"
)

func frame(name string, value []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

// TestSpecPartialDecryption recomputes a partial decryption proof's challenge, its encoding and a combination
// from docs/protocol.md (section 11, "Threshold decryption") alone.
func TestSpecPartialDecryption(t *testing.T) {
	tr := ceremony(t, 3, 2, 21)
	const j = 2
	ct := tr.encrypt(t, 77)
	pd := tr.partial(t, j, ct)
	Kj, M := tr.vks[j], &pd.Share
	c, z := &pd.Proof.C, &pd.Proof.Z
	neg := func(e *group.Element) *group.Element { return group.NewElement().Negate(e) }
	a := group.NewElement().Add(group.NewElement().ScalarBaseMult(z), neg(group.NewElement().ScalarMult(c, Kj)))
	b := group.NewElement().Add(group.NewElement().ScalarMult(z, &ct.A), neg(group.NewElement().ScalarMult(c, M)))
	bind := []byte("recount/partial-decryption/v1")
	bind = binary.BigEndian.AppendUint32(bind, uint32(len(ctx.Bind)))
	bind = append(bind, ctx.Bind...)
	bind = append(bind, 0, j)
	bind = append(bind, ct.A.Bytes()...)
	bind = append(bind, ct.B.Bytes()...)
	h := sha512.New()
	for _, f := range [][]byte{
		frame("recount-transcript-v1", []byte("recount/chaum-pedersen/v1")),
		frame("election", ctx.Election),
		frame("context", bind),
		frame("H", ct.A.Bytes()),
		frame("X", Kj.Bytes()),
		frame("Y", M.Bytes()),
		frame("a", a.Bytes()),
		frame("b", b.Bytes()),
		frame("challenge", []byte("c")),
	} {
		h.Write(f)
	}
	got, _ := group.NewScalar().SetUniformBytes(h.Sum(nil))
	if got.Equal(c) != 1 {
		t.Fatal("the challenge is not the one the spec defines")
	}
	want := append([]byte{0, j}, M.Bytes()...)
	want = append(want, c.Bytes()...)
	want = append(want, z.Bytes()...)
	if !bytes.Equal(pd.Bytes(), want) {
		t.Fatal("the encoding is not the one the spec defines")
	}
	// Combination with S = {1, 3}: λ_1 = 3/(3-1), λ_3 = 1/(1-3).
	p1, p3 := tr.partial(t, 1, ct), tr.partial(t, 3, ct)
	half := group.NewScalar().Invert(group.NewScalar().SetUint64(2))
	l1 := group.NewScalar().Multiply(group.NewScalar().SetUint64(3), half)
	l3 := group.NewScalar().Negate(half)
	sum := group.NewElement().Add(group.NewElement().ScalarMult(l1, &p1.Share), group.NewElement().ScalarMult(l3, &p3.Share))
	mK := group.NewElement().Subtract(&ct.B, sum)
	if mK.Equal(tr.mK(77)) != 1 {
		t.Fatal("the spec's combination does not give m·K")
	}
	got2, err := Combine(ctx, 2, ct, []*PartialDecryption{p3, p1}, tr.vks)
	if err != nil || got2.Equal(mK) != 1 {
		t.Fatal("Combine differs from the spec's combination")
	}
}

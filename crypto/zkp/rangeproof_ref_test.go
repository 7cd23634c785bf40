package zkp

import (
	"bytes"
	"fmt"
	"io"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
)

// The plain, textbook range proof: branches on m, one fixed-base multiplication and one full encoding per
// element, the transcript's AppendElement. It is the reference the fast code in rangeproof.go is checked
// against, byte for byte, with the same randomness.

func refRangeTranscriptChallenge(ctx Context, pk *elgamal.PublicKey, ct *elgamal.Ciphertext, min, max uint64, a, b []*group.Element) *group.Scalar {
	t := ctx.transcript(RangeProofLabel)
	t.AppendElement("K", pk.Element())
	t.AppendElement("A", &ct.A)
	t.AppendElement("B", &ct.B)
	t.AppendUint64("min", min)
	t.AppendUint64("max", max)
	for i := range a {
		t.AppendElement("a", a[i])
		t.AppendElement("b", b[i])
	}
	return t.Challenge("c")
}

func refProveRange(ctx Context, pk *elgamal.PublicKey, ct *elgamal.Ciphertext, m uint64, r *group.Scalar, min, max uint64, rnd io.Reader) (*RangeProof, error) {
	if min > max || max-min >= MaxRangeSize || m < min || m > max {
		return nil, ErrRange
	}
	n := int(max-min) + 1
	K := pk.Element()
	c := make([]*group.Scalar, n)
	v := make([]*group.Scalar, n)
	a := make([]*group.Element, n)
	b := make([]*group.Element, n)
	var w *group.Scalar
	for i := 0; i < n; i++ {
		j := min + uint64(i)
		ci, err := group.RandomScalar(rnd)
		if err != nil {
			return nil, err
		}
		vi, err := group.RandomScalar(rnd)
		if err != nil {
			return nil, err
		}
		if j == m {
			// The real branch: w is derived from the randomness drawn for this position, as the fast prover
			// does, w = v' - c'·r (uniform because v' is).
			w = group.NewScalar().Subtract(vi, group.NewScalar().Multiply(ci, r))
			a[i] = group.NewElement().ScalarBaseMult(w)
			b[i] = group.NewElement().ScalarMult(w, K)
			continue
		}
		c[i], v[i] = ci, vi
		// a = v·g - c·A, b = v·K - c·(B - j·K)
		a[i] = group.NewElement().Subtract(group.NewElement().ScalarBaseMult(vi), group.NewElement().ScalarMult(ci, &ct.A))
		bj := group.NewElement().Subtract(&ct.B, group.NewElement().ScalarMult(group.NewScalar().SetUint64(j), K))
		b[i] = group.NewElement().Subtract(group.NewElement().ScalarMult(vi, K), group.NewElement().ScalarMult(ci, bj))
	}
	ch := refRangeTranscriptChallenge(ctx, pk, ct, min, max, a, b)
	real := int(m - min)
	c[real] = group.NewScalar().Set(ch)
	for i := 0; i < n; i++ {
		if i != real {
			c[real].Subtract(c[real], c[i])
		}
	}
	v[real] = group.NewScalar().MultiplyAdd(c[real], r, w)
	return newRefRangeProof(a, b, c, v), nil
}

// newRefRangeProof assembles a proof from its commitments and scalars.
func newRefRangeProof(a, b []*group.Element, c, v []*group.Scalar) *RangeProof {
	n := len(c)
	p := &RangeProof{a: make([]group.Element, n), b: make([]group.Element, n), c: make([]group.Scalar, n), v: make([]group.Scalar, n)}
	for i := 0; i < n; i++ {
		p.a[i].Set(a[i])
		p.b[i].Set(b[i])
		p.commitments = append(append(p.commitments, a[i].Bytes()...), b[i].Bytes()...)
		p.c[i].Set(c[i])
		p.v[i].Set(v[i])
	}
	return p
}

func refEncryptInRange(ctx Context, pk *elgamal.PublicKey, m, min, max uint64, rnd io.Reader) (*elgamal.Ciphertext, *group.Scalar, *RangeProof, error) {
	if min > max || max-min >= MaxRangeSize || m < min || m > max {
		return nil, nil, nil, ErrRange
	}
	nonce, err := group.RandomScalar(rnd)
	if err != nil {
		return nil, nil, nil, err
	}
	ct := pk.Encrypt(m, nonce)
	p, err := refProveRange(ctx, pk, ct, m, nonce, min, max, rnd)
	return ct, nonce, p, err
}

// refVerifyRange is the verifier of the proof in challenge form (c_j, v_j), as it was before issue 15 made the
// commitments part of the proof: it recomputes every commitment and checks the challenge over them; then it also
// checks that the commitments sent are, byte for byte, the ones recomputed.
func refVerifyRange(p *RangeProof, ctx Context, pk *elgamal.PublicKey, ct *elgamal.Ciphertext, min, max uint64) error {
	if min > max || max-min >= MaxRangeSize || len(p.c) != int(max-min)+1 || len(p.v) != len(p.c) || len(p.commitments) != 64*len(p.c) {
		return ErrInvalidProof
	}
	K := pk.Element()
	n := len(p.c)
	a := make([]*group.Element, n)
	b := make([]*group.Element, n)
	sum := group.NewScalar()
	for i := 0; i < n; i++ {
		j := group.NewScalar().SetUint64(min + uint64(i))
		c, v := &p.c[i], &p.v[i]
		sum.Add(sum, c)
		a[i] = group.NewElement().Subtract(group.NewElement().ScalarBaseMult(v), group.NewElement().ScalarMult(c, &ct.A))
		bj := group.NewElement().Subtract(&ct.B, group.NewElement().ScalarMult(j, K))
		b[i] = group.NewElement().Subtract(group.NewElement().ScalarMult(v, K), group.NewElement().ScalarMult(c, bj))
	}
	if refRangeTranscriptChallenge(ctx, pk, ct, min, max, a, b).Equal(sum) != 1 {
		return fmt.Errorf("%w: reference verifier: challenge mismatch", ErrInvalidProof)
	}
	for i := 0; i < n; i++ {
		if !bytes.Equal(p.commitments[64*i:64*i+32], a[i].Bytes()) || !bytes.Equal(p.commitments[64*i+32:64*i+64], b[i].Bytes()) {
			return fmt.Errorf("%w: reference verifier: commitment %d is not the one recomputed", ErrInvalidProof, i)
		}
	}
	return nil
}

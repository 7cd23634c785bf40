package zkp

import (
	"fmt"
	"io"

	"github.com/recount-vote/recount/crypto/group"
)

// SchnorrProofSize is the length of a Schnorr proof's encoding: challenge then response.
const SchnorrProofSize = 2 * group.ScalarSize

// SchnorrProof proves knowledge of x with X = x·g.
//
// Prover: w random, R = w·g, c = H(ctx, X, R), z = w + c·x. Proof: (c, z).
// Verifier: R' = z·g - c·X; accept iff X is not the identity and c = H(ctx, X, R').
type SchnorrProof struct {
	C, Z group.Scalar
}

func schnorrChallenge(ctx Context, X, R *group.Element) *group.Scalar {
	t := ctx.transcript(SchnorrLabel)
	t.AppendElement("X", X)
	t.AppendElement("R", R)
	return t.Challenge("c")
}

// ProveSchnorr proves knowledge of x = log_g X, with randomness from r (crypto/rand when nil).
func ProveSchnorr(ctx Context, x *group.Scalar, X *group.Element, r io.Reader) (*SchnorrProof, error) {
	w, err := random(r)
	if err != nil {
		return nil, err
	}
	R := group.NewElement().ScalarBaseMult(w)
	p := &SchnorrProof{}
	p.C.Set(schnorrChallenge(ctx, X, R))
	p.Z.MultiplyAdd(&p.C, x, w)
	return p, nil
}

// Verify checks p for the statement X = x·g in ctx.
func (p *SchnorrProof) Verify(ctx Context, X *group.Element) error {
	if X.IsIdentity() {
		return fmt.Errorf("%w: Schnorr: the statement is the identity", ErrInvalidProof)
	}
	negC := group.NewScalar().Negate(&p.C)
	R := group.NewElement().VarTimeDoubleScalarBaseMult(negC, X, &p.Z)
	if schnorrChallenge(ctx, X, R).Equal(&p.C) != 1 {
		return fmt.Errorf("%w: Schnorr: challenge mismatch", ErrInvalidProof)
	}
	return nil
}

// Bytes returns c || z.
func (p *SchnorrProof) Bytes() []byte { return append(p.C.Bytes(), p.Z.Bytes()...) }

// SetBytes decodes c || z, rejecting non-canonical scalars.
func (p *SchnorrProof) SetBytes(b []byte) (*SchnorrProof, error) {
	s, err := decodeScalars(b, 2)
	if err != nil {
		return nil, fmt.Errorf("decoding a Schnorr proof: %w", err)
	}
	p.C.Set(s[0])
	p.Z.Set(s[1])
	return p, nil
}

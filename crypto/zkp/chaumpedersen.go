package zkp

import (
	"fmt"
	"io"

	"github.com/recount-vote/recount/crypto/group"
)

// ChaumPedersenProofSize is the length of a Chaum-Pedersen proof's encoding: challenge then response.
const ChaumPedersenProofSize = 2 * group.ScalarSize

// ChaumPedersenProof proves that log_g X = log_H Y (= s) without revealing s. Recount uses it for a partial
// decryption: X is the trustee's verification key, H the first part A of the ciphertext being decrypted, and
// Y = s·A the trustee's share of the decryption.
//
// Prover: w random, a = w·g, b = w·H, c = H(ctx, H, X, Y, a, b), z = w + c·s. Proof: (c, z).
// Verifier: a' = z·g - c·X, b' = z·H - c·Y; accept iff X and H are not the identity and c = H(ctx, H, X, Y, a', b').
type ChaumPedersenProof struct {
	C, Z group.Scalar
}

func chaumPedersenChallenge(ctx Context, H, X, Y, a, b *group.Element) *group.Scalar {
	t := ctx.transcript(ChaumPedersenLabel)
	t.AppendElement("H", H)
	t.AppendElement("X", X)
	t.AppendElement("Y", Y)
	t.AppendElement("a", a)
	t.AppendElement("b", b)
	return t.Challenge("c")
}

// ProveChaumPedersen proves X = s·g and Y = s·H, with randomness from r (crypto/rand when nil).
func ProveChaumPedersen(ctx Context, s *group.Scalar, H, X, Y *group.Element, r io.Reader) (*ChaumPedersenProof, error) {
	w, err := random(r)
	if err != nil {
		return nil, err
	}
	a := group.NewElement().ScalarBaseMult(w)
	b := group.NewElement().ScalarMult(w, H)
	p := &ChaumPedersenProof{}
	p.C.Set(chaumPedersenChallenge(ctx, H, X, Y, a, b))
	p.Z.MultiplyAdd(&p.C, s, w)
	return p, nil
}

// Verify checks p for the statement log_g X = log_H Y in ctx.
func (p *ChaumPedersenProof) Verify(ctx Context, H, X, Y *group.Element) error {
	if X.IsIdentity() || H.IsIdentity() {
		return fmt.Errorf("%w: Chaum-Pedersen: identity in the statement", ErrInvalidProof)
	}
	negC := group.NewScalar().Negate(&p.C)
	a := group.NewElement().VarTimeDoubleScalarBaseMult(negC, X, &p.Z)
	b := group.NewElement().VarTimeMultiScalarMult([]*group.Scalar{&p.Z, negC}, []*group.Element{H, Y})
	if chaumPedersenChallenge(ctx, H, X, Y, a, b).Equal(&p.C) != 1 {
		return fmt.Errorf("%w: Chaum-Pedersen: challenge mismatch", ErrInvalidProof)
	}
	return nil
}

// Bytes returns c || z.
func (p *ChaumPedersenProof) Bytes() []byte { return append(p.C.Bytes(), p.Z.Bytes()...) }

// SetBytes decodes c || z, rejecting non-canonical scalars.
func (p *ChaumPedersenProof) SetBytes(b []byte) (*ChaumPedersenProof, error) {
	s, err := decodeScalars(b, 2)
	if err != nil {
		return nil, fmt.Errorf("decoding a Chaum-Pedersen proof: %w", err)
	}
	p.C.Set(s[0])
	p.Z.Set(s[1])
	return p, nil
}

// Package zkp holds Recount's non-interactive zero-knowledge proofs: Schnorr (knowledge of a discrete log),
// Chaum-Pedersen (equality of two discrete logs) and the disjunctive range proof that a ciphertext encrypts an
// integer in [a, b].
//
// Every proof is a sigma protocol made non-interactive with the Fiat-Shamir transcript of package transcript.
// Each proof has its own protocol label, and its transcript binds the election's identity, the caller's Context
// (where the proof is used: voter credential, contest, option, trustee...), the whole public statement, and every
// commitment, so that a proof cannot be lifted into another election, ballot or position. Schnorr and
// Chaum-Pedersen proofs are encoded compactly as challenge and response, and verification recomputes the
// commitments and the challenge. A range proof carries its commitments too (128 bytes per value instead of 64),
// so that the equations of all a ballot's range proofs are checked with one multi-scalar multiplication
// (RangeBatch): about twice the ballots per second (issue 15). docs/protocol.md gives every statement and
// verification equation.
package zkp

import (
	"errors"
	"io"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/transcript"
)

// Context says where a proof is used. Both fields enter the proof's transcript.
type Context struct {
	// Election is the election's identity (the hash of its manifest).
	Election []byte
	// Bind is the caller's encoding of the proof's position (for example credential, contest and option index);
	// a proof made for one Bind does not verify under another.
	Bind []byte
}

func (c Context) transcript(label string) *transcript.Transcript {
	t := transcript.New(label, c.Election)
	t.AppendBytes("context", c.Bind)
	return t
}

// ErrInvalidProof is returned, wrapped with the reason, when a proof does not verify.
var ErrInvalidProof = errors.New("zkp: invalid proof")

// ErrProofEncoding is returned for a proof encoding of the wrong length or with a non-canonical scalar.
var ErrProofEncoding = errors.New("zkp: invalid proof encoding")

// Labels of the proofs' transcripts.
const (
	SchnorrLabel       = "recount/schnorr/v1"
	ChaumPedersenLabel = "recount/chaum-pedersen/v1"
	RangeProofLabel    = "recount/range-proof/v1"
)

func random(r io.Reader) (*group.Scalar, error) { return group.RandomScalar(r) }

// decodeScalars splits b into n canonical scalars.
func decodeScalars(b []byte, n int) ([]*group.Scalar, error) {
	if len(b) != n*group.ScalarSize {
		return nil, ErrProofEncoding
	}
	out := make([]*group.Scalar, n)
	for i := range out {
		s, err := group.NewScalar().SetCanonicalBytes(b[i*group.ScalarSize : (i+1)*group.ScalarSize])
		if err != nil {
			return nil, ErrProofEncoding
		}
		out[i] = s
	}
	return out, nil
}

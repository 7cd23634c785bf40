package election

import (
	"fmt"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
)

// The Benaloh challenge: a voter's device encrypts a ballot and shows its tracking code before the voter
// decides. If the voter challenges instead of casting, the device reveals the nonces, the board records the
// spoiled ballot with them, and anyone can check that it encrypted the choices the device showed. A device that
// cannot know in advance which ballots will be challenged cannot cheat on many without being caught.
// A spoiled ballot never counts, and its tracking code can never be cast afterwards. Its ballot is signed for a
// challenge, not for casting (challengeSignaturePrefix), so that even a node that kept the challenge off the board
// cannot cast it.

// SpoiledBallot is a decoded challenge: the ballot and the choices and nonces that open it.
type SpoiledBallot struct {
	Ballot  *Ballot
	Choices Choices
	nonces  [][]*group.Scalar
}

// ParseSpoiledBallot decodes a SpoiledBallot payload and checks its shape against the manifest.
func ParseSpoiledBallot(m *Manifest, payload []byte) (*SpoiledBallot, error) {
	var pb recordv1.SpoiledBallot
	if err := unmarshal(payload, &pb); err != nil {
		return nil, fmt.Errorf("spoiled ballot: %w", err)
	}
	b, err := ParseBallot(m, pb.SignedBallot)
	if err != nil {
		return nil, err
	}
	b.Challenged = true
	s := &SpoiledBallot{Ballot: b}
	if len(pb.Openings) != len(m.rules) {
		return nil, fmt.Errorf("spoiled ballot: %d openings, want %d", len(pb.Openings), len(m.rules))
	}
	for c, rule := range m.rules {
		op := pb.Openings[c]
		if len(op.Values) != rule.Options || len(op.Nonces) != rule.Options {
			return nil, fmt.Errorf("spoiled ballot: contest %d: %d values and %d nonces, want %d of each", c, len(op.Values), len(op.Nonces), rule.Options)
		}
		nonces := make([]*group.Scalar, rule.Options)
		for o, nb := range op.Nonces {
			n, err := group.NewScalar().SetCanonicalBytes(nb)
			if err != nil {
				return nil, fmt.Errorf("spoiled ballot: contest %d option %d: nonce: %w", c, o, err)
			}
			nonces[o] = n
		}
		s.Choices = append(s.Choices, append([]uint64(nil), op.Values...))
		s.nonces = append(s.nonces, nonces)
	}
	return s, nil
}

// CheckOpenings reports whether every ciphertext opens, with its nonce, to its value, and whether the values are
// choices the manifest allows.
func (s *SpoiledBallot) CheckOpenings(m *Manifest, pk *elgamal.PublicKey) error {
	if err := m.CheckChoices(s.Choices); err != nil {
		return err
	}
	for c := range s.Choices {
		for o, v := range s.Choices[c] {
			if !pk.Opens(s.Ballot.Ciphertexts[c][o], v, s.nonces[c][o]) {
				return fmt.Errorf("contest %d option %d: the nonce does not open the ciphertext to %d", c, o, v)
			}
		}
	}
	return nil
}

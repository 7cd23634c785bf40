package election

import (
	"fmt"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/zkp"
)

// CheckOnly runs the checks of the next entry as Apply and Admit do, without committing it.
func CheckOnly(s *State, e Entry) []*CheckError {
	errs, _ := s.check(e, nil)
	return errs
}

// StrictUnmarshal is the one decoder of every payload and every message carried inside one as bytes: it refuses
// whatever is not the canonical encoding (docs/record.md, section 2).
var StrictUnmarshal = unmarshal

// CheckProofsOneByOne is the check of a ballot's proofs as it was before issue 15 batched it: each proof decoded
// and verified with RangeProof.Verify in the ballot's order, the first that fails named. It is the reference
// that checkProofs is tested against.
func (b *Ballot) CheckProofsOneByOne(m *Manifest, pk *elgamal.PublicKey) error {
	for c, rule := range m.rules {
		cb := b.pb.Contests[c]
		for o, ct := range b.Ciphertexts[c] {
			proof, err := zkp.ParseRangeProof(cb.Proofs[o], 0, rule.OptionMax)
			if err != nil {
				return fmt.Errorf("contest %d option %d: %w", c, o, err)
			}
			if err := proof.Verify(proofContext(m.id, b.Credential[:], uint32(c), uint32(o)), pk, ct, 0, rule.OptionMax); err != nil {
				return fmt.Errorf("contest %d option %d: %w", c, o, err)
			}
		}
		if rule.NeedsTotalProof {
			sum := elgamal.NewCiphertext()
			for _, ct := range b.Ciphertexts[c] {
				sum.Add(sum, ct)
			}
			proof, err := zkp.ParseRangeProof(cb.TotalProof, rule.TotalMin, rule.TotalMax)
			if err != nil {
				return fmt.Errorf("contest %d total: %w", c, err)
			}
			if err := proof.Verify(proofContext(m.id, b.Credential[:], uint32(c), totalPosition), pk, sum, rule.TotalMin, rule.TotalMax); err != nil {
				return fmt.Errorf("contest %d total: %w", c, err)
			}
		}
	}
	return nil
}

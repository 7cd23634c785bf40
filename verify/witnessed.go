package verify

import (
	"errors"
	"fmt"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/witness/policy"
)

// ErrNotWitnessed is wrapped by the errors of CheckWitnessed, CheckCovers and Receipt.CheckWitnessed when a
// record or a receipt is not shown witnessed under an election's witness policy. An unmet quorum also wraps
// policy.ErrQuorum, a cosignature that does not verify policy.ErrBadCosignature.
var ErrNotWitnessed = errors.New("not witnessed under the witness policy")

// CheckWitnessed checks a cosigned checkpoint (docs/witness.md, section 3: the board's signed checkpoint followed
// by the witnesses' cosignature lines) against an election's witness policy pol: it must be signed by the board
// whose note verifier key is boardKey (which must be one of the policy's logs, if the policy names any), and
// cosigned by witnesses of the policy that meet its quorum. It returns the board's checkpoint and the
// policy.Result, whose String says "witnessed by k of n (names): ..."; the Result is returned with an unmet quorum
// too, so that the caller can say who did cosign.
func CheckWitnessed(cosigned []byte, boardKey string, pol *policy.Policy) (tlog.Checkpoint, policy.Result, error) {
	v, err := tlog.NewVerifier(boardKey)
	if err != nil {
		return tlog.Checkpoint{}, policy.Result{}, fmt.Errorf("%w: the board key: %v", ErrNotWitnessed, err)
	}
	if len(pol.Logs) > 0 {
		named := false
		for _, l := range pol.Logs {
			named = named || l.VerifierKey == boardKey
		}
		if !named {
			return tlog.Checkpoint{}, policy.Result{}, fmt.Errorf("%w: the policy names the boards %s, not this board (key %s)", ErrNotWitnessed, policyLogs(pol), tlog.KeyFingerprint(boardKey))
		}
	}
	if len(cosigned) == 0 {
		return tlog.Checkpoint{}, policy.Result{}, fmt.Errorf("%w: no cosigned checkpoint", ErrNotWitnessed)
	}
	cp, res, err := pol.CheckLog(cosigned, v)
	if err != nil {
		return cp, res, fmt.Errorf("%w: %w", ErrNotWitnessed, err)
	}
	return cp, res, nil
}

func policyLogs(pol *policy.Policy) string {
	s := ""
	for i, l := range pol.Logs {
		if i > 0 {
			s += ", "
		}
		s += l.Origin() + " (" + tlog.KeyFingerprint(l.VerifierKey) + ")"
	}
	return s
}

// CheckCovers checks that the witnessed checkpoint covers a record whose final checkpoint is final, both of one
// board (verified): of the same size, it must have the same root; larger, proof must be a consistency proof from
// final.Size to witnessed.Size (the board's, BoardService.GetConsistencyProof), showing the record a prefix of
// the witnessed tree. A smaller witnessed checkpoint leaves the record's last entries unwitnessed: an error.
func CheckCovers(final, witnessed tlog.Checkpoint, proof [][]byte) error {
	switch {
	case witnessed.Size < final.Size:
		return fmt.Errorf("%w: the witnessed checkpoint (size %d) is older than the record (size %d): its last %d entries are not witnessed yet (the node's witnesses may still be cosigning; try again)",
			ErrNotWitnessed, witnessed.Size, final.Size, final.Size-witnessed.Size)
	case witnessed.Size == final.Size:
		if witnessed.Root != final.Root {
			return fmt.Errorf("%w: the witnessed checkpoint of size %d has another root than the record's: the board showed two histories", ErrNotWitnessed, final.Size)
		}
		return nil
	}
	if err := tlog.VerifyConsistency(final, witnessed, proof); err != nil {
		return fmt.Errorf("%w: the record (size %d) is not a prefix of the witnessed checkpoint (size %d): %v", ErrNotWitnessed, final.Size, witnessed.Size, err)
	}
	return nil
}

// CheckWitnessed checks the receipt's cosigned checkpoint against the election's witness policy pol
// (CheckWitnessed with the receipt's board key). A receipt without one (given before the witnesses cosigned, or
// by a node without a policy) fails: upgrade it first (client.Client.UpgradeReceipt). The receipt's form (its
// cosigned checkpoint is its checkpoint plus signature lines) is ParseReceipt's check, so a cosigned checkpoint
// that meets the policy witnesses the very tree the inclusion proof is for.
func (r *Receipt) CheckWitnessed(pol *policy.Policy) (policy.Result, error) {
	if err := checkCosignedForm(r.Checkpoint, r.Cosigned, r.Unwitnessed); err != nil {
		return policy.Result{}, fmt.Errorf("%w: %v", ErrNotWitnessed, err)
	}
	if r.Cosigned == nil {
		why := "the node has no witness policy, or an older version"
		if r.Unwitnessed {
			why = "it was given before the witnesses cosigned: upgrade it through the node"
		}
		return policy.Result{}, fmt.Errorf("%w: the receipt's checkpoint carries no cosignature (%s)", ErrNotWitnessed, why)
	}
	_, res, err := CheckWitnessed(r.Cosigned, r.BoardKey, pol)
	return res, err
}

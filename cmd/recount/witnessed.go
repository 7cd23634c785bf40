package main

// The witness policy's check for verify and receipt (docs/witness.md, section 10). The export format carries the
// board's own signature alone (docs/record.md section 1: exactly one signature), so a record's cosignatures come
// from beside it: the node's latest witnessed checkpoint (BoardService.GetCheckpoint's cosigned_checkpoint), or a
// file holding a cosigned checkpoint (--cosigned). It must cover the record's final checkpoint: the same, or a
// larger one of which the record is a prefix (the node's consistency proof).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
	"github.com/recount-vote/recount/witness/policy"
)

// witnessFlags are the flags of a command that enforces a witness policy.
type witnessFlags struct {
	policyFile, cosignedFile string
	// besideRecord is RECORD.cosigned for a record file: the cosigned checkpoint recount export saved beside
	// it, used when neither --cosigned nor --node gives one.
	besideRecord string
}

// cosignedSuffix names the file beside an export that holds its final checkpoint cosigned.
const cosignedSuffix = ".cosigned"

func addWitnessFlags(fs *flag.FlagSet) *witnessFlags {
	w := &witnessFlags{}
	fs.StringVar(&w.policyFile, "witness-policy", "", "require the board's checkpoint to be cosigned by witnesses meeting the witness policy in `FILE` (tlog-policy form, docs/witness.md); fail otherwise")
	fs.StringVar(&w.cosignedFile, "cosigned", "", "with --witness-policy: read the cosigned checkpoint from `FILE` instead of asking the node (--node) for its latest witnessed one")
	return w
}

// enabled reports whether a witness policy is to be enforced.
func (w *witnessFlags) enabled() bool { return w.policyFile != "" }

// load reads the policy file.
func (w *witnessFlags) load() (*policy.Policy, error) {
	data, err := os.ReadFile(w.policyFile)
	if err != nil {
		return nil, err
	}
	pol, err := policy.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", w.policyFile, err)
	}
	return pol, nil
}

// recordWitnessed checks that the record whose final checkpoint is final (verified, of the board boardKey) is
// witnessed under pol: the cosigned checkpoint from --cosigned, or else the node's (board, which may be nil when
// the record is a file and no --node was given), meets the policy and covers final. It returns the policy's
// result, to print, and an error that says why the record is not witnessed.
func (w *witnessFlags) recordWitnessed(ctx context.Context, pol *policy.Policy, final tlog.Checkpoint, boardKey string, board recountv1.BoardServiceClient, nodeName string) (policy.Result, error) {
	var cosigned []byte
	switch {
	case w.cosignedFile != "":
		data, err := os.ReadFile(w.cosignedFile)
		if err != nil {
			return policy.Result{}, err
		}
		cosigned = data
	case board != nil:
		resp, err := board.GetCheckpoint(ctx, &recountv1.GetCheckpointRequest{})
		if err != nil {
			return policy.Result{}, fmt.Errorf("%s: the witnessed checkpoint: %w", nodeName, grpcnode.Err(err))
		}
		if len(resp.CosignedCheckpoint) == 0 {
			return policy.Result{}, fmt.Errorf("%w: %s has no witnessed checkpoint (it has no witness policy, or its witnesses have not cosigned yet; an observer serves the node's once its mirror holds it): give one with --cosigned, or try again", verify.ErrNotWitnessed, nodeName)
		}
		cosigned = resp.CosignedCheckpoint
	case w.besideRecord != "" && fileExists(w.besideRecord):
		data, err := os.ReadFile(w.besideRecord)
		if err != nil {
			return policy.Result{}, err
		}
		cosigned = data
	default:
		return policy.Result{}, errors.New("--witness-policy needs the cosigned checkpoint: --node ADDR (the node's latest witnessed one), --cosigned FILE, or RECORD.cosigned beside the record (recount export writes it)")
	}
	witnessed, res, err := verify.CheckWitnessed(cosigned, boardKey, pol)
	if err != nil {
		return res, err
	}
	var proof [][]byte
	if witnessed.Size > final.Size {
		if board == nil {
			return res, fmt.Errorf("%w: the cosigned checkpoint (size %d) is larger than the record (size %d): give --node ADDR for the board's consistency proof between them", verify.ErrNotWitnessed, witnessed.Size, final.Size)
		}
		resp, err := board.GetConsistencyProof(ctx, &recountv1.GetConsistencyProofRequest{OldSize: final.Size, NewSize: witnessed.Size})
		if err != nil {
			return res, fmt.Errorf("%s: consistency proof from %d to %d: %w", nodeName, final.Size, witnessed.Size, grpcnode.Err(err))
		}
		proof = resp.Proof
	}
	if err := verify.CheckCovers(final, witnessed, proof); err != nil {
		return res, err
	}
	return res, nil
}

// witnessLine says who cosigned, for people: the Result's account, or why there is none.
func witnessLine(res policy.Result, err error) string {
	if err == nil {
		return res.String()
	}
	if len(res.Cosigners) > 0 || res.Witnesses > 0 {
		if !errors.Is(err, policy.ErrQuorum) {
			return fmt.Sprintf("%s; %v", res, err)
		}
		return res.String()
	}
	return err.Error()
}

package verify

import (
	"context"
	"fmt"
	"io"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// ReceiptOptions tune [CheckReceipt] and [CheckTrackingCode].
type ReceiptOptions struct {
	Options
	// BoardProof, if set, asks the board itself for a consistency proof between two tree sizes (a node's
	// GetConsistencyProof), to be checked beside the one computed from the record's entries.
	BoardProof func(ctx context.Context, oldSize, newSize uint64) ([][]byte, error)
	// Seen, if set, is the largest checkpoint the voter's client saw of the board (a signed checkpoint note, as
	// `recount vote` keeps it): the record's final checkpoint must extend it, or the board showed the voter a
	// history it no longer has.
	Seen []byte
}

// ReceiptCheck is the outcome of checking a receipt, or a tracking code, against a record.
type ReceiptCheck struct {
	// Record is the record's verification. The ballot's steps run only when it is OK and has a manifest: a
	// record that fails checks says nothing a voter can trust.
	Record *Report
	// Steps are the ballot's checks, in order; all but the last passed.
	Steps []ReceiptStep
	// Entry is the ballot's entry, once found.
	Entry *tlog.Entry
	// Status is the ballot's status at the end of the record, and SupersededBy the entry of the later ballot
	// that supersedes it; set when every step passed.
	Status       election.Status
	SupersededBy uint64
}

// ReceiptStep is one step of a receipt's check.
type ReceiptStep struct {
	OK bool
	// What says what was checked and found, as a sentence without its final period.
	What string
	// Note, if set, adds what a voter needs to know beside it.
	Note string
}

// OK reports whether the record passes every check and the ballot every step.
func (rc *ReceiptCheck) OK() bool {
	return rc.Record.OK && len(rc.Steps) > 0 && rc.Steps[len(rc.Steps)-1].OK
}

// CheckReceipt verifies the record from r, as [Verify] does, and checks the receipt against it: the receipt is
// for the record's election, the record's entry at the receipt's index holds its ballot, the receipt's
// checkpoint is signed by the record's board key and its inclusion proof holds ([Receipt.Verify]), and the
// receipt's checkpoint is consistent with the record's final checkpoint (with a proof computed from the record's
// entries, and with opts.BoardProof's too when set). It keeps 32 bytes per entry for the proofs.
func CheckReceipt(ctx context.Context, r io.Reader, rcpt *Receipt, opts ReceiptOptions) (*ReceiptCheck, error) {
	return checkBallot(ctx, r, rcpt.TrackingCode, rcpt, opts)
}

// CheckTrackingCode verifies the record from r, as [Verify] does, and finds the ballot with the tracking code in
// it, included in the record's final checkpoint. Without the receipt nothing says the checkpoint a voter was
// given is consistent with the final one: [CheckReceipt] says that.
func CheckTrackingCode(ctx context.Context, r io.Reader, code election.ID, opts ReceiptOptions) (*ReceiptCheck, error) {
	return checkBallot(ctx, r, code, nil, opts)
}

func checkBallot(ctx context.Context, r io.Reader, code election.ID, rcpt *Receipt, opts ReceiptOptions) (*ReceiptCheck, error) {
	var tree tlog.LeafTree
	var hits []tlog.Entry // the ballot entries holding the tracking code
	vopts := opts.Options
	vopts.Entry = func(e tlog.Entry) {
		if opts.Entry != nil {
			opts.Entry(e)
		}
		tree.Append(tlog.LeafHash(e.Kind, e.Payload))
		k := election.Kind(e.Kind)
		if k != election.KindBallot && k != election.KindSpoiledBallot {
			return
		}
		if got, err := election.TrackingCodeOf(k, e.Payload); err == nil && got == code {
			hits = append(hits, e)
		}
	}
	rep, err := Verify(ctx, r, vopts)
	if err != nil {
		return nil, err
	}
	rc := &ReceiptCheck{Record: rep}
	er := rep.ElectionReport
	if !rep.OK || er == nil || er.State.Manifest() == nil {
		return rc, nil
	}
	final := rep.Checkpoint
	pass := func(note, format string, args ...any) {
		rc.Steps = append(rc.Steps, ReceiptStep{OK: true, What: fmt.Sprintf(format, args...), Note: note})
	}
	fail := func(note, format string, args ...any) *ReceiptCheck {
		rc.Steps = append(rc.Steps, ReceiptStep{What: fmt.Sprintf(format, args...), Note: note})
		return rc
	}
	if rcpt != nil {
		if rcpt.Election != er.Election {
			return fail("", "the receipt is for election %s, the record is of election %s", rcpt.Election, er.Election), nil
		}
		for i := range hits {
			if hits[i].Index == rcpt.Index {
				rc.Entry = &hits[i]
			}
		}
		if rc.Entry == nil {
			var note string
			if len(hits) > 0 {
				note = fmt.Sprintf("(the ballot stands at entry %d instead)", hits[0].Index)
			}
			return fail(note, "entry %d of the record does not hold the ballot of the receipt", rcpt.Index), nil
		}
		// The receipt's own checkpoint and inclusion proof, then the receipt's tree is a prefix of the final one.
		cp, err := rcpt.Verify(rep.Board.VerifierKey, election.Kind(rc.Entry.Kind), rc.Entry.Payload)
		if err != nil {
			return fail("", "%v", err), nil
		}
		pass("", "the receipt's checkpoint (size %d) is signed by the board, and its inclusion proof puts the ballot at entry %d", cp.Size, rc.Entry.Index)
		if err := consistent(ctx, &tree, cp, final, opts.BoardProof); err != nil {
			return fail("", "the receipt's checkpoint is not consistent with the record's final checkpoint: %v", err), nil
		}
		pass("", "the receipt's checkpoint (size %d) is consistent with the final checkpoint (size %d): the board did not rewrite the entries before it", cp.Size, final.Size)
	} else {
		if len(hits) == 0 {
			return fail("", "no ballot with this tracking code is on the board"), nil
		}
		rc.Entry = &hits[0]
		proof, err := tree.InclusionProof(rc.Entry.Index, final.Size)
		if err == nil {
			err = tlog.VerifyInclusion(final, rc.Entry.Kind, rc.Entry.Payload, rc.Entry.Index, proof)
		}
		if err != nil {
			return fail("", "inclusion in the final checkpoint: %v", err), nil
		}
		pass("(with a receipt file, this command also checks that the checkpoint you were given is consistent with the final one)",
			"the ballot is entry %d, included in the final checkpoint (size %d)", rc.Entry.Index, final.Size)
	}
	if opts.Seen != nil {
		seen, err := tlog.ParseCheckpoint(opts.Seen, rep.Board.VerifierKey)
		if err != nil {
			return fail("", "the checkpoint your voting client saw last is not one of this board's: %v", err), nil
		}
		if seen.Size > final.Size {
			return fail("(if the record is an older export, check against the final record or the node itself)",
				"the record's final checkpoint (size %d) is smaller than the checkpoint your voting client saw last (size %d): the board was rolled back, or the record is older", final.Size, seen.Size), nil
		}
		if err := consistent(ctx, &tree, seen, final, opts.BoardProof); err != nil {
			return fail("(keep both checkpoints: together they prove the board showed two histories)",
				"the checkpoint your voting client saw last (size %d) is not consistent with the record's final checkpoint: %v", seen.Size, err), nil
		}
		pass("", "the record's final checkpoint extends the checkpoint your voting client saw last (size %d)", seen.Size)
	}
	rc.Status, rc.SupersededBy = er.State.BallotStatus(code)
	return rc, nil
}

// consistent checks that the tree of cp is a prefix of the tree of final: with a consistency proof computed from
// the record's entries, and with the board's own proof too when boardProof is set.
func consistent(ctx context.Context, tree *tlog.LeafTree, cp, final tlog.Checkpoint, boardProof func(context.Context, uint64, uint64) ([][]byte, error)) error {
	if cp.Size > final.Size {
		return fmt.Errorf("the receipt's checkpoint has size %d, more than the record's %d entries: the record is older than the receipt, or the board shrank", cp.Size, final.Size)
	}
	proof, err := tree.ConsistencyProof(cp.Size, final.Size)
	if err != nil {
		return err
	}
	if err := tlog.VerifyConsistency(cp, final, proof); err != nil {
		return err
	}
	if boardProof == nil {
		return nil
	}
	proof, err = boardProof(ctx, cp.Size, final.Size)
	if err != nil {
		return err
	}
	return tlog.VerifyConsistency(cp, final, proof)
}

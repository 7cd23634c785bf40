package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/verify"
)

func init() {
	register(&command{
		name:    "receipt",
		summary: "check, on your own, that your ballot is on the board and what became of it (counted, superseded or spoiled)",
		usage:   "RECEIPT-FILE|TRACKING-CODE (RECORD | --node ADDR)",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			c := &receiptCmd{}
			c.node = addConnFlags(fs, connBoard)
			fs.StringVar(&c.boardKey, "board-key", "", "require the board's verifier `KEY` (origin+hash+base64, or its sha256: fingerprint)")
			fs.BoolVar(&c.progress, "progress", false, "show a progress bar on stderr even when it is not a terminal")
			c.fs = fs
			return c.run
		},
	})
}

type receiptCmd struct {
	node     *connFlags
	boardKey string
	progress bool
	fs       *flag.FlagSet
}

// found is a ballot entry holding the tracking code looked for.
type found struct {
	index   uint64
	kind    election.Kind
	payload []byte
}

func (c *receiptCmd) run(ctx context.Context, args []string) error {
	stdout, stderr := outputs(ctx)
	args, err := interspersed(c.fs, args)
	if err != nil {
		return err
	}
	var src *source
	var board recountv1.BoardServiceClient // the node's, for its own consistency proof; nil for a file
	switch {
	case len(args) == 1 && c.node.addr != "":
		client, err := c.node.dial()
		if err != nil {
			return err
		}
		defer client.Close()
		src, board = nodeSource(c.node.addr, client), client.Board
	case len(args) == 2 && c.node.addr == "":
		src = fileSource(args[1])
	default:
		return errUsage
	}
	// The receipt file, or a tracking code typed in.
	var rcpt *node.Receipt
	var code election.ID
	data, err := os.ReadFile(args[0])
	switch {
	case err == nil:
		if rcpt, err = node.ParseReceipt(data); err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		code = rcpt.TrackingCode
	case errors.Is(err, fs.ErrNotExist):
		if code, err = election.ParseTrackingCode(args[0]); err != nil {
			fmt.Fprintf(stderr, "recount receipt: %q is neither a receipt file nor a tracking code\n", args[0])
			return errUsage
		}
	default:
		return err
	}
	ctx, cancel := c.node.withTimeout(ctx)
	defer cancel()

	var tree tlog.LeafTree
	var hits []found
	rc, err := checkRecord(ctx, src, checkOptions{boardKey: c.boardKey,
		progress: progressWriter(stderr, c.progress), progressAlways: c.progress,
		entry: func(e tlog.Entry) {
			tree.Append(tlog.LeafHash(e.Kind, e.Payload))
			k := election.Kind(e.Kind)
			if k != election.KindBallot && k != election.KindSpoiledBallot {
				return
			}
			if got, err := election.TrackingCodeOf(k, e.Payload); err == nil && got == code {
				hits = append(hits, found{e.Index, k, e.Payload})
			}
		}})
	if err != nil {
		return err
	}
	p := &receiptPrinter{w: stdout}
	p.say("Tracking code %s", election.HumanTrackingCode(code))
	p.say("Record       %s", src.name)
	if !p.recordOK(rc) {
		return p.result()
	}
	final := rc.Checkpoint
	p.ok("the record verifies up to its final checkpoint (size %d) under board key %s", final.Size, tlog.KeyFingerprint(rc.Board.VerifierKey))

	var entry *found
	if rcpt != nil {
		if rcpt.Election != rc.ElectionReport.Election {
			p.fail("the receipt is for election %s, the record is of election %s", rcpt.Election, rc.ElectionReport.Election)
			return p.result()
		}
		for i := range hits {
			if hits[i].index == rcpt.Index {
				entry = &hits[i]
			}
		}
		if entry == nil {
			p.fail("entry %d of the record does not hold the ballot of the receipt", rcpt.Index)
			if len(hits) > 0 {
				p.say("  (the ballot stands at entry %d instead)", hits[0].index)
			}
			return p.result()
		}
		// The receipt's own checkpoint and inclusion proof, then the receipt's tree is a prefix of the final one.
		cp, err := rcpt.Verify(rc.Board.VerifierKey, entry.kind, entry.payload)
		if err != nil {
			p.fail("%v", err)
			return p.result()
		}
		p.ok("the receipt's checkpoint (size %d) is signed by the board, and its inclusion proof puts the ballot at entry %d", cp.Size, entry.index)
		if err := consistent(ctx, src, board, &tree, cp, final); err != nil {
			p.fail("the receipt's checkpoint is not consistent with the record's final checkpoint: %v", err)
			return p.result()
		}
		p.ok("the receipt's checkpoint (size %d) is consistent with the final checkpoint (size %d): the board did not rewrite the entries before it", cp.Size, final.Size)
	} else {
		if len(hits) == 0 {
			p.fail("no ballot with this tracking code is on the board")
			return p.result()
		}
		entry = &hits[0]
		proof, err := tree.InclusionProof(entry.index, final.Size)
		if err == nil {
			err = tlog.VerifyInclusion(final, tlog.Kind(entry.kind), entry.payload, entry.index, proof)
		}
		if err != nil {
			p.fail("inclusion in the final checkpoint: %v", err)
			return p.result()
		}
		p.ok("the ballot is entry %d, included in the final checkpoint (size %d)", entry.index, final.Size)
		p.say("  (with a receipt file, this command also checks that the checkpoint you were given is consistent with the final one)")
	}

	st, by := rc.ElectionReport.State.BallotStatus(code)
	switch st {
	case election.StatusCounted:
		p.ok("the ballot is COUNTED in the encrypted tally")
	case election.StatusSuperseded:
		p.ok("the ballot is SUPERSEDED by entry %d, a later ballot of the same credential, which is the one that counts", by)
		p.say("  If you did not vote again, someone else has used your credential: tell the election's commission.")
	case election.StatusSpoiled:
		p.ok("the ballot is SPOILED: you challenged it; it never counts, and its openings reveal what it encrypted:")
		p.spoiled(rc.ElectionReport.State.Manifest(), entry.payload)
	case election.StatusCast:
		p.ok("the ballot is CAST and is its credential's latest; it will be counted if it is still the latest when the polls close (no tally on the board yet)")
	default:
		p.fail("the ballot is %s", st)
	}
	return p.result()
}

// consistent checks that the tree of cp is a prefix of the tree of final: with a consistency proof computed from
// the record's entries, and, from a node (board is not nil), with the node's own proof too.
func consistent(ctx context.Context, src *source, board recountv1.BoardServiceClient, tree *tlog.LeafTree, cp, final tlog.Checkpoint) error {
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
	if board == nil {
		return nil
	}
	resp, err := board.GetConsistencyProof(ctx, &recountv1.GetConsistencyProofRequest{OldSize: cp.Size, NewSize: final.Size})
	if err != nil {
		return fmt.Errorf("%s: consistency proof: %w", src.name, err)
	}
	return tlog.VerifyConsistency(cp, final, resp.Proof)
}

// receiptPrinter prints the outcome of each step, and remembers whether one failed.
type receiptPrinter struct {
	w      io.Writer
	failed bool
}

func (p *receiptPrinter) say(format string, args ...any) { fmt.Fprintf(p.w, format+"\n", args...) }
func (p *receiptPrinter) ok(format string, args ...any)  { p.say("  ok    "+format, args...) }
func (p *receiptPrinter) fail(format string, args ...any) {
	p.failed = true
	p.say("  FAIL  "+format, args...)
}

// recordOK reports on the record's own verification; the receipt means nothing on a record that fails.
func (p *receiptPrinter) recordOK(rc *verify.Report) bool {
	if rc.BoardErr != nil {
		p.fail("the record is not what the board signed (check 1): %v", rc.BoardErr)
		return false
	}
	if rc.ElectionReport == nil || rc.ElectionReport.State.Manifest() == nil {
		p.fail("the record has no valid manifest")
		return false
	}
	p.say("Election     %s (%s)", rc.ElectionReport.Title, rc.ElectionReport.Election)
	if !rc.ElectionReport.OK() {
		for _, l := range failureLines(rc.ElectionReport) {
			p.fail("the record fails %s", l)
		}
		p.say("  The record fails checks: whatever it says of your ballot, its result cannot be trusted. Run 'recount verify' for the whole report.")
		return false
	}
	return true
}

// spoiled prints the choices a spoiled ballot's openings reveal.
func (p *receiptPrinter) spoiled(m *election.Manifest, payload []byte) {
	sp, err := election.ParseSpoiledBallot(m, payload)
	if err != nil {
		p.fail("the spoiled ballot does not decode: %v", err)
		return
	}
	for c, contest := range m.Proto().Contests {
		p.say("        %s", contest.Title)
		for o, opt := range contest.Options {
			p.say("          %-24s %d", opt.Title, sp.Choices[c][o])
		}
	}
	p.say("  Compare them with the choices your voting device showed you before you challenged: if they differ, the device cheated.")
}

func (p *receiptPrinter) result() error {
	if p.failed {
		p.say("\nFAILED: the receipt does not check out.")
		return &exitError{code: 1, err: node.ErrReceipt}
	}
	p.say("\nOK: the receipt checks out.")
	return nil
}

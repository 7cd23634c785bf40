package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
	"github.com/recount-vote/recount/witness/policy"
)

func init() {
	register(&command{
		name:    "receipt",
		summary: "check, on your own, that your ballot is on the board and what became of it (counted, superseded or spoiled)",
		usage:   "RECEIPT-FILE|TRACKING-CODE (RECORD | --node ADDR) [--witness-policy FILE [--cosigned FILE]]",
		help: `With --witness-policy, the ballot must also be on a witnessed board: a receipt file's cosigned checkpoint
must meet the policy's quorum (a receipt given before the witnesses cosigned must be upgraded first); for a
tracking code, or a receipt without cosignatures, the record's final checkpoint must be witnessed, as
'recount verify --witness-policy' checks it. It prints "witnessed by k of n (names)" and fails otherwise.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			c := &receiptCmd{}
			c.node = addConnFlags(fs, connBoard)
			fs.StringVar(&c.boardKey, "board-key", "", "require the board's verifier `KEY` (origin+hash+base64, or its sha256: fingerprint)")
			fs.BoolVar(&c.progress, "progress", false, "show a progress bar on stderr even when it is not a terminal")
			c.wit = addWitnessFlags(fs)
			fs.StringVar(&c.seen, "seen", "", "the `FILE` in which 'recount vote' keeps the last checkpoint it saw (default: the one beside the receipt file, when there): the board must extend it")
			c.fs = fs
			return c.run
		},
	})
}

type receiptCmd struct {
	node     *connFlags
	boardKey string
	progress bool
	wit      *witnessFlags
	seen     string
	fs       *flag.FlagSet
}

func (c *receiptCmd) run(ctx context.Context, args []string) error {
	stdout, stderr := outputs(ctx)
	tuneGCForRecord()
	args, err := interspersed(c.fs, args)
	if err != nil {
		return err
	}
	var src *source
	var board recountv1.BoardServiceClient // the node's, for its own consistency proof; nil for a file
	switch {
	case len(args) == 1 && c.node.addr != "":
		nc, err := c.node.dial()
		if err != nil {
			return err
		}
		defer nc.Close()
		src, board = nodeSource(c.node.addr, nc), nc.Board
	case len(args) == 2 && c.node.addr == "":
		src = fileSource(args[1])
		c.wit.besideRecord = args[1] + cosignedSuffix
	case len(args) == 2 && c.node.addr != "" && c.wit.enabled():
		// The record from the file, the witnessed checkpoint from the node.
		nc, err := c.node.dial()
		if err != nil {
			return err
		}
		defer nc.Close()
		src, board = fileSource(args[1]), nc.Board
		c.wit.besideRecord = args[1] + cosignedSuffix
	default:
		return errUsage
	}
	if c.wit.cosignedFile != "" && !c.wit.enabled() {
		return errUsage
	}
	var pol *policy.Policy
	if c.wit.enabled() {
		if pol, err = c.wit.load(); err != nil {
			return err
		}
	}
	// The receipt file, or a tracking code typed in.
	var rcpt *client.Receipt
	var code election.ID
	data, err := os.ReadFile(args[0])
	switch {
	case err == nil:
		if rcpt, err = client.ParseReceipt(data); err != nil {
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

	var ropts verify.ReceiptOptions
	// The last checkpoint the voter's client saw: named, or the one `recount vote` left beside the receipt.
	seenPath := c.seen
	if seenPath == "" && rcpt != nil {
		if p := seenFile(filepath.Dir(args[0]), rcpt.Election); fileExists(p) {
			seenPath = p
		}
	}
	if seenPath != "" {
		if _, ropts.Seen, err = readSeen(seenPath); err != nil {
			return fmt.Errorf("--seen: %w", err)
		}
	}
	if board != nil {
		// The node's own consistency proof, beside the one computed from its export.
		ropts.BoardProof = func(ctx context.Context, oldSize, newSize uint64) ([][]byte, error) {
			resp, err := board.GetConsistencyProof(ctx, &recountv1.GetConsistencyProofRequest{OldSize: oldSize, NewSize: newSize})
			if err != nil {
				return nil, fmt.Errorf("%s: consistency proof: %w", src.name, err)
			}
			return resp.Proof, nil
		}
	}
	rc, err := withRecord(ctx, src, checkOptions{boardKey: c.boardKey, progress: progressWriter(stderr, c.progress), progressAlways: c.progress},
		func(ctx context.Context, r io.Reader, vopts verify.Options) (*verify.ReceiptCheck, error) {
			ropts.Options = vopts
			if rcpt != nil {
				return verify.CheckReceipt(ctx, r, rcpt, ropts)
			}
			return verify.CheckTrackingCode(ctx, r, code, ropts)
		})
	if err != nil {
		return err
	}
	p := &receiptPrinter{w: stdout}
	p.say("Tracking code %s", election.HumanTrackingCode(code))
	p.say("Record       %s", src.name)
	if seenPath != "" {
		p.say("Seen         %s", seenPath)
	}
	if !p.recordOK(rc.Record) {
		return p.result()
	}
	p.ok("the record verifies up to its final checkpoint (size %d) under board key %s", rc.Record.Checkpoint.Size, tlog.KeyFingerprint(rc.Record.Board.VerifierKey))
	for _, step := range rc.Steps {
		if step.OK {
			p.ok("%s", step.What)
		} else {
			p.fail("%s", step.What)
		}
		if step.Note != "" {
			p.say("  %s", step.Note)
		}
	}
	if !rc.OK() {
		return p.result()
	}
	if pol != nil {
		p.witnessed(ctx, c.wit, pol, rcpt, rc.Record, board, src.name)
	}

	switch st, by := rc.Status, rc.SupersededBy; st {
	case election.StatusCounted:
		p.ok("the ballot is COUNTED in the encrypted tally")
	case election.StatusSuperseded:
		p.ok("the ballot is SUPERSEDED by entry %d, a later ballot of the same credential, which is the one that counts", by)
		p.say("  If you did not vote again, someone else has used your credential: tell the election's commission.")
	case election.StatusSpoiled:
		p.ok("the ballot is SPOILED: you challenged it; it never counts, and its openings reveal what it encrypted:")
		p.spoiled(rc.Record.ElectionReport.State.Manifest(), rc.Entry.Payload)
	case election.StatusCast:
		p.ok("the ballot is CAST and is its credential's latest; it will be counted if it is still the latest when the polls close (no tally on the board yet)")
	default:
		p.fail("the ballot is %s", st)
	}
	return p.result()
}

// witnessed checks the witness policy: the receipt's own cosigned checkpoint when it has one, else the record's
// final checkpoint (recordWitnessed).
func (p *receiptPrinter) witnessed(ctx context.Context, wit *witnessFlags, pol *policy.Policy, rcpt *client.Receipt, rec *verify.Report, board recountv1.BoardServiceClient, name string) {
	if rcpt != nil && rcpt.Cosigned != nil {
		res, err := rcpt.CheckWitnessed(pol)
		if err != nil {
			p.fail("the receipt's checkpoint is not witnessed under the policy: %s", witnessLine(res, err))
			return
		}
		cp, _ := tlog.ParseCheckpoint(rcpt.Checkpoint, rcpt.BoardKey)
		p.ok("the receipt's checkpoint (size %d) is %s", cp.Size, res)
		return
	}
	if rcpt != nil && rcpt.Unwitnessed {
		p.say("  The receipt was given before the witnesses cosigned: checking the record's final checkpoint instead.")
	}
	res, err := wit.recordWitnessed(ctx, pol, rec.Checkpoint, rec.Board.VerifierKey, board, name)
	if err != nil {
		p.fail("the record's final checkpoint is not witnessed under the policy: %s", witnessLine(res, err))
		return
	}
	p.ok("the record's final checkpoint (size %d) is %s", rec.Checkpoint.Size, res)
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
		return &exitError{code: 1, err: client.ErrReceipt}
	}
	p.say("\nOK: the receipt checks out.")
	return nil
}

package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/verify"
	"github.com/recount-vote/recount/witness/policy"
)

func init() {
	register(&command{
		name:    "verify",
		summary: "check an election record (an export file, or a node's board) with every check of docs/verification.md",
		usage:   "RECORD | --node ADDR  [--witness-policy FILE [--cosigned FILE]]",
		help: `With --witness-policy, the record must also be witnessed: a checkpoint cosigned by witnesses meeting the
policy's quorum, the node's latest witnessed one (--node; with RECORD too, the node is asked only for it and its
consistency proof) or the one in --cosigned FILE, must be the record's final checkpoint or extend it. The export
file carries the board's signature alone, so the cosignatures come from beside it. It prints "witnessed by k of n
(names)" and fails (exit 1) when the policy is not met.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			v := &verifyCmd{}
			v.node = addConnFlags(fs, connBoard)
			fs.BoolVar(&v.json, "json", false, "print the report as JSON (for programs)")
			fs.StringVar(&v.boardKey, "board-key", "", "require the board's verifier `KEY` (origin+hash+base64, or its sha256: fingerprint)")
			fs.BoolVar(&v.progress, "progress", false, "show a progress bar on stderr even when it is not a terminal")
			fs.IntVar(&v.workers, "workers", 0, "goroutines checking ballots (0: one per core)")
			fs.BoolVar(&v.requireResult, "require-result", false, "fail (exit 1) unless the record is complete, with its result")
			v.wit = addWitnessFlags(fs)
			v.fs = fs
			return v.run
		},
	})
}

type verifyCmd struct {
	node           *connFlags
	json, progress bool
	requireResult  bool
	boardKey       string
	workers        int
	wit            *witnessFlags
	fs             *flag.FlagSet
}

func (v *verifyCmd) run(ctx context.Context, args []string) error {
	stdout, stderr := outputs(ctx)
	tuneGCForRecord()
	args, err := interspersed(v.fs, args)
	if err != nil {
		return err
	}
	var src *source
	var board recountv1.BoardServiceClient // the node's, for its witnessed checkpoint
	switch {
	case v.node.addr != "" && len(args) == 0:
		c, err := v.node.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		src, board = nodeSource(v.node.addr, c), c.Board
	case v.node.addr == "" && len(args) == 1:
		src = fileSource(args[0])
		v.wit.besideRecord = args[0] + cosignedSuffix
	case v.node.addr != "" && len(args) == 1 && v.wit.enabled():
		// The record from the file, its cosignatures from the node.
		c, err := v.node.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		src, board = fileSource(args[0]), c.Board
		v.wit.besideRecord = args[0] + cosignedSuffix
	default:
		return errUsage
	}
	if v.wit.cosignedFile != "" && !v.wit.enabled() {
		return errUsage
	}
	var pol *policy.Policy
	if v.wit.enabled() {
		if pol, err = v.wit.load(); err != nil {
			return err
		}
	}
	if v.workers < 0 {
		return errUsage
	}
	ctx, cancel := v.node.withTimeout(ctx)
	defer cancel()
	vr, err := checkRecord(ctx, src, checkOptions{boardKey: v.boardKey, workers: v.workers,
		progress: progressWriter(stderr, v.progress), progressAlways: v.progress})
	if err != nil {
		return err
	}
	// The witness policy is checked on a record that verifies, before printing, so that --json carries it.
	var witErr error
	if pol != nil && vr.OK {
		res, err := v.wit.recordWitnessed(ctx, pol, vr.Checkpoint, vr.Board.VerifierKey, board, "node "+v.node.addr)
		vr.Witnessed = &verify.WitnessInfo{Met: err == nil, Quorum: res.Quorum, Cosigners: []string{}, Summary: witnessLine(res, err)}
		for _, c := range res.Cosigners {
			vr.Witnessed.Cosigners = append(vr.Witnessed.Cosigners, c.Name)
		}
		witErr = err
	}
	if v.json {
		b, _ := json.MarshalIndent(vr, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printReport(stdout, vr)
	}
	if !vr.OK {
		return &exitError{code: 1, err: fmt.Errorf("%s: the record fails %d of %d checks", src.name, vr.FailedChecks(), len(election.Checks))}
	}
	if w := vr.Witnessed; w != nil {
		out := stdout
		if v.json {
			out = stderr // the report is the JSON alone; its "witnessed" field says the same
		}
		if witErr != nil {
			fmt.Fprintf(out, "NOT WITNESSED: %s\n", w.Summary)
			return &exitError{code: 1, err: fmt.Errorf("%s: the record is not witnessed under %s: %w", src.name, v.wit.policyFile, witErr)}
		}
		fmt.Fprintf(out, "Witnesses: the final checkpoint (size %d) is %s\n", vr.Checkpoint.Size, w.Summary)
	}
	if v.requireResult && !vr.Complete {
		return &exitError{code: 1, err: fmt.Errorf("%s: every check passes so far, but the record has no result yet (--require-result)", src.name)}
	}
	return nil
}

// printReport writes the report for people.
func printReport(w io.Writer, vr *verify.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if vr.Election != nil {
		fmt.Fprintf(tw, "Election\t%s\n", vr.Election.Title)
		fmt.Fprintf(tw, "Identity\t%s\n", vr.Election.ID)
	}
	fmt.Fprintf(tw, "Record\t%s, %d entries\n", vr.Source, vr.Board.Size)
	fmt.Fprintf(tw, "Board\t%s\n", vr.Board.Origin)
	fmt.Fprintf(tw, "Board key\t%s\n", vr.Board.VerifierKey)
	fmt.Fprintf(tw, "Key fingerprint\t%s\n", vr.Board.KeyFingerprint)
	if vr.Board.Root != "" {
		root, _ := hex.DecodeString(vr.Board.Root)
		fmt.Fprintf(tw, "Final checkpoint\tsize %d, root %s\n", vr.Board.Size, vr.Board.Root)
		fmt.Fprintf(tw, "\t(root in base64, as the checkpoint has it: %s)\n", base64.StdEncoding.EncodeToString(root))
	}
	tw.Flush()
	fmt.Fprintln(w, "Compare the identity, the key fingerprint and the final checkpoint with those the election published.")
	if er := vr.ElectionReport; er != nil && er.State.Manifest() != nil && len(er.State.Manifest().Proto().BoothFiles) > 0 {
		// The voters' web pages the manifest pins (docs/web.md), in /hashes' format, to compare with what nodes serve.
		fmt.Fprintln(w, "\nThe voters' web pages the manifest pins (compare with each node's /hashes):")
		for _, f := range er.State.Manifest().Proto().BoothFiles {
			fmt.Fprintf(w, "  %x  %s\n", f.Sha256, f.Path)
		}
	}

	if vr.Result != nil {
		fmt.Fprintf(w, "\nResult (partial decryptions of trustees %s combined)\n", joinInts(vr.Result.Trustees))
		for _, c := range vr.Result.Contests {
			fmt.Fprintf(w, "\n  %s\n", c.Title)
			width := 1
			for _, o := range c.Options {
				width = max(width, len(fmt.Sprint(o.Count)))
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, o := range c.Options {
				fmt.Fprintf(tw, "    %s\t%*d\n", o.Title, width, o.Count)
			}
			tw.Flush()
		}
	} else if vr.Ballots != nil && vr.OK {
		fmt.Fprintln(w, "\nNo result on the board yet: the election is in progress (this is not a failure).")
	} else if vr.Ballots != nil {
		fmt.Fprintln(w, "\nNo checked result: the record ends before its result, or its result could not be checked (see the failures below).")
	}
	if b := vr.Ballots; b != nil {
		fmt.Fprintf(w, "\nBallots: %d credentials published; %d ballots cast by %d credentials, %d spoiled (challenged), %d counted.\n",
			b.Credentials, b.Cast, b.Voters, b.Spoiled, b.Counted)
	}

	fmt.Fprintln(w, "\nChecks")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range vr.Checks {
		var what string
		switch c.Status {
		case verify.StatusPass:
			what = fmt.Sprintf("%d passed", c.Passed)
		case verify.StatusFail:
			what = fmt.Sprintf("%d passed, %d FAILED", c.Passed, c.Failed)
		case verify.StatusNone:
			what = "no entry to check"
		case verify.StatusNotRun:
			what = "not run"
		}
		fmt.Fprintf(tw, "  %s\t%2d %s\t%s\n", statusMark(c.Status), c.Number, c.Name, what)
	}
	tw.Flush()

	if len(vr.Failures) > 0 {
		// By check, each check's listed failures in record order, then the count of those not listed.
		fmt.Fprintln(w, "\nFailures")
		for _, c := range vr.Checks {
			for _, f := range vr.Failures {
				if f.Check != c.Number {
					continue
				}
				where := "the record"
				if f.Entry != nil {
					where = fmt.Sprintf("entry %d", *f.Entry)
				}
				fmt.Fprintf(w, "  check %d %s, %s: %s\n", f.Check, f.Name, where, f.Reason)
			}
			if c.NotListed > 0 {
				fmt.Fprintf(w, "  check %d %s: and %d more failures, not listed\n", c.Number, c.Name, c.NotListed)
			}
		}
		if vr.Checks[0].Status == verify.StatusFail {
			fmt.Fprintln(w, "\nThe record is not what the board signed, so its entries prove nothing: the other checks were not run.")
		}
	}
	fmt.Fprintln(w)
	switch {
	case vr.OK && vr.Complete:
		fmt.Fprintf(w, "OK: the record passes all %d checks.\n", len(vr.Checks))
	case vr.OK:
		fmt.Fprintf(w, "OK so far: the record passes every check that applies; it has no result yet.\n")
	default:
		fmt.Fprintf(w, "FAILED: the record fails %d of %d checks.\n", vr.FailedChecks(), len(vr.Checks))
	}
}

func statusMark(s verify.Status) string {
	switch s {
	case verify.StatusPass:
		return "ok"
	case verify.StatusFail:
		return "FAIL"
	case verify.StatusNone:
		return "-"
	default:
		return "?"
	}
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

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

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

func init() {
	register(&command{
		name:    "verify",
		summary: "check an election record (an export file, or a node's board) with every check of docs/verification.md",
		usage:   "RECORD | --node ADDR",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			v := &verifyCmd{}
			v.node = addConnFlags(fs, connBoard)
			fs.BoolVar(&v.json, "json", false, "print the report as JSON (for programs)")
			fs.StringVar(&v.boardKey, "board-key", "", "require the board's verifier `KEY` (origin+hash+base64, or its sha256: fingerprint)")
			fs.BoolVar(&v.progress, "progress", false, "show a progress bar on stderr even when it is not a terminal")
			fs.IntVar(&v.workers, "workers", 0, "goroutines checking ballots (0: one per core)")
			fs.BoolVar(&v.requireResult, "require-result", false, "fail (exit 1) unless the record is complete, with its result")
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
	fs             *flag.FlagSet
}

func (v *verifyCmd) run(ctx context.Context, args []string) error {
	stdout, stderr := outputs(ctx)
	args, err := interspersed(v.fs, args)
	if err != nil {
		return err
	}
	var src *source
	switch {
	case v.node.addr != "" && len(args) == 0:
		c, err := v.node.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		src = nodeSource(v.node.addr, c)
	case v.node.addr == "" && len(args) == 1:
		src = fileSource(args[0])
	default:
		return errUsage
	}
	if v.workers < 0 {
		return errUsage
	}
	ctx, cancel := v.node.withTimeout(ctx)
	defer cancel()
	rc, err := checkRecord(ctx, src, checkOptions{boardKey: v.boardKey, workers: v.workers,
		progress: progressWriter(stderr, v.progress), progressAlways: v.progress})
	if err != nil {
		return err
	}
	vr := newVerifyReport(rc)
	if v.json {
		b, _ := json.MarshalIndent(vr, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		vr.print(stdout)
	}
	if !vr.OK {
		return &exitError{code: 1, err: fmt.Errorf("%s: the record fails %d of %d checks", src.name, vr.failedChecks(), len(election.Checks))}
	}
	if v.requireResult && !vr.Complete {
		return &exitError{code: 1, err: fmt.Errorf("%s: every check passes so far, but the record has no result yet (--require-result)", src.name)}
	}
	return nil
}

// verifyReport is the verifier's report, in the form --json prints.
type verifyReport struct {
	OK bool `json:"ok"`
	// Complete is set when the record ends with the result; an incomplete record (an election in progress) is
	// not a failure.
	Complete bool          `json:"complete"`
	Source   string        `json:"source"`
	Election *electionInfo `json:"election,omitempty"`
	Board    boardInfo     `json:"board"`
	Ballots  *ballotCounts `json:"ballots,omitempty"`
	Result   *resultInfo   `json:"result,omitempty"`
	Checks   []checkInfo   `json:"checks"`
	Failures []failureInfo `json:"failures"`
}

type electionInfo struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type boardInfo struct {
	Origin         string `json:"origin"`
	VerifierKey    string `json:"verifier_key"`
	KeyFingerprint string `json:"key_fingerprint"`
	// Size and Root are those of the record's final signed checkpoint: compare them with what was published.
	Size       uint64 `json:"size"`
	Root       string `json:"root,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
}

type ballotCounts struct {
	Credentials int `json:"credentials"`
	Cast        int `json:"cast"`
	Voters      int `json:"voters"`
	Spoiled     int `json:"spoiled"`
	Counted     int `json:"counted"`
}

type resultInfo struct {
	Trustees []int         `json:"trustees"`
	Contests []contestInfo `json:"contests"`
}

type contestInfo struct {
	ID      string       `json:"id"`
	Title   string       `json:"title"`
	Options []optionInfo `json:"options"`
}

type optionInfo struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Count uint64 `json:"count"`
}

type checkInfo struct {
	Number int    `json:"number"`
	Name   string `json:"name"`
	// Status is "pass", "fail", "not run" (check 1 failed, or the record could not be read), or "none" (no
	// entry of the record is subject to it).
	Status string `json:"status"`
	Passed uint64 `json:"passed"`
	// Failed counts every failure of the check; the first of them (election.DefaultFailuresKept at most) are
	// listed in the report's failures, and NotListed counts the others.
	Failed    uint64 `json:"failed"`
	NotListed uint64 `json:"failures_not_listed"`
}

type failureInfo struct {
	Check int    `json:"check"`
	Name  string `json:"name"`
	// Entry is the board index of the entry at fault; absent when the failure concerns the whole record.
	Entry  *uint64 `json:"entry,omitempty"`
	Reason string  `json:"reason"`
}

func newVerifyReport(rc *recordCheck) *verifyReport {
	vr := &verifyReport{OK: rc.OK(), Source: rc.Source, Failures: []failureInfo{},
		Board: boardInfo{Origin: rc.Origin, VerifierKey: rc.VerifierKey, Size: rc.Size}}
	if rc.VerifierKey != "" {
		vr.Board.KeyFingerprint = tlog.KeyFingerprint(rc.VerifierKey)
	}
	if rc.BoardErr == nil && rc.Checkpoint.Signed != nil {
		vr.Board.Size = rc.Checkpoint.Size
		vr.Board.Root = hex.EncodeToString(rc.Checkpoint.Root[:])
		vr.Board.Checkpoint = string(rc.Checkpoint.Signed)
	}
	rep := rc.Report
	failed := map[election.Check]uint64{}
	if rc.BoardErr != nil {
		failed[election.CheckBoard] = 1
		vr.Failures = append(vr.Failures, failureInfo{Check: int(election.CheckBoard), Name: election.CheckBoard.Name(), Reason: rc.BoardErr.Error()})
	}
	if rep != nil {
		vr.Complete = rep.Complete
		if rep.Passed[election.CheckManifest] > 0 || rep.Title != "" {
			vr.Election = &electionInfo{ID: rep.Election.String(), Title: rep.Title}
		}
		vr.Ballots = &ballotCounts{Credentials: rep.Credentials, Cast: rep.Cast, Voters: rep.Voters, Spoiled: rep.Spoiled, Counted: rep.Count}
		if rep.Tally != nil {
			ri := &resultInfo{Trustees: rep.Tally.Trustees, Contests: []contestInfo{}}
			for _, c := range rep.Tally.Contests {
				ci := contestInfo{ID: c.ID, Title: c.Title}
				for _, o := range c.Options {
					ci.Options = append(ci.Options, optionInfo{ID: o.ID, Title: o.Title, Count: o.Count})
				}
				ri.Contests = append(ri.Contests, ci)
			}
			vr.Result = ri
		}
		for c, n := range rep.FailureCounts {
			failed[c] += n
		}
		for _, f := range rep.Failures {
			fi := failureInfo{Check: int(f.Check), Name: f.Check.Name(), Reason: f.Reason}
			if !f.NoEntry {
				e := f.Entry
				fi.Entry = &e
			}
			vr.Failures = append(vr.Failures, fi)
		}
	}
	for _, c := range election.Checks {
		ci := checkInfo{Number: int(c), Name: c.Name(), Failed: failed[c]}
		switch {
		case c == election.CheckBoard:
			if rc.BoardErr == nil && rc.Checkpoint.Signed != nil {
				ci.Passed = rc.Checkpoint.Size
			}
		case rep != nil:
			ci.Passed = rep.Passed[c]
			ci.NotListed = rep.Omitted(c)
		}
		switch {
		case ci.Failed > 0:
			ci.Status = "fail"
		case c != election.CheckBoard && rep == nil, c == election.CheckBoard && rc.Checkpoint.Signed == nil:
			ci.Status = "not run"
		case ci.Passed == 0 && c != election.CheckBoard:
			ci.Status = "none"
		default:
			ci.Status = "pass"
		}
		vr.Checks = append(vr.Checks, ci)
	}
	return vr
}

func (vr *verifyReport) failedChecks() int {
	n := 0
	for _, c := range vr.Checks {
		if c.Status == "fail" {
			n++
		}
	}
	if n == 0 && !vr.OK {
		n = 1 // not run for want of a readable record
	}
	return n
}

// print writes the report for people.
func (vr *verifyReport) print(w io.Writer) {
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
	} else if vr.Ballots != nil {
		fmt.Fprintln(w, "\nNo result on the board yet: the election is in progress (this is not a failure).")
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
		case "pass":
			what = fmt.Sprintf("%d passed", c.Passed)
		case "fail":
			what = fmt.Sprintf("%d passed, %d FAILED", c.Passed, c.Failed)
		case "none":
			what = "no entry to check"
		case "not run":
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
		if vr.Checks[0].Status == "fail" {
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
		fmt.Fprintf(w, "FAILED: the record fails %d of %d checks.\n", vr.failedChecks(), len(vr.Checks))
	}
}

func statusMark(s string) string {
	switch s {
	case "pass":
		return "ok"
	case "fail":
		return "FAIL"
	case "none":
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

// Package verify checks an election record, as a third party would: every check of docs/verification.md,
// reading the record as a stream, without holding it in memory.
//
// [Verify] reads a record (the board's export, as `recount export` writes it) and runs check 1, the board's
// integrity (every entry hashes to the tree of the final checkpoint, signed by the board's key), with
// [tlog.ExportReader], then checks 2-23 (the manifest, the key ceremony, the credentials, every ballot's
// signature and proofs, the tally and the result) with [election.Verify], the ballots on all cores. A record
// that fails check 1 is not what the board signed, so its other checks prove nothing and are not reported.
//
// A [Report] holds what a verifier compares with what the election published: the election's identity, the
// board's verifier key and its fingerprint, the size and root of the final signed checkpoint; the result and the
// ballot counts; and, for each check, how many entries passed it and the first failures with their entries and
// reasons. Its JSON encoding is what `recount verify --json` prints.
//
// A voter's [Receipt] is checked against a record with [CheckReceipt] (or, without the receipt file, a tracking
// code with [CheckTrackingCode]): the record verifies, the ballot is on it, included in the final checkpoint, and
// the receipt's checkpoint is consistent with it; then the ballot's status (counted, superseded, spoiled).
//
// The checks themselves are specified in docs/verification.md, and the record's bytes in docs/record.md.
package verify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// Options tune [Verify]. The zero value verifies with the record's own board key, one goroutine per core.
type Options struct {
	// Source names the record in the report and in errors: a file name, or "node ADDR". Errors that do not
	// already name it are prefixed with it.
	Source string
	// BoardKey, if set, is the board verifier key the record must be signed with: the whole key
	// ("origin+hash+base64") or its fingerprint ("sha256:..."), as [KeyMatches] compares them. A record signed
	// with another key fails check 1. Empty: the key in the record's header, which the reader must then compare
	// with the one the election published (the report's Board.KeyFingerprint).
	BoardKey string
	// Workers is the number of goroutines checking ballots; 0 means one per core.
	Workers int
	// FailuresKept is the number of failures of each check kept in the report with their entry and reason; the
	// others are only counted. 0 means election.DefaultFailuresKept.
	FailuresKept int
	// Progress, if set, is called in the pass that runs checks 2-23: with 0 once the record's header is read,
	// then now and then with the number of entries checked. total is the number of entries the header announces.
	Progress func(checked, total uint64)
	// Entry, if set, sees every entry in order as it is read, before it is checked (to find a ballot, or to
	// build the tree for proofs). With a seekable record it sees them in the second pass only.
	Entry func(tlog.Entry)
	// ReadBack, if set, is where the bytes of a record r that cannot be read twice (a node's export stream) can be
	// read again once read, from the export's first byte: a copy written as r is read (recount verify --node
	// writes the stream to a temporary file). The verifier then keeps no ballot's ciphertexts in memory, as with a
	// file (election.NewStateReading). Ignored when r is a file (an io.ReaderAt and io.Seeker).
	ReadBack io.ReaderAt
}

// Verify reads the record from r and runs every check on it. It returns an error only when the record cannot
// be read (I/O, cancellation); a record that fails checks gives a report saying which, with OK unset.
//
// When r is an [io.Seeker] (a file, a [bytes.Reader]), check 1 runs alone first, since it is fast (hashing), and
// a record that fails it is not read again; otherwise (a node's export stream) check 1 and the rest share one
// pass, and when check 1 fails at the end of it the other checks' outcome is discarded.
func Verify(ctx context.Context, r io.Reader, opts Options) (*Report, error) {
	res := &result{source: opts.Source}
	var back *recordFile
	if s, ok := r.(io.Seeker); ok {
		if start, err := s.Seek(0, io.SeekCurrent); err == nil {
			if ra, ok := r.(io.ReaderAt); ok {
				back = &recordFile{r: ra, start: start}
			}
			done, err := res.read(ctx, r, opts, false, nil)
			if err != nil {
				return nil, err
			}
			if done {
				return res.report(), nil
			}
			if _, err := s.Seek(start, io.SeekStart); err != nil {
				return nil, res.ioErr(err)
			}
		}
	}
	if back == nil && opts.ReadBack != nil {
		back = &recordFile{r: opts.ReadBack}
	}
	if _, err := res.read(ctx, r, opts, true, back); err != nil {
		return nil, err
	}
	if res.boardErr != nil {
		// Found at the end of a single pass: the entries checked are not what the board signed, and their
		// report proves nothing.
		res.election = nil
	}
	return res.report(), nil
}

// result is what one or two passes over a record found, before it is put in a Report.
type result struct {
	source      string
	origin      string
	verifierKey string
	size        uint64 // entries announced by the header
	checkpoint  tlog.Checkpoint
	boardErr    error
	election    *election.Report
}

// KeyMatches reports whether the board's verifier key vkey is the one the user expects: the whole key
// ("origin+hash+base64"), or its fingerprint ("sha256:...", compared without regard to case).
func KeyMatches(vkey, want string) bool {
	if strings.HasPrefix(want, "sha256:") {
		return strings.EqualFold(tlog.KeyFingerprint(vkey), want)
	}
	return vkey == want
}

// boardError reports whether err says the export is not what the board signed (check 1), rather than that it
// could not be read.
func boardError(err error) bool {
	return errors.Is(err, tlog.ErrBadExport) || errors.Is(err, tlog.ErrBadSignature) ||
		errors.Is(err, tlog.ErrBadCheckpoint) || errors.Is(err, tlog.ErrBadKey)
}

// ioErr names the source in err, unless it does already.
func (res *result) ioErr(err error) error {
	if res.source == "" || strings.Contains(err.Error(), res.source) {
		return err
	}
	return fmt.Errorf("%s: %w", res.source, err)
}

// classify turns a reading error into check 1's failure (done), or an I/O error.
func (res *result) classify(err error) (done bool, _ error) {
	if boardError(err) {
		res.boardErr = err
		return true, nil
	}
	return false, res.ioErr(err)
}

// read reads the record from r once, checking check 1 and, withElection, the rest. It returns done when check 1
// failed. With back (r is a file, or another io.ReaderAt), the election's state reads ballots back from r rather
// than keep their ciphertexts (election.NewStateReading).
func (res *result) read(ctx context.Context, r io.Reader, opts Options, withElection bool, back *recordFile) (done bool, err error) {
	x, err := tlog.NewExportReader(r)
	if err != nil {
		return res.classify(err)
	}
	res.origin, res.verifierKey, res.size = x.Origin(), x.VerifierKey(), x.Size()
	if opts.BoardKey != "" && !KeyMatches(x.VerifierKey(), opts.BoardKey) {
		res.boardErr = fmt.Errorf("the record is signed by board key %s (fingerprint %s), not the expected %s", x.VerifierKey(), tlog.KeyFingerprint(x.VerifierKey()), opts.BoardKey)
		return true, nil
	}
	if withElection {
		var readErr error
		entries := func(yield func(election.Entry, error) bool) {
			for {
				off := x.Offset()
				e, err := x.Next()
				if err == io.EOF {
					return
				}
				if err != nil {
					readErr = err
					yield(election.Entry{}, err)
					return
				}
				if back != nil {
					back.frames = append(back.frames, off)
				}
				if opts.Entry != nil {
					opts.Entry(e)
				}
				if !yield(election.Entry{Index: e.Index, Kind: election.Kind(e.Kind), Payload: e.Payload}, nil) {
					return
				}
			}
		}
		vopts := election.VerifyOptions{Workers: opts.Workers, FailuresKept: opts.FailuresKept}
		if back != nil {
			vopts.Record = back
		}
		if opts.Progress != nil {
			total := x.Size()
			opts.Progress(0, total)
			vopts.Progress = func(n uint64) { opts.Progress(n, total) }
		}
		rep, err := election.Verify(ctx, entries, vopts)
		if err != nil {
			if readErr != nil {
				return res.classify(readErr)
			}
			return false, err
		}
		res.election = rep
	}
	cp, err := x.Finish()
	if err != nil {
		return res.classify(err)
	}
	res.checkpoint = cp
	return false, nil
}

// recordFile reads back entries of a record that Verify read from a file (or another io.ReaderAt), by where their
// frames start: 8 bytes per entry, where the state would otherwise keep 64 bytes per option of every ballot.
type recordFile struct {
	r      io.ReaderAt
	start  int64   // where the export starts in r
	frames []int64 // where entry i's frame starts, from start: filled as the entries are read
}

// ReadEntry reads entry i's frame again. The state checks that a ballot read back is the one it applied.
func (f *recordFile) ReadEntry(i uint64) (election.Entry, error) {
	if i >= uint64(len(f.frames)) {
		return election.Entry{}, fmt.Errorf("entry %d has not been read", i)
	}
	e, err := tlog.ReadExportEntryAt(f.r, f.start+f.frames[i], i)
	return election.FromBoard(e), err
}

// report puts what the passes found in a Report.
func (res *result) report() *Report {
	r := &Report{Source: res.source, Failures: []Failure{},
		Board:    BoardInfo{Origin: res.origin, VerifierKey: res.verifierKey, Size: res.size},
		BoardErr: res.boardErr, Checkpoint: res.checkpoint, ElectionReport: res.election}
	r.OK = res.boardErr == nil && res.election != nil && res.election.OK()
	if res.verifierKey != "" {
		r.Board.KeyFingerprint = tlog.KeyFingerprint(res.verifierKey)
	}
	boardPassed := res.boardErr == nil && res.checkpoint.Signed != nil
	if boardPassed {
		r.Board.Size = res.checkpoint.Size
		r.Board.Root = hex.EncodeToString(res.checkpoint.Root[:])
		r.Board.Checkpoint = string(res.checkpoint.Signed)
	}
	rep := res.election
	failed := map[election.Check]uint64{}
	if res.boardErr != nil {
		failed[election.CheckBoard] = 1
		r.Failures = append(r.Failures, Failure{Check: int(election.CheckBoard), Name: election.CheckBoard.Name(), Reason: res.boardErr.Error()})
	}
	if rep != nil {
		r.Complete = rep.Complete
		if rep.Passed[election.CheckManifest] > 0 || rep.Title != "" {
			r.Election = &ElectionInfo{ID: rep.Election.String(), Title: rep.Title}
		}
		r.Ballots = &BallotCounts{Credentials: rep.Credentials, Cast: rep.Cast, Voters: rep.Voters, Spoiled: rep.Spoiled, Counted: rep.Count}
		if rep.Result != nil {
			// Empty lists, not nil ones: the JSON report has no null (docs/report.md).
			ri := &ResultInfo{Trustees: append([]int{}, rep.Result.Trustees...), Contests: []ContestResult{}}
			for _, c := range rep.Result.Contests {
				cr := ContestResult{ID: c.ID, Title: c.Title, Options: []OptionResult{}}
				for _, o := range c.Options {
					cr.Options = append(cr.Options, OptionResult{ID: o.ID, Title: o.Title, Count: o.Count})
				}
				ri.Contests = append(ri.Contests, cr)
			}
			r.Result = ri
		}
		for c, n := range rep.FailureCounts {
			failed[c] += n
		}
		for _, f := range rep.Failures {
			fi := Failure{Check: int(f.Check), Name: f.Check.Name(), Reason: f.Reason}
			if !f.NoEntry {
				e := f.Entry
				fi.Entry = &e
			}
			r.Failures = append(r.Failures, fi)
		}
	}
	for _, c := range election.Checks {
		cr := CheckResult{Number: int(c), Name: c.Name(), Failed: failed[c]}
		switch {
		case c == election.CheckBoard:
			if boardPassed {
				cr.Passed = res.checkpoint.Size
			}
		case rep != nil:
			cr.Passed = rep.Passed[c]
			cr.NotListed = rep.Omitted(c)
		}
		switch {
		case cr.Failed > 0:
			cr.Status = StatusFail
		case c != election.CheckBoard && rep == nil, c == election.CheckBoard && res.checkpoint.Signed == nil:
			cr.Status = StatusNotRun
		case cr.Passed == 0 && c != election.CheckBoard && rep.NotRun[c] > 0:
			cr.Status = StatusNotRun // its entries could not be decoded, or what it needs could not (verification.md)
		case cr.Passed == 0 && c != election.CheckBoard:
			cr.Status = StatusNone
		default:
			cr.Status = StatusPass
		}
		r.Checks = append(r.Checks, cr)
	}
	return r
}

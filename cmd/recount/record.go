package main

// Reading a record, from an export file or from a node, for verify, receipt and export: every check of
// docs/verification.md on one stream, without holding the record in memory (only what the election checks keep:
// a few hundred bytes per ballot, and 32 bytes per entry when a caller asks for the leaf hashes).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"google.golang.org/grpc"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
)

// exportStream reads a node's export (BoardService.Export) as a byte stream.
type exportStream struct {
	addr   string
	stream grpc.ServerStreamingClient[recountv1.ExportResponse]
	buf    []byte
}

func (s *exportStream) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		m, err := s.stream.Recv()
		if err == io.EOF {
			return 0, io.EOF
		}
		if err != nil {
			return 0, fmt.Errorf("node %s: export: %w", s.addr, err)
		}
		s.buf = m.Data
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// openNodeExport starts a node's export.
func openNodeExport(ctx context.Context, board recountv1.BoardServiceClient, addr string) (io.Reader, error) {
	stream, err := board.Export(ctx, &recountv1.ExportRequest{})
	if err != nil {
		return nil, fmt.Errorf("node %s: export: %w", addr, err)
	}
	return &exportStream{addr: addr, stream: stream}, nil
}

// source is where a record comes from: a file (which can be read twice) or a node's export stream.
type source struct {
	name string // the file name, or "node ADDR", for messages
	open func(ctx context.Context) (io.ReadCloser, error)
	// rereadable is set for files: check 1 then runs alone first, and a record that fails it is not checked
	// further (its entries are not what the board signed).
	rereadable bool
}

func fileSource(path string) *source {
	return &source{name: path, rereadable: true, open: func(context.Context) (io.ReadCloser, error) {
		return os.Open(path)
	}}
}

func nodeSource(addr string, c *node.Client) *source {
	return &source{name: "node " + addr, open: func(ctx context.Context) (io.ReadCloser, error) {
		r, err := openNodeExport(ctx, c.Board, addr)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(r), nil
	}}
}

// keyMatches reports whether the board's verifier key is the one the user expects: the whole key
// ("origin+hash+base64") or its fingerprint ("sha256:...").
func keyMatches(vkey, want string) bool {
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

// checkOptions tune checkRecord.
type checkOptions struct {
	boardKey string    // required verifier key or fingerprint; empty: the export's own
	workers  int       // goroutines checking ballots; 0: election.Verify's default, one per core
	progress io.Writer // where to draw a progress bar, or nil
	// progressAlways draws it even for a short record (below longRecord entries).
	progressAlways bool
	// entry, if set, sees every entry in order as it is read (before it is verified).
	entry func(tlog.Entry)
}

// recordCheck is the outcome of checking a record.
type recordCheck struct {
	Source      string
	Origin      string
	VerifierKey string
	Size        uint64 // entries announced by the header
	// Checkpoint is the export's final checkpoint, verified (when BoardErr is nil).
	Checkpoint tlog.Checkpoint
	// BoardErr is check 1's failure, if any.
	BoardErr error
	// Report is the outcome of checks 2-22, or nil when they did not run (the export could not be read, or,
	// for a file, check 1 failed).
	Report *election.Report
}

// OK reports whether every check passed.
func (rc *recordCheck) OK() bool { return rc.BoardErr == nil && rc.Report != nil && rc.Report.OK() }

// failureLines describes a report's failures, one line each for those it kept, then one line per check for
// those it only counted: at most len(election.Checks) * (election.DefaultFailuresKept + 1) lines, however many
// entries fail.
func failureLines(rep *election.Report) []string {
	var lines []string
	for _, f := range rep.Failures {
		lines = append(lines, f.Error())
	}
	for _, c := range election.Checks {
		if n := rep.Omitted(c); n > 0 {
			lines = append(lines, fmt.Sprintf("check %s: and %d more failures, not listed", c, n))
		}
	}
	return lines
}

// checkRecord runs every check on the record from src. An error is returned only when the record could not be
// read (I/O, cancellation); a record that fails checks gives a recordCheck saying which.
func checkRecord(ctx context.Context, src *source, opts checkOptions) (*recordCheck, error) {
	rc := &recordCheck{Source: src.name}
	if src.rereadable {
		// Check 1 alone first: it is fast (hashing), and a record that fails it is not the board's.
		done, err := rc.readBoard(ctx, src, opts, false)
		if err != nil || done {
			return rc, err
		}
	}
	_, err := rc.readBoard(ctx, src, opts, true)
	if rc.BoardErr != nil {
		// Found at the end of a single pass (a node's stream): the entries checked are not what the board
		// signed, and their report proves nothing.
		rc.Report = nil
	}
	return rc, err
}

// readBoard reads the export from src once, checking check 1 and, with election, the rest. It returns done
// when check 1 failed.
func (rc *recordCheck) readBoard(ctx context.Context, src *source, opts checkOptions, withElection bool) (done bool, err error) {
	f, err := src.open(ctx)
	if err != nil {
		return false, err
	}
	defer f.Close()
	ioErr := func(err error) error {
		if strings.Contains(err.Error(), src.name) {
			return err
		}
		return fmt.Errorf("%s: %w", src.name, err)
	}
	// classify turns a reading error into check 1's failure, or an I/O error.
	classify := func(err error) (bool, error) {
		if boardError(err) {
			rc.BoardErr = err
			return true, nil
		}
		return false, ioErr(err)
	}
	x, err := tlog.NewExportReader(f)
	if err != nil {
		return classify(err)
	}
	rc.Origin, rc.VerifierKey, rc.Size = x.Origin(), x.VerifierKey(), x.Size()
	if opts.boardKey != "" && !keyMatches(x.VerifierKey(), opts.boardKey) {
		rc.BoardErr = fmt.Errorf("the record is signed by board key %s (fingerprint %s), not the expected %s", x.VerifierKey(), tlog.KeyFingerprint(x.VerifierKey()), opts.boardKey)
		return true, nil
	}
	if withElection {
		var readErr error
		entries := func(yield func(election.Entry, error) bool) {
			for e, err := range x.Entries() {
				if err != nil {
					readErr = err
					yield(election.Entry{}, err)
					return
				}
				if opts.entry != nil {
					opts.entry(e)
				}
				if !yield(election.Entry{Index: e.Index, Kind: election.Kind(e.Kind), Payload: e.Payload}, nil) {
					return
				}
			}
		}
		vopts := election.VerifyOptions{Workers: opts.workers}
		var bar *progressbar.ProgressBar
		if opts.progress != nil && x.Size() > 0 && (opts.progressAlways || x.Size() >= longRecord) {
			bar = newBar(opts.progress, x.Size())
		}
		if bar != nil {
			vopts.Progress = func(n uint64) { bar.Set64(int64(n)) }
		}
		rep, err := election.Verify(ctx, entries, vopts)
		if bar != nil {
			bar.Finish()
		}
		if err != nil {
			if readErr != nil {
				return classify(readErr)
			}
			return false, err
		}
		rc.Report = rep
	}
	cp, err := x.Finish()
	if err != nil {
		return classify(err)
	}
	rc.Checkpoint = cp
	return false, nil
}

// longRecord is the number of entries from which a record gets a progress bar on a terminal.
const longRecord = 1000

// newBar returns a progress bar on w for total entries. On a terminal it is cleared once done; elsewhere (a log)
// its last state stays, on a line of its own.
func newBar(w io.Writer, total uint64) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("verifying"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("entries"),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetPredictTime(true),
	}
	if isTerminal(w) {
		opts = append(opts, progressbar.OptionClearOnFinish())
	} else {
		opts = append(opts, progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
	}
	bar := progressbar.NewOptions64(int64(total), opts...)
	bar.RenderBlank()
	return bar
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressWriter returns where to draw progress: stderr when asked (force) or when it is a terminal.
func progressWriter(stderr io.Writer, force bool) io.Writer {
	if force || isTerminal(stderr) {
		return stderr
	}
	return nil
}

// interspersed parses the flags that follow positional arguments, as in `recount verify FILE --json` (package
// flag stops at the first argument that is not a flag), and returns the positional arguments.
func interspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "--":
			return append(pos, args[1:]...), nil
		case strings.HasPrefix(a, "-") && a != "-":
			if err := fs.Parse(args); err != nil {
				return nil, &exitError{code: 2, err: errors.New("")} // Parse printed the error and the usage
			}
			args = fs.Args()
		default:
			pos = append(pos, a)
			args = args[1:]
		}
	}
	return pos, nil
}

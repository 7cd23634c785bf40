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
	"runtime/debug"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"google.golang.org/grpc"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/verify"
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

// source is where a record comes from: a file or a node's export stream. A file can be read twice (verify.Verify
// then runs check 1 alone first); a stream cannot.
type source struct {
	name string // the file name, or "node ADDR", for messages
	open func(ctx context.Context) (io.ReadCloser, error)
}

func fileSource(path string) *source {
	return &source{name: path, open: func(context.Context) (io.ReadCloser, error) {
		return os.Open(path)
	}}
}

func nodeSource(addr string, c *grpcnode.Client) *source {
	return &source{name: "node " + addr, open: func(ctx context.Context) (io.ReadCloser, error) {
		r, err := openNodeExport(ctx, c.Board, addr)
		if err != nil {
			return nil, err
		}
		return newSpooled(r)
	}}
}

// spooled is a node's export stream, copied to a temporary file as it is read, so that the verifier can read a
// superseded ballot back from the file rather than keep every ballot's ciphertexts in memory
// (verify.Options.ReadBack): it costs the record's size on disk, in $TMPDIR, until Close removes it.
type spooled struct {
	io.Reader
	f *os.File
}

func newSpooled(r io.Reader) (*spooled, error) {
	f, err := os.CreateTemp("", "recount-export-*.record")
	if err != nil {
		return nil, fmt.Errorf("a temporary file for the node's export (set TMPDIR to a directory with room for the record): %w", err)
	}
	// The file is written as the stream is read, before the verifier sees the bytes: any entry it has been given
	// is in the file.
	return &spooled{Reader: io.TeeReader(r, f), f: f}, nil
}

// ReadBack returns the bytes read so far, for verify.Options.ReadBack.
func (s *spooled) ReadBack() io.ReaderAt { return s.f }

func (s *spooled) Close() error {
	s.f.Close()
	return os.Remove(s.f.Name())
}

// checkOptions tune checkRecord.
type checkOptions struct {
	boardKey string    // required verifier key or fingerprint; empty: the export's own
	workers  int       // goroutines checking ballots; 0: election.Verify's default, one per core
	progress io.Writer // where to draw a progress bar, or nil
	// progressAlways draws it even for a short record (below longRecord entries).
	progressAlways bool
}

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

// checkRecord runs every check on the record from src with verify.Verify, drawing its progress. An error is
// returned only when the record could not be read (I/O, cancellation); a record that fails checks gives a report
// saying which.
func checkRecord(ctx context.Context, src *source, opts checkOptions) (*verify.Report, error) {
	return withRecord(ctx, src, opts, verify.Verify)
}

// withRecord opens the record of src and runs check (verify.Verify, or a receipt's check) on it with the options
// of opts, drawing its progress.
func withRecord[T any](ctx context.Context, src *source, opts checkOptions, check func(context.Context, io.Reader, verify.Options) (T, error)) (T, error) {
	f, err := src.open(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	vopts := verify.Options{Source: src.name, BoardKey: opts.boardKey, Workers: opts.workers}
	if sp, ok := f.(*spooled); ok {
		vopts.ReadBack = sp.ReadBack()
	}
	var bar *progressbar.ProgressBar
	if opts.progress != nil {
		vopts.Progress = func(checked, total uint64) {
			if bar == nil && checked == 0 && total > 0 && (opts.progressAlways || total >= longRecord) {
				bar = newBar(opts.progress, total)
			}
			if bar != nil {
				bar.Set64(int64(checked))
			}
		}
	}
	res, err := check(ctx, f, vopts)
	if bar != nil {
		bar.Finish()
	}
	return res, err
}

// recordGCPercent is the garbage collector's target (GOGC) of the commands that check a whole record (verify,
// receipt) when the user set neither GOGC nor GOMEMLIMIT. Their live heap is the election's state, which grows with
// the record (about 300 + 64 × options bytes per ballot, docs/capacity.md), while nearly everything else they
// allocate dies with the ballot it was for. Go's default, 100, lets the heap grow to twice the live state before it
// collects; 25 lets it grow to 1.25 times. Measured on a record of 10^5 ballots of 1-of-5 (docs/capacity.md): peak
// RSS 95 MB instead of 137 MB, for 5% more CPU time; at 10^6 ballots, about 0.8 GB instead of 1.2 GB.
const recordGCPercent = 25

// tuneGCForRecord sets recordGCPercent, unless the user tuned the collector.
func tuneGCForRecord() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(recordGCPercent)
	}
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

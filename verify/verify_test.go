package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
)

const smallRecord = "../testdata/small.record"

// stream hides a reader's Seek, as a node's export stream has none.
type stream struct{ io.Reader }

func readSmall(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(smallRecord)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t *testing.T, r io.Reader, opts verify.Options) *verify.Report {
	t.Helper()
	rep, err := verify.Verify(context.Background(), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestVerifyPasses: the small record passes every check, read from a file, from memory or as a stream, with the
// same report; its final checkpoint is the one tlog.VerifyExport finds.
func TestVerifyPasses(t *testing.T) {
	b := readSmall(t)
	cp, err := tlog.VerifyExport(bytes.NewReader(b), "")
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for name, r := range map[string]io.Reader{"seekable": bytes.NewReader(b), "stream": stream{bytes.NewReader(b)}} {
		rep := run(t, r, verify.Options{Source: "small", Workers: 1})
		if !rep.OK || !rep.Complete || rep.BoardErr != nil || rep.ElectionReport == nil || rep.FailedChecks() != 0 {
			t.Fatalf("%s: OK %v, complete %v, board %v, %d checks failed", name, rep.OK, rep.Complete, rep.BoardErr, rep.FailedChecks())
		}
		if rep.Checkpoint.Size != cp.Size || rep.Checkpoint.Root != cp.Root || rep.Board.Size != cp.Size {
			t.Errorf("%s: final checkpoint %d %x, want %d %x", name, rep.Checkpoint.Size, rep.Checkpoint.Root, cp.Size, cp.Root)
		}
		for _, c := range rep.Checks {
			if c.Status != verify.StatusPass {
				t.Errorf("%s: check %d %s: %s", name, c.Number, c.Name, c.Status)
			}
		}
		got, _ := json.Marshal(rep)
		if want == nil {
			want = got
		} else if !bytes.Equal(got, want) {
			t.Errorf("the reports differ:\n%s\n%s", got, want)
		}
	}
}

// TestVerifyCheckOneFirst: a record that is not what the board signed fails check 1 and nothing else. Read from
// a seekable reader, check 1 runs alone first and no entry is checked further; read as a stream, in one pass, the
// other checks' outcome is discarded. Both give the same report.
func TestVerifyCheckOneFirst(t *testing.T) {
	b := readSmall(t)
	b[len(b)/2] ^= 1
	var reports [2][]byte
	for i, seekable := range []bool{true, false} {
		var r io.Reader = bytes.NewReader(b)
		if !seekable {
			r = stream{r}
		}
		seen := 0
		rep := run(t, r, verify.Options{Workers: 1, Entry: func(tlog.Entry) { seen++ }})
		if rep.OK || rep.BoardErr == nil || rep.ElectionReport != nil || rep.FailedChecks() != 1 {
			t.Fatalf("seekable %v: OK %v, board %v, election report %v, %d checks failed", seekable, rep.OK, rep.BoardErr, rep.ElectionReport != nil, rep.FailedChecks())
		}
		if rep.Checks[0].Status != verify.StatusFail || rep.Checks[1].Status != verify.StatusNotRun || len(rep.Failures) != 1 {
			t.Errorf("seekable %v: checks %+v, failures %+v", seekable, rep.Checks[:2], rep.Failures)
		}
		if seekable && seen != 0 {
			t.Errorf("check 1 failed, yet %d entries were read for the other checks", seen)
		}
		if !seekable && seen == 0 {
			t.Errorf("one pass over a stream saw no entry")
		}
		reports[i], _ = json.Marshal(rep)
	}
	if !bytes.Equal(reports[0], reports[1]) {
		t.Errorf("the reports differ:\n%s\n%s", reports[0], reports[1])
	}
}

// TestVerifySeeksBack: a seekable reader is read again from where it stood, not from its start.
func TestVerifySeeksBack(t *testing.T) {
	junk := []byte("not a record\n")
	r := bytes.NewReader(append(junk, readSmall(t)...))
	if _, err := r.Seek(int64(len(junk)), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if rep := run(t, r, verify.Options{Workers: 1}); !rep.OK {
		t.Fatalf("failures: %+v", rep.Failures)
	}
}

// TestVerifyBoardKey: the board key required, whole or as its fingerprint (its hex in either case); another key fails check 1.
func TestVerifyBoardKey(t *testing.T) {
	b := readSmall(t)
	x, err := tlog.NewExportReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	key, fp := x.VerifierKey(), tlog.KeyFingerprint(x.VerifierKey())
	for _, want := range []string{key, fp, fp[:7] + strings.ToUpper(fp[7:])} {
		if rep := run(t, bytes.NewReader(b), verify.Options{BoardKey: want, Workers: 1}); !rep.OK {
			t.Errorf("board key %s: %v", want, rep.BoardErr)
		}
	}
	other := "sha256:" + strings.Repeat("0", 64)
	rep := run(t, bytes.NewReader(b), verify.Options{BoardKey: other, Workers: 1})
	if rep.OK || rep.BoardErr == nil || !strings.Contains(rep.BoardErr.Error(), other) || rep.Checks[0].Status != verify.StatusFail {
		t.Errorf("board key %s: OK %v, %v", other, rep.OK, rep.BoardErr)
	}
}

// TestVerifyProgress: progress starts at 0 of the announced size and ends at every entry checked.
func TestVerifyProgress(t *testing.T) {
	var calls [][2]uint64
	run(t, bytes.NewReader(readSmall(t)), verify.Options{Workers: 1, Progress: func(checked, total uint64) {
		calls = append(calls, [2]uint64{checked, total})
	}})
	if len(calls) < 2 || calls[0] != [2]uint64{0, 20} || calls[len(calls)-1] != [2]uint64{20, 20} {
		t.Errorf("progress calls %v", calls)
	}
}

// TestVerifyReadError: a reader that fails is an error naming the source, not a report.
func TestVerifyReadError(t *testing.T) {
	b := readSmall(t)
	r := io.MultiReader(bytes.NewReader(b[:len(b)/2]), iotest.ErrReader(errors.New("broken pipe")))
	_, err := verify.Verify(context.Background(), stream{r}, verify.Options{Source: "the-source", Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "the-source") {
		t.Fatalf("err = %v", err)
	}
}

// changedUnder reads a record as a file would, but whose bytes changed after they were first read: ReadAt, which
// the verifier uses to read a superseded ballot back, gives other bytes.
type changedUnder struct {
	*bytes.Reader
	changed []byte
}

func (c changedUnder) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(c.changed).ReadAt(p, off)
}

// TestVerifyRecordChangedWhileRead: the verifier keeps no ballot's ciphertexts when it reads a file; a file that
// gives back other bytes when a superseded ballot is read again ends the verification with an error, never a
// report built on bytes it did not check.
func TestVerifyRecordChangedWhileRead(t *testing.T) {
	b := readSmall(t)
	changed := bytes.Clone(b)
	for i := range changed {
		changed[i] ^= 0xff
	}
	rep, err := verify.Verify(context.Background(), changedUnder{bytes.NewReader(b), changed}, verify.Options{Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "entry") {
		t.Fatalf("Verify = %+v, %v; want an error reading an entry back", rep, err)
	}
	t.Log(err)
}

// countingReaderAt counts the reads back.
type countingReaderAt struct {
	r     io.ReaderAt
	reads int
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	return c.r.ReadAt(p, off)
}

// TestVerifyStreamReadBack: a stream with Options.ReadBack (recount verify --node's copy of the node's export) is
// verified in one pass with the superseded ballot read back from the copy, as from a file; the same copy garbled
// ends the verification with an error.
func TestVerifyStreamReadBack(t *testing.T) {
	b := readSmall(t)
	back := &countingReaderAt{r: bytes.NewReader(b)}
	rep := run(t, stream{bytes.NewReader(b)}, verify.Options{Workers: 1, ReadBack: back})
	if !rep.OK || !rep.Complete || back.reads == 0 {
		t.Fatalf("OK %v, complete %v, %d reads back", rep.OK, rep.Complete, back.reads)
	}
	garbled := bytes.Clone(b)
	for i := range garbled {
		garbled[i] ^= 0xff
	}
	if rep, err := verify.Verify(context.Background(), stream{bytes.NewReader(b)}, verify.Options{Workers: 1, ReadBack: bytes.NewReader(garbled)}); err == nil {
		t.Fatalf("Verify with a garbled copy = %+v, want an error", rep)
	}
}

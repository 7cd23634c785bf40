package ledger

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recount-vote/recount/ledger/tlog"
)

// readSigned returns the checkpoint recorded in dir/board.checkpoint (signed by the board with testOrigin).
func readSigned(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, CheckpointFileName))
	if err != nil {
		t.Fatal(err)
	}
	_, vkey, err := readKeyFile(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := parseSignedFile(b, v)
	if err != nil {
		t.Fatalf("%s: %v", CheckpointFileName, err)
	}
	return cp.Signed
}

// signedFileOf returns a board.checkpoint file whose slots hold the given contents.
func signedFileOf(slot0, slot1 []byte) []byte {
	b := make([]byte, signedFileSize)
	copy(b, slot0)
	copy(b[signedSlotSize:], slot1)
	return b
}

// TestCheckpointFileFollowsCommits: board.checkpoint holds the latest checkpoint after every commit, and on a new
// board the checkpoint of the empty tree.
func TestCheckpointFileFollowsCommits(t *testing.T) {
	t.Parallel()
	l, dir := newTestLog(t)
	if got := readSigned(t, dir); !bytes.Equal(got, l.Latest().Signed) {
		t.Fatalf("new board: %s holds %q, want %q", CheckpointFileName, got, l.Latest().Signed)
	}
	for i := range 5 {
		res, err := l.Append(context.Background(), testKind(i), testPayload(i))
		if err != nil {
			t.Fatal(err)
		}
		if got := readSigned(t, dir); !bytes.Equal(got, res.Checkpoint.Signed) {
			t.Fatalf("after Append %d: %s holds %q, want %q", i, CheckpointFileName, got, res.Checkpoint.Signed)
		}
	}
	res, err := l.AppendMany(context.Background(), []Record{{1, []byte("a")}, {2, []byte("b")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := readSigned(t, dir); !bytes.Equal(got, res[1].Checkpoint.Signed) {
		t.Fatalf("after AppendMany: %s holds %q, want %q", CheckpointFileName, got, res[1].Checkpoint.Signed)
	}
}

// TestCheckpointFileOnOpen: what Open does with board.checkpoint missing (a board from round 1), damaged, signed by
// another key, behind board.db (a crash between the commit and the file's write), or of the same size as board.db's
// latest checkpoint but another root.
func TestCheckpointFileOnOpen(t *testing.T) {
	t.Parallel()
	dir := smallBoard(t, 10)
	path := filepath.Join(dir, CheckpointFileName)
	latest := readSigned(t, dir)

	t.Run("missing", func(t *testing.T) {
		os.Remove(path)
		var logs bytes.Buffer
		l, err := Open(dir, Options{Origin: testOrigin, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if got := readSigned(t, dir); !bytes.Equal(got, latest) {
			t.Fatalf("recreated %s holds %q, want %q", CheckpointFileName, got, latest)
		}
		if !strings.Contains(logs.String(), CheckpointFileName+" is missing") {
			t.Fatalf("no log line about the missing file: %s", logs.String())
		}
	})
	t.Run("missing, read-only", func(t *testing.T) {
		os.Remove(path)
		l, err := Open(dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("a read-only open wrote %s: %v", CheckpointFileName, err)
		}
		os.WriteFile(path, signedFileOf(latest, nil), 0o600)
	})
	flipped := bytes.Clone(latest)
	flipped[len(flipped)-10] ^= 1
	otherBoard := smallBoard(t, 20)
	for name, content := range map[string][]byte{
		"empty":                  nil,
		"empty slots":            signedFileOf(nil, nil),
		"flipped byte, one slot": signedFileOf(flipped, nil),
		"flipped byte, both":     signedFileOf(flipped, flipped),
		"other board":            signedFileOf(readSigned(t, otherBoard), nil),
		"not a note":             signedFileOf([]byte("hello\n"), nil),
		"short":                  signedFileOf(latest, nil)[:signedFileSize-1],
		"way too large":          bytes.Repeat(signedFileOf(latest, nil), 100),
	} {
		t.Run(name, func(t *testing.T) {
			os.WriteFile(path, content, 0o600)
			for _, ro := range []bool{false, true} {
				wantOpenErr(t, dir, Options{ReadOnly: ro}, ErrCorrupt, path)
			}
			os.WriteFile(path, signedFileOf(latest, nil), 0o600)
		})
	}
	t.Run("behind board.db", func(t *testing.T) {
		l, err := Open(dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		older, err := l.CheckpointAt(7)
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The newer slot was cut by a crash, or its write never started.
		for _, content := range [][]byte{signedFileOf(older.Signed, flipped), signedFileOf(nil, older.Signed)} {
			os.WriteFile(path, content, 0o600)
			l, err = Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			if got := readSigned(t, dir); !bytes.Equal(got, latest) {
				t.Fatalf("%s was not brought up to date: %q", CheckpointFileName, got)
			}
		}
	})
	t.Run("same size, other root", func(t *testing.T) {
		l, err := Open(dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := readKeyFile(filepath.Join(dir, KeyFileName))
		if err != nil {
			t.Fatal(err)
		}
		other, err := tlog.SignCheckpoint(s, testOrigin, 10, [tlog.HashSize]byte{1})
		l.Close()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, signedFileOf(nil, other.Signed), 0o600)
		wantOpenErr(t, dir, Options{}, ErrRolledBack, "same size with different roots")
		os.WriteFile(path, signedFileOf(latest, other.Signed), 0o600)
		wantOpenErr(t, dir, Options{}, ErrCorrupt, "two checkpoints of size 10")
		os.WriteFile(path, signedFileOf(latest, nil), 0o600)
	})
	t.Run("not extended by board.db", func(t *testing.T) {
		s, _, err := readKeyFile(filepath.Join(dir, KeyFileName))
		if err != nil {
			t.Fatal(err)
		}
		other, err := tlog.SignCheckpoint(s, testOrigin, 4, [tlog.HashSize]byte{1})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, signedFileOf(other.Signed, nil), 0o600)
		wantOpenErr(t, dir, Options{}, ErrRolledBack, "does not extend")
		os.WriteFile(path, signedFileOf(latest, nil), 0o600)
	})
}

// TestCheckpointFileWriteFails: if board.checkpoint cannot be written, no append of the commit returns success
// (its checkpoint was not recorded outside board.db), later appends are refused, and reopening keeps the entries.
func TestCheckpointFileWriteFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTest(t, dir)
	appendN(t, l, 3)
	l.signed.f.Close() // the committer's writes to it fail
	_, err := l.Append(context.Background(), 1, []byte("in doubt"))
	wantErr(t, err, ErrMaybeAppended, "Append while "+CheckpointFileName+" cannot be written")
	if l.Size() != 3 {
		t.Fatalf("size %d after a failed append, want 3", l.Size())
	}
	_, err = l.Append(context.Background(), 1, []byte("refused"))
	wantErr(t, err, ErrMaybeAppended, "the next Append")
	l.Close()
	l = openTest(t, dir)
	if e, err := l.Entry(3); err != nil || string(e.Payload) != "in doubt" {
		t.Fatalf("after reopening: entry 3 is %q, %v", e.Payload, err)
	}
	if got := readSigned(t, dir); !bytes.Equal(got, l.Latest().Signed) || l.Latest().Size != 4 {
		t.Fatalf("after reopening: %s holds %q, want the checkpoint of size 4", CheckpointFileName, got)
	}
}

// TestRefusesToSignNonExtension: if the committer's tree is not that of the last checkpoint signed, it signs
// nothing and the board refuses appends until reopened.
func TestRefusesToSignNonExtension(t *testing.T) {
	t.Parallel()
	l, dir := newTestLog(t)
	appendN(t, l, 4)
	l.mu.Lock()
	l.latest.Root[0] ^= 1 // as if another history had been signed at this size
	l.mu.Unlock()
	before := readSigned(t, dir)
	_, err := l.Append(context.Background(), 1, []byte("x"))
	wantErr(t, err, ErrCorrupt, "Append")
	if !strings.Contains(err.Error(), "refusing to sign") {
		t.Fatalf("Append: %v", err)
	}
	_, err = l.Append(context.Background(), 1, []byte("y"))
	wantErr(t, err, ErrCorrupt, "the next Append")
	if got := readSigned(t, dir); !bytes.Equal(got, before) {
		t.Fatal("a checkpoint was recorded")
	}
}

// TestCreateRefusesLeftoverCheckpointFile: a directory whose board.db and board.key are gone but whose
// board.checkpoint is left held a board; no new board is made there.
func TestCreateRefusesLeftoverCheckpointFile(t *testing.T) {
	t.Parallel()
	dir := smallBoard(t, 2)
	os.Remove(filepath.Join(dir, DBFileName))
	os.Remove(filepath.Join(dir, KeyFileName))
	wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrNotFound, CheckpointFileName+" exists")
	if _, err := os.Stat(filepath.Join(dir, DBFileName)); !os.IsNotExist(err) {
		t.Fatalf("a board was created: %v", err)
	}
}

package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReplicaBoard checks a replica's board: appends only under a checkpoint signed over its own extension,
// records the replication state and board.checkpoint, and refuses to be opened as anything else.
func TestReplicaBoard(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{Origin: testOrigin, Replica: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(context.Background(), 1, []byte("x")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Append on a replica: %v, want ErrReadOnly", err)
	}
	if st, _ := l.ReplicaState(); string(st) != string(ReplicaStateNew) {
		t.Fatalf("a new replica's state is %q", st)
	}
	recs := []Record{{Kind: 1, Payload: []byte("a")}, {Kind: 2, Payload: []byte("b")}}
	cp, err := l.SignExtension(recs)
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() != 0 {
		t.Fatal("SignExtension wrote")
	}
	// Records that do not hash to the checkpoint are refused, and nothing is written.
	if _, err := l.AppendReplicated(recs[:1], cp.Signed, []byte("s1")); !errors.Is(err, ErrMismatch) {
		t.Fatalf("AppendReplicated with too few records: %v", err)
	}
	if _, err := l.AppendReplicated([]Record{recs[1], recs[0]}, cp.Signed, []byte("s1")); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("AppendReplicated with other records: %v", err)
	}
	if _, err := l.AppendReplicated(recs, cp.Signed, []byte("s1")); err != nil {
		t.Fatal(err)
	}
	if st, _ := l.ReplicaState(); string(st) != "s1" || l.Size() != 2 {
		t.Fatalf("after AppendReplicated: state %q, size %d", st, l.Size())
	}
	// A second member's board, created with the same key, takes the same checkpoint (identical signatures).
	key, err := os.ReadFile(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	dir2 := t.TempDir()
	l2, err := Open(dir2, Options{Origin: testOrigin, Replica: true, SigningKey: strings.TrimSpace(string(key))})
	if err != nil {
		t.Fatal(err)
	}
	cp2, err := l2.SignExtension(recs)
	if err != nil {
		t.Fatal(err)
	}
	if string(cp2.Signed) != string(cp.Signed) {
		t.Fatal("two members signed the same extension differently")
	}
	if _, err := l2.AppendReplicated(recs, cp.Signed, []byte("s1")); err != nil {
		t.Fatal(err)
	}
	c, err := l2.Copy()
	if err != nil {
		t.Fatal(err)
	}
	if c.Size() != 2 || string(c.ReplicaState()) != "s1" || c.DBSize() <= 0 {
		t.Fatalf("copy: size %d, state %q, %d bytes", c.Size(), c.ReplicaState(), c.DBSize())
	}
	c.Close()
	l2.Close()
	l.Close()

	// A replicated board refuses to open as a board that signs alone; a read-only open is fine.
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("opening a replica's board alone: %v, want ErrMismatch", err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	solo := t.TempDir()
	sl := openTest(t, solo)
	appendN(t, sl, 3)
	sl.Close()
	if _, err := Open(solo, Options{Replica: true}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("opening a board that signed alone as a replica: %v, want ErrMismatch", err)
	}
	otherKey, err := os.ReadFile(filepath.Join(solo, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{Replica: true, SigningKey: strings.TrimSpace(string(otherKey))}); !errors.Is(err, ErrMismatch) {
		t.Fatalf("opening a replica with another key: %v, want ErrMismatch", err)
	}
}

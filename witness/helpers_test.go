package witness

import (
	"crypto/rand"
	"encoding/binary"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
)

const testOrigin = "board.example/election-1"

// A testBoard is a log as a Recount board signs it: leaf hashes in a tlog.LeafTree and checkpoints signed with
// tlog.SignCheckpoint, so that the witness is tested on exactly the board's checkpoints.
type testBoard struct {
	t      testing.TB
	signer note.Signer
	vkey   string
	tree   tlog.LeafTree
	salt   byte // makes a fork's entries differ from the honest board's
}

func newTestBoard(t testing.TB, origin string) *testBoard {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testBoard{t: t, signer: s, vkey: vkey}
}

// fork returns a board with the same key and the same first n entries, whose later entries differ.
func (b *testBoard) fork(n uint64) *testBoard {
	f := &testBoard{t: b.t, signer: b.signer, vkey: b.vkey, salt: b.salt + 1}
	for i := uint64(0); i < n; i++ {
		f.tree.Append(b.leaf(i))
	}
	return f
}

func (b *testBoard) leaf(i uint64) [tlog.HashSize]byte {
	var p [9]byte
	binary.BigEndian.PutUint64(p[:], i)
	p[8] = b.salt
	return tlog.LeafHash(1, p[:])
}

// grow appends entries up to size n.
func (b *testBoard) grow(n uint64) {
	for b.tree.Size() < n {
		b.tree.Append(b.leaf(b.tree.Size()))
	}
}

// checkpoint returns the board's signed checkpoint of size n (n <= the board's size).
func (b *testBoard) checkpoint(n uint64) tlog.Checkpoint {
	b.t.Helper()
	root, err := b.tree.Root(n)
	if err != nil {
		b.t.Fatal(err)
	}
	cp, err := tlog.SignCheckpoint(b.signer, b.signer.Name(), n, root)
	if err != nil {
		b.t.Fatal(err)
	}
	return cp
}

// request returns the add-checkpoint request for the checkpoint of size n with a proof from old.
func (b *testBoard) request(old, n uint64) AddCheckpoint {
	b.t.Helper()
	b.grow(n)
	r := AddCheckpoint{OldSize: old, Checkpoint: b.checkpoint(n).Signed}
	if old > 0 && old <= n {
		p, err := b.tree.ConsistencyProof(old, n)
		if err != nil {
			b.t.Fatal(err)
		}
		r.Proof = p
	}
	return r
}

// newTestWitness opens a witness of the given boards in a temporary directory; it returns the witness and its
// signer key.
func newTestWitness(t testing.TB, boards ...*testBoard) (*Witness, string) {
	t.Helper()
	skey, _, err := GenerateKey("witness.example/w1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return openTestWitness(t, filepath.Join(t.TempDir(), "witness.db"), skey, boards...), skey
}

func openTestWitness(t testing.TB, path, skey string, boards ...*testBoard) *Witness {
	t.Helper()
	var logs []Log
	for _, b := range boards {
		logs = append(logs, Log{VerifierKey: b.vkey})
	}
	w, err := Open(path, Config{Key: skey, Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

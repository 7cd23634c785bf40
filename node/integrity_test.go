package node_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/node"
)

// TestStartRefusesDamagedBoard: a byte of a stored ballot flipped while the node was stopped (media damage). The
// node used to start and serve entries that no longer hashed to its signed tree; now Start refuses the board,
// naming the entry and what to do, and nothing is served from it.
func TestStartRefusesDamagedBoard(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, "")
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 2})
	b := f.ballot(t, 1)
	r, err := tn.anon.Submit(context.Background(), f.info, b, client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tn.stop()

	path := filepath.Join(dir, ledger.DBFileName)
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	payload := b.DraftCast().Payload
	at := bytes.Index(db, payload[len(payload)-64:]) // the ballot's signature, as stored
	if at < 0 || bytes.Count(db, payload[len(payload)-64:]) != 1 {
		t.Fatal("the ballot's bytes are not in board.db exactly once")
	}
	db[at+10] ^= 0x01
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}

	n := node.New(dir, node.Options{Origin: "test.recount.local/board"})
	err = n.Start()
	if !errors.Is(err, ledger.ErrCorrupt) {
		t.Fatalf("Start = %v, want ErrCorrupt", err)
	}
	for _, want := range []string{"entry " + itoa(r.Index), "backup"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error %q does not say %q", err, want)
		}
	}
	n.Close()
}

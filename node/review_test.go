package node_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
)

// TestImportedBoardBallotsCheckedInFull: a board built by ledger.Import from an export holds entries this node
// never admitted: the export's own key signs them, whoever made it. A node started on such a board (read-only)
// must check its ballots in full when it replays them, not only their shape as it does for the ballots it
// appended itself: a ballot whose signature is forged is refused, and the node does not start on that board.
func TestImportedBoardBallotsCheckedInFull(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Vote(0); err != nil {
		t.Fatal(err)
	}
	entries := e.Entries
	last := entries[len(entries)-1]
	if last.Kind != election.KindBallot {
		t.Fatalf("the last entry is a %s", last.Kind)
	}
	var sb recordv1.SignedBallot
	if err := proto.Unmarshal(last.Payload, &sb); err != nil {
		t.Fatal(err)
	}
	sb.Signature[3] ^= 1 // a ballot its credential never signed
	forged, err := proto.MarshalOptions{Deterministic: true}.Marshal(&sb)
	if err != nil {
		t.Fatal(err)
	}
	if bc := election.CheckBallot(e.Manifest, e.State.Key().PublicKey, election.Entry{Index: last.Index, Kind: last.Kind, Payload: forged}); bc.Err() == nil || bc.Err().Check != election.CheckBallotSignature {
		t.Fatalf("the forged ballot's checks: %v, want check 10", bc.Err())
	}

	entries = electiontest.Clone(entries)
	entries[len(entries)-1].Payload = forged
	dir := importedBoard(t, entries)
	n, err := node.Open(dir, node.Options{})
	if err == nil {
		defer n.Close()
		var st election.Status
		var ballot *election.Ballot
		if ballot, err = election.ParseBallot(e.Manifest, forged); err != nil {
			t.Fatal(err)
		}
		n.View(func(s *election.State) { st, _ = s.BallotStatus(ballot.TrackingCode) })
		t.Fatalf("the node started on an imported board holding a forged ballot, which it shows as %q", st)
	}
	if !strings.Contains(err.Error(), "ballot-signature") {
		t.Errorf("the node refused the board, but not for the forged ballot's signature: %v", err)
	}
}

// importedBoard writes entries as an export signed by a board key of its own and imports it (ledger.Import): a
// read-only board, in a directory it returns.
func importedBoard(t *testing.T, entries []election.Entry) string {
	t.Helper()
	origin := "mirror.example/board"
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{9}, 64)), origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	export := tlog.AppendExportHeader(nil, origin, vkey, uint64(len(entries)))
	var leaves [][tlog.HashSize]byte
	for _, en := range entries {
		export = tlog.AppendExportEntry(export, tlog.Kind(en.Kind), en.Payload)
		leaves = append(leaves, tlog.LeafHash(tlog.Kind(en.Kind), en.Payload))
	}
	cp, err := tlog.SignCheckpoint(signer, origin, uint64(len(entries)), tlog.RootHash(leaves))
	if err != nil {
		t.Fatal(err)
	}
	export = tlog.AppendExportTrailer(export, cp.Signed)
	dir := filepath.Join(t.TempDir(), "board")
	l, err := ledger.Import(dir, bytes.NewReader(export), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReadOnlyBoardRefusesWrites: a node on an imported (read-only) board serves it, and refuses every change
// before its state admits anything: the refusal leaves the node usable and its state as it was (an append that
// failed after Admit would break the node, and leave the entry in its state). Found by review.
func TestReadOnlyBoardRefusesWrites(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Vote(0); err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(importedBoard(t, e.Entries), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var size uint64
	n.View(func(s *election.State) { size = s.Size() })
	for i := 0; i < 2; i++ {
		// The polls are open: closing them passes every check of the election's, so only the board refuses.
		_, err := n.ClosePolls(context.Background())
		if reason, _ := node.Reason(err); reason != node.ReasonWrongPhase || !strings.Contains(err.Error(), "read-only board") {
			t.Fatalf("a change to a read-only board: %v (reason %q), want %s naming the read-only board", err, reason, node.ReasonWrongPhase)
		}
	}
	n.View(func(s *election.State) {
		if s.Size() != size {
			t.Errorf("the state holds %d entries after the refusals, %d before", s.Size(), size)
		}
	})
}

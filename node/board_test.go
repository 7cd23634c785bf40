package node_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
)

// TestStreamEntriesFromBeyondTheBoard: StreamEntries{from: 2^64-1, follow: true} once made next+1 wrap to 0, and
// the handler spun at a full core after its client had gone (32 such calls cut the ballot rate by 30%, and the
// node never finished a shutdown). A from beyond the board is refused with OutOfRange, and the handler returns.
func TestStreamEntriesFromBeyondTheBoard(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	fillBoard(t, tn, 3, 10)
	for _, from := range []uint64{4, 1 << 32, math.MaxUint64 - 1, math.MaxUint64} {
		for _, follow := range []bool{false, true} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			stream, err := tn.anon.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{From: from, Follow: follow})
			if err == nil {
				_, err = stream.Recv()
			}
			cancel()
			wantRefusal(t, "StreamEntries from "+strconv.FormatUint(from, 10), err, codes.OutOfRange, node.ReasonNotFound)
			awaitStreams(t, tn, 0) // the handler returned: nothing spins on after the client has gone
		}
	}
	// The board's own size is where a follower waits for the next entry.
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := tn.anon.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{From: 3, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	fillBoard(t, tn, 1, 10)
	if e, err := stream.Recv(); err != nil || e.Index != 3 {
		t.Fatalf("following from the board's size: %v %v", e, err)
	}
	cancel()
	awaitStreams(t, tn, 0)
}

// TestStreamEntriesCarryCommitCheckpoints: the last entry of each commit carries that commit's signed checkpoint
// (and no other entry carries one), from the start of the board, from inside a commit, and while following.
func TestStreamEntriesCarryCommitCheckpoints(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	fillBoard(t, tn, 3, 10) // one commit: entries 0-2
	fillBoard(t, tn, 1, 10) // entry 3
	fillBoard(t, tn, 4, 10) // entries 4-7
	commitEnds := map[uint64]bool{3: true, 4: true, 8: true, 10: true}
	vkey := tn.n.Log().VerifierKey()
	for _, from := range []uint64{5, 0, 1, 4} { // 5 first: entries 8-9 come while it follows
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stream, err := tn.anon.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{From: from, Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		if from == 5 {
			fillBoard(t, tn, 2, 10) // entries 8-9, arriving while the stream follows
		}
		for i := from; i < 10; i++ {
			e, err := stream.Recv()
			if err != nil || e.Index != i {
				t.Fatalf("from %d: entry %d: %v %v", from, i, e, err)
			}
			if !commitEnds[i+1] {
				if len(e.Checkpoint) != 0 {
					t.Fatalf("from %d: entry %d, inside a commit, carries a checkpoint", from, i)
				}
				continue
			}
			cp, err := tlog.ParseCheckpoint(e.Checkpoint, vkey)
			if err != nil || cp.Size != i+1 {
				t.Fatalf("from %d: entry %d, the last of its commit, carries checkpoint %v (%v), want the board's of size %d", from, i, cp, err, i+1)
			}
			if kept, _ := tn.n.Checkpoint(i + 1); string(kept.Signed) != string(e.Checkpoint) {
				t.Fatalf("from %d: entry %d carries a checkpoint the board does not keep", from, i)
			}
		}
		cancel()
	}
}

// TestCheckpointsServedAsStored: the checkpoints the node keeps in memory for its latest commits (those that
// clients ask for right after their receipts) are, byte for byte, those the board stores, for every size; a size
// at which no commit ended is still refused.
func TestCheckpointsServedAsStored(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 3, trustShapes: true})
	for v := range 3 {
		if _, err := tn.anon.Submit(context.Background(), f.info, f.ballot(t, v), client.SubmitOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	kept := 0
	for size := uint64(1); size <= tn.size(); size++ {
		want, werr := tn.n.Log().CheckpointAt(size)
		got, gerr := tn.n.Checkpoint(size)
		switch {
		case errors.Is(werr, ledger.ErrNotFound):
			if gerr == nil {
				t.Fatalf("size %d: the board has no checkpoint, the node served %s", size, got.Signed)
			}
		case werr != nil:
			t.Fatal(werr)
		case gerr != nil:
			t.Fatalf("size %d: %v", size, gerr)
		case got.Size != want.Size || got.Root != want.Root || got.Origin != want.Origin || !bytes.Equal(got.Signed, want.Signed):
			t.Fatalf("size %d: the node served\n%s\nthe board stores\n%s", size, got.Signed, want.Signed)
		default:
			kept++
		}
	}
	if kept < 3 {
		t.Fatalf("%d checkpoints compared, want at least the 3 ballots' commits", kept)
	}
}

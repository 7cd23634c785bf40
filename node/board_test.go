package node_test

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
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

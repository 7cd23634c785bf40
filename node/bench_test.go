package node_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/node"
)

// BenchmarkCastOverGRPC casts ballots (encrypted beforehand) through VoterService on a loopback port, 64
// clients at a time: the node's throughput, each ballot checked in full (signature, proofs), appended with a
// group-committed fsync and receipted. The ballots are those of electiontest.Mixed (15 options, three rules).
// The trustee follows the board checking shapes only, so that it does not compete for the cores.
func BenchmarkCastOverGRPC(b *testing.B) {
	tn := startNode(b, b.TempDir(), "")
	f := newFixture(b, tn.target(), setup{trustees: 1, threshold: 1, voters: b.N, trustShapes: true})
	ballots := make([]*election.PreparedBallot, b.N)
	for v := range ballots {
		ballots[v] = f.ballot(b, v)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 64 {
		wg.Go(func() {
			for v := range next {
				if _, err := tn.anon.Submit(context.Background(), f.info, ballots[v], client.SubmitOptions{}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for v := range b.N {
		next <- v
	}
	close(next)
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ballots/s")
}

// BenchmarkUnreadStreams opens b.N streams whose client reads nothing, over loopback, on a board of 4 MiB
// (1024 entries of 4 KiB), and reports the heap and stacks they hold, per stream, once every Send is blocked:
// slow readers must cost bounded memory. Client and server share the process; the client's share is at most
// its 64 KiB window and its stream's bookkeeping. Run with a fixed count, e.g. -benchtime 200x.
func BenchmarkUnreadStreams(b *testing.B) {
	for _, kind := range []string{"Export", "Follow"} {
		b.Run(kind, func(b *testing.B) {
			tn := startNodeWith(b, b.TempDir(), "", node.ServerOptions{MaxStreams: 1 << 20, MaxStreamsPerConn: 1 << 20, MaxConcurrentStreams: 1 << 20})
			fillBoard(b, tn, 1024, 4<<10)
			board := dialBoard(b, tn.addr, 64<<10)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			before := heldBytes()
			b.ResetTimer()
			for range b.N {
				var err error
				if kind == "Export" {
					_, err = board.Export(ctx, &recountv1.ExportRequest{})
				} else {
					_, err = board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{Follow: true})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			awaitStreams(b, tn, b.N)
			// Let every Send fill the windows and block: nothing signals that, so wait for the heap to settle.
			last := heldBytes()
			for range 50 {
				time.Sleep(100 * time.Millisecond)
				now := heldBytes()
				if now < last+last/100 {
					break
				}
				last = now
			}
			b.StopTimer()
			b.ReportMetric(float64(heldBytes()-before)/float64(b.N), "B/stream")
			cancel()
			awaitStreams(b, tn, 0)
		})
	}
}

// heldBytes returns the heap in use and the goroutine stacks, after a collection.
func heldBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

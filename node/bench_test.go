package node_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/node"
)

// BenchmarkCastOverGRPC measures the node's accept path against the ballot checks it runs, side by side, on the
// ballots of electiontest.Mixed (15 options, three rules), encrypted beforehand:
//
//   - path=grpc casts them through VoterService on a loopback port, 64 clients at a time: the node's throughput,
//     each ballot checked in full (signature, proofs), appended with a group-committed fsync and receipted, and
//     each receipt checked by its client (checkpoint signature, inclusion and consistency proofs). The trustee
//     follows the board checking shapes only, so that it does not compete for the cores.
//   - path=verify checks the same kind of ballots with election.CheckBallot in a tight loop on GOMAXPROCS
//     goroutines: what the same cores verify when they do nothing else.
//
// Issue 15's goal is grpc's ballots/s at least 85% of verify's. Compare them with
//
//	go test -run '^$' -bench CastOverGRPC -benchtime 400x -count 6 ./node | tee /tmp/cast.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /path /tmp/cast.txt
func BenchmarkCastOverGRPC(b *testing.B) {
	b.Run("path=grpc", benchCastOverGRPC)
	b.Run("path=verify", benchVerifyBallots)
}

func benchCastOverGRPC(b *testing.B) {
	tn := startNode(b, b.TempDir(), "")
	f := newFixture(b, tn.target(), setup{trustees: 1, threshold: 1, voters: b.N, trustShapes: true})
	ballots := make([]*election.PreparedBallot, b.N)
	for v := range ballots {
		ballots[v] = f.ballot(b, v)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0 := processCPUTime()
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
	reportRates(b, cpu0)
}

// reportRates reports ballots/s (wall clock) and ballots per CPU-second of the whole process since it had used
// cpu0 ns: for path=grpc that is the node's, the clients' and the trustee's work together. The machine is shared:
// the CPU figure is the steadier, and their ratio between the paths is the share of the node's CPU that goes to
// the ballot checks.
func reportRates(b *testing.B, cpu0 int64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ballots/s")
	if cpu := processCPUTime() - cpu0; cpu0 != 0 && cpu > 0 {
		b.ReportMetric(float64(b.N)/(float64(cpu)/1e9), "ballots/cpu-s")
	}
}

// verifyPool is path=verify's election and ballots, made once: the ballots are checked again and again.
var verifyPool struct {
	once     sync.Once
	manifest *election.Manifest
	key      *elgamal.PublicKey
	entries  []election.Entry
}

func benchVerifyBallots(b *testing.B) {
	const pool = 64
	verifyPool.once.Do(func() {
		tn := startNode(b, b.TempDir(), "")
		f := newFixture(b, tn.target(), setup{trustees: 1, threshold: 1, voters: pool, trustShapes: true})
		verifyPool.manifest, verifyPool.key = f.manifest, f.info.Key
		for v := range pool {
			verifyPool.entries = append(verifyPool.entries, election.Entry{Index: uint64(1000 + v), Kind: election.KindBallot, Payload: f.ballot(b, v).DraftCast().Payload})
		}
	})
	m, pk, entries := verifyPool.manifest, verifyPool.key, verifyPool.entries
	if len(entries) != pool {
		b.Fatal("the ballots to verify were not made (see the first run's error)")
	}
	var next atomic.Uint64
	b.ResetTimer()
	cpu0 := processCPUTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if bc := election.CheckBallot(m, pk, entries[next.Add(1)%pool]); bc.Err() != nil {
				b.Error(bc.Err())
			}
		}
	})
	reportRates(b, cpu0)
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

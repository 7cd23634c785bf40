package node_test

import (
	"context"
	"sync"
	"testing"

	"github.com/recount-vote/recount/election"
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
				if _, err := tn.anon.Submit(context.Background(), f.info, ballots[v], false); err != nil {
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

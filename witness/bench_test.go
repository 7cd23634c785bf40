package witness

import (
	"context"
	"net/http/httptest"
	"testing"
)

// BenchmarkAddCheckpoint measures one cosignature in the witness itself: the board's signature checked, the
// consistency proof from the previous checkpoint verified, the stored state read and checked, the cosignature
// made, and the new state written and synced (fsync) to disk.
func BenchmarkAddCheckpoint(b *testing.B) {
	board := newTestBoard(b, testOrigin)
	w, _ := newTestWitness(b, board)
	board.grow(uint64(b.N) + 1)
	reqs := make([]AddCheckpoint, b.N)
	for i := range reqs {
		reqs[i] = board.request(uint64(i), uint64(i+1))
	}
	b.ResetTimer()
	for i := range reqs {
		if _, err := w.AddCheckpoint(context.Background(), reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAddCheckpointHTTP is BenchmarkAddCheckpoint over loopback HTTP with the Client (keep-alive), as the
// node asks a witness: the latency a witness adds to a checkpoint.
func BenchmarkAddCheckpointHTTP(b *testing.B) {
	board := newTestBoard(b, testOrigin)
	w, _ := newTestWitness(b, board)
	srv := httptest.NewServer(NewHandler(w, nil))
	defer srv.Close()
	c, err := NewClient(srv.URL, w.VerifierKey(), srv.Client())
	if err != nil {
		b.Fatal(err)
	}
	board.grow(uint64(b.N) + 1)
	reqs := make([]AddCheckpoint, b.N)
	for i := range reqs {
		reqs[i] = board.request(uint64(i), uint64(i+1))
	}
	b.ResetTimer()
	for i := range reqs {
		if _, err := c.AddCheckpoint(context.Background(), reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

package observer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
)

// BenchmarkOpen measures an observer's start on a mirror of an election of 100 voters: "restart" resumes from
// its recorded state (ballots already checked are decoded only), "unverified" checks every ballot in full (a
// first start, or an observer.db lost). Compare them with benchstat.
func BenchmarkOpen(b *testing.B) {
	e, err := electiontest.Run(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 100, Revotes: 10, Challenges: 5, Seed: 3})
	if err != nil {
		b.Fatal(err)
	}
	src, err := ledger.Open(b.TempDir(), ledger.Options{Origin: testOrigin})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	post(b, src, e.Entries, 16)
	dir := b.TempDir()
	mirrorDir := filepath.Join(dir, "mirror")
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	go func() { src.Export(context.Background(), w); w.Close() }()
	l, err := ledger.Import(mirrorDir, r, ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	l.Close()
	open := func(b *testing.B) {
		o, err := Open(context.Background(), Config{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if o.Status().Verified != uint64(len(e.Entries)) || o.Status().FailureCount != 0 {
			b.Fatalf("%+v", o.Status())
		}
		o.Close()
	}
	b.Run("unverified", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			os.Remove(filepath.Join(dir, storeFileName))
			b.StartTimer()
			open(b)
		}
	})
	open(b) // records the state
	b.Run("restart", func(b *testing.B) {
		for b.Loop() {
			open(b)
		}
	})
}

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
)

// Verification figures: `go test ./cmd/recount -run '^$' -bench Verify -benchtime 3x`. Building each record
// takes a while (about two milliseconds per ballot to encrypt, on all cores), once per process. With
// RECOUNT_BENCH_DIR set, the records are kept there (DIR/10k/election.record, DIR/demo1000/election.record).

// buildRecord runs an election with the default mixed contests (a 1-of-5, an approval of up to 3 of 6, a score
// 0..5 over 4 options with a total of at most 12), 3 trustees (t = 2, trustee 2 absent), encrypting ballots on
// all cores, puts it on a real board and exports it to a file. It returns the file and the number of ballots
// cast (spoiled ones included).
func buildRecord(b *testing.B, dir string, voters, revotes, challenges int) (string, int) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 3, Threshold: 2, Voters: voters, Absent: []int{2}, Seed: 9})
	if err != nil {
		b.Fatal(err)
	}
	// Who casts what, in board order: challenges first, then every voter, then the revotes.
	type job struct {
		voter     int
		challenge bool
	}
	var jobs []job
	for v := range voters {
		if v < challenges {
			jobs = append(jobs, job{v, true})
		}
		jobs = append(jobs, job{v, false})
	}
	for v := range revotes {
		jobs = append(jobs, job{v, false})
	}
	drafts := make([]election.Draft, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	pk := e.State.Key().PublicKey
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				j := jobs[i]
				pb, err := election.EncryptBallot(e.Manifest, pk, e.Credentials[j.voter], election.RandomChoices(e.Manifest, nil), nil)
				if err != nil {
					panic(err)
				}
				if j.challenge {
					drafts[i] = pb.DraftChallenge()
				} else {
					drafts[i] = pb.DraftCast()
				}
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	// The node's way of accepting checked ballots: shape only, the proofs were checked when they were made.
	for _, d := range drafts {
		en := d.At(uint64(len(e.Entries)))
		bc := election.CheckBallotShapeOnly(e.Manifest, en)
		if d.Kind == election.KindSpoiledBallot {
			bc = election.CheckBallot(e.Manifest, pk, en)
		}
		if errs := e.State.ApplyChecked(en, bc); len(errs) > 0 {
			b.Fatal(errs[0])
		}
		e.Entries = append(e.Entries, en)
	}
	if err := e.Finish(); err != nil {
		b.Fatal(err)
	}
	l, err := ledger.Open(filepath.Join(dir, "board"), ledger.Options{Origin: "recount.example/bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var recs []ledger.Record
	for _, en := range e.Entries {
		recs = append(recs, ledger.Record{Kind: tlog.Kind(en.Kind), Payload: en.Payload})
	}
	for len(recs) > 0 {
		n := min(len(recs), 2000)
		if _, err := l.AppendMany(context.Background(), recs[:n]); err != nil {
			b.Fatal(err)
		}
		recs = recs[n:]
	}
	path := filepath.Join(dir, "election.record")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Export(context.Background(), f); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path, len(jobs)
}

var (
	records   = map[string]string{}
	ballots   = map[string]int{}
	recordsMu sync.Mutex
	benchDir  string
	keepBench bool
)

// benchRecord builds a record once per process.
func benchRecord(b *testing.B, name string, voters, revotes, challenges int) (string, int) {
	recordsMu.Lock()
	defer recordsMu.Unlock()
	if p, ok := records[name]; ok {
		return p, ballots[name]
	}
	if benchDir == "" && os.Getenv("RECOUNT_BENCH_DIR") != "" {
		benchDir = os.Getenv("RECOUNT_BENCH_DIR") // kept: the records can then be verified by hand
		keepBench = true
	}
	if benchDir == "" {
		var err error
		if benchDir, err = os.MkdirTemp("", "recount-bench-"); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	dir := filepath.Join(benchDir, name)
	if err := os.RemoveAll(dir); err != nil { // a kept record of an earlier run
		b.Fatal(err)
	}
	p, n := buildRecord(b, dir, voters, revotes, challenges)
	st, _ := os.Stat(p)
	b.Logf("built %s: %d ballots, %d bytes, in %v", name, n, st.Size(), time.Since(start).Round(time.Millisecond))
	records[name], ballots[name] = p, n
	return p, n
}

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		// A child process standing for recount itself (recount bench runs `recount verify` so).
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	if benchDir != "" && !keepBench {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchVerify runs `recount verify` on the record, as a user would, and reports ballots per second.
func benchVerify(b *testing.B, path string, n int) {
	b.ResetTimer()
	for b.Loop() {
		if code := run([]string{"verify", path}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("recount verify: exit %d", code)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ballots/s")
}

// BenchmarkVerify10000Ballots: a record of 10,000 ballots (10,000 voters, one ballot each), all cores.
func BenchmarkVerify10000Ballots(b *testing.B) {
	path, n := benchRecord(b, "10k", 10000, 0, 0)
	benchVerify(b, path, n)
}

// BenchmarkVerifyDemo1000: the stand-in for `recount demo`'s record with 1,000 voters: 1,000 voters, 100 revotes,
// 50 challenges, trustee 2 absent.
func BenchmarkVerifyDemo1000(b *testing.B) {
	path, n := benchRecord(b, "demo1000", 1000, 100, 50)
	benchVerify(b, path, n)
}

// BenchmarkVerifyRetained: the Go heap that verify.Verify's report still holds once the record is checked (the
// election's state: what the counting rule keeps per ballot and per credential), per ballot of the record. With
// RECOUNT_BENCH_RECORD set to an export file (recount bench keeps DIR/election.record), that record instead.
func BenchmarkVerifyRetained(b *testing.B) {
	path, n := os.Getenv("RECOUNT_BENCH_RECORD"), 0
	if path == "" {
		path, n = benchRecord(b, "demo1000", 1000, 100, 50)
	}
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := verify.Verify(context.Background(), f, verify.Options{})
		f.Close()
		if err != nil || !rep.OK {
			b.Fatalf("verify: %v, ok %v", err, rep != nil && rep.OK)
		}
		if n == 0 {
			n = rep.Ballots.Cast + rep.Ballots.Spoiled
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "retained-B/ballot")
		runtime.KeepAlive(rep)
	}
}

package ledger

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/recount-vote/recount/ledger/tlog"
)

// Benchmarks. The big ones share one board of benchEntries entries, built once (in batches of 10,000 with
// AppendMany) in a temporary directory that TestMain removes.
//
//	go test -run '^$' -bench . -benchtime 3s ./ledger/
//
// With RECOUNT_BENCH_BOARD set to a board's directory (recount bench keeps DIR/board), the proof benchmarks run
// on that board instead, opened read-only and left as it was: proofs at a real election's size and entry size,
// whose tree nodes are spread among the ballots' pages.
//
//	RECOUNT_BENCH_BOARD=DIR/board go test -run '^$' -bench 'Proof|VerifyInclusion' ./ledger/
const (
	benchEntries     = 1_000_000
	benchPayloadSize = 256 // bytes per entry of the big board
	appendPayload    = 1024
)

var big struct {
	once sync.Once
	dir  string
	log  *Log
	err  error
	took time.Duration
}

// bigLog returns the shared board of benchEntries entries.
func bigLog(b *testing.B) *Log {
	big.once.Do(func() {
		start := time.Now()
		if dir := os.Getenv("RECOUNT_BENCH_BOARD"); dir != "" {
			big.log, big.err = Open(dir, Options{ReadOnly: true, DeferIntegrityCheck: true})
			big.took = time.Since(start)
			return
		}
		big.dir, big.err = os.MkdirTemp("", "ledger-bench-")
		if big.err != nil {
			return
		}
		big.log, big.err = Open(big.dir, Options{Origin: testOrigin})
		if big.err != nil {
			return
		}
		r := rand.New(rand.NewPCG(1, 1))
		recs := make([]Record, 10_000)
		for i := 0; i < benchEntries; i += len(recs) {
			for j := range recs {
				p := make([]byte, benchPayloadSize)
				for k := range p {
					p[k] = byte(r.Uint32())
				}
				recs[j] = Record{tlog.Kind(j % 7), p}
			}
			if _, big.err = big.log.AppendMany(context.Background(), recs); big.err != nil {
				return
			}
		}
		big.took = time.Since(start)
	})
	if big.err != nil {
		b.Fatal(big.err)
	}
	return big.log
}

// cleanupBench closes and removes the shared board (called by TestMain).
func cleanupBench() {
	if big.log != nil {
		big.log.Close()
	}
	if big.dir != "" { // empty for RECOUNT_BENCH_BOARD's board, which is not ours to remove
		os.RemoveAll(big.dir)
	}
}

// BenchmarkBuildBigBoard reports how long building the shared board took (it is built once).
func BenchmarkBuildBigBoard(b *testing.B) {
	bigLog(b)
	for range b.N {
	}
	b.ReportMetric(float64(benchEntries)/big.took.Seconds(), "entries/s")
	b.ReportMetric(big.took.Seconds(), "s/build")
}

func benchAppend(b *testing.B, writers int) {
	l, err := Open(b.TempDir(), Options{Origin: testOrigin})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	payload := bytes.Repeat([]byte{0x5a}, appendPayload)
	ctx := context.Background()
	b.SetBytes(appendPayload)
	b.ResetTimer()
	start := time.Now()
	if writers == 1 {
		for i := 0; i < b.N; i++ {
			if _, err := l.Append(ctx, 1, payload); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		var wg sync.WaitGroup
		var next sync.Mutex
		todo := b.N
		for range writers {
			wg.Go(func() {
				for {
					next.Lock()
					if todo == 0 {
						next.Unlock()
						return
					}
					todo--
					next.Unlock()
					if _, err := l.Append(ctx, 1, payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
	b.StopTimer()
	cps := 0
	for range l.Checkpoints(ctx, 0) {
		cps++
	}
	b.ReportMetric(float64(b.N)/float64(cps), "entries/commit")
}

// BenchmarkAppend measures durable (fsynced) appends of 1 KiB entries with 1 and 64 concurrent writers.
func BenchmarkAppend(b *testing.B) {
	b.Run("writers=1", func(b *testing.B) { benchAppend(b, 1) })
	b.Run("writers=64", func(b *testing.B) { benchAppend(b, 64) })
}

func BenchmarkInclusionProof(b *testing.B) {
	l := bigLog(b)
	r := rand.New(rand.NewPCG(2, 2))
	n := l.Size()
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.InclusionProof(r.Uint64N(n), n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyInclusion(b *testing.B) {
	l := bigLog(b)
	n := l.Size()
	cp := l.Latest()
	type item struct {
		e tlog.Entry
		p [][]byte
	}
	var items []item
	for i := range 256 {
		idx := uint64(i) * (n / 256)
		e, _ := l.Entry(idx)
		p, err := l.InclusionProof(idx, n)
		if err != nil {
			b.Fatal(err)
		}
		items = append(items, item{e, p})
	}
	i := 0
	for b.Loop() {
		it := items[i%len(items)]
		if err := tlog.VerifyInclusion(cp, it.e.Kind, it.e.Payload, it.e.Index, it.p); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkConsistencyProof(b *testing.B) {
	l := bigLog(b)
	r := rand.New(rand.NewPCG(3, 3))
	n := l.Size()
	for b.Loop() {
		if _, err := l.ConsistencyProof(1+r.Uint64N(n-1), n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyConsistency(b *testing.B) {
	l := bigLog(b)
	n := l.Size()
	newer := l.Latest()
	type item struct {
		old tlog.Checkpoint
		p   [][]byte
	}
	var items []item
	for cp, err := range l.Checkpoints(context.Background(), 1) {
		if err != nil {
			b.Fatal(err)
		}
		p, err := l.ConsistencyProof(cp.Size, n)
		if err != nil {
			b.Fatal(err)
		}
		items = append(items, item{cp, p})
	}
	i := 0
	for b.Loop() {
		it := items[i%len(items)]
		if err := tlog.VerifyConsistency(it.old, newer, it.p); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func BenchmarkExport(b *testing.B) {
	l := bigLog(b)
	var cw countWriter
	start := time.Now()
	for b.Loop() {
		if err := l.Export(context.Background(), &cw); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(cw.n / int64(b.N))
	b.ReportMetric(float64(l.Size())*float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

func BenchmarkVerifyExport(b *testing.B) {
	l := bigLog(b)
	var buf bytes.Buffer
	if err := l.Export(context.Background(), &buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	vkey := l.VerifierKey()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := tlog.VerifyExport(bytes.NewReader(data), vkey); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(l.Size())*float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

func BenchmarkImport(b *testing.B) {
	l := bigLog(b)
	var buf bytes.Buffer
	if err := l.Export(context.Background(), &buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		imp, err := Import(b.TempDir(), bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		imp.Close()
	}
	b.ReportMetric(float64(l.Size())*float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkOpen measures Open's checks on the big board (read-only, next to the open writer is not possible,
// so it closes and reopens the shared board).
func BenchmarkOpen(b *testing.B) {
	bigLog(b)
	big.log.Close()
	for b.Loop() {
		l, err := Open(big.dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		big.log = l
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	big.log, big.err = Open(big.dir, Options{})
}

// BenchmarkCheckIntegrity measures the integrity check that Open runs on every start (CheckIntegrity: every entry
// re-hashed, the tree recomputed and compared with every stored node) on the big board, and on a board the size of
// the 51,000-ballot election of issue 9 with ballot-sized entries (1,400 bytes, docs/record.md section 8).
func BenchmarkCheckIntegrity(b *testing.B) {
	b.Run("entries=51000,payload=1400", func(b *testing.B) {
		l, err := Open(b.TempDir(), Options{Origin: testOrigin})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		recs := make([]Record, 1000)
		for i := 0; i < 51_000; i += len(recs) {
			for j := range recs {
				recs[j] = Record{tlog.Kind(j % 7), bytes.Repeat([]byte{byte(i + j)}, 1400)}
			}
			if _, err := l.AppendMany(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
		}
		benchCheckIntegrity(b, l, 1400)
	})
	b.Run("entries=1000000,payload=256", func(b *testing.B) { benchCheckIntegrity(b, bigLog(b), benchPayloadSize) })
}

func benchCheckIntegrity(b *testing.B, l *Log, payload int) {
	b.SetBytes(int64(l.Size()) * int64(4+payload))
	ctx := context.Background()
	start := time.Now()
	for b.Loop() {
		if err := l.CheckIntegrity(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(l.Size())*float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

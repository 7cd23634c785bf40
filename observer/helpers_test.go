package observer

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

const testOrigin = "observer.test/board"

// fakeNode serves, on loopback, the BoardService of a board it can swap for another (a node that forks).
type fakeNode struct {
	cur  atomic.Pointer[ledger.Log]
	addr string
}

func startFakeNode(t *testing.T, l *ledger.Log) *fakeNode {
	t.Helper()
	fn := &fakeNode{}
	fn.cur.Store(l)
	fn.addr = serve(t, func(s *grpc.Server) {
		recountv1.RegisterBoardServiceServer(s, newBoardServer(func() *ledger.Log { return fn.cur.Load() }))
	})
	return fn
}

// serve runs a gRPC server on loopback with what register registers; it returns its address.
func serve(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	s := grpc.NewServer()
	register(s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

func dial(t *testing.T, addr string) *grpcnode.Client {
	t.Helper()
	c, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sourceBoard opens a signing board in dir.
func sourceBoard(t *testing.T, dir string) *ledger.Log {
	t.Helper()
	l, err := ledger.Open(dir, ledger.Options{Origin: testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// post appends entries to l, in commits of at most per entries.
func post(t testing.TB, l *ledger.Log, entries []election.Entry, per int) {
	t.Helper()
	for len(entries) > 0 {
		n := min(per, len(entries))
		var recs []ledger.Record
		for _, e := range entries[:n] {
			recs = append(recs, ledger.Record{Kind: tlog.Kind(e.Kind), Payload: e.Payload})
		}
		if _, err := l.AppendMany(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		entries = entries[n:]
	}
}

// filler returns n entries of a kind no election knows: a board's bytes, not an election.
func filler(tag byte, n int) []election.Entry {
	var out []election.Entry
	for i := range n {
		out = append(out, election.Entry{Kind: election.Kind(99), Payload: []byte{tag, byte(i), byte(i >> 8)}})
	}
	return out
}

func openObserver(t *testing.T, dir, addr string, tweak ...func(*Config)) *Observer {
	t.Helper()
	cfg := Config{Dir: dir, Board: dial(t, addr).Board, PollInterval: 50 * time.Millisecond, Workers: 2, Logger: testLogger(t)}
	for _, f := range tweak {
		f(&cfg)
	}
	o, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// running runs o.Run until the returned stop is called (or the test ends); stop closes o.
func running(t *testing.T, o *Observer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := o.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if err := o.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// copyBoard copies a closed board's directory (its key too: the copy signs as the same board).
func copyBoard(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ledger.DBFileName, ledger.KeyFileName, ledger.CheckpointFileName} {
		data, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	electionOnce sync.Once
	testElection *electiontest.Election
	electionErr  error
)

// sharedElection is a small honest election, shared read-only by the tests.
func sharedElection(t *testing.T) *electiontest.Election {
	t.Helper()
	electionOnce.Do(func() {
		testElection, electionErr = electiontest.Run(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 8, Revotes: 2, Challenges: 2, Seed: 12})
	})
	if electionErr != nil {
		t.Fatal(electionErr)
	}
	return testElection
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

package observer

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/witness"
)

// serveWitness opens o's witness with a new key and serves it over HTTP on loopback; it returns the witness and
// a client of it that checks its cosignatures with its published key.
func serveWitness(t *testing.T, o *Observer, skey string) (*witness.Witness, *witness.Client) {
	t.Helper()
	w, err := o.OpenWitness(skey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(witness.NewHandler(w, testLogger(t)))
	t.Cleanup(srv.Close)
	c, err := witness.NewClient(srv.URL, w.VerifierKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, c
}

func newWitnessKey(t *testing.T) string {
	t.Helper()
	skey, _, err := witness.GenerateKey("observer.test/witness", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return skey
}

// request is the add-checkpoint request for src's checkpoint of size to, from the witness's size from.
func request(t *testing.T, src *ledger.Log, from, to uint64) witness.AddCheckpoint {
	t.Helper()
	cp, err := src.CheckpointAt(to)
	if err != nil {
		t.Fatal(err)
	}
	req := witness.AddCheckpoint{OldSize: from, Checkpoint: cp.Signed}
	if from > 0 {
		if req.Proof, err = src.ConsistencyProof(from, to); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

// TestObserverWitness: the observer-witness cosigns, over its HTTP interface, a checkpoint the observer has
// mirrored and verified; it refuses (503, ErrNotVerified) one beyond what it verified, and cosigns it once the
// observer has caught up; a checkpoint of another history of a verified size is not VerifiedCheckpoint. Closed
// and reopened with the observer, the witness keeps the latest checkpoint it cosigned.
func TestObserverWitness(t *testing.T) {
	e := sharedElection(t)
	base := t.TempDir()
	srcDir, forkDir := filepath.Join(base, "src"), filepath.Join(base, "fork")
	src := sourceBoard(t, srcDir)
	post(t, src, e.Entries[:10], 5)
	src.Close()
	copyBoard(t, srcDir, forkDir)
	src = sourceBoard(t, srcDir)
	post(t, src, e.Entries[10:20], 5)
	fork := sourceBoard(t, forkDir)
	post(t, fork, filler('F', 10), 5) // size 20, another history from 10 on

	fn := startFakeNode(t, src)
	dir := t.TempDir()
	o := openObserver(t, dir, fn.addr) // not running: it holds the node's board as it was at Open, 20 entries
	if st := o.Status(); st.Verified != 20 || st.FailureCount != 0 {
		t.Fatalf("observer at %d entries, %d failures", st.Verified, st.FailureCount)
	}
	post(t, src, e.Entries[20:], 5)
	full := src.Size()
	if full <= 20 {
		t.Fatalf("the shared election has %d entries, the test needs more than 20", full)
	}

	skey := newWitnessKey(t)
	w, wc := serveWitness(t, o, skey)
	ctx := context.Background()
	if _, err := wc.AddCheckpoint(ctx, request(t, src, 0, full)); !errors.Is(err, witness.ErrNotVerified) {
		t.Fatalf("a checkpoint past what the observer verified: %v, want ErrNotVerified (503)", err)
	}
	forkCP, err := fork.CheckpointAt(20)
	if err != nil {
		t.Fatal(err)
	}
	srcCP, err := src.CheckpointAt(20)
	if err != nil {
		t.Fatal(err)
	}
	if o.VerifiedCheckpoint(forkCP) || !o.VerifiedCheckpoint(srcCP) {
		t.Fatal("VerifiedCheckpoint does not tell the mirror's history from another of the same size")
	}
	cs, err := wc.AddCheckpoint(ctx, request(t, src, 0, 20))
	if err != nil {
		t.Fatalf("a verified checkpoint: %v", err)
	}
	if cs.Witness != w.Name() {
		t.Errorf("cosigned by %q, want %q", cs.Witness, w.Name())
	}

	stop := running(t, o)
	waitFor(t, "the observer to verify the board", func() bool { return o.Status().Verified == full })
	if _, err := wc.AddCheckpoint(ctx, request(t, src, 20, full)); err != nil {
		t.Fatalf("the checkpoint the observer has now verified: %v", err)
	}
	latest, err := w.Latest(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	stop()

	// Restarted: the witness holds the checkpoint of the whole board it cosigned, and refuses to start again from 0.
	o = openObserver(t, dir, fn.addr)
	defer o.Close()
	w, wc = serveWitness(t, o, skey)
	defer w.Close()
	again, err := w.Latest(testOrigin)
	if err != nil || !bytes.Equal(again, latest) {
		t.Fatalf("after a restart the witness's latest checkpoint is %q (%v), was %q", again, err, latest)
	}
	var conflict *witness.ConflictError
	if _, err := wc.AddCheckpoint(ctx, request(t, src, 0, 20)); !errors.As(err, &conflict) || conflict.Size != full {
		t.Fatalf("after a restart, a request from size 0: %v, want a 409 at size %d", err, full)
	}
}

// TestObserverWitnessRefusesFailedBoard: the observer-witness of a board with a failed check cosigns a
// checkpoint before the failed entry, and refuses (503) every one that includes it.
func TestObserverWitnessRefusesFailedBoard(t *testing.T) {
	e := sharedElection(t)
	entries := electiontest.Clone(e.Entries)
	bad := -1
	for i, en := range entries {
		if en.Kind == election.KindBallot && i >= 5 {
			bad = i
			break
		}
	}
	entries[bad].Payload = bytes.Clone(entries[bad].Payload)
	entries[bad].Payload[len(entries[bad].Payload)-3] ^= 1
	src := sourceBoard(t, t.TempDir())
	post(t, src, entries, 5)
	fn := startFakeNode(t, src)
	o := openObserver(t, t.TempDir(), fn.addr)
	defer o.Close()
	if st := o.Status(); st.FailureCount == 0 || st.Failures[0].Entry != uint64(bad) {
		t.Fatalf("the observer found failures %v, want the first at entry %d", st.Failures, bad)
	}
	w, wc := serveWitness(t, o, newWitnessKey(t))
	defer w.Close()
	before := uint64(bad) / 5 * 5 // the last commit that ends before the failed entry
	if _, err := wc.AddCheckpoint(context.Background(), request(t, src, 0, before)); err != nil {
		t.Fatalf("the checkpoint of %d entries, before the failed one: %v", before, err)
	}
	after := min(before+5, src.Size())
	if _, err := wc.AddCheckpoint(context.Background(), request(t, src, before, after)); !errors.Is(err, witness.ErrNotVerified) {
		t.Fatalf("the checkpoint of %d entries, with the failed one: %v, want ErrNotVerified (503)", after, err)
	}
	if _, err := wc.AddCheckpoint(context.Background(), request(t, src, before, src.Size())); !errors.Is(err, witness.ErrNotVerified) {
		t.Fatalf("the whole board's checkpoint: %v, want ErrNotVerified (503)", err)
	}
	if o.VerifiedCheckpoint(src.Latest()) {
		t.Error("VerifiedCheckpoint passes the board with a failed check")
	}
}

// TestServesCosigned: the observer serves, beside its mirror's latest checkpoint, the node's latest witnessed
// checkpoint once its mirror holds that history (so that a verifier of the mirror checks the same cosignatures),
// and never one of another history, which the node may show.
func TestServesCosigned(t *testing.T) {
	base := t.TempDir()
	srcDir, forkDir := filepath.Join(base, "src"), filepath.Join(base, "fork")
	src := sourceBoard(t, srcDir)
	post(t, src, filler('a', 6), 3)
	src.Close()
	copyBoard(t, srcDir, forkDir)
	src = sourceBoard(t, srcDir)
	post(t, src, filler('b', 6), 3) // size 12
	fork := sourceBoard(t, forkDir)
	post(t, fork, filler('F', 6), 3) // size 12, another history from 6 on

	wskey, _, err := witness.GenerateKey("observer.test/w", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := witness.NewSigner(wskey)
	if err != nil {
		t.Fatal(err)
	}
	cosign := func(l *ledger.Log, size uint64) []byte {
		cp, err := l.CheckpointAt(size)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := note.Sign(&note.Note{Text: cp.Body()}, signer)
		if err != nil {
			t.Fatal(err)
		}
		_, sig, _ := bytes.Cut(signed, []byte("\n\n"))
		return append(bytes.Clone(cp.Signed), sig...)
	}
	var shown atomic.Pointer[[]byte]
	s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if r, ok := resp.(*recountv1.GetCheckpointResponse); ok && err == nil {
			if c := shown.Load(); c != nil {
				r.CosignedCheckpoint = *c
			}
		}
		return resp, err
	}))
	recountv1.RegisterBoardServiceServer(s, newBoardServer(func() *ledger.Log { return src }))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	t.Cleanup(s.Stop)

	odir := t.TempDir()
	o := openObserver(t, odir, lis.Addr().String())
	stop := running(t, o)
	defer stop()
	obs := dial(t, serve(t, o.Register))
	served := func() []byte {
		t.Helper()
		resp, err := obs.Board.GetCheckpoint(context.Background(), &recountv1.GetCheckpointRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return resp.CosignedCheckpoint
	}
	if c := served(); len(c) != 0 {
		t.Fatalf("the observer serves a cosigned checkpoint before the node showed one: %q", c)
	}
	at9 := cosign(src, 9)
	shown.Store(&at9)
	waitFor(t, "the observer to serve the cosigned checkpoint of 9", func() bool { return bytes.Equal(served(), at9) })

	forked := cosign(fork, 12)
	shown.Store(&forked)
	waitFor(t, "the observer to see the forked cosigned checkpoint", func() bool {
		o.cosignedMu.Lock()
		defer o.cosignedMu.Unlock()
		return bytes.Equal(o.cosignedCand.Signed, forked)
	})
	if c := served(); !bytes.Equal(c, at9) {
		t.Fatalf("after the node showed a cosigned checkpoint of another history, the observer serves %q", c)
	}
	at12 := cosign(src, 12)
	shown.Store(&at12)
	waitFor(t, "the observer to serve the cosigned checkpoint of 12", func() bool { return bytes.Equal(served(), at12) })

	// Restarted while the node is unreachable, the observer serves the cosigned checkpoint it served before.
	stop()
	s.Stop()
	o2 := openObserver(t, odir, lis.Addr().String())
	t.Cleanup(func() { o2.Close() })
	obs2 := dial(t, serve(t, o2.Register))
	resp, err := obs2.Board.GetCheckpoint(context.Background(), &recountv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.CosignedCheckpoint, at12) {
		t.Fatalf("restarted, the observer serves the cosigned checkpoint %q, want the one of 12 it served before", resp.CosignedCheckpoint)
	}
}

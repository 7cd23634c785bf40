package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/witness"
	"github.com/recount-vote/recount/witness/policy"
)

const witnessOrigin = "test.recount.local/board"

// testWitness is a witness.Witness served over loopback HTTP; stop and start take its server down and up on the
// same address, keeping its state.
type testWitness struct {
	t    testing.TB
	name string
	w    *witness.Witness
	h    http.Handler
	addr string
	srv  *http.Server
}

func newTestWitness(t testing.TB, name, boardKey string) *testWitness {
	t.Helper()
	skey, _, err := witness.GenerateKey("witness.test/"+name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.Open(filepath.Join(t.TempDir(), "witness.db"), witness.Config{Key: skey, Logs: []witness.Log{{VerifierKey: boardKey}}})
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWitness{t: t, name: name, w: w, h: witness.NewHandler(w, nil), addr: "127.0.0.1:0"}
	tw.start()
	t.Cleanup(func() { tw.stop(); w.Close() })
	return tw
}

func (tw *testWitness) start() {
	tw.t.Helper()
	var lis net.Listener
	var err error
	for try := 0; try < 50; try++ {
		if lis, err = net.Listen("tcp", tw.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tw.t.Fatal(err)
	}
	tw.addr = lis.Addr().String()
	tw.srv = witness.NewServer(tw.addr, tw.h)
	go tw.srv.Serve(lis)
}

func (tw *testWitness) stop() {
	if tw.srv != nil {
		tw.srv.Close()
		tw.srv = nil
	}
}

func (tw *testWitness) policyWitness() policy.Witness {
	return policy.Witness{Name: tw.name, VerifierKey: tw.w.VerifierKey(), URL: "http://" + tw.addr}
}

// boardKey creates the board in dir and returns its verifier key, which the witnesses and the policy need.
func boardKey(t testing.TB, dir string) string {
	t.Helper()
	n, err := node.Open(dir, node.Options{Origin: witnessOrigin})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	return n.Log().VerifierKey()
}

// castOne casts voter v's ballot and returns its receipt.
func castOne(t *testing.T, f *fixture, v int) (*recountv1.Receipt, []byte) {
	t.Helper()
	payload := f.ballot(t, v).DraftCast().Payload
	resp, err := f.tn.anon.Voter.CastBallot(context.Background(), &recountv1.CastBallotRequest{SignedBallot: payload})
	if err != nil {
		t.Fatalf("voter %d: %v", v, err)
	}
	return resp.Receipt, payload
}

// checkWitnessed checks that a receipt's checkpoint is cosigned by at least k witnesses and meets the policy,
// and that its inclusion proof holds against it.
func checkWitnessed(t *testing.T, pol *policy.Policy, r *recountv1.Receipt, payload []byte, k int) {
	t.Helper()
	if r.Unwitnessed || len(r.CosignedCheckpoint) == 0 {
		t.Fatalf("receipt of entry %d: unwitnessed=%v, cosigned checkpoint of %d bytes; want witnessed", r.Index, r.Unwitnessed, len(r.CosignedCheckpoint))
	}
	cp, res, err := pol.Check(r.CosignedCheckpoint)
	if err != nil {
		t.Fatalf("receipt of entry %d: %v", r.Index, err)
	}
	if len(res.Cosigners) < k {
		t.Errorf("receipt of entry %d: %s; want at least %d cosigners", r.Index, res, k)
	}
	own, err := tlog.OpenCheckpoint(r.Checkpoint, mustVerifier(t, r.BoardKey))
	if err != nil || own.Size != cp.Size || own.Root != cp.Root {
		t.Fatalf("receipt of entry %d: the cosigned checkpoint is not the receipt's (%v)", r.Index, err)
	}
	checkInclusion(t, r, payload, own)
}

func checkInclusion(t *testing.T, r *recountv1.Receipt, payload []byte, cp tlog.Checkpoint) {
	t.Helper()
	if err := tlog.VerifyInclusion(cp, tlog.Kind(election.KindBallot), payload, r.Index, r.InclusionProof); err != nil {
		t.Fatalf("receipt of entry %d: inclusion: %v", r.Index, err)
	}
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWitnessPolicy runs a node with a 2-of-3 witness policy over loopback HTTP witnesses: receipts carry
// cosigned checkpoints while a quorum is up; with two witnesses down ballots are still accepted, receipts say
// they are unwitnessed, and the status and metrics say since when; when the witnesses come back the checkpoint
// is witnessed and an earlier receipt upgrades; a restarted node, whose witnesses answer 409, is witnessed again.
func TestWitnessPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("an election with witnesses")
	}
	dir := t.TempDir()
	key := boardKey(t, dir)
	ws := []*testWitness{newTestWitness(t, "alice", key), newTestWitness(t, "bob", key), newTestWitness(t, "carol", key)}
	pol, err := policy.KOfN(key, 2, ws[0].policyWitness(), ws[1].policyWitness(), ws[2].policyWitness())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	logs := &logLines{}
	nopts := node.Options{Origin: witnessOrigin, Metrics: node.NewMetrics(reg), Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Witnesses: node.WitnessOptions{Policy: pol, Timeout: 2 * time.Second, RetryEvery: 50 * time.Millisecond, ReceiptWait: 5 * time.Second}}
	tn := startNodeOpts(t, dir, "", nopts, node.ServerOptions{})
	f := newFixture(t, tn.target(), setup{trustees: 2, threshold: 2, voters: 8})

	// All up: the receipt waits for the quorum and carries its cosignatures.
	r, payload := castOne(t, f, 0)
	checkWitnessed(t, pol, r, payload, 2)
	cp, err := tn.anon.Board.GetCheckpoint(context.Background(), &recountv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pol.Check(cp.CosignedCheckpoint); err != nil {
		t.Errorf("GetCheckpoint's cosigned checkpoint: %v", err)
	}

	// One down: still witnessed, by the two others.
	ws[0].stop()
	r, payload = castOne(t, f, 1)
	checkWitnessed(t, pol, r, payload, 2)

	// Two down: the ballot is accepted, its receipt unwitnessed.
	ws[1].stop()
	before := time.Now().Add(-time.Second)
	r, payload = castOne(t, f, 2)
	if !r.Unwitnessed || len(r.CosignedCheckpoint) != 0 {
		t.Fatalf("with two of three witnesses down: unwitnessed=%v, cosigned %q", r.Unwitnessed, r.CosignedCheckpoint)
	}
	own, err := tlog.OpenCheckpoint(r.Checkpoint, mustVerifier(t, key))
	if err != nil {
		t.Fatal(err)
	}
	checkInclusion(t, r, payload, own)
	_, err = tn.anon.Voter.GetReceipt(context.Background(), &recountv1.GetReceiptRequest{TrackingCode: r.TrackingCode, SinceSize: own.Size, Witnessed: true})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetReceipt witnessed while unwitnessed: %v, want NotFound", err)
	}
	// The voting client keeps a receipt that says it is unwitnessed, and cannot upgrade it yet.
	cr, err := tn.anon.Submit(context.Background(), f.info, f.ballot(t, 4), client.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !cr.Unwitnessed || cr.Cosigned != nil {
		t.Fatalf("the client's receipt while unwitnessed: unwitnessed=%v cosigned=%q", cr.Unwitnessed, cr.Cosigned)
	}
	if _, err := tn.anon.UpgradeReceipt(context.Background(), cr); !client.RefusedFor(err, client.ReasonNotFound) {
		t.Errorf("UpgradeReceipt while unwitnessed: %v, want a NOT_FOUND refusal", err)
	}
	st, err := tn.admin.Admin.GetStatus(context.Background(), &recountv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	w := st.Witnessing
	if w == nil || w.UnwitnessedSince < before.Unix() || w.WitnessedSize >= st.BoardSize || w.Quorum != "quorum (2 of 3)" {
		t.Fatalf("status while unwitnessed: %v (board size %d)", w, st.BoardSize)
	}
	if w.Witnesses[0].LastError == "" || w.Witnesses[1].LastError == "" || w.Witnesses[2].LastError != "" {
		t.Errorf("status's witnesses: %v; want alice and bob failing, carol not", w.Witnesses)
	}
	waitFor(t, "the unwitnessed gauge", func() bool { return gaugeValue(t, reg, "recount_checkpoint_unwitnessed_seconds") > 0.1 })
	// The warning is logged once (at most once a minute), naming the failing witnesses.
	time.Sleep(200 * time.Millisecond) // several failed rounds (RetryEvery is 50 ms)
	if warned := logs.count("checkpoints are UNWITNESSED"); warned != 1 {
		t.Errorf("the unwitnessed warning was logged %d times in the failed rounds, want once (rate-limited):\n%s", warned, logs.String())
	}
	if !strings.Contains(logs.String(), "witness_alice=") || !strings.Contains(logs.String(), "witness_bob=") {
		t.Errorf("the warning does not name the failing witnesses:\n%s", logs.String())
	}
	if got := gaugeValue(t, reg, "recount_witnessed_checkpoint_size"); got != float64(w.WitnessedSize) {
		t.Errorf("recount_witnessed_checkpoint_size = %v, want %d", got, w.WitnessedSize)
	}

	// Back up: the checkpoint is witnessed and the earlier receipt upgrades.
	ws[0].start()
	ws[1].start()
	var up *recountv1.GetReceiptResponse
	waitFor(t, "the upgraded receipt", func() bool {
		up, err = tn.anon.Voter.GetReceipt(context.Background(), &recountv1.GetReceiptRequest{TrackingCode: r.TrackingCode, SinceSize: own.Size, Witnessed: true})
		return err == nil
	})
	checkWitnessed(t, pol, up.Receipt, payload, 2)
	newer, err := tlog.OpenCheckpoint(up.Receipt.Checkpoint, mustVerifier(t, key))
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyConsistency(own, newer, up.ConsistencyProof); err != nil {
		t.Errorf("the upgrade's consistency proof: %v", err)
	}
	// The client's receipt upgrades too, and the upgraded receipt file keeps the cosignatures.
	var upc *client.Receipt
	waitFor(t, "the client's upgraded receipt", func() bool {
		upc, err = tn.anon.UpgradeReceipt(context.Background(), cr)
		return err == nil
	})
	back, err := client.ParseReceipt(upc.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if back.Unwitnessed || !bytes.Equal(back.Cosigned, upc.Cosigned) {
		t.Errorf("the upgraded receipt file: unwitnessed=%v, cosigned %q", back.Unwitnessed, back.Cosigned)
	}
	if _, res, err := pol.Check(back.Cosigned); err != nil || len(res.Cosigners) < 2 {
		t.Errorf("the upgraded receipt's cosigned checkpoint: %v (%v)", res, err)
	}
	if _, _, err := tn.anon.CheckReceipt(context.Background(), back); err != nil {
		t.Errorf("CheckReceipt of the upgraded receipt: %v", err)
	}
	waitFor(t, "the status to say witnessed", func() bool {
		st, err := tn.admin.Admin.GetStatus(context.Background(), &recountv1.GetStatusRequest{})
		return err == nil && st.Witnessing.UnwitnessedSince == 0 && st.Witnessing.WitnessedSize == st.BoardSize
	})
	if got := gaugeValue(t, reg, "recount_checkpoint_unwitnessed_seconds"); got != 0 {
		t.Errorf("recount_checkpoint_unwitnessed_seconds = %v once witnessed", got)
	}
	if logs.count("checkpoints are witnessed again") != 1 {
		t.Errorf("no log line says the checkpoints are witnessed again:\n%s", logs.String())
	}

	// A restarted node starts from size 0 with every witness: each answers 409 with its size, and the node
	// retries from there. The witnessed checkpoint survived the restart.
	witnessedBefore, _ := tn.n.Witnessed()
	tn.stop()
	nopts.Metrics = nil
	tn = startNodeOpts(t, dir, "", nopts, node.ServerOptions{})
	if w, _ := tn.n.Witnessed(); w.Size != witnessedBefore.Size {
		t.Errorf("after a restart the witnessed size is %d, want %d", w.Size, witnessedBefore.Size)
	}
	f.tn = tn.target()
	r, payload = castOne(t, f, 3)
	checkWitnessed(t, pol, r, payload, 2)
	waitFor(t, "every witness to cosign the latest checkpoint", func() bool {
		st, ok := tn.n.WitnessStatus()
		for _, w := range st.Witnesses {
			ok = ok && w.Size == r.Index+1 && w.LastError == ""
		}
		return ok
	})

	// Under another policy (one witness, unreachable) the stored witnessed checkpoint no longer counts: the node
	// starts, says why, and is unwitnessed.
	_, daveKey, err := witness.GenerateKey("witness.test/dave", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := policy.KOfN(key, 1, policy.Witness{Name: "dave", VerifierKey: daveKey, URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	tn.stop()
	nopts.Witnesses.Policy = other
	tn = startNodeOpts(t, dir, "", nopts, node.ServerOptions{})
	if w, cosigned := tn.n.Witnessed(); w.Size != 0 || cosigned != nil {
		t.Errorf("under another policy the node starts witnessed at size %d", w.Size)
	}
	if !strings.Contains(logs.String(), "the stored witnessed checkpoint does not meet the witness policy") {
		t.Errorf("no log line says the stored witnessed checkpoint was set aside:\n%s", logs.String())
	}
}

func mustVerifier(t *testing.T, key string) note.Verifier {
	t.Helper()
	v, err := tlog.NewVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWitnessRefusal: a witness that refuses every checkpoint (422, as for a fork) is one failing witness: the
// two others make the quorum, and the status names its refusal.
func TestWitnessRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("an election with witnesses")
	}
	dir := t.TempDir()
	key := boardKey(t, dir)
	ws := []*testWitness{newTestWitness(t, "alice", key), newTestWitness(t, "bob", key)}
	skey, vkey, err := witness.GenerateKey("witness.test/mallory", rand.Reader)
	if err != nil || skey == "" {
		t.Fatal(err)
	}
	refusing := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		http.Error(rw, "the checkpoint does not extend the one I cosigned", http.StatusUnprocessableEntity)
	}))
	defer refusing.Close()
	pol, err := policy.KOfN(key, 2, ws[0].policyWitness(), ws[1].policyWitness(), policy.Witness{Name: "mallory", VerifierKey: vkey, URL: refusing.URL})
	if err != nil {
		t.Fatal(err)
	}
	nopts := node.Options{Origin: witnessOrigin, Witnesses: node.WitnessOptions{Policy: pol, RetryEvery: 50 * time.Millisecond, ReceiptWait: 5 * time.Second}}
	tn := startNodeOpts(t, dir, "", nopts, node.ServerOptions{})
	f := newFixture(t, tn.target(), setup{trustees: 2, threshold: 2, voters: 2})
	r, payload := castOne(t, f, 0)
	checkWitnessed(t, pol, r, payload, 2)
	waitFor(t, "the refusing witness's error in the status", func() bool {
		st, _ := tn.n.WitnessStatus()
		return strings.Contains(st.Witnesses[2].LastError, "422 Unprocessable Entity: the checkpoint does not extend")
	})
}

// TestWitnessPolicyRefused: the node refuses to start with a policy it cannot follow.
func TestWitnessPolicyRefused(t *testing.T) {
	dir := t.TempDir()
	key := boardKey(t, dir)
	_, vkey, err := witness.GenerateKey("witness.test/w", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := note.GenerateKey(rand.Reader, "other.test/board")
	if err != nil {
		t.Fatal(err)
	}
	noURL, err := policy.KOfN(key, 1, policy.Witness{Name: "w", VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	otherLog, err := policy.KOfN(otherKey, 1, policy.Witness{Name: "w", VerifierKey: vkey, URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pol  *policy.Policy
		want string
	}{
		{noURL, "gives no URL for witness w"},
		{otherLog, "does not name this board's key"},
	} {
		n, err := node.Open(dir, node.Options{Witnesses: node.WitnessOptions{Policy: tc.pol}})
		if err == nil {
			n.Close()
			t.Errorf("started with a policy that %s", tc.want)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q, want %q", err, tc.want)
		}
	}
}

// logLines collects log output, safe for concurrent use.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logLines) count(s string) int { return strings.Count(l.String(), s) }

// BenchmarkWitnessing measures what witnessing adds to a receipt: from the commit of an entry (its board-signed
// checkpoint on disk) until the node has published that checkpoint cosigned by the quorum, with a 2-of-3 policy
// of witnesses on loopback HTTP (each syncing its state to disk before answering). One entry at a time, so each
// is its own checkpoint; p50 and p99 are reported.
func BenchmarkWitnessing(b *testing.B) {
	dir := b.TempDir()
	key := boardKey(b, dir)
	ws := []*testWitness{newTestWitness(b, "alice", key), newTestWitness(b, "bob", key), newTestWitness(b, "carol", key)}
	pol, err := policy.KOfN(key, 2, ws[0].policyWitness(), ws[1].policyWitness(), ws[2].policyWitness())
	if err != nil {
		b.Fatal(err)
	}
	n, err := node.Open(dir, node.Options{Origin: witnessOrigin, Witnesses: node.WitnessOptions{Policy: pol}})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		res, err := n.Log().Append(context.Background(), tlog.Kind(election.KindBallot), []byte{byte(i), byte(i >> 8), byte(i >> 16)})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for {
			if w, _ := n.Witnessed(); w.Size >= res.Checkpoint.Size {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

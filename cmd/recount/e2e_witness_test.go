package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/observer"
	"github.com/recount-vote/recount/witness"
	"github.com/recount-vote/recount/witness/policy"
)

// e2eNode is a node served over loopback gRPC; stop takes it down.
type e2eNode struct {
	n    *node.Node
	srv  *node.Server
	addr string
}

func startE2ENode(t *testing.T, dir string, opts node.Options, tok []byte) *e2eNode {
	t.Helper()
	n, err := node.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: tok}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	e := &e2eNode{n: n, srv: srv, addr: lis.Addr().String()}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		n.Close()
	})
	return e
}

// e2eObserver is an in-process observer of a node, serving its mirror over gRPC, optionally also a witness.
type e2eObserver struct {
	o      *observer.Observer
	w      *witness.Witness
	conn   *grpcnode.Client
	grpc   *grpc.Server
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func openE2EObserver(t *testing.T, dir, nodeAddr, witnessKey string, serveWitness *atomic.Pointer[http.Handler], onAlarm func(*observer.Alarm, string)) *e2eObserver {
	t.Helper()
	conn, err := grpcnode.Dial(nodeAddr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	o, err := observer.Open(context.Background(), observer.Config{Dir: dir, Board: conn.Board, PollInterval: 50 * time.Millisecond, OnAlarm: onAlarm})
	if err != nil {
		t.Fatal(err)
	}
	e := &e2eObserver{o: o, conn: conn, done: make(chan error, 1)}
	if witnessKey != "" {
		if e.w, err = o.OpenWitness(witnessKey); err != nil {
			t.Fatal(err)
		}
		var h http.Handler = witness.NewHandler(e.w, nil)
		serveWitness.Store(&h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- o.Run(ctx) }()
	e.grpc = grpc.NewServer()
	o.Register(e.grpc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.grpc.Serve(lis)
	e.addr = lis.Addr().String()
	return e
}

// close stops the observer as a crash would leave it for the next start: its files are all that remain.
func (e *e2eObserver) close(serveWitness *atomic.Pointer[http.Handler]) {
	e.grpc.Stop()
	e.cancel()
	<-e.done
	if serveWitness != nil {
		serveWitness.Store(nil)
	}
	if e.w != nil {
		e.w.Close()
	}
	e.o.Close()
	e.conn.Close()
}

func (e *e2eObserver) waitVerified(t *testing.T, size uint64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); e.o.Status().Verified < size; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the observer is at %+v, want %d entries verified", e.o.Status(), size)
		}
	}
}

// TestWitnessedElectionEndToEnd runs an election over loopback gRPC and HTTP with a 2-of-3 witness policy (two
// plain witnesses and an observer-witness); the observer is stopped mid-election and resumed from its directory
// (in-process, closed and reopened: a SIGKILLed child is observer's TestKilledObserverResumes and
// TestKilledObserverWitness); voters' receipts are checked, with the policy,
// against the observer's mirror; and a second node started from a copy of the board taken mid-election, which then
// takes another ballot, is refused by the witnesses and caught by a second observer, whose alarm `recount observe
// --check` accepts.
func TestWitnessedElectionEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole witnessed election with a fork; in part covered by TestObserveLiveElection, TestObserveCheck, and node's and observer's witness tests")
	}
	dir := t.TempDir()
	boardDir, forkDir := filepath.Join(dir, "board"), filepath.Join(dir, "fork")
	const origin = "e2e.recount.local/board"
	n0, err := node.Open(boardDir, node.Options{Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	boardKey := n0.Log().VerifierKey()
	n0.Close()

	var members []policy.Witness
	for _, name := range []string{"w1", "w2"} {
		skey, vkey, err := witness.GenerateKey("e2e.test/"+name, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		w, err := witness.Open(filepath.Join(dir, name+".db"), witness.Config{Key: skey, Logs: []witness.Log{{VerifierKey: boardKey}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(witness.NewHandler(w, nil))
		t.Cleanup(func() { srv.Close(); w.Close() })
		members = append(members, policy.Witness{Name: name, VerifierKey: vkey, URL: srv.URL})
	}
	obsKey, obsVKey, err := witness.GenerateKey("e2e.test/observer", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var obsWitness atomic.Pointer[http.Handler]
	osrv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if h := obsWitness.Load(); h != nil {
			(*h).ServeHTTP(rw, r)
			return
		}
		http.Error(rw, "the observer is down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(osrv.Close)
	pol, err := policy.KOfN(boardKey, 2, append(members, policy.Witness{Name: "observer", VerifierKey: obsVKey, URL: osrv.URL})...)
	if err != nil {
		t.Fatal(err)
	}
	polFile := writeTemp(t, "policy.txt", pol.Marshal())

	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte("e2e-test-admin-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := node.ReadTokenFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	wopts := node.WitnessOptions{Policy: pol, ReceiptWait: 5 * time.Second, RetryEvery: 100 * time.Millisecond, Timeout: 2 * time.Second}
	main := startE2ENode(t, boardDir, node.Options{Origin: origin, Witnesses: wopts}, tok)
	obs := openE2EObserver(t, filepath.Join(dir, "observer"), main.addr, obsKey, &obsWitness, nil)

	conn := []string{"--node", main.addr, "--plaintext"}
	admin := append([]string{"--token-file", tokenFile}, conn...)
	passFile, manifest := setUpCLITrustees(t, dir)
	must(t, append([]string{"admin", "create", "--manifest", manifest, "--trustee", filepath.Join(dir, "t1.json"), "--trustee", filepath.Join(dir, "t2.json")}, admin...)...)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			run(append([]string{"trustee", "run", "--store", filepath.Join(dir, fmt.Sprintf("t%d.db", i+1)), "--passphrase-file", passFile}, conn...), io.Discard, io.Discard)
		})
	}
	creds := filepath.Join(dir, "creds")
	must(t, append([]string{"admin", "credentials", "--count", "3", "--out", creds}, admin...)...)
	must(t, append([]string{"admin", "key", "--wait", "30s"}, admin...)...)
	must(t, append([]string{"admin", "open"}, admin...)...)
	cred := func(i int) string { return filepath.Join(creds, fmt.Sprintf("credential-%06d.json", i)) }
	receipt := func(name string) string { return filepath.Join(dir, name) }
	must(t, append([]string{"vote", "--credential", cred(1), "--choice", "mayor=grace", "--receipt", receipt("r1.json")}, conn...)...)

	// The observer stops mid-election and resumes from its directory; while it is down the two plain witnesses
	// make the quorum.
	obs.waitVerified(t, main.n.Log().Latest().Size)
	obs.close(&obsWitness)
	must(t, append([]string{"vote", "--credential", cred(2), "--choice", "mayor=ada", "--receipt", receipt("r2.json")}, conn...)...)
	obs = openE2EObserver(t, filepath.Join(dir, "observer"), main.addr, obsKey, &obsWitness, nil)
	if st := obs.o.Status(); st.BallotsRestored != 1 {
		t.Errorf("the resumed observer restored %d ballots from its mirror, want voter 1's (checked before it stopped)", st.BallotsRestored)
	}
	defer func() { obs.close(&obsWitness) }()

	// A copy of the board taken now (the node is idle: every append it answered is synced) becomes a second node
	// with the same board key; each node then takes a different ballot of voter 3: two histories of one size.
	if err := os.MkdirAll(forkDir, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(boardDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := os.WriteFile(filepath.Join(forkDir, e.Name()), readFile(t, filepath.Join(boardDir, e.Name())), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	must(t, append([]string{"vote", "--credential", cred(3), "--choice", "mayor=alan", "--receipt", receipt("r3.json")}, conn...)...)
	mainSize := main.n.Log().Latest().Size
	watcherDir := filepath.Join(dir, "watcher")
	watcher := openE2EObserver(t, watcherDir, main.addr, "", nil, nil)
	watcher.waitVerified(t, mainSize)
	watcher.close(nil)

	fopts := wopts
	fopts.ReceiptWait = 0
	fork := startE2ENode(t, forkDir, node.Options{Origin: origin, Witnesses: fopts}, tok)
	forkVote := []string{"vote", "--node", fork.addr, "--plaintext", "--credential", cred(3), "--choice", "mayor=grace", "--receipt", receipt("r3-fork.json")}
	// A voter whose client saw the node's board refuses the fork; one who never saw it (its own --seen file)
	// votes there.
	if code, out, errs := runCmd(t, forkVote...); code == 0 || !strings.Contains(errs, "REFUSED") {
		t.Errorf("a voter who saw the node votes on the fork: exit %d\n%s%s", code, out, errs)
	}
	must(t, append(forkVote, "--seen", filepath.Join(dir, "fork-voter.seen"))...)
	if got := fork.n.Log().Latest().Size; got != mainSize {
		t.Fatalf("the fork has %d entries, the node %d: want two histories of one size", got, mainSize)
	}
	// The witnesses refuse the fork's checkpoint: it does not extend what they cosigned for the node.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, _ := fork.n.WitnessStatus()
		refused := 0
		for _, w := range st.Witnesses[:2] {
			if strings.Contains(w.LastError, "not consistent with the cosigned one") {
				refused++
			}
		}
		if refused == 2 && st.WitnessedSize < mainSize {
			t.Logf("the fork's witnesses: %s; %s", st.Witnesses[0].LastError, st.Witnesses[1].LastError)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the witnesses did not refuse the fork: %+v", st)
		}
	}
	// The watcher, pointed at the fork, raises an alarm naming both checkpoints, which anyone can check.
	alarms := make(chan string, 4)
	watcher = openE2EObserver(t, watcherDir, fork.addr, "", nil, func(_ *observer.Alarm, path string) { alarms <- path })
	var alarm string
	select {
	case alarm = <-alarms:
	case <-time.After(10 * time.Second):
		t.Fatalf("no alarm from the observer pointed at the fork: %+v", watcher.o.Status())
	}
	watcher.close(nil)
	if code, out, errs := runCmd(t, "observe", "--check", alarm); code != 0 || !strings.Contains(out, "the alarm holds") {
		t.Errorf("observe --check %s: exit %d\n%s%s", alarm, code, out, errs)
	}

	must(t, append([]string{"admin", "close"}, admin...)...)
	must(t, append([]string{"admin", "tally", "--wait", "1m"}, admin...)...)
	wg.Wait()
	obs.waitVerified(t, main.n.Log().Latest().Size)
	if st := obs.o.Status(); st.FailureCount != 0 || len(st.Alarms) != 0 {
		t.Errorf("the observer of the honest node: %+v", st)
	}
	for name, want := range map[string]string{"r1.json": "is COUNTED", "r2.json": "is COUNTED", "r3.json": "is COUNTED"} {
		code, out, errs := runCmd(t, "receipt", "--node", obs.addr, "--witness-policy", polFile, receipt(name))
		if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "witnessed by") {
			t.Errorf("receipt %s against the observer's mirror, with the policy: exit %d\n%s%s", name, code, out, errs)
		}
	}

	// The export carries the final checkpoint's cosignatures beside it, and the record verifies with the policy
	// from the files alone.
	final := main.n.Log().Latest()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if cp, _ := main.n.Witnessed(); cp.Size == final.Size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the final checkpoint (size %d) was not witnessed within 30 s", final.Size)
		}
	}
	rec := filepath.Join(dir, "election.record")
	if code, out, errs := runCmd(t, "export", "--out", rec, "--node", main.addr); code != 0 || !strings.Contains(out, "Saved "+rec+".cosigned") {
		t.Fatalf("export: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := runCmd(t, "verify", rec, "--witness-policy", polFile); code != 0 || !strings.Contains(out, "witnessed by 2 of 3") && !strings.Contains(out, "witnessed by 3 of 3") {
		t.Fatalf("verify the exported record with its cosigned checkpoint beside it: exit %d\n%s%s", code, out, errs)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/observer"
	"github.com/recount-vote/recount/verify"
	"github.com/recount-vote/recount/witness"
)

// serveCopy serves a board copy read-only (observer.RegisterBoard) on loopback, as a node's BoardService.
func serveCopy(t *testing.T, export []byte) string {
	t.Helper()
	s := grpc.NewServer()
	observer.RegisterBoard(s, importBoard(t, export))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// TestObserve: `recount observe --until-done` copies and verifies the small record's board and exits; started
// again it checks nothing again; served from its mirror, the board verifies and the small record's receipts
// check out with `recount verify --node` and `recount receipt --node`.
func TestObserve(t *testing.T) {
	addr := serveCopy(t, readFile(t, smallRecord))
	dir := filepath.Join(t.TempDir(), "observer")
	code, out, errs := runCmd(t, "observe", "--node", addr, "--dir", dir, "--until-done")
	if code != 0 || !strings.Contains(out, "result verified") || !strings.Contains(out, "phase done") || !strings.Contains(out, "0 failed checks, 0 alarms") {
		t.Fatalf("observe: exit %d\n%s%s", code, out, errs)
	}
	// Started again, for a second (--timeout): it resumes, checking no ballot again, and stops.
	code, out, errs = runCmd(t, "observe", "--node", addr, "--dir", dir, "--timeout", "1s")
	if code != 0 || strings.Contains(out, "(0 ballots restored") || !strings.Contains(out, "Stopped:") {
		t.Fatalf("observe again: exit %d\n%s%s", code, out, errs)
	}

	nc, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	o, err := observer.Open(context.Background(), observer.Config{Dir: dir, Board: nc.Board})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	s := grpc.NewServer()
	o.Register(s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	defer s.Stop()
	obs := lis.Addr().String()

	if code, out, errs := runCmd(t, "verify", "--node", obs); code != 0 {
		t.Errorf("verify --node OBSERVER: exit %d\n%s%s", code, out, errs)
	}
	for name, want := range map[string]string{"counted": "is COUNTED", "superseded": "is SUPERSEDED by entry 14", "spoiled": "is SPOILED"} {
		code, out, errs := runCmd(t, "receipt", "--node", obs, smallReceipts[name])
		if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "is consistent with the final checkpoint") {
			t.Errorf("receipt %s against the observer: exit %d\n%s%s", name, code, out, errs)
		}
	}
}

// TestObserveCheck: `recount observe --check` accepts an alarm naming two checkpoints of one size with different
// roots signed by one key (a board copied with its key, then written differently), and refuses a file that
// proves nothing.
func TestObserveCheck(t *testing.T) {
	aDir, bDir := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a, err := ledger.Open(aDir, ledger.Options{Origin: "check.recount.local/board"})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := os.MkdirAll(bDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ledger.DBFileName, ledger.KeyFileName, ledger.CheckpointFileName} {
		if err := os.WriteFile(filepath.Join(bDir, name), readFile(t, filepath.Join(aDir, name)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var cps []tlog.Checkpoint
	var vkey string
	for i, dir := range []string{aDir, bDir} {
		l, err := ledger.Open(dir, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := l.Append(context.Background(), 1, []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, res.Checkpoint)
		vkey = l.VerifierKey()
		defer l.Close()
	}
	alarm, err := json.Marshal(&observer.Alarm{Kind: observer.AlarmSameSize, Origin: "check.recount.local/board", VerifierKey: vkey,
		Held: string(cps[0].Signed), Shown: string(cps[1].Signed), Explanation: "two roots of size 1"})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(t, "observe", "--check", writeTemp(t, "fork.json", alarm))
	if code != 0 || !strings.Contains(out, "the alarm holds") {
		t.Errorf("a real alarm: exit %d\n%s%s", code, out, errs)
	}

	// The same checkpoint twice proves nothing; nor does a file that is not an alarm.
	same, _ := json.Marshal(&observer.Alarm{Kind: observer.AlarmSameSize, Origin: "check.recount.local/board", VerifierKey: vkey,
		Held: string(cps[0].Signed), Shown: string(cps[0].Signed)})
	for name, data := range map[string][]byte{"same.json": same, "garbage.json": []byte(`{"kind":"same-size","held":"a"}`)} {
		code, out, _ := runCmd(t, "observe", "--check", writeTemp(t, name, data))
		if code != 1 || !strings.Contains(out, "does NOT hold") {
			t.Errorf("%s: exit %d\n%s", name, code, out)
		}
	}
}

// TestObserveLiveElection: an observer follows a real node (package node over loopback gRPC) from its empty
// board through a whole election run by the commands; it ends with the state election.Verify finds in the
// node's export, and voters' receipts check out against its copy.
func TestObserveLiveElection(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election over gRPC through every command, with an observer")
	}
	addr, tokenFile := startTestNode(t)
	dir := t.TempDir()
	nc, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o, err := observer.Open(ctx, observer.Config{Dir: filepath.Join(dir, "observer"), Board: nc.Board, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	runDone := make(chan error, 1)
	go func() { runDone <- o.Run(ctx) }()
	defer func() { cancel(); <-runDone }()
	s := grpc.NewServer()
	o.Register(s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(lis)
	defer s.Stop()
	obs := lis.Addr().String()

	conn := []string{"--node", addr, "--plaintext"}
	admin := append([]string{"--token-file", tokenFile}, conn...)
	passFile, manifest := setUpCLITrustees(t, dir)
	trustees := []string{"--trustee", filepath.Join(dir, "t1.json"), "--trustee", filepath.Join(dir, "t2.json")}
	must(t, append(append([]string{"admin", "create", "--manifest", manifest}, trustees...), admin...)...)
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
	must(t, append([]string{"vote", "--credential", cred(2), "--choice", "mayor=ada", "--receipt", receipt("r2.json")}, conn...)...)
	must(t, append([]string{"vote", "--credential", cred(3), "--random", "--challenge", "--receipt", receipt("r3c.json")}, conn...)...)
	must(t, append([]string{"vote", "--credential", cred(3), "--choice", "mayor=alan", "--receipt", receipt("r3.json")}, conn...)...)
	must(t, append([]string{"vote", "--credential", cred(2), "--choice", "mayor=grace", "--receipt", receipt("r2b.json")}, conn...)...)
	must(t, append([]string{"admin", "close"}, admin...)...)
	must(t, append([]string{"admin", "tally", "--wait", "1m"}, admin...)...)
	wg.Wait()

	resp, err := nc.Board.GetCheckpoint(ctx, &recountv1.GetCheckpointRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.ParseCheckpoint(resp.Checkpoint, resp.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for o.Status().Verified < cp.Size {
		if time.Now().After(deadline) {
			t.Fatalf("the observer is at %+v, the node at %d", o.Status(), cp.Size)
		}
		time.Sleep(10 * time.Millisecond)
	}
	export := filepath.Join(dir, "node.record")
	must(t, "export", "--node", addr, "--out", export)
	rep, err := verify.Verify(ctx, bytes.NewReader(readFile(t, export)), verify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	er := rep.ElectionReport
	st := o.Status()
	if !er.OK() || st.FailureCount != 0 || st.Cast != er.Cast || st.Voters != er.Voters || st.Spoiled != er.Spoiled || st.Phase != client.PhaseDone || st.Superseded != 1 {
		t.Errorf("observer %+v; verify of the node's export: ok %v cast %d voters %d spoiled %d", st, er.OK(), er.Cast, er.Voters, er.Spoiled)
	}
	for name, want := range map[string]string{"r1.json": "is COUNTED", "r2.json": "is SUPERSEDED", "r2b.json": "is COUNTED", "r3c.json": "is SPOILED", "r3.json": "is COUNTED"} {
		code, out, errs := runCmd(t, "receipt", "--node", obs, receipt(name))
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("receipt %s against the observer: exit %d\n%s%s", name, code, out, errs)
		}
	}
}

// TestObserveWitness: `recount observe --new-witness-key` makes a key and prints its policy line; `recount observe
// --witness-key --witness-listen` serves a witness that cosigns the checkpoint of the board the observer
// verified, over HTTP, with that key; restarted, its state (DIR/witness.db) still holds what it cosigned.
func TestObserveWitness(t *testing.T) {
	if testing.Short() {
		// It waits for the command's --timeout twice (6 s); the observer-witness itself is tested by observer's
		// TestObserverWitness, TestObserverWitnessRefusesFailedBoard and TestKilledObserverWitness.
		t.Skip("the command's witness flags, waiting out its --timeout: the full run")
	}
	board := importBoard(t, readFile(t, smallRecord))
	s := grpc.NewServer()
	observer.RegisterBoard(s, board)
	nodeLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(nodeLis)
	t.Cleanup(s.Stop)
	addr := nodeLis.Addr().String()

	base := t.TempDir()
	dir, keyFile := filepath.Join(base, "observer"), filepath.Join(base, "witness.key")
	code, out, errs := runCmd(t, "observe", "--new-witness-key", keyFile, "--witness-name", "observer.test/w1")
	if code != 0 || !strings.Contains(out, "witness w1 observer.test/w1+") {
		t.Fatalf("--new-witness-key: exit %d\n%s%s", code, out, errs)
	}
	var vkey string
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "Verifier key: "); ok {
			vkey = strings.TrimSpace(v)
		}
	}
	if code, _, _ := runCmd(t, "observe", "--new-witness-key", keyFile, "--witness-name", "observer.test/w1"); code == 0 {
		t.Fatal("--new-witness-key replaced an existing key file")
	}

	// A free port for the witness: the command listens on it itself.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	witnessAddr := l.Addr().String()
	l.Close()
	done := make(chan struct{})
	var obsCode int
	var obsOut, obsErr string
	go func() {
		defer close(done)
		obsCode, obsOut, obsErr = runCmd(t, "observe", "--node", addr, "--dir", dir, "--witness-key", keyFile, "--witness-listen", witnessAddr, "--timeout", "5s")
	}()
	wc, err := witness.NewClient("http://"+witnessAddr, vkey, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := board.Latest()
	ctx := context.Background()
	var cs witness.Cosignature
	for deadline := time.Now().Add(4 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		cs, err = wc.AddCheckpoint(ctx, witness.AddCheckpoint{Checkpoint: cp.Signed})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	<-done
	if err != nil {
		t.Fatalf("the observer-witness does not cosign the board's checkpoint: %v\n%s%s", err, obsOut, obsErr)
	}
	if obsCode != 0 || !strings.Contains(obsOut, "witnessing as observer.test/w1") || cs.Witness != "observer.test/w1" {
		t.Fatalf("observe with a witness: exit %d, cosigned by %q\n%s%s", obsCode, cs.Witness, obsOut, obsErr)
	}

	// Restarted (for a second), then stopped: the witness's state in DIR is the checkpoint it cosigned.
	if code, out, errs := runCmd(t, "observe", "--node", addr, "--dir", dir, "--witness-key", keyFile, "--witness-listen", "127.0.0.1:0", "--timeout", "1s"); code != 0 {
		t.Fatalf("observe again: exit %d\n%s%s", code, out, errs)
	}
	skey := strings.TrimSpace(string(readFile(t, keyFile)))
	w, err := witness.Open(filepath.Join(dir, observer.WitnessFileName), witness.Config{Key: skey, Logs: []witness.Log{{VerifierKey: board.VerifierKey()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	latest, err := w.Latest(cp.Origin)
	if err != nil || !bytes.HasPrefix(latest, cp.Signed) || !bytes.HasSuffix(latest, cs.Line) {
		t.Fatalf("the witness's state after a restart: %q (%v), want the board's checkpoint with the cosignature %q", latest, err, cs.Line)
	}
}

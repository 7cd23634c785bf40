package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
)

// serveNodeDir serves a node on the board in dir on loopback until stop is called; it returns its address.
func serveNodeDir(t *testing.T, dir string) (addr string, stop func()) {
	t.Helper()
	n, err := node.Open(dir, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := node.NewServer(n, node.ServerOptions{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		n.Close()
	}
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

// TestVoteRefusesRollback: `recount vote` keeps the last checkpoint it saw beside the receipts, and a later vote
// through a node whose board was rolled back (the same board key, without the first ballot) is refused before
// the ballot is sent, saying so; a voter without that memory (another directory) is not protected, as expected.
func TestVoteRefusesRollback(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1, Seed: 13})
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	dir, copyDir := filepath.Join(base, "board"), filepath.Join(base, "rolled-back")
	l, err := ledger.Open(dir, ledger.Options{Origin: "vote.recount.local/board"})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]ledger.Record, len(e.Entries))
	for i, en := range e.Entries {
		recs[i] = ledger.Record{Kind: tlog.Kind(en.Kind), Payload: en.Payload}
	}
	if _, err := l.AppendMany(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(copyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ledger.DBFileName, ledger.KeyFileName, ledger.CheckpointFileName} {
		if err := os.WriteFile(filepath.Join(copyDir, name), readFile(t, filepath.Join(dir, name)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cred := filepath.Join(base, "credential.json")
	if err := os.WriteFile(cred, e.Credentials[0].MarshalFile(), 0o600); err != nil {
		t.Fatal(err)
	}
	receipts := filepath.Join(base, "receipts")
	if err := os.MkdirAll(receipts, 0o700); err != nil {
		t.Fatal(err)
	}
	vote := func(addr, receipt string) (int, string, string) {
		return runCmd(t, "vote", "--node", addr, "--plaintext", "--credential", cred, "--random", "--receipt", receipt)
	}

	addr, stop := serveNodeDir(t, dir)
	if code, out, errs := vote(addr, filepath.Join(receipts, "r1.json")); code != 0 {
		t.Fatalf("first vote: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := vote(addr, filepath.Join(receipts, "r2.json")); code != 0 {
		t.Fatalf("second vote on the same board: exit %d\n%s%s", code, out, errs)
	}
	saved, _ := filepath.Glob(filepath.Join(receipts, ".recount-seen-*"))
	if len(saved) != 1 {
		t.Fatalf("seen-checkpoint files %v, want one", saved)
	}
	// `recount receipt` reads the file beside the receipt: the board extends what the client saw.
	if code, out, errs := runCmd(t, "receipt", filepath.Join(receipts, "r1.json"), "--node", addr); code != 0 ||
		!strings.Contains(out, "Seen         "+saved[0]) || !strings.Contains(out, "extends the checkpoint your voting client saw last") {
		t.Fatalf("receipt with the seen checkpoint beside it: exit %d\n%s%s", code, out, errs)
	}
	stop()

	addr, _ = serveNodeDir(t, copyDir) // the same board key, without the two ballots
	code, out, errs := vote(addr, filepath.Join(receipts, "r3.json"))
	if code != 1 || !strings.Contains(errs, "REFUSED: the node's board does not extend the one you saw before") || strings.Contains(out, "tracking code:") {
		t.Fatalf("a vote through the rolled-back node: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(receipts, "r3.json")); err == nil {
		t.Error("the refused vote saved a receipt")
	}
	// Another directory, no memory of the board: the vote goes through.
	if code, out, errs := vote(addr, filepath.Join(base, "elsewhere.json")); code != 0 {
		t.Fatalf("a vote without a seen checkpoint: exit %d\n%s%s", code, out, errs)
	}
	// That receipt checks out on the rolled-back board alone, but not against what the first client saw.
	if code, out, errs := runCmd(t, "receipt", filepath.Join(base, "elsewhere.json"), "--node", addr); code != 0 {
		t.Fatalf("receipt on the rolled-back board, no seen checkpoint: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "receipt", filepath.Join(base, "elsewhere.json"), "--node", addr, "--seen", saved[0])
	if code != 1 || !strings.Contains(out, "FAIL  the record's final checkpoint (size") || !strings.Contains(out, "smaller than the checkpoint your voting client saw last") {
		t.Fatalf("receipt on the rolled-back board with --seen: exit %d\n%s%s", code, out, errs)
	}
}

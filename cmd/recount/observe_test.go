package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/observer"
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
	code, out, errs = runCmd(t, "observe", "--node", addr, "--dir", dir, "--until-done")
	if code != 0 || strings.Contains(out, "(0 ballots restored") {
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

// TestObserveCheck: `recount observe --check` refuses a file that proves nothing.
func TestObserveCheck(t *testing.T) {
	path := writeTemp(t, "alarm.json", []byte(`{"kind":"same-size","origin":"x","verifier_key":"y","held":"a","shown":"b"}`))
	code, out, _ := runCmd(t, "observe", "--check", path)
	if code != 1 || !strings.Contains(out, "does NOT hold") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

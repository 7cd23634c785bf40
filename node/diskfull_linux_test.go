package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/node"
)

// diskFullDirEnv names the data directory of the node that TestChildDiskFullNode serves in a child process.
const diskFullDirEnv = "RECOUNT_NODE_TEST_DISK_FULL_DIR"

// TestChildDiskFullNode is not a test: it is the node process of TestHealthWhenDiskFull. It may write no file
// beyond the size its board has once open (RLIMIT_FSIZE), so the first commit that needs board.db to grow fails
// as on a full disk (Go ignores SIGXFSZ: the write fails with EFBIG).
func TestChildDiskFullNode(t *testing.T) {
	dir := os.Getenv(diskFullDirEnv)
	if dir == "" {
		t.Skip("the child node of TestHealthWhenDiskFull")
	}
	n, err := node.Open(dir, node.Options{Origin: "test.recount.local/board"})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fi, err := os.Stat(filepath.Join(dir, ledger.DBFileName))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	limit := uint64(fi.Size())
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	serveChild(n)
}

// TestHealthWhenDiskFull: a node whose commit fails because its disk is full refuses every change with
// Unavailable BOARD_FAILED, and its health, over gRPC, turns NOT_SERVING overall and for each service.
func TestHealthWhenDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	_, addr := startChild(t, "TestChildDiskFullNode", diskFullDirEnv+"="+t.TempDir())
	c, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	awaitHealth(t, c, "", healthpb.HealthCheckResponse_SERVING)

	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1, Seed: 12})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = c.Admin.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: e.Manifest.Bytes()})
	// 64 lists of 1000 credentials (2 MB) cannot all fit in a board.db that may not grow.
	for i := 0; i < 64 && err == nil; i++ {
		creds, _, gerr := election.GenerateCredentials(e.Manifest.ID(), 1000, 0, nil)
		if gerr != nil {
			t.Fatal(gerr)
		}
		keys := make([][]byte, len(creds))
		for j, cr := range creds {
			pk := cr.PublicKey()
			keys[j] = pk[:]
		}
		_, err = c.Admin.PublishCredentials(ctx, &recountv1.PublishCredentialsRequest{PublicKeys: keys})
	}
	if reason, _ := node.Reason(err); status.Code(err) != codes.Unavailable || reason != node.ReasonBoardFailed {
		t.Fatalf("appending to a full disk: %v, want Unavailable %s", err, node.ReasonBoardFailed)
	}
	t.Logf("the append failed: %v", err)
	for _, svc := range append([]string{""}, serviceNames...) {
		awaitHealth(t, c, svc, healthpb.HealthCheckResponse_NOT_SERVING)
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/node"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRecountd starts the node from its environment, checks health, reflection, the admin token and the
// metrics, and stops it with a cancelled context (as SIGTERM does).
func TestRecountd(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte("an-admin-token-for-the-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"RECOUNTD_DATA_DIR":         filepath.Join(dir, "board"),
		"RECOUNTD_ORIGIN":           "test.recount.local/board",
		"RECOUNTD_PLAINTEXT":        "true",
		"RECOUNTD_ADMIN_TOKEN_FILE": tokenFile,
		"RECOUNTD_METRICS_LISTEN":   "127.0.0.1:0",
		"RECOUNTD_LOG_FORMAT":       "json",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	addrs := make(chan [2]string, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--listen", "127.0.0.1:0"}, lookup, &logs, func(g, m string) { addrs <- [2]string{g, m} })
	}()
	var grpcAddr, metricsAddr string
	select {
	case a := <-addrs:
		grpcAddr, metricsAddr = a[0], a[1]
	case code := <-exit:
		t.Fatalf("recountd exited with %d: %s", code, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("recountd did not start")
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	for _, svc := range []string{"", "recount.v1.VoterService", "recount.v1.BoardService"} {
		resp, err := healthpb.NewHealthClient(conn).Check(cctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q: %v %v", svc, resp, err)
		}
	}
	rs, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rresp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rresp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	for _, want := range []string{"recount.v1.VoterService", "recount.v1.TrusteeService", "recount.v1.AdminService", "recount.v1.BoardService"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("reflection lists %v, not %s", names, want)
		}
	}
	rs.CloseSend()

	// The admin token from the file: without it PermissionDenied, with it the status.
	anon, err := node.Dial(grpcAddr, node.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.Admin.GetStatus(cctx, &recountv1.GetStatusRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin without token: %v", err)
	}
	admin, err := node.Dial(grpcAddr, node.DialOptions{Plaintext: true, Token: []byte("an-admin-token-for-the-test")})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	st, err := admin.Admin.GetStatus(cctx, &recountv1.GetStatusRequest{})
	if err != nil || st.Phase != recountv1.Phase_PHASE_EMPTY {
		t.Fatalf("admin status: %v %v", st, err)
	}
	// A casting attempt on an empty board is refused and counted.
	if _, err := anon.Voter.CastBallot(cctx, &recountv1.CastBallotRequest{SignedBallot: []byte{1}}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("cast on an empty board: %v", err)
	}

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"recount_board_entries 0", `recount_ballots_refused_total{reason="POLLS_NOT_OPEN"} 1`, "recount_append_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit status %d: %s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("recountd did not stop")
	}
	if !strings.Contains(logs.String(), `"msg":"recountd: stopped"`) {
		t.Errorf("no structured log of the stop: %s", logs.String())
	}
}

// TestRecountdRefusesBadConfig: no data dir, no TLS and no --plaintext, a token file others can read.
func TestRecountdRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.token")
	if err := os.WriteFile(loose, []byte("an-admin-token-for-the-test"), 0o644); err != nil {
		t.Fatal(err)
	}
	none := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "--data-dir"},
		{[]string{"--data-dir", dir}, 2, "--plaintext"},
		{[]string{"--data-dir", filepath.Join(dir, "b"), "--plaintext", "--admin-token-file", loose, "--origin", "x.test/b"}, 1, "chmod 600"},
		{[]string{"--data-dir", filepath.Join(dir, "c"), "--plaintext", "--listen", "127.0.0.1:0"}, 1, "--origin"},
	} {
		var logs syncBuffer
		code := run(context.Background(), tc.args, none, &logs, nil)
		if code != tc.code || !strings.Contains(logs.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d with %q in: %s", tc.args, code, tc.code, tc.want, logs.String())
		}
	}
}

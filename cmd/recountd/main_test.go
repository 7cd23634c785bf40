package main

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/ledger"
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
	// The node listens before it has opened its board: health turns SERVING once it is replayed.
	for _, svc := range []string{"", "recount.v1.VoterService", "recount.v1.BoardService"} {
		awaitServing(t, cctx, conn, svc)
	}
	if fi, err := os.Stat(env["RECOUNTD_DATA_DIR"]); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the data directory recountd created: %v %v, want mode 0700", fi.Mode(), err)
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
	anon, err := grpcnode.Dial(grpcAddr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.Admin.GetStatus(cctx, &recountv1.GetStatusRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin without token: %v", err)
	}
	admin, err := grpcnode.Dial(grpcAddr, grpcnode.DialOptions{Plaintext: true, Token: []byte("an-admin-token-for-the-test")})
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

// awaitServing watches svc's health until it is SERVING.
func awaitServing(t *testing.T, ctx context.Context, conn *grpc.ClientConn, svc string) {
	t.Helper()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := w.Recv()
		if err != nil {
			t.Fatalf("health %q: %v", svc, err)
		}
		if resp.Status == healthpb.HealthCheckResponse_SERVING {
			return
		}
	}
}

// TestRecountdListensWhileOpening: recountd listens before it opens its board, and a board it cannot open (here
// locked by another process until the lock wait gives up) stops it with exit status 1 and a log line saying
// why, instead of serving.
func TestRecountdListensWhileOpening(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "board")
	held, err := ledger.Open(dir, ledger.Options{Origin: "test.recount.local/board"})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	none := func(string) (string, bool) { return "", false }
	var logs syncBuffer
	addrs := make(chan string, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- run(context.Background(), []string{"--data-dir", dir, "--plaintext", "--listen", "127.0.0.1:0"}, none, &logs,
			func(g, _ string) { addrs <- g })
	}()
	var code int
	select {
	case code = <-exit:
		t.Fatalf("recountd exited with %d before it listened: %s", code, logs.String())
	case <-addrs:
	case <-time.After(10 * time.Second):
		t.Fatal("recountd did not listen")
	}
	select {
	case code = <-exit:
	case <-time.After(20 * time.Second):
		t.Fatal("recountd did not stop")
	}
	if code != 1 || !strings.Contains(logs.String(), "the board could not be opened") || !strings.Contains(logs.String(), "locked by another process") {
		t.Errorf("exit %d, want 1 with the reason in: %s", code, logs.String())
	}
}

// TestRecountdStopsWhileOpening: SIGTERM as soon as recountd listens, before its board (locked by another
// process) is open, stops it cleanly with exit status 0: it neither waits to serve nor reports a failure.
func TestRecountdStopsWhileOpening(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "board")
	held, err := ledger.Open(dir, ledger.Options{Origin: "test.recount.local/board"})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	none := func(string) (string, bool) { return "", false }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--data-dir", dir, "--plaintext", "--listen", "127.0.0.1:0"}, none, &logs, func(string, string) { cancel() })
	}()
	select {
	case code := <-exit:
		if code != 0 || !strings.Contains(logs.String(), "recountd: stopped") {
			t.Errorf("exit %d, want 0 after a stop: %s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("recountd did not stop")
	}
}

// TestIsLoopback: only loopback addresses and localhost; an empty host listens on every interface.
func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7400": true, "127.1.2.3:7400": true, "[::1]:7400": true, "localhost:7400": true,
		":7400": false, "0.0.0.0:7400": false, "[::]:7400": false, "192.0.2.1:7400": false, "vote.example.org:7400": false, "127.0.0.1": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestRecountdPlaintextWithAdminToken: --plaintext on an address other than loopback with an admin token is
// refused (the token would travel in clear), unless --insecure-plaintext is given; on loopback it is allowed.
func TestRecountdPlaintextWithAdminToken(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	base := []string{"--data-dir", t.TempDir(), "--plaintext", "--admin-token-file", "admin.token"}
	for _, listen := range []string{":7400", "0.0.0.0:7400", "192.0.2.1:7400", "[::]:7400"} {
		var stderr syncBuffer
		_, err := parse(append(base, "--listen", listen), none, &stderr)
		if err == nil || !strings.Contains(err.Error(), "--insecure-plaintext") || !strings.Contains(err.Error(), listen) {
			t.Errorf("--plaintext --listen %s with an admin token: %v", listen, err)
		}
		if _, err := parse(append(base, "--listen", listen, "--insecure-plaintext"), none, &stderr); err != nil {
			t.Errorf("--plaintext --listen %s --insecure-plaintext: %v", listen, err)
		}
		if _, err := parse([]string{"--data-dir", "d", "--plaintext", "--listen", listen}, none, &stderr); err != nil {
			t.Errorf("--plaintext --listen %s without admin credentials: %v", listen, err)
		}
	}
	var stderr syncBuffer
	if _, err := parse(append(base, "--listen", "127.0.0.1:7400"), none, &stderr); err != nil {
		t.Errorf("--plaintext on loopback: %v", err)
	}
	if _, err := parse([]string{"--data-dir", "d", "--tls-cert", "c", "--tls-key", "k", "--insecure-plaintext"}, none, &stderr); err == nil {
		t.Error("--insecure-plaintext without --plaintext was accepted")
	}
	// The refusal through run, from the environment, as an operator would meet it.
	env := map[string]string{"RECOUNTD_DATA_DIR": t.TempDir(), "RECOUNTD_PLAINTEXT": "true", "RECOUNTD_ADMIN_TOKEN_FILE": "admin.token",
		"RECOUNTD_LISTEN": ":7400"}
	var logs syncBuffer
	cancelled, cancel := context.WithCancel(context.Background())
	cancel() // a recountd that wrongly accepted the set-up stops at once
	if code := run(cancelled, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &logs, nil); code != 2 ||
		!strings.Contains(logs.String(), "would send the admin token in clear") {
		t.Errorf("exit %d, want 2 with the reason in: %s", code, logs.String())
	}
}

// TestRecountdRefusesBadConfig: no data dir, no TLS and no --plaintext, a token file others can read.
func TestRecountdRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose.token")
	if err := os.WriteFile(loose, []byte("an-admin-token-for-the-test"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.policy")
	if err := os.WriteFile(garbage, []byte("witness w1\nquorum w1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	none := func(string) (string, bool) { return "", false }
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--data-dir", filepath.Join(dir, "d"), "--plaintext", "--listen", "127.0.0.1:0", "--origin", "x.test/b", "--witness-policy", garbage}, 1, "witness policy " + garbage},
		{[]string{"--data-dir", filepath.Join(dir, "e"), "--plaintext", "--listen", "127.0.0.1:0", "--origin", "x.test/b", "--witness-policy", filepath.Join(dir, "missing")}, 1, "witness policy: open"},
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

// TestRecountdRefusesWritableDataDir: a data directory that group or others can write to is refused, naming the
// directory, its mode and the fix, and nothing is written in it. (The context is already cancelled, so that a
// recountd that wrongly accepted the directory would stop at once, exit 0, and fail the test.)
func TestRecountdRefusesWritableDataDir(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	none := func(string) (string, bool) { return "", false }
	for _, mode := range []os.FileMode{0o777, 0o770, 0o702} {
		dir := filepath.Join(t.TempDir(), "board")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil { // not Mkdir's mode: the umask would take bits away
			t.Fatal(err)
		}
		var logs syncBuffer
		code := run(ctx, []string{"--data-dir", dir, "--plaintext", "--listen", "127.0.0.1:0", "--origin", "x.test/b"}, none, &logs, nil)
		want := fmt.Sprintf("data directory %s has mode %04o: group or others can write to it, and so replace the board or its signing key; run: chmod 700 %s", dir, mode, dir)
		if code != 1 || !strings.Contains(logs.String(), want) {
			t.Errorf("mode %04o: exit %d, want 1 with %q in: %s", mode, code, want, logs.String())
		}
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Errorf("mode %04o: the refused data directory was written to: %v %v", mode, entries, err)
		}
	}
}

// TestRecountdStreamFlags: the stream limits reach node.ServerOptions from flags and the environment, 0 meaning
// none for --admin-streams and never for --stream-stall-timeout.
func TestRecountdStreamFlags(t *testing.T) {
	var stderr bytes.Buffer
	none := func(string) (string, bool) { return "", false }
	c, err := parse([]string{"--data-dir", "d", "--plaintext"}, none, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	opts := c.serverOptions()
	if opts.MaxStreams != node.DefaultMaxStreams || opts.MaxStreamsPerConn != node.DefaultMaxStreamsPerConn ||
		opts.MaxStreamsPerClient != node.DefaultMaxStreamsPerClient || opts.AdminStreams != node.DefaultAdminStreams ||
		opts.StreamStall != node.DefaultStreamStall {
		t.Errorf("defaults: %+v", opts)
	}
	env := map[string]string{"RECOUNTD_MAX_STREAMS_PER_CLIENT": "7", "RECOUNTD_ADMIN_STREAMS": "3"}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	if c, err = parse([]string{"--data-dir", "d", "--plaintext"}, lookup, &stderr); err != nil {
		t.Fatal(err)
	}
	if opts := c.serverOptions(); opts.MaxStreamsPerClient != 7 || opts.AdminStreams != 3 {
		t.Errorf("from the environment: per client %d, admin %d; want 7 and 3", opts.MaxStreamsPerClient, opts.AdminStreams)
	}
	if c, err = parse([]string{"--data-dir", "d", "--plaintext", "--admin-streams", "0", "--stream-stall-timeout", "0"}, lookup, &stderr); err != nil {
		t.Fatal(err)
	}
	if opts := c.serverOptions(); opts.AdminStreams >= 0 || opts.StreamStall >= 0 {
		t.Errorf("0 for none and never: admin %d, stall %v; want both negative", opts.AdminStreams, opts.StreamStall)
	}
	env["RECOUNTD_WITNESS_POLICY"] = "witnesses.policy"
	if c, err = parse([]string{"--data-dir", "d", "--plaintext"}, lookup, &stderr); err != nil {
		t.Fatal(err)
	}
	if c.receiptWait != 5*time.Second {
		t.Errorf("with a policy, a receipt waits %v by default for its checkpoint to be witnessed; want 5s", c.receiptWait)
	}
	if c, err = parse([]string{"--data-dir", "d", "--plaintext", "--witness-receipt-wait", "2s"}, lookup, &stderr); err != nil {
		t.Fatal(err)
	}
	if c.witnessPolicy != "witnesses.policy" || c.receiptWait != 2*time.Second || c.witnessTimeout != 10*time.Second {
		t.Errorf("witness flags: policy %q, receipt wait %v, timeout %v", c.witnessPolicy, c.receiptWait, c.witnessTimeout)
	}
}

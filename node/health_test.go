package node_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/node"
)

// awaitHealth watches service's health until it is want (within 10 s).
func awaitHealth(t *testing.T, c *grpcnode.Client, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := healthpb.NewHealthClient(c.Conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	var got healthpb.HealthCheckResponse_ServingStatus
	for got != want {
		resp, err := w.Recv()
		if err != nil {
			t.Fatalf("health of %q is %v, want %v: %v", service, got, want, err)
		}
		got = resp.Status
	}
}

// checkHealth asserts that service's health is want now.
func checkHealth(t *testing.T, c *grpcnode.Client, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	resp, err := healthpb.NewHealthClient(c.Conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
	if err != nil || resp.Status != want {
		t.Errorf("health of %q: %v %v, want %v", service, resp, err, want)
	}
}

// gauge returns the value of the gauge called name in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
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

// boardToReplay makes a board with an election set up through a node (polls open), closes the node, and returns
// the board's directory, the node's options and its size.
func boardToReplay(t *testing.T, seed uint64) (string, node.Options, uint64) {
	t.Helper()
	dir := t.TempDir()
	opts := node.Options{Origin: "test.recount.local/board"}
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 2, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	n0, err := node.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	setUpThroughNode(t, n0, e)
	size := n0.Log().Size()
	if err := n0.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, opts, size
}

// TestServesWhileReplaying: a server over a node that is replaying its board answers on its port: health is
// NOT_SERVING (BoardService SERVING: the board is open), voter and admin calls are refused with Unavailable and
// reason STARTING saying how far the replay got, board reads are served; once the replay is done, everything
// is SERVING. The replay is held at entry 2 by a hook until the test releases it.
func TestServesWhileReplaying(t *testing.T) {
	dir, opts, size := boardToReplay(t, 9)

	reg := prometheus.NewRegistry()
	opts.Metrics = node.NewMetrics(reg)
	n := node.New(dir, opts)
	held, release := make(chan struct{}), make(chan struct{})
	node.SetBeforeReplay(n, func(i uint64) {
		if i == 2 {
			close(held)
			<-release
		}
	})
	lis := listen(t)
	srv := node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: testToken}})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	var startErr error
	started := make(chan struct{}) // closed when Start returned startErr
	go func() {
		startErr = n.Start()
		close(started)
	}()
	released := false
	defer func() {
		if !released {
			close(release)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		<-started
		n.Close()
	}()
	c, err := grpcnode.Dial(lis.Addr().String(), grpcnode.DialOptions{Plaintext: true, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	select {
	case <-held:
	case <-started:
		t.Fatalf("Start returned %v without replaying entry 2", startErr)
	case <-time.After(10 * time.Second):
		t.Fatal("the replay did not reach entry 2")
	}
	ctx := context.Background()
	checkHealth(t, c, "", healthpb.HealthCheckResponse_NOT_SERVING)
	checkHealth(t, c, recountv1.VoterService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	checkHealth(t, c, recountv1.AdminService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	awaitHealth(t, c, recountv1.BoardService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if got := gauge(t, reg, "recount_node_starting"); got != 1 {
		t.Errorf("recount_node_starting is %v while replaying", got)
	}
	startingRefusal := func(what string, err error) {
		t.Helper()
		reason, _ := node.Reason(err)
		want := "replayed 2 of the board's " + itoa(size) + " entries"
		if status.Code(err) != codes.Unavailable || reason != node.ReasonStarting || !strings.Contains(err.Error(), want) {
			t.Errorf("%s while replaying: %v (reason %q), want Unavailable %s with %q", what, err, reason, node.ReasonStarting, want)
		}
	}
	_, err = c.Voter.GetElection(ctx, &recountv1.GetElectionRequest{})
	startingRefusal("GetElection", err)
	_, err = c.Voter.CastBallot(ctx, &recountv1.CastBallotRequest{SignedBallot: []byte{1}})
	startingRefusal("CastBallot", err)
	_, err = c.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
	startingRefusal("GetStatus", err)
	cp, err := c.Board.GetCheckpoint(ctx, &recountv1.GetCheckpointRequest{})
	if err != nil || !strings.Contains(string(cp.GetCheckpoint()), "\n"+itoa(size)+"\n") {
		t.Errorf("GetCheckpoint while replaying: %v %q", err, cp.GetCheckpoint())
	}

	close(release)
	released = true
	<-started
	if startErr != nil {
		t.Fatal(startErr)
	}
	for _, svc := range []string{"", recountv1.VoterService_ServiceDesc.ServiceName, recountv1.AdminService_ServiceDesc.ServiceName} {
		awaitHealth(t, c, svc, healthpb.HealthCheckResponse_SERVING)
	}
	info, err := c.Voter.GetElection(ctx, &recountv1.GetElectionRequest{})
	if err != nil || info.Phase != recountv1.Phase_PHASE_OPEN {
		t.Fatalf("GetElection once ready: %v %v", info, err)
	}
	if got := gauge(t, reg, "recount_node_starting"); got != 0 {
		t.Errorf("recount_node_starting is %v once ready", got)
	}
}

// TestHealthAfterFailedCommit: once an append failed and the node refuses every change, health says
// NOT_SERVING (overall and for each service) and recount_board_failed is 1. The append fails because the
// board under the node was closed.
func TestHealthAfterFailedCommit(t *testing.T) {
	reg := prometheus.NewRegistry()
	n, err := node.Open(t.TempDir(), node.Options{Origin: "test.recount.local/board", Metrics: node.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	lis := listen(t)
	srv := node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: testToken}})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		n.Close()
	}()
	c, err := grpcnode.Dial(lis.Addr().String(), grpcnode.DialOptions{Plaintext: true, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkHealth(t, c, "", healthpb.HealthCheckResponse_SERVING)
	if got := gauge(t, reg, "recount_board_failed"); got != 0 {
		t.Errorf("recount_board_failed is %v before any failure", got)
	}

	if err := n.Log().Close(); err != nil {
		t.Fatal(err)
	}
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1, Seed: 10})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Admin.CreateElection(context.Background(), &recountv1.CreateElectionRequest{Manifest: e.Manifest.Bytes()})
	if reason, _ := node.Reason(err); status.Code(err) != codes.Unavailable || reason != node.ReasonBoardFailed {
		t.Fatalf("CreateElection on a failing board: %v, want Unavailable %s", err, node.ReasonBoardFailed)
	}
	for _, svc := range append([]string{""}, serviceNames...) {
		awaitHealth(t, c, svc, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	if got := gauge(t, reg, "recount_board_failed"); got != 1 {
		t.Errorf("recount_board_failed is %v after a failed append", got)
	}
}

var serviceNames = []string{
	recountv1.VoterService_ServiceDesc.ServiceName,
	recountv1.TrusteeService_ServiceDesc.ServiceName,
	recountv1.AdminService_ServiceDesc.ServiceName,
	recountv1.BoardService_ServiceDesc.ServiceName,
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestStopWhileReplaying: a node shut down in the middle of its replay (SIGTERM while starting) stops replaying
// at the next entry instead of replaying the whole board first, and Close closes the board.
func TestStopWhileReplaying(t *testing.T) {
	dir, opts, _ := boardToReplay(t, 11)

	n := node.New(dir, opts)
	held, release := make(chan struct{}), make(chan struct{})
	var replayed []uint64
	node.SetBeforeReplay(n, func(i uint64) {
		replayed = append(replayed, i)
		if i == 2 {
			close(held)
			<-release
		}
	})
	started := make(chan error, 1)
	go func() { started <- n.Start() }()
	select {
	case <-held:
	case err := <-started:
		t.Fatalf("Start returned %v without replaying entry 2", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- n.Close() }()
	<-n.Stopping() // Close has begun the shutdown; it waits for Start
	close(release)
	if err := <-started; err == nil || !strings.Contains(err.Error(), "stopped before the board was replayed") {
		t.Errorf("Start after a shutdown: %v", err)
	}
	if err := <-closed; err != nil {
		t.Error(err)
	}
	if len(replayed) != 3 {
		t.Errorf("replayed entries %v after the shutdown at entry 2", replayed)
	}
	// The board was closed: it opens again.
	n2, err := node.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	n2.Close()
}

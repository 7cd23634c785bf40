package node_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/node"
)

// awaitStreams waits until the server has exactly want streaming calls in progress, for at most 20 s.
func awaitStreams(t testing.TB, tn *testNode, want int) {
	t.Helper()
	awaitServerStreams(t, tn.srv, want)
}

// awaitServerStreams waits until srv has exactly want streaming calls in progress, for at most 20 s.
func awaitServerStreams(t testing.TB, srv *node.Server, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for srv.StreamsInProgress() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the server has %d streaming calls in progress after 20 s, want %d", srv.StreamsInProgress(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// dialBoard connects to the node with stream and connection flow control windows fixed at window bytes (no
// dynamic window), so that a stream the client does not read blocks the server's Send after a known amount.
func dialBoard(t testing.TB, addr string, window int32) recountv1.BoardServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(32<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return recountv1.NewBoardServiceClient(cc)
}

// fillBoard appends count entries of size bytes each straight to the node's board (the election state does
// not see them: the streams tests read the board only).
func fillBoard(t testing.TB, tn *testNode, count, size int) {
	t.Helper()
	recs := make([]ledger.Record, count)
	for i := range recs {
		recs[i] = ledger.Record{Kind: 99, Payload: make([]byte, size)}
	}
	if _, err := tn.n.Log().AppendMany(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// wantRefusal asserts that err is a status with code and reason.
func wantRefusal(t *testing.T, what string, err error, code codes.Code, reason string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: got %v, want %v", what, err, code)
	}
	if got, _ := node.Reason(err); got != reason {
		t.Fatalf("%s: %v: reason %q, want %q", what, err, got, reason)
	}
}

// TestShutdownEndsStreams: Shutdown ends every streaming call, a follower waiting for new entries and a health
// watch among them, with Unavailable, and returns without waiting for its deadline. A health watch once held a
// graceful stop until the client went away.
func TestShutdownEndsStreams(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	fillBoard(t, tn, 2, 10)
	ctx := context.Background()
	follow, err := tn.anon.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{From: 0, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := follow.Recv(); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	watch, err := healthpb.NewHealthClient(tn.anon.Conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health watch: %v %v", r, err)
	}
	awaitStreams(t, tn, 2)

	stopped := make(chan struct{})
	go func() {
		tn.srv.Shutdown(context.Background()) // no deadline: it must end the streams itself
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown did not return in 30 s with a follower and a health watch open")
	}
	_, err = follow.Recv()
	wantRefusal(t, "the follower", err, codes.Unavailable, node.ReasonShuttingDown)
	for err == nil {
		_, err = watch.Recv() // NOT_SERVING first
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("the health watch ended with %v, want Unavailable", err)
	}
}

// TestStreamLimits: a connection may have MaxStreamsPerConn streaming calls in progress and the node MaxStreams;
// one more is refused with ResourceExhausted, naming the limit, and is admitted again once a stream has ended.
// Unary calls are not counted. 500 unread streams once held 3.3 GB.
func TestStreamLimits(t *testing.T) {
	tn := startNodeWith(t, t.TempDir(), "", node.ServerOptions{MaxStreamsPerConn: 2, MaxStreams: 3})
	ctx := context.Background()
	open := func(c recountv1.BoardServiceClient) (context.CancelFunc, grpc.ServerStreamingClient[recountv1.StreamEntriesResponse]) {
		t.Helper()
		return openFollower(t, c)
	}
	refusedWith := func(what string, s grpc.ServerStreamingClient[recountv1.StreamEntriesResponse], limit string) {
		t.Helper()
		wantStreamRefused(t, what, s, limit, 0)
	}
	a := tn.anon.Board
	b := dialBoard(t, tn.addr, 1<<20)
	cancelA1, _ := open(a)
	open(a)
	awaitStreams(t, tn, 2)
	_, s := open(a)
	refusedWith("a third stream on one connection", s, "connection")
	if _, err := a.GetCheckpoint(ctx, &recountv1.GetCheckpointRequest{}); err != nil {
		t.Fatalf("a unary call on a connection at its stream limit: %v", err)
	}
	open(b)
	awaitStreams(t, tn, 3)
	_, s = open(b)
	refusedWith("a fourth stream on the node", s, "node")
	// Export is a streaming call too.
	e, err := tn.anon.Board.Export(ctx, &recountv1.ExportRequest{})
	if err == nil {
		_, err = e.Recv()
	}
	wantRefusal(t, "an export on a node at its limit", err, codes.ResourceExhausted, node.ReasonTooManyStreams)
	cancelA1()
	awaitStreams(t, tn, 2)
	open(b)
	awaitStreams(t, tn, 3)
}

// openFollower starts a follower on an empty board: an admitted one receives nothing, a refused one its status.
// The stream is cancelled by the returned function or at the end of the test.
func openFollower(t testing.TB, c recountv1.BoardServiceClient) (context.CancelFunc, grpc.ServerStreamingClient[recountv1.StreamEntriesResponse]) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := c.StreamEntries(ctx, &recountv1.StreamEntriesRequest{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	return cancel, s
}

// wantStreamRefused asserts that the stream s is refused with ResourceExhausted (TOO_MANY_STREAMS) for limit,
// and, unless most is 0, that the limit admits most.
func wantStreamRefused[T any](t *testing.T, what string, s grpc.ServerStreamingClient[T], limit string, most int) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { _, err := s.Recv(); errc <- err }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: not refused in 20 s", what)
	}
	wantRefusal(t, what, err, codes.ResourceExhausted, node.ReasonTooManyStreams)
	if got := errorMeta(err)["limit"]; got != limit {
		t.Fatalf("%s: limit %q, want %q", what, got, limit)
	}
	if got := errorMeta(err)["max"]; most != 0 && got != strconv.Itoa(most) {
		t.Fatalf("%s: max %q, want %d", what, got, most)
	}
}

// dialBoardFrom connects to the node from the loopback address local (127.0.0.2, ...), which the node sees as
// another client than 127.0.0.1: every connection from one address counts against that client's streams.
func dialBoardFrom(t testing.TB, addr, local string) recountv1.BoardServiceClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return recountv1.NewBoardServiceClient(cc)
}

// TestStreamLimitsPerClient: one client (one IP address) may hold MaxStreamsPerClient streaming calls however
// many connections it opens, so the node's slots stay open to others; and the commission, with the admin token,
// may open AdminStreams more when all the others are taken, even from an address at its own limit. One client
// with 16 connections of 32 idle followers once held all 512 slots of a node, for as long as it liked: followers
// waiting for entries send nothing, so no stall ends them, and trustees and exports were refused.
func TestStreamLimitsPerClient(t *testing.T) {
	tn := startNodeWith(t, t.TempDir(), "", node.ServerOptions{MaxStreams: 6, MaxStreamsPerConn: 2, MaxStreamsPerClient: 3, AdminStreams: 1})
	fillBoard(t, tn, 1, 10) // a checkpoint to export
	// A client at 127.0.0.2 holds its 3 streams over two connections; more are refused, on any connection.
	a1 := dialBoardFrom(t, tn.addr, "127.0.0.2")
	a2 := dialBoardFrom(t, tn.addr, "127.0.0.2")
	a3 := dialBoardFrom(t, tn.addr, "127.0.0.2")
	openFollower(t, a1)
	openFollower(t, a1)
	openFollower(t, a2)
	awaitStreams(t, tn, 3)
	_, s := openFollower(t, a2)
	wantStreamRefused(t, "a fourth stream from one address", s, "client", 3)
	_, s = openFollower(t, a3)
	wantStreamRefused(t, "a fourth stream from one address, on a new connection", s, "client", 3)
	// 127.0.0.1 takes the node's other 3 slots; one more from anyone is refused.
	openFollower(t, tn.anon.Board)
	openFollower(t, tn.anon.Board)
	openFollower(t, dialBoard(t, tn.addr, 1<<20))
	awaitStreams(t, tn, 6)
	_, s = openFollower(t, dialBoardFrom(t, tn.addr, "127.0.0.3"))
	wantStreamRefused(t, "a stream from a new address on a full node", s, "node", 6)
	e, err := dialBoardFrom(t, tn.addr, "127.0.0.4").Export(context.Background(), &recountv1.ExportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantStreamRefused(t, "an anonymous export on a full node", e, "node", 6)
	// The commission (admin token, from 127.0.0.1, which is at its limit) gets the admin slot, and no more.
	cancelAdmin, _ := openFollower(t, tn.admin.Board)
	awaitStreams(t, tn, 7)
	_, s = openFollower(t, tn.admin.Board)
	wantStreamRefused(t, "a second admin stream", s, "node", 7)
	cancelAdmin()
	awaitStreams(t, tn, 6)
	e, err = tn.admin.Board.Export(context.Background(), &recountv1.ExportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := e.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("the commission's export on a node whose other slots are taken: %v", err)
		}
	}
}

// errorMeta returns the ErrorInfo metadata of a status.
func errorMeta(err error) map[string]string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Metadata
		}
	}
	return nil
}

// TestStalledStreamEnds: a stream whose client reads nothing is ended after StreamStall, freeing its slot; the
// client, when it reads again, gets what was already sent and then Canceled.
func TestStalledStreamEnds(t *testing.T) {
	tn := startNodeWith(t, t.TempDir(), "", node.ServerOptions{StreamStall: 100 * time.Millisecond})
	fillBoard(t, tn, 64, 16<<10) // 1 MiB: more than the client's window and the server's send quota
	board := dialBoard(t, tn.addr, 64<<10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{From: 0, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	// The client reads nothing: the stream is ended.
	deadline := time.Now().Add(20 * time.Second)
	for tn.srv.StreamsStalled() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the unread stream was not ended in 20 s")
		}
		time.Sleep(time.Millisecond)
	}
	awaitStreams(t, tn, 0)
	n := 0
	for ; ; n++ {
		e, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.Canceled {
				t.Fatalf("a stalled stream ended with %v, want Canceled", err)
			}
			break
		}
		if e.Index != uint64(n) {
			t.Fatalf("entry %d where %d was expected", e.Index, n)
		}
	}
	if n == 0 || n >= 64 {
		t.Fatalf("the stalled stream delivered %d entries of 64", n)
	}
}

// TestTrusteeWaitsForAStreamSlot: a trustee whose follow stream is refused because the node's streams are all
// taken (by anyone: they are open to all) tries again later instead of giving up.
func TestTrusteeWaitsForAStreamSlot(t *testing.T) {
	refused := make(chan struct{})
	var once sync.Once
	logger := slog.New(onMessage{contains: "too many streams", do: func() { once.Do(func() { close(refused) }) }})
	tn := startNodeWith(t, t.TempDir(), "", node.ServerOptions{MaxStreams: 1, Logger: logger})
	newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 1, noOpen: true, beforeTrustees: func(f *fixture) {
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := tn.anon.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{Follow: true}); err != nil {
			t.Fatal(err)
		}
		awaitStreams(t, tn, 1)
		go func() {
			<-refused // the trustee was refused a stream: free the slot
			cancel()
		}()
	}})
}

// onMessage is a slog.Handler that calls do for each record whose message contains contains.
type onMessage struct {
	contains string
	do       func()
}

func (h onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h onMessage) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.contains) {
		h.do()
	}
	return nil
}
func (h onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onMessage) WithGroup(string) slog.Handler      { return h }

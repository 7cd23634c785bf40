package node

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"
)

// Stream limits (ServerOptions).
const (
	DefaultMaxStreams        = 512
	DefaultMaxStreamsPerConn = 32
	DefaultStreamStall       = 2 * time.Minute
)

// Why the node ended a streaming call (the cause of its context).
var (
	errStreamStalled = errors.New("node: the client read nothing for too long")
	errServerStopped = errors.New("node: the server is shutting down")
)

// streamGuard bounds the node's streaming calls (StreamEntries, Export, health's Watch, reflection): how many
// are in progress on one connection and in all, whether a stream may stay blocked on a client that does not
// read, and that Shutdown ends them all.
//
// It admits a call in grpc's tap handle, before the transport makes a stream of it, and gives the stream a
// context of its own: cancelling that context is the one way to unblock a Send waiting on the client's flow
// control window, since grpc-go's Send watches the transport stream's context and nothing else. The slot is
// freed when that context ends, which grpc does whenever the stream ends (handler returned, client cancelled,
// connection closed), so no path leaks one.
//
// A stream that ended while its client was not reading (cut off for a stall, or finished) leaves up to grpc-go's
// 64 KiB send quota and its status queued behind the client's window until the client reads or the connection
// closes; grpc keeps such a stream in the connection's MaxConcurrentStreams until then, which bounds them.
type streamGuard struct {
	perConn, global int
	stall           time.Duration
	streaming       map[string]bool // the full method names of the streaming calls; filled before Serve
	logger          *slog.Logger

	mu      sync.Mutex
	open    int
	stalled int            // streams ended for a stall, since the start
	conns   map[string]int // streaming calls in progress by the peer address of their connection
	stopped bool
	cancels map[*streamSlot]struct{}
}

// A streamSlot is one admitted streaming call.
type streamSlot struct {
	cancel context.CancelCauseFunc
}

type streamSlotKey struct{}

func newStreamGuard(perConn, global int, stall time.Duration, logger *slog.Logger) *streamGuard {
	return &streamGuard{perConn: perConn, global: global, stall: stall, streaming: map[string]bool{}, logger: logger,
		conns: map[string]int{}, cancels: map[*streamSlot]struct{}{}}
}

// register records the streaming calls of the services registered on srv.
func (g *streamGuard) register(srv *grpc.Server) {
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			if m.IsClientStream || m.IsServerStream {
				g.streaming["/"+name+"/"+m.Name] = true
			}
		}
	}
}

// tap admits a streaming call, or refuses it with ResourceExhausted (a limit is reached) or Unavailable (the
// server is shutting down). It runs on the connection's reader goroutine, so it must not block.
func (g *streamGuard) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !g.streaming[info.FullMethodName] {
		return ctx, nil
	}
	conn := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		conn = p.Addr.String()
	}
	g.mu.Lock()
	switch {
	case g.stopped:
		g.mu.Unlock()
		return nil, refusal(codes.Unavailable, ReasonShuttingDown, nil, "the node is shutting down")
	case g.conns[conn] >= g.perConn:
		g.mu.Unlock()
		g.logger.Info("rpc refused: too many streams on the connection", "method", info.FullMethodName, "peer", conn, "max", g.perConn)
		return nil, refusal(codes.ResourceExhausted, ReasonTooManyStreams, map[string]string{"limit": "connection", "max": strconv.Itoa(g.perConn)},
			"this connection already has %d streaming calls in progress, the most the node allows: end one first", g.perConn)
	case g.open >= g.global:
		g.mu.Unlock()
		g.logger.Warn("rpc refused: too many streams on the node", "method", info.FullMethodName, "peer", conn, "max", g.global)
		return nil, refusal(codes.ResourceExhausted, ReasonTooManyStreams, map[string]string{"limit": "node", "max": strconv.Itoa(g.global)},
			"the node already has %d streaming calls in progress, the most it allows: try again later", g.global)
	}
	g.open++
	g.conns[conn]++
	ctx, cancel := context.WithCancelCause(ctx)
	slot := &streamSlot{cancel: cancel}
	g.cancels[slot] = struct{}{}
	g.mu.Unlock()
	context.AfterFunc(ctx, func() { g.release(conn, slot) })
	return context.WithValue(ctx, streamSlotKey{}, slot), nil
}

func (g *streamGuard) release(conn string, slot *streamSlot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.cancels, slot)
	g.open--
	if g.conns[conn]--; g.conns[conn] == 0 {
		delete(g.conns, conn)
	}
}

// inProgress returns the number of streaming calls admitted and not yet ended.
func (g *streamGuard) inProgress() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

// stalledCount returns the number of streams ended because their client read nothing.
func (g *streamGuard) stalledCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stalled
}

// stop ends every streaming call in progress and refuses new ones.
func (g *streamGuard) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	for slot := range g.cancels {
		slot.cancel(errServerStopped)
	}
}

// interceptor ends a stream whose Send has made no progress for g.stall, and gives a stream that Shutdown ended
// the status Unavailable (SHUTTING_DOWN), so that a follower reconnects and goes on from its next index. A Send
// cut off (for a stall, or by Shutdown while the client's window was full) ends the stream with the status
// grpc-go writes for it, Canceled, which a follower treats the same way.
func (g *streamGuard) interceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		slot, _ := ctx.Value(streamSlotKey{}).(*streamSlot)
		if slot == nil { // not a call the guard admits (cannot happen for a streaming call)
			return handler(srv, ss)
		}
		if g.stall > 0 {
			stalled := time.AfterFunc(g.stall, func() {
				attrs := []any{"method", info.FullMethod, "stall", g.stall}
				if p, ok := peerAddr(ctx); ok {
					attrs = append(attrs, "peer", p)
				}
				g.logger.Info("rpc stream ended: the client read nothing", attrs...)
				g.mu.Lock()
				g.stalled++
				g.mu.Unlock()
				slot.cancel(errStreamStalled)
			})
			stalled.Stop()
			ss = stallWatchedStream{ServerStream: ss, timer: stalled, stall: g.stall}
		}
		err := handler(srv, ss)
		if context.Cause(ctx) == errServerStopped {
			return refusal(codes.Unavailable, ReasonShuttingDown, nil, "the node is shutting down: reconnect and go on from the next index")
		}
		return err
	}
}

// stallWatchedStream arms timer for the duration of each SendMsg, which blocks while the client's flow control
// window is full.
type stallWatchedStream struct {
	grpc.ServerStream
	timer *time.Timer
	stall time.Duration
}

func (s stallWatchedStream) SendMsg(m any) error {
	s.timer.Reset(s.stall)
	defer s.timer.Stop()
	return s.ServerStream.SendMsg(m)
}

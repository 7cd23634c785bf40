package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"
)

// Stream limits (ServerOptions).
const (
	DefaultMaxStreams          = 512
	DefaultMaxStreamsPerConn   = 32
	DefaultMaxStreamsPerClient = 64
	DefaultAdminStreams        = 16
	DefaultStreamStall         = 2 * time.Minute
)

// Why the node ended a streaming call (the cause of its context).
var (
	errStreamStalled = errors.New("node: the client read nothing for too long")
	errServerStopped = errors.New("node: the server is shutting down")
)

// streamGuard bounds the node's streaming calls (StreamEntries, Export, health's Watch, reflection): how many
// are in progress on one connection, from one client address and in all, whether a stream may stay blocked on a
// client that does not read, and that Shutdown ends them all.
//
// A follower waiting for new entries sends nothing, so no stall ends it: without a bound per client address,
// one client opening connection after connection held every slot of the node, and trustees' followers and the
// commission's exports were refused for as long as it liked. Clients are counted by IP address, and an IPv6
// client by its /64, the block one host is given. Beyond the slots open to all, admin slots are kept for
// callers who pass the admin check (AdminAuth), so that the commission can still export and watch a node
// whose other slots are taken; such callers are counted neither against their address nor in the slots open to
// all.
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
	limits    streamLimits
	admin     AdminAuth
	stall     time.Duration
	streaming map[string]bool // the full method names of the streaming calls; filled before Serve
	logger    *slog.Logger

	mu       sync.Mutex
	open     int            // all streams in progress
	openAnon int            // those of callers who did not pass the admin check
	stalled  int            // streams ended for a stall, since the start
	conns    map[string]int // streaming calls in progress by the peer address (ip:port) of their connection
	clients  map[string]int // streams of callers who did not pass the admin check, by clientKey
	stopped  bool
	cancels  map[*streamSlot]struct{}
}

// streamLimits are the bounds of a streamGuard (see ServerOptions).
type streamLimits struct {
	perConn, perClient int
	global             int // for all callers
	admin              int // beyond global, for callers who pass the admin check
}

// A streamSlot is one admitted streaming call.
type streamSlot struct {
	cancel context.CancelCauseFunc
	conn   string // the connection's peer address
	client string // clientKey of the peer
	admin  bool   // the caller passed the admin check: counted on its connection and in all only
}

type streamSlotKey struct{}

func newStreamGuard(limits streamLimits, admin AdminAuth, stall time.Duration, logger *slog.Logger) *streamGuard {
	return &streamGuard{limits: limits, admin: admin, stall: stall, streaming: map[string]bool{}, logger: logger,
		conns: map[string]int{}, clients: map[string]int{}, cancels: map[*streamSlot]struct{}{}}
}

// clientKey is what the guard counts a client's streams by: the IP address of a TCP peer (an IPv4-mapped IPv6
// address as IPv4), the /64 prefix of an IPv6 one, and the whole address of any other kind of peer.
func clientKey(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return addr.String()
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64) // cannot fail for an IPv6 address
		return p.String()
	}
	return ip.String()
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

// tap admits a streaming call (one of g.streaming), or refuses it with ResourceExhausted (a limit is reached)
// or Unavailable (the server is shutting down). It runs on the connection's reader goroutine, so it must not
// block: the admin check reads the call's metadata and the connection's TLS state, both already in ctx.
func (g *streamGuard) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	slot := &streamSlot{}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		slot.conn, slot.client = p.Addr.String(), clientKey(p.Addr)
	}
	slot.admin = g.admin.Enabled() && g.admin.authorize(ctx) == nil
	admin, l := slot.admin, g.limits
	g.mu.Lock()
	var limit string
	var most int
	switch {
	case g.stopped:
		g.mu.Unlock()
		return nil, refuse(FaultUnavailable, ReasonShuttingDown, nil, "the node is shutting down").status().Err()
	case g.conns[slot.conn] >= l.perConn:
		limit, most = "connection", l.perConn
	case !admin && g.clients[slot.client] >= l.perClient:
		limit, most = "client", l.perClient
	case !admin && g.openAnon >= l.global:
		limit, most = "node", l.global
	case admin && g.open >= l.global+l.admin:
		limit, most = "node", l.global+l.admin
	}
	if limit != "" {
		g.mu.Unlock()
		return nil, g.refuse(info.FullMethodName, slot.conn, limit, most)
	}
	g.open++
	g.conns[slot.conn]++
	if !admin {
		g.openAnon++
		g.clients[slot.client]++
	}
	ctx, slot.cancel = context.WithCancelCause(ctx)
	g.cancels[slot] = struct{}{}
	g.mu.Unlock()
	context.AfterFunc(ctx, func() { g.release(slot) })
	return context.WithValue(ctx, streamSlotKey{}, slot), nil
}

// refuse logs and returns the refusal of a streaming call beyond limit (connection, client or node), which
// admits most.
func (g *streamGuard) refuse(method, conn, limit string, most int) error {
	meta := map[string]string{"limit": limit, "max": strconv.Itoa(most)}
	switch limit {
	case "connection":
		g.logger.Info("rpc refused: too many streams on the connection", "method", method, "peer", conn, "max", most)
		return refuse(FaultExhausted, ReasonTooManyStreams, meta,
			"this connection already has %d streaming calls in progress, the most the node allows: end one first", most).status().Err()
	case "client":
		g.logger.Info("rpc refused: too many streams from the client's address", "method", method, "peer", conn, "max", most)
		return refuse(FaultExhausted, ReasonTooManyStreams, meta,
			"your address already has %d streaming calls in progress, the most the node allows one client: end one first", most).status().Err()
	default:
		g.logger.Warn("rpc refused: too many streams on the node", "method", method, "peer", conn, "max", most)
		return refuse(FaultExhausted, ReasonTooManyStreams, meta,
			"the node already has %d streaming calls in progress, the most it allows: try again later", most).status().Err()
	}
}

func (g *streamGuard) release(slot *streamSlot) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.cancels, slot)
	g.open--
	if g.conns[slot.conn]--; g.conns[slot.conn] == 0 {
		delete(g.conns, slot.conn)
	}
	if slot.admin {
		return
	}
	g.openAnon--
	if g.clients[slot.client]--; g.clients[slot.client] == 0 {
		delete(g.clients, slot.client)
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
			return refuse(FaultUnavailable, ReasonShuttingDown, nil, "the node is shutting down: reconnect and go on from the next index").status().Err()
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

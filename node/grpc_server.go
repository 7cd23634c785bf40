package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
)

// ServerOptions configure NewServer.
type ServerOptions struct {
	// TLS is the server's TLS configuration; nil serves plaintext (for loopback and tests only). For mutual TLS
	// with the commission's CA set ClientCAs and ClientAuth (tls.VerifyClientCertIfGiven: voters have no
	// certificate) and Admin.ClientCert.
	TLS *tls.Config
	// Admin says who may call AdminService.
	Admin AdminAuth
	// MaxMessageBytes bounds a request (DefaultMaxMessageBytes when 0). Ballots are a few KiB; credential
	// lists are sent in parts below it.
	MaxMessageBytes int
	// DefaultTimeout bounds the unary calls (DefaultCallTimeout when 0). A unary call whose request has not all
	// arrived DefaultTimeout after its headers is ended with Canceled, whatever deadline its client gave; and a
	// call that came without a deadline is given the one DefaultTimeout after its headers arrived.
	DefaultTimeout time.Duration
	// MaxConcurrentStreams bounds the calls in progress on one connection (256 when 0).
	MaxConcurrentStreams uint32
	// MaxStreams bounds the streaming calls (StreamEntries, Export, health's Watch, reflection) in progress on
	// the whole node, MaxStreamsPerConn those on one connection and MaxStreamsPerClient those from one client
	// (an IP address; for IPv6, a /64) (DefaultMaxStreams, DefaultMaxStreamsPerConn and
	// DefaultMaxStreamsPerClient when 0). A streaming call beyond any of them is refused with ResourceExhausted
	// (reason TOO_MANY_STREAMS); unary calls are not counted. Behind a proxy every client has the proxy's
	// address: set MaxStreamsPerClient to MaxStreams there.
	MaxStreams, MaxStreamsPerConn, MaxStreamsPerClient int
	// AdminStreams are streaming calls that callers who pass the admin check (Admin: the token in the call's
	// metadata, or the client certificate) may open beyond MaxStreams, so that the commission can export or
	// watch a node whose other slots are all taken (DefaultAdminStreams when 0, none when negative). Such
	// calls are bounded by MaxStreams+AdminStreams in all and by MaxStreamsPerConn, not by
	// MaxStreamsPerClient, and do not take the slots counted by MaxStreams.
	AdminStreams int
	// StreamStall ends a streaming call whose client has read nothing for this long (one Send blocked on the
	// client's flow control window), with Canceled, so that a client that never reads does not hold a slot
	// forever (DefaultStreamStall when 0; never when negative).
	StreamStall time.Duration
	// Logger receives one line per call (debug; refusals at info; failures at warn). Nil means none.
	Logger *slog.Logger
}

// Limits.
const (
	DefaultMaxMessageBytes = 4 << 20
	DefaultCallTimeout     = 30 * time.Second
	// maxSendBytes is the largest message the node sends (an export chunk, or an entry of up to
	// ledger.MaxPayloadSize in StreamEntries).
	maxSendBytes = 17 << 20
)

// Server is the node's gRPC server: the four services, health (grpc.health.v1) and reflection. Health tells
// the truth: NOT_SERVING while the node starts (BoardService SERVING as soon as the board is open and its reads
// are served), SERVING once it is ready, and NOT_SERVING for good once an append failed and the node refuses
// every change, or once the server shuts down.
type Server struct {
	n       *Node
	grpc    *grpc.Server
	health  *health.Server
	logger  *slog.Logger
	streams *streamGuard
	timeout time.Duration // ServerOptions.DefaultTimeout
}

// services lists the node's services, for health.
var services = []string{
	recountv1.VoterService_ServiceDesc.ServiceName,
	recountv1.TrusteeService_ServiceDesc.ServiceName,
	recountv1.AdminService_ServiceDesc.ServiceName,
	recountv1.BoardService_ServiceDesc.ServiceName,
}

// NewServer returns a gRPC server for the node, which may still be starting (see New and Start).
func NewServer(n *Node, opts ServerOptions) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxMsg := opts.MaxMessageBytes
	if maxMsg <= 0 {
		maxMsg = DefaultMaxMessageBytes
	}
	timeout := opts.DefaultTimeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	streams := opts.MaxConcurrentStreams
	if streams == 0 {
		streams = 256
	}
	limits := streamLimits{
		global:    positiveOr(opts.MaxStreams, DefaultMaxStreams),
		perConn:   positiveOr(opts.MaxStreamsPerConn, DefaultMaxStreamsPerConn),
		perClient: positiveOr(opts.MaxStreamsPerClient, DefaultMaxStreamsPerClient),
		admin:     max(opts.AdminStreams, 0),
	}
	if opts.AdminStreams == 0 {
		limits.admin = DefaultAdminStreams
	}
	stall := opts.StreamStall
	if stall == 0 {
		stall = DefaultStreamStall
	}
	s := &Server{n: n, health: health.NewServer(), logger: logger, streams: newStreamGuard(limits, opts.Admin, stall, logger),
		timeout: timeout}
	gopts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMsg),
		grpc.MaxSendMsgSize(maxSendBytes),
		grpc.MaxConcurrentStreams(streams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.ChainUnaryInterceptor(s.recoverUnary, s.logUnary, s.deadlineUnary, s.readyUnary, adminUnary(opts.Admin)),
		grpc.InTapHandle(s.tap),
		grpc.ChainStreamInterceptor(s.recoverStream, s.streams.interceptor(), s.readyStream, adminStream(opts.Admin)),
	}
	if opts.TLS != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	s.grpc = grpc.NewServer(gopts...)
	recountv1.RegisterVoterServiceServer(s.grpc, voterServer{n: n})
	recountv1.RegisterTrusteeServiceServer(s.grpc, trusteeServer{n: n})
	recountv1.RegisterAdminServiceServer(s.grpc, adminServer{n: n})
	recountv1.RegisterBoardServiceServer(s.grpc, boardServer{n: n})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.streams.register(s.grpc)
	s.updateHealth()
	go s.followNode()
	return s
}

// positiveOr returns v if it is positive, else def.
func positiveOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// updateHealth sets the health statuses from where the node stands.
func (s *Server) updateHealth() {
	overall, board := healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	switch {
	case isClosed(s.n.Broken()):
	case isClosed(s.n.Ready()):
		overall, board = healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_SERVING
	case isClosed(s.n.boardOpen):
		board = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", overall)
	for _, name := range services {
		if name == recountv1.BoardService_ServiceDesc.ServiceName {
			s.health.SetServingStatus(name, board)
		} else {
			s.health.SetServingStatus(name, overall)
		}
	}
}

// followNode updates health as the node's board opens, as it becomes ready and if it breaks, until the node
// shuts down (after which health.Server ignores updates: Shutdown made everything NOT_SERVING).
func (s *Server) followNode() {
	for _, c := range []<-chan struct{}{s.n.boardOpen, s.n.Ready(), s.n.Broken()} {
		select {
		case <-c:
			s.updateHealth()
		case <-s.n.Stopping():
			return
		}
	}
}

// isBoardRead reports whether method is one of BoardService's, which read the board only.
func isBoardRead(method string) bool {
	return strings.HasPrefix(method, "/"+recountv1.BoardService_ServiceDesc.ServiceName+"/")
}

// isNodeService reports whether method is one of the node's four services (not health or reflection).
func isNodeService(method string) bool {
	for _, name := range services {
		if strings.HasPrefix(method, "/"+name+"/") {
			return true
		}
	}
	return false
}

// readyUnary refuses the node's calls while it is starting (see Node.notReady).
func (s *Server) readyUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !isClosed(s.n.Ready()) && isNodeService(info.FullMethod) {
		if err := s.n.notReady(isBoardRead(info.FullMethod)); err != nil {
			return nil, grpcError(err)
		}
	}
	return handler(ctx, req)
}

// readyStream refuses the node's streams while it is starting (see Node.notReady).
func (s *Server) readyStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !isClosed(s.n.Ready()) && isNodeService(info.FullMethod) {
		if err := s.n.notReady(isBoardRead(info.FullMethod)); err != nil {
			return grpcError(err)
		}
	}
	return handler(srv, ss)
}

// Serve serves on lis until Shutdown.
func (s *Server) Serve(lis net.Listener) error { return s.grpc.Serve(lis) }

// Shutdown stops the server gracefully: health turns NOT_SERVING, new calls are refused, every streaming call
// (followers, exports, health watches) is ended with Unavailable, and the unary calls in progress (appends
// among them) finish, until ctx ends, when the rest are cut off. A stream whose client reads nothing can still
// hold its last status behind the client's flow control window until then. It does not close the node.
func (s *Server) Shutdown(ctx context.Context) {
	s.health.Shutdown()
	s.n.BeginShutdown()
	s.streams.stop()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.logger.Warn("node: shutdown deadline reached; cutting the remaining calls off")
		s.grpc.Stop()
		<-done
	}
}

func isAdmin(method string) bool {
	return strings.HasPrefix(method, "/"+recountv1.AdminService_ServiceDesc.ServiceName+"/")
}

func adminUnary(a AdminAuth) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if isAdmin(info.FullMethod) {
			if err := a.authorize(ctx); err != nil {
				return nil, err
			}
		}
		return handler(ctx, req)
	}
}

func adminStream(a AdminAuth) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if isAdmin(info.FullMethod) {
			if err := a.authorize(ss.Context()); err != nil {
				return err
			}
		}
		return handler(srv, ss)
	}
}

// errRequestLate is why the node ended a unary call whose request had not all arrived in time (the cause of its
// context).
var errRequestLate = errors.New("node: the request did not arrive in time")

// tap runs when a call's headers arrive, before grpc reads its request: it admits a streaming call
// (streamGuard.tap) and bounds the time a unary call's request may take to arrive (boundRequest). It runs on
// the connection's reader goroutine, so it must not block.
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if s.streams.streaming[info.FullMethodName] {
		return s.streams.tap(ctx, info)
	}
	return s.boundRequest(ctx, info.FullMethodName), nil
}

// A requestArrival is a unary call between the arrival of its headers (boundRequest) and that of its whole
// request (deadlineUnary).
type requestArrival struct {
	headers time.Time
	// arrived stops the timer that ends the call if its request is late, and reports whether it stopped it
	// in time.
	arrived func() bool
}

type requestArrivalKey struct{}

// boundRequest ends a unary call, with Canceled, if its request has not all arrived s.timeout after its headers.
// grpc-go reads a unary call's request before any interceptor runs, with no deadline but the client's, so a
// client that declared a 1 MiB request and sent 3 bytes kept the call and its buffer for as long as it answered
// keepalive pings, 256 such calls per connection; a deadline of the client's choosing would do the same. Ending
// the context ends that read: the transport's read of the request waits on the context the tap returns. The
// timer is stopped once the request has arrived (deadlineUnary), or when the call ends before (the stream's
// context always ends with it), so that no timer outlives its call.
func (s *Server) boundRequest(ctx context.Context, method string) context.Context {
	headers := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	late := time.AfterFunc(s.timeout, func() {
		if ctx.Err() != nil {
			return
		}
		attrs := []any{"method", method, "timeout", s.timeout}
		if p, ok := peerAddr(ctx); ok {
			attrs = append(attrs, "peer", p)
		}
		s.logger.Info("rpc ended: its request did not arrive in time", attrs...)
		cancel(errRequestLate)
	})
	stopAfter := context.AfterFunc(ctx, func() { late.Stop() })
	return context.WithValue(ctx, requestArrivalKey{}, &requestArrival{headers: headers, arrived: func() bool {
		stopAfter()
		return late.Stop()
	}})
}

// deadlineUnary runs once grpc has read the whole request: it stops the request's timer (boundRequest) and gives
// a call without a deadline the one s.timeout after its headers arrived; the handlers pass it on.
func (s *Server) deadlineUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	headers := time.Now()
	if a, ok := ctx.Value(requestArrivalKey{}).(*requestArrival); ok {
		a.arrived() // if too late, the call's context is already ended
		headers = a.headers
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, headers.Add(s.timeout))
		defer cancel()
	}
	return handler(ctx, req)
}

func (s *Server) logUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	code := status.Code(err)
	if code == codes.OK && !s.logger.Enabled(ctx, slog.LevelDebug) {
		return resp, err // a call that succeeded is logged at debug only: no line to format
	}
	attrs := []any{"method", info.FullMethod, "code", code.String(), "took", time.Since(start).Round(time.Microsecond)}
	if p, ok := peerAddr(ctx); ok {
		attrs = append(attrs, "peer", p)
	}
	switch code {
	case codes.OK:
		s.logger.Debug("rpc", attrs...)
	case codes.Unavailable:
		if reason, _ := Reason(err); reason == ReasonStarting {
			// Expected, and frequent while a big board replays: a refusal, not a fault.
			s.logger.Info("rpc refused", append(attrs, "err", status.Convert(err).Message())...)
			break
		}
		s.logger.Warn("rpc", append(attrs, "err", status.Convert(err).Message())...)
	case codes.Internal, codes.Unknown, codes.DataLoss:
		s.logger.Warn("rpc", append(attrs, "err", status.Convert(err).Message())...)
	default:
		s.logger.Info("rpc refused", append(attrs, "err", status.Convert(err).Message())...)
	}
	return resp, err
}

func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("rpc panicked", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error")
		}
	}()
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("rpc panicked", "method", info.FullMethod, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "internal error")
		}
	}()
	return handler(srv, ss)
}

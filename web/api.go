package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
)

// Services are what the JSON API serves: the node's own gRPC service implementations (node.VoterService,
// node.BoardService), called with the same protobuf messages, so that the API is a translation of transport and
// not a second implementation. An observer's process may serve its read-only ones.
type Services struct {
	Voter recountv1.VoterServiceServer
	Board recountv1.BoardServiceServer
	// Status is the election's public status (node.PublicStatus); nil serves none (404).
	Status func(ctx context.Context) (*recountv1.GetStatusResponse, error)
	// WitnessPolicy is the text of the election's witness policy (c2sp.org/tlog-policy), as the commission
	// published it, served at /api/v1/witness-policy so that the pages check the cosignatures against it (and
	// show its fingerprint, to compare with the published one); nil when there is none.
	WitnessPolicy []byte
	// ReadOnly says the server is an observer's copy of the board: the booth's page says where to vote instead.
	ReadOnly bool
	// Ready, if set, returns the refusal (a gRPC status error) of a call while the server is starting, as the
	// gRPC server's interceptor does: boardRead for BoardService's reads.
	Ready func(boardRead bool) error
}

// Limits bound the API's requests. The zero value of a field means its default.
type Limits struct {
	// MaxRequestBytes bounds a request's body (DefaultMaxRequestBytes): a challenged ballot, the largest
	// request, is tens of KiB.
	MaxRequestBytes int64
	// CallTimeout bounds a call (DefaultCallTimeout), as the node's gRPC server bounds a unary call.
	CallTimeout time.Duration
	// MaxCalls bounds the calls in progress at once (DefaultMaxCalls); a call beyond it is refused at once
	// (503, reason BUSY) without being carried out.
	MaxCalls int
	// MaxReads bounds the board reads that stream (entries, export) in progress at once on the whole server, and
	// MaxReadsPerClient those of one client (an IP address) (DefaultMaxReads, DefaultMaxReadsPerClient): beyond
	// them a read is refused (429, reason TOO_MANY_STREAMS, as the gRPC side says).
	MaxReads, MaxReadsPerClient int
	// ReadStall ends an export whose client has read nothing for this long (DefaultReadStall).
	ReadStall time.Duration
}

// Defaults of Limits.
const (
	DefaultMaxRequestBytes   = 1 << 20
	DefaultCallTimeout       = 30 * time.Second
	DefaultMaxCalls          = 256
	DefaultMaxReads          = 32
	DefaultMaxReadsPerClient = 4
	DefaultReadStall         = 30 * time.Second
)

// The bounds of one page of entries (POST /api/v1/entries): at most MaxEntriesPerPage entries, and no entry
// after the page's payloads reach MaxPageBytes (a page holds at least one entry, of at most
// tlog.MaxPayloadSize).
const (
	MaxEntriesPerPage = 256
	MaxPageBytes      = 4 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if l.CallTimeout <= 0 {
		l.CallTimeout = DefaultCallTimeout
	}
	if l.MaxCalls <= 0 {
		l.MaxCalls = DefaultMaxCalls
	}
	if l.MaxReads <= 0 {
		l.MaxReads = DefaultMaxReads
	}
	if l.MaxReadsPerClient <= 0 {
		l.MaxReadsPerClient = DefaultMaxReadsPerClient
	}
	if l.ReadStall <= 0 {
		l.ReadStall = DefaultReadStall
	}
	return l
}

// api is the JSON API's handler: each route decodes its request message from protojson, calls the service, and
// encodes the answer (or the refusal) as JSON.
type api struct {
	svc    Services
	lim    Limits
	calls  chan struct{}
	reads  *readGuard
	logger *slog.Logger
	mux    *http.ServeMux
}

// The API's routes, under /api/v1/. GET ones take no body; POST ones take their request message in protojson.
// docs/web.md lists them with their messages.
func newAPI(svc Services, lim Limits, logger *slog.Logger) *api {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lim = lim.withDefaults()
	a := &api{svc: svc, lim: lim, calls: make(chan struct{}, lim.MaxCalls), reads: newReadGuard(lim.MaxReads, lim.MaxReadsPerClient),
		logger: logger, mux: http.NewServeMux()}
	v, b := svc.Voter, svc.Board
	a.mux.Handle("GET /api/v1/election", unary(a, false, func() *recountv1.GetElectionRequest { return &recountv1.GetElectionRequest{} }, v.GetElection))
	a.mux.Handle("POST /api/v1/cast", unary(a, false, func() *recountv1.CastBallotRequest { return &recountv1.CastBallotRequest{} }, v.CastBallot))
	a.mux.Handle("POST /api/v1/challenge", unary(a, false, func() *recountv1.ChallengeBallotRequest { return &recountv1.ChallengeBallotRequest{} }, v.ChallengeBallot))
	a.mux.Handle("POST /api/v1/receipt", unary(a, false, func() *recountv1.GetReceiptRequest { return &recountv1.GetReceiptRequest{} }, v.GetReceipt))
	a.mux.Handle("GET /api/v1/checkpoint", unary(a, true, func() *recountv1.GetCheckpointRequest { return &recountv1.GetCheckpointRequest{} }, b.GetCheckpoint))
	a.mux.Handle("POST /api/v1/inclusion", unary(a, true, func() *recountv1.GetInclusionProofRequest { return &recountv1.GetInclusionProofRequest{} }, b.GetInclusionProof))
	a.mux.Handle("POST /api/v1/consistency", unary(a, true, func() *recountv1.GetConsistencyProofRequest { return &recountv1.GetConsistencyProofRequest{} }, b.GetConsistencyProof))
	if svc.Status != nil {
		a.mux.Handle("GET /api/v1/status", unary(a, false, func() *recountv1.GetStatusRequest { return &recountv1.GetStatusRequest{} },
			func(ctx context.Context, _ *recountv1.GetStatusRequest) (*recountv1.GetStatusResponse, error) {
				return svc.Status(ctx)
			}))
	}
	a.mux.HandleFunc("GET /api/v1/witness-policy", func(w http.ResponseWriter, r *http.Request) {
		if svc.WitnessPolicy == nil {
			writeError(w, refusal(codes.NotFound, "NOT_FOUND", "this server has no witness policy"))
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(svc.WitnessPolicy)
	})
	a.mux.HandleFunc("POST /api/v1/entries", a.entries)
	a.mux.HandleFunc("GET /api/v1/export", a.export)
	a.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, status.Error(codes.NotFound, "no such API call: see docs/web.md"))
	})
	return a
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// unary serves one unary call: the request message from the body (POST) or the query's "size" (GET
// checkpoint), bounded in size, time and the calls in progress.
func unary[Req, Resp proto.Message](a *api, boardRead bool, newReq func() Req, call func(context.Context, Req) (Resp, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.calls <- struct{}{}:
			defer func() { <-a.calls }()
		default:
			writeError(w, refusal(codes.Unavailable, "BUSY", "the server is busy: try again in a few seconds"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.lim.CallTimeout)
		defer cancel()
		// The answer, too, must be written in time: a client that does not read it does not hold the call.
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.lim.CallTimeout + 5*time.Second))
		req := newReq()
		if err := a.decode(w, r, req); err != nil {
			writeError(w, err)
			return
		}
		if a.svc.Ready != nil {
			if err := a.svc.Ready(boardRead); err != nil {
				writeError(w, err)
				return
			}
		}
		resp, err := call(ctx, req)
		if err != nil {
			a.logger.Debug("web API call refused", "path", r.URL.Path, "err", err)
			writeError(w, err)
			return
		}
		writeMessage(w, resp)
	})
}

// decode reads req from r: the body's protojson for POST; for GET, only GetCheckpointRequest's size from the
// query.
func (a *api) decode(w http.ResponseWriter, r *http.Request, req proto.Message) error {
	if r.Method == http.MethodGet {
		if cr, ok := req.(*recountv1.GetCheckpointRequest); ok {
			if s := r.URL.Query().Get("size"); s != "" {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					return refusal(codes.InvalidArgument, "BAD_REQUEST", "size %q is not a number", s)
				}
				cr.Size = n
			}
		}
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.lim.MaxRequestBytes))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return refusal(codes.InvalidArgument, "BAD_REQUEST", "the request is larger than %d bytes", a.lim.MaxRequestBytes)
		}
		return refusal(codes.InvalidArgument, "BAD_REQUEST", "reading the request: %v", err)
	}
	if err := protojson.Unmarshal(body, req); err != nil {
		return refusal(codes.InvalidArgument, "BAD_REQUEST", "the request is not a %s in JSON: %v", req.ProtoReflect().Descriptor().Name(), err)
	}
	return nil
}

// errPageFull stops StreamEntries once a page is full.
var errPageFull = errors.New("page full")

// entries answers a StreamEntriesRequest (without follow) with one page of entries: {"entries": [...], "end":
// true} when the page reaches the board's end, "end" false when it stopped at the page's bounds (ask again from
// the last index + 1).
func (a *api) entries(w http.ResponseWriter, r *http.Request) {
	release, err := a.reads.acquire(r)
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	ctx, cancel := context.WithTimeout(r.Context(), a.lim.CallTimeout)
	defer cancel()
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(a.lim.CallTimeout + 5*time.Second))
	req := &recountv1.StreamEntriesRequest{}
	if err := a.decode(w, r, req); err != nil {
		writeError(w, err)
		return
	}
	if req.Follow {
		writeError(w, refusal(codes.InvalidArgument, "BAD_REQUEST", "follow is not served over HTTP: ask again from the last index + 1"))
		return
	}
	if a.svc.Ready != nil {
		if err := a.svc.Ready(true); err != nil {
			writeError(w, err)
			return
		}
	}
	s := &pageStream{ctx: ctx, w: w}
	err = a.svc.Board.StreamEntries(req, s)
	if err != nil && !errors.Is(err, errPageFull) && s.n == 0 {
		writeError(w, err)
		return
	}
	s.start()
	tail := []byte(`],"end":`)
	tail = strconv.AppendBool(tail, err == nil)
	if err != nil && !errors.Is(err, errPageFull) {
		// The page was under way: the error ends it, in its own field.
		tail = append(tail, `,"error":`...)
		tail = append(tail, errorBody(err)...)
	}
	w.Write(append(tail, '}'))
}

// pageStream is the StreamEntries stream of one page: it writes each entry's protojson to the answer as it comes
// (a page holds one entry in memory at a time, as a gRPC stream does) and stops the stream once the page is full.
type pageStream struct {
	grpc.ServerStream // nil: StreamEntries calls Send and Context only
	ctx               context.Context
	w                 http.ResponseWriter
	started           bool
	n, bytes          int
}

func (s *pageStream) Context() context.Context { return s.ctx }

// start writes the answer's headers and the page's opening, once.
func (s *pageStream) start() {
	if s.started {
		return
	}
	s.started = true
	s.w.Header().Set("Content-Type", "application/json")
	s.w.Header().Set("Cache-Control", "no-store")
	s.w.Write([]byte(`{"entries":[`))
}

func (s *pageStream) Send(m *recountv1.StreamEntriesResponse) error {
	if s.n >= MaxEntriesPerPage || (s.n > 0 && s.bytes >= MaxPageBytes) {
		return errPageFull
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	s.start()
	if s.n > 0 {
		s.w.Write([]byte{','})
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	s.n++
	s.bytes += len(m.Payload)
	return nil
}

// export streams the board's export (the record, docs/record.md) as a file to download.
func (a *api) export(w http.ResponseWriter, r *http.Request) {
	release, err := a.reads.acquire(r)
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	if a.svc.Ready != nil {
		if err := a.svc.Ready(true); err != nil {
			writeError(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="election.record"`)
	s := &exportStream{ctx: r.Context(), w: w, rc: http.NewResponseController(w), stall: a.lim.ReadStall}
	err = a.svc.Board.Export(&recountv1.ExportRequest{}, s)
	if err != nil {
		// Headers are sent with the first chunk: an export that fails later ends the response short, which the
		// record's reader detects (its final checkpoint is missing); one that fails before says why.
		a.logger.Warn("web export ended early", "err", err)
		if !s.wrote {
			w.Header().Del("Content-Disposition")
			writeError(w, err)
		}
	}
}

// exportStream writes the export's chunks to the response; each write must complete within the stall bound.
type exportStream struct {
	grpc.ServerStream
	ctx   context.Context
	w     io.Writer
	rc    *http.ResponseController
	stall time.Duration
	wrote bool
}

func (s *exportStream) Context() context.Context { return s.ctx }

func (s *exportStream) Send(m *recountv1.ExportResponse) error {
	s.rc.SetWriteDeadline(time.Now().Add(s.stall))
	s.wrote = true
	_, err := s.w.Write(m.Data)
	return err
}

// readGuard bounds the streaming reads in progress, on the whole server and per client.
type readGuard struct {
	mu                sync.Mutex
	total, max, perIP int
	byIP              map[string]int
}

func newReadGuard(max, perIP int) *readGuard {
	return &readGuard{max: max, perIP: perIP, byIP: map[string]int{}}
}

// acquire takes a slot for r's client, or refuses (TOO_MANY_STREAMS).
func (g *readGuard) acquire(r *http.Request) (release func(), err error) {
	ip := clientOf(r.RemoteAddr)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total >= g.max || g.byIP[ip] >= g.perIP {
		return nil, refusal(codes.ResourceExhausted, "TOO_MANY_STREAMS", "too many board reads in progress: try again in a few seconds")
	}
	g.total++
	g.byIP[ip]++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.total--
		if g.byIP[ip]--; g.byIP[ip] == 0 {
			delete(g.byIP, ip)
		}
	}, nil
}

// clientOf is the client a remote address counts for: its IP address, and for IPv6 its /64 (one host's
// addresses), as the gRPC side counts them.
func clientOf(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return remote
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// APIError is the JSON body of a refused or failed call: the gRPC status code's name (as the gRPC side would
// give it), the node's reason and failed check when it gave them, and its message.
type APIError struct {
	Code    string `json:"code"`
	Reason  string `json:"reason,omitempty"`
	Check   int    `json:"check,omitempty"`
	Message string `json:"message"`
}

// httpStatus is the HTTP status of each gRPC code, as grpc-gateway maps them.
var httpStatus = map[codes.Code]int{
	codes.Canceled:           499,
	codes.Unknown:            http.StatusInternalServerError,
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.FailedPrecondition: http.StatusBadRequest,
	codes.Aborted:            http.StatusConflict,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.Unimplemented:      http.StatusNotImplemented,
	codes.Internal:           http.StatusInternalServerError,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DataLoss:           http.StatusInternalServerError,
}

// writeError writes err, a gRPC status error (the services'), as an APIError. An error that is no status (a
// context's) is given its status as grpc-go would.
func writeError(w http.ResponseWriter, err error) {
	code, ok := httpStatus[statusOf(err).Code()]
	if !ok {
		code = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(errorBody(err))
}

// statusOf is err's gRPC status; a context's error has the status grpc-go gives it.
func statusOf(err error) *status.Status {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.New(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, err.Error())
	}
	return status.Convert(err)
}

// errorBody is err's APIError in JSON.
func errorBody(err error) []byte {
	st := statusOf(err)
	reason, check := grpcnode.Reason(st.Err())
	body, _ := json.Marshal(APIError{Code: codeName(st.Code()), Reason: reason, Check: check, Message: st.Message()})
	return body
}

// codeNames are the codes' names in upper snake case, as gRPC's HTTP mappings spell them.
var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
	codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
	codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
	codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}

// ErrorDomain is the domain of the node's refusals' ErrorInfo (node.ErrorDomain, which a test checks); the API's
// own refusals carry it too. Package web does not link the node: an observer's process may serve it.
const ErrorDomain = "recount.v1"

func codeName(c codes.Code) string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "UNKNOWN"
}

// refusal is a refusal of the API's own (before the services are called), with its reason, as the node's
// refusals carry theirs.
func refusal(c codes.Code, reason, format string, args ...any) error {
	st := status.Newf(c, format, args...)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain}); err == nil {
		st = d
	}
	return st.Err()
}

func writeMessage(w http.ResponseWriter, m proto.Message) {
	b, err := protojson.Marshal(m)
	if err != nil {
		writeError(w, status.Errorf(codes.Internal, "encoding the answer: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

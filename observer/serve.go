package observer

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// The observer's mirror, served read-only over the node's own services: BoardService whole, and of
// VoterService the calls a voter makes to check a receipt (GetElection, GetReceipt). Casting and challenging
// are refused (FAILED_PRECONDITION, reason READ_ONLY_MIRROR): a voter casts at the election's node.

// errorDomain is the domain of the observer's refusals' ErrorInfo, the node's (package node's ErrorDomain).
const errorDomain = "recount.v1"

// ReasonReadOnly is the reason of the refusal of a cast or a challenge sent to an observer.
const ReasonReadOnly = "READ_ONLY_MIRROR"

// MaxStreams bounds the streaming calls (StreamEntries, Export) an observer serves at once.
const MaxStreams = 64

func refusal(code codes.Code, reason, format string, args ...any) error {
	st := status.New(code, fmt.Sprintf(format, args...))
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain}); err == nil {
		st = d
	}
	return st.Err()
}

func boardError(err error) error {
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return refusal(codes.NotFound, client.ReasonNotFound, "%v", err)
	case errors.Is(err, ledger.ErrInvalid):
		return refusal(codes.InvalidArgument, client.ReasonBadRequest, "%v", err)
	case errors.Is(err, ledger.ErrClosed):
		return refusal(codes.Unavailable, client.ReasonShuttingDown, "the observer is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return refusal(codes.Internal, client.ReasonBoardFailed, "%v", err)
}

// Register registers the observer's read-only BoardService and VoterService on s.
func (o *Observer) Register(s *grpc.Server) {
	voter, board := o.Services()
	recountv1.RegisterBoardServiceServer(s, board)
	recountv1.RegisterVoterServiceServer(s, voter)
}

// Services returns the observer's read-only VoterService (the election and receipt lookups; casting is refused)
// and BoardService, which Register serves over gRPC, for a server that serves them otherwise: the voters' web
// pages' JSON API (package web, `recount observe --web-listen`).
func (o *Observer) Services() (recountv1.VoterServiceServer, recountv1.BoardServiceServer) {
	bs := newBoardServer(func() *ledger.Log { return o.mirror })
	bs.cosigned = o.Cosigned
	return voterServer{o: o}, bs
}

// boardServer is BoardService over a board, read-only. The board is a function so that tests can serve one
// board, then another, as a node that forks would.
type boardServer struct {
	recountv1.UnimplementedBoardServiceServer
	board   func() *ledger.Log
	streams chan struct{} // a slot per streaming call in progress
	// cosigned, if set, gives the latest witnessed checkpoint to serve beside the latest (Observer.Cosigned).
	cosigned func() []byte
}

func newBoardServer(board func() *ledger.Log) *boardServer {
	return &boardServer{board: board, streams: make(chan struct{}, MaxStreams)}
}

func (b *boardServer) acquire() (func(), error) {
	select {
	case b.streams <- struct{}{}:
		return func() { <-b.streams }, nil
	default:
		return nil, refusal(codes.ResourceExhausted, client.ReasonTooManyStreams, "the observer serves %d streams already: try again later", MaxStreams)
	}
}

func (b *boardServer) checkpoint(size uint64) (tlog.Checkpoint, error) {
	m := b.board()
	if size == 0 {
		return m.Latest(), nil
	}
	cp, err := m.CheckpointAt(size)
	if err != nil {
		return cp, boardError(err)
	}
	return cp, nil
}

func (b *boardServer) GetCheckpoint(ctx context.Context, req *recountv1.GetCheckpointRequest) (*recountv1.GetCheckpointResponse, error) {
	cp, err := b.checkpoint(req.Size)
	if err != nil {
		return nil, err
	}
	resp := &recountv1.GetCheckpointResponse{Checkpoint: cp.Signed, VerifierKey: b.board().VerifierKey()}
	if req.Size == 0 && b.cosigned != nil {
		resp.CosignedCheckpoint = b.cosigned()
	}
	return resp, nil
}

func (b *boardServer) GetInclusionProof(ctx context.Context, req *recountv1.GetInclusionProofRequest) (*recountv1.GetInclusionProofResponse, error) {
	cp, err := b.checkpoint(req.TreeSize)
	if err != nil {
		return nil, err
	}
	p, err := b.board().InclusionProof(req.Index, cp.Size)
	if err != nil {
		return nil, boardError(err)
	}
	return &recountv1.GetInclusionProofResponse{TreeSize: cp.Size, Proof: p, Checkpoint: cp.Signed}, nil
}

func (b *boardServer) GetConsistencyProof(ctx context.Context, req *recountv1.GetConsistencyProofRequest) (*recountv1.GetConsistencyProofResponse, error) {
	cp, err := b.checkpoint(req.NewSize)
	if err != nil {
		return nil, err
	}
	p, err := b.board().ConsistencyProof(req.OldSize, cp.Size)
	if err != nil {
		return nil, boardError(err)
	}
	return &recountv1.GetConsistencyProofResponse{NewSize: cp.Size, Proof: p, Checkpoint: cp.Signed}, nil
}

// StreamEntries streams the mirror's entries from req.From, following it with req.Follow.
func (b *boardServer) StreamEntries(req *recountv1.StreamEntriesRequest, stream grpc.ServerStreamingServer[recountv1.StreamEntriesResponse]) error {
	release, err := b.acquire()
	if err != nil {
		return err
	}
	defer release()
	ctx, m := stream.Context(), b.board()
	next := req.From
	if size := m.Size(); next > size {
		return refusal(codes.OutOfRange, client.ReasonNotFound, "from %d: the board has %d entries", next, size)
	}
	var commitEnd tlog.Checkpoint // the mirror's checkpoint covering the entry being sent (as the node's stream)
	for {
		for e, err := range m.Entries(ctx, next) {
			if err != nil {
				return boardError(err)
			}
			if commitEnd.Size <= e.Index {
				if commitEnd, err = m.NextCheckpoint(e.Index); err != nil {
					return boardError(err)
				}
			}
			msg := &recountv1.StreamEntriesResponse{Index: e.Index, Kind: recordv1.EntryKind(e.Kind), Payload: e.Payload}
			if commitEnd.Size == e.Index+1 {
				msg.Checkpoint = commitEnd.Signed
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
			next = e.Index + 1
		}
		if !req.Follow {
			return nil
		}
		if err := m.WaitSize(ctx, next+1); err != nil {
			return boardError(err)
		}
	}
}

// exportChunk bounds one ExportResponse message (as the node's).
const exportChunk = 16<<10 - 3

type exportWriter struct {
	stream grpc.ServerStreamingServer[recountv1.ExportResponse]
}

func (w exportWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), exportChunk)
		if err := w.stream.Send(&recountv1.ExportResponse{Data: p[:c]}); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}

func (b *boardServer) Export(req *recountv1.ExportRequest, stream grpc.ServerStreamingServer[recountv1.ExportResponse]) error {
	release, err := b.acquire()
	if err != nil {
		return err
	}
	defer release()
	if err := b.board().Export(stream.Context(), exportWriter{stream}); err != nil {
		return boardError(err)
	}
	return nil
}

type voterServer struct {
	recountv1.UnimplementedVoterServiceServer
	o *Observer
}

var phases = map[client.Phase]recountv1.Phase{
	client.PhaseEmpty:    recountv1.Phase_PHASE_EMPTY,
	client.PhaseSetup:    recountv1.Phase_PHASE_SETUP,
	client.PhaseOpen:     recountv1.Phase_PHASE_OPEN,
	client.PhaseClosed:   recountv1.Phase_PHASE_CLOSED,
	client.PhaseTallying: recountv1.Phase_PHASE_TALLYING,
	client.PhaseDone:     recountv1.Phase_PHASE_DONE,
}

var ballotStatus = map[election.Status]recountv1.BallotStatus{
	election.StatusCast:       recountv1.BallotStatus_BALLOT_STATUS_CAST,
	election.StatusCounted:    recountv1.BallotStatus_BALLOT_STATUS_COUNTED,
	election.StatusSuperseded: recountv1.BallotStatus_BALLOT_STATUS_SUPERSEDED,
	election.StatusSpoiled:    recountv1.BallotStatus_BALLOT_STATUS_SPOILED,
	election.StatusNotCounted: recountv1.BallotStatus_BALLOT_STATUS_NOT_COUNTED,
}

// GetElection states the election as the observer's verified state holds it.
func (v voterServer) GetElection(ctx context.Context, _ *recountv1.GetElectionRequest) (*recountv1.GetElectionResponse, error) {
	o := v.o
	o.mu.RLock()
	defer o.mu.RUnlock()
	s := o.state
	resp := &recountv1.GetElectionResponse{Phase: phases[phaseOf(s)], Credentials: uint64(s.Credentials()), BoardKey: o.mirror.VerifierKey()}
	if m := s.Manifest(); m != nil {
		id := m.ID()
		resp.Manifest, resp.ElectionId = m.Bytes(), id[:]
	}
	if k := s.Key(); k != nil {
		resp.JointKey = k.PublicKey.Bytes()
	}
	return resp, nil
}

func (v voterServer) CastBallot(context.Context, *recountv1.CastBallotRequest) (*recountv1.CastBallotResponse, error) {
	return nil, readOnly()
}

func (v voterServer) ChallengeBallot(context.Context, *recountv1.ChallengeBallotRequest) (*recountv1.ChallengeBallotResponse, error) {
	return nil, readOnly()
}

func readOnly() error {
	return refusal(codes.FailedPrecondition, ReasonReadOnly, "this is an observer's read-only copy of the board: cast or challenge your ballot at the election's node, then check your receipt here")
}

// GetReceipt answers as the node does, from the mirror and the observer's verified state: the ballot's
// inclusion in the mirror's latest checkpoint (signed by the node), its status, and the consistency proof from
// since_size.
func (v voterServer) GetReceipt(ctx context.Context, req *recountv1.GetReceiptRequest) (*recountv1.GetReceiptResponse, error) {
	if len(req.TrackingCode) != 32 {
		return nil, refusal(codes.InvalidArgument, client.ReasonBadRequest, "tracking_code is %d bytes, want 32", len(req.TrackingCode))
	}
	o, code := v.o, election.ID(req.TrackingCode)
	o.mu.RLock()
	entry, _, ok := o.state.Lookup(code)
	st, by := o.state.BallotStatus(code)
	o.mu.RUnlock()
	if !ok {
		return nil, refusal(codes.NotFound, client.ReasonNotFound, "no ballot with tracking code %s is on the observer's copy of the board (it holds the entries the observer has verified)", election.HumanTrackingCode(code))
	}
	cp := o.mirror.Latest()
	if req.SinceSize > cp.Size {
		return nil, refusal(codes.OutOfRange, client.ReasonBadRequest, "since_size %d is larger than the observer's copy of the board (%d entries): it may be behind the node; keep your checkpoint", req.SinceSize, cp.Size)
	}
	p, err := o.mirror.InclusionProof(entry, cp.Size)
	if err != nil {
		return nil, boardError(err)
	}
	resp := &recountv1.GetReceiptResponse{Receipt: &recountv1.Receipt{TrackingCode: code[:], Index: entry, Checkpoint: cp.Signed, InclusionProof: p,
		BoardKey: o.mirror.VerifierKey()}, Status: ballotStatus[st], SupersededBy: by}
	if req.SinceSize > 0 {
		if resp.ConsistencyProof, err = o.mirror.ConsistencyProof(req.SinceSize, cp.Size); err != nil {
			return nil, boardError(err)
		}
	}
	return resp, nil
}

// RegisterBoard registers on s a read-only BoardService over the board l (a mirror, an imported record): the
// same service an observer serves, for anyone who holds a copy of a board.
func RegisterBoard(s *grpc.Server, l *ledger.Log) {
	recountv1.RegisterBoardServiceServer(s, newBoardServer(func() *ledger.Log { return l }))
}

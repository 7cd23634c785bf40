package node

import (
	"context"

	"google.golang.org/grpc/codes"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// PhaseOf returns where an election stands.
func PhaseOf(s *election.State) recountv1.Phase {
	switch {
	case s.Manifest() == nil:
		return recountv1.Phase_PHASE_EMPTY
	case s.HasResult():
		return recountv1.Phase_PHASE_DONE
	case s.HasTally():
		return recountv1.Phase_PHASE_TALLYING
	case s.IsClosed():
		return recountv1.Phase_PHASE_CLOSED
	case s.IsOpen():
		return recountv1.Phase_PHASE_OPEN
	default:
		return recountv1.Phase_PHASE_SETUP
	}
}

// Election returns what a voting client needs: the manifest, the election key and the phase.
func (n *Node) Election() *recountv1.GetElectionResponse {
	n.stateMu.RLock()
	defer n.stateMu.RUnlock()
	resp := &recountv1.GetElectionResponse{Phase: PhaseOf(n.state), Credentials: uint64(n.state.Credentials()), BoardKey: n.log.VerifierKey()}
	if m := n.state.Manifest(); m != nil {
		id := m.ID()
		resp.Manifest, resp.ElectionId = m.Bytes(), id[:]
	}
	if k := n.state.Key(); k != nil {
		resp.JointKey = k.PublicKey.Bytes()
	}
	return resp
}

// SubmitBallot casts (kind election.KindBallot, a SignedBallot payload) or challenges (KindSpoiledBallot, a
// SpoiledBallot payload) a ballot and returns its receipt once it is on disk. It refuses, appending nothing, a
// ballot that fails a check (InvalidArgument naming the check), one outside the open polls (FailedPrecondition)
// and one whose tracking code is on the board or in flight (AlreadyExists).
func (n *Node) SubmitBallot(ctx context.Context, kind election.Kind, payload []byte) (*recountv1.Receipt, error) {
	r, err := n.submitBallot(ctx, kind, payload)
	if err != nil {
		reason, _ := Reason(err)
		n.metrics.refused(reason)
		return nil, err
	}
	n.metrics.accepted(kind)
	return r, nil
}

func (n *Node) submitBallot(ctx context.Context, kind election.Kind, payload []byte) (*recountv1.Receipt, error) {
	if err := n.usable(); err != nil {
		return nil, err
	}
	if len(payload) == 0 || len(payload) > tlog.MaxPayloadSize {
		return nil, refusal(codes.InvalidArgument, CheckReason(election.CheckBallotShape), nil, "check %s: the ballot is empty or larger than %d bytes", election.CheckBallotShape, tlog.MaxPayloadSize)
	}
	var m *election.Manifest
	var key *election.ElectionKey
	var open, closed bool
	n.View(func(s *election.State) { m, key, open, closed = s.Manifest(), s.Key(), s.IsOpen(), s.IsClosed() })
	switch {
	case closed:
		return nil, refusal(codes.FailedPrecondition, ReasonPollsClosed, nil, "the polls are closed")
	case !open:
		return nil, refusal(codes.FailedPrecondition, ReasonPollsNotOpen, nil, "the polls are not open yet")
	}
	if err := n.inWindow(m); err != nil {
		return nil, err
	}
	// The costly checks, outside every lock (the manifest and key never change once set), after the cheap ones:
	// a ballot that the state refuses (a copy of one on the board, an unknown credential) costs no proof
	// verification, and the proofs stop when the client goes.
	bc, err := election.AdmitBallot(ctx, m, key.PublicKey, election.Entry{Kind: kind, Payload: payload}, func(b *election.Ballot) (ce *election.CheckError) {
		n.View(func(s *election.State) { ce, closed = s.CheckBallotAdmission(b), s.IsClosed() })
		return ce
	})
	if err != nil {
		return nil, ctxStatus(err)
	}
	if ce := bc.Err(); ce != nil {
		return nil, admissionRefusal(ce, closed)
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxStatus(err)
	}
	b := bc.Ballot()

	n.phase.RLock()
	defer n.phase.RUnlock()
	if err := n.usable(); err != nil {
		return nil, err
	}
	if !n.reserve(b.TrackingCode) {
		return nil, refusal(codes.AlreadyExists, CheckReason(election.CheckBallotUnique), map[string]string{"check": "14"},
			"check %s: the same ballot is being cast right now", election.CheckBallotUnique)
	}
	defer n.release(b.TrackingCode)
	var ce *election.CheckError
	n.View(func(s *election.State) {
		ce, closed = s.CheckBallotAdmission(b), s.IsClosed()
	})
	if ce != nil {
		return nil, admissionRefusal(ce, closed)
	}
	res, err := n.appendDetached(ctx, kind, payload)
	if err != nil {
		return nil, n.appendFailed(err)
	}
	e := election.Entry{Index: res.Index, Kind: kind, Payload: payload}
	if errs := n.applyInOrder(&pendingEntry{e: e, bc: bc}); len(errs) > 0 {
		// Cannot happen: the checks passed before the append and nothing they depend on changed since.
		n.logger.Error("node: an appended ballot failed a check when applied", "index", res.Index, "err", errs[0])
	}
	return n.receipt(b.TrackingCode, res.Index, res.Checkpoint)
}

// admissionRefusal is the status that refuses a ballot failing ce; closed says whether the polls had closed.
func admissionRefusal(ce *election.CheckError, closed bool) error {
	switch {
	case ce.Check == election.CheckBallotWindow && closed:
		// The close waited for the ballots in flight; this one came after it.
		return refusal(codes.FailedPrecondition, ReasonPollsClosed, nil, "the polls are closed")
	case ce.Check == election.CheckBallotWindow:
		return refusal(codes.FailedPrecondition, ReasonPollsNotOpen, nil, "the polls are not open yet")
	case ce.Check == election.CheckBallotUnique:
		return checkRefusal(codes.AlreadyExists, ce)
	default:
		return checkRefusal(codes.InvalidArgument, ce)
	}
}

// inWindow refuses a ballot outside the manifest's voting window, by the node's clock.
func (n *Node) inWindow(m *election.Manifest) error {
	now := n.now().Unix()
	pb := m.Proto()
	switch {
	case now < pb.OpensAt:
		return refusal(codes.FailedPrecondition, ReasonOutsideWindow, nil, "the voting window opens at %s", FormatTime(pb.OpensAt))
	case now > pb.ClosesAt:
		return refusal(codes.FailedPrecondition, ReasonOutsideWindow, nil, "the voting window closed at %s", FormatTime(pb.ClosesAt))
	}
	return nil
}

// receipt proves that entry index, with tracking code code, is in the tree of checkpoint cp.
func (n *Node) receipt(code election.ID, index uint64, cp tlog.Checkpoint) (*recountv1.Receipt, error) {
	proof, err := n.log.InclusionProof(index, cp.Size)
	if err != nil {
		return nil, refusal(codes.Internal, ReasonBoardFailed, nil, "inclusion proof of entry %d: %v", index, err)
	}
	return &recountv1.Receipt{TrackingCode: code[:], Index: index, Checkpoint: cp.Signed, InclusionProof: proof, BoardKey: n.log.VerifierKey()}, nil
}

var ballotStatus = map[election.Status]recountv1.BallotStatus{
	election.StatusCast:       recountv1.BallotStatus_BALLOT_STATUS_CAST,
	election.StatusCounted:    recountv1.BallotStatus_BALLOT_STATUS_COUNTED,
	election.StatusSuperseded: recountv1.BallotStatus_BALLOT_STATUS_SUPERSEDED,
	election.StatusSpoiled:    recountv1.BallotStatus_BALLOT_STATUS_SPOILED,
	election.StatusNotCounted: recountv1.BallotStatus_BALLOT_STATUS_NOT_COUNTED,
}

// GetReceipt returns the current proof for a tracking code: inclusion in the latest checkpoint, consistency from
// the tree size sinceSize (0 for none), and what became of the ballot.
func (n *Node) GetReceipt(code election.ID, sinceSize uint64) (*recountv1.GetReceiptResponse, error) {
	var entry, by uint64
	var ok bool
	var st election.Status
	n.View(func(s *election.State) {
		entry, _, ok = s.Lookup(code)
		st, by = s.BallotStatus(code)
	})
	if !ok {
		return nil, refusal(codes.NotFound, ReasonNotFound, nil, "no ballot with tracking code %s is on the board", election.HumanTrackingCode(code))
	}
	cp := n.log.Latest()
	if sinceSize > cp.Size {
		return nil, refusal(codes.OutOfRange, ReasonBadRequest, nil, "since_size %d is larger than the board (%d entries): keep your checkpoint as evidence", sinceSize, cp.Size)
	}
	r, err := n.receipt(code, entry, cp)
	if err != nil {
		return nil, err
	}
	resp := &recountv1.GetReceiptResponse{Receipt: r, Status: ballotStatus[st], SupersededBy: by}
	if sinceSize > 0 {
		if resp.ConsistencyProof, err = n.log.ConsistencyProof(sinceSize, cp.Size); err != nil {
			return nil, refusal(codes.Internal, ReasonBoardFailed, nil, "consistency proof: %v", err)
		}
	}
	return resp, nil
}

// voterServer is VoterService.
type voterServer struct {
	recountv1.UnimplementedVoterServiceServer
	n *Node
}

func (v voterServer) GetElection(ctx context.Context, _ *recountv1.GetElectionRequest) (*recountv1.GetElectionResponse, error) {
	return v.n.Election(), nil
}

func (v voterServer) CastBallot(ctx context.Context, req *recountv1.CastBallotRequest) (*recountv1.CastBallotResponse, error) {
	r, err := v.n.SubmitBallot(ctx, election.KindBallot, req.SignedBallot)
	if err != nil {
		return nil, err
	}
	return &recountv1.CastBallotResponse{Receipt: r}, nil
}

func (v voterServer) ChallengeBallot(ctx context.Context, req *recountv1.ChallengeBallotRequest) (*recountv1.ChallengeBallotResponse, error) {
	r, err := v.n.SubmitBallot(ctx, election.KindSpoiledBallot, req.SpoiledBallot)
	if err != nil {
		return nil, err
	}
	return &recountv1.ChallengeBallotResponse{Receipt: r}, nil
}

func (v voterServer) GetReceipt(ctx context.Context, req *recountv1.GetReceiptRequest) (*recountv1.GetReceiptResponse, error) {
	if len(req.TrackingCode) != 32 {
		return nil, refusal(codes.InvalidArgument, ReasonBadRequest, nil, "tracking_code is %d bytes, want 32", len(req.TrackingCode))
	}
	return v.n.GetReceipt(election.ID(req.TrackingCode), req.SinceSize)
}

package node

import (
	"context"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
)

// voterServer is VoterService: it translates between the service's messages and the node's calls (voter.go).
type voterServer struct {
	recountv1.UnimplementedVoterServiceServer
	n *Node
}

// VoterService returns n's VoterService, for a server that registers it itself (NewServer does).
func VoterService(n *Node) recountv1.VoterServiceServer { return voterServer{n: n} }

// phases are the service's phases.
var phases = map[Phase]recountv1.Phase{
	PhaseEmpty:    recountv1.Phase_PHASE_EMPTY,
	PhaseSetup:    recountv1.Phase_PHASE_SETUP,
	PhaseOpen:     recountv1.Phase_PHASE_OPEN,
	PhaseClosed:   recountv1.Phase_PHASE_CLOSED,
	PhaseTallying: recountv1.Phase_PHASE_TALLYING,
	PhaseDone:     recountv1.Phase_PHASE_DONE,
}

var ballotStatus = map[election.Status]recountv1.BallotStatus{
	election.StatusCast:       recountv1.BallotStatus_BALLOT_STATUS_CAST,
	election.StatusCounted:    recountv1.BallotStatus_BALLOT_STATUS_COUNTED,
	election.StatusSuperseded: recountv1.BallotStatus_BALLOT_STATUS_SUPERSEDED,
	election.StatusSpoiled:    recountv1.BallotStatus_BALLOT_STATUS_SPOILED,
	election.StatusNotCounted: recountv1.BallotStatus_BALLOT_STATUS_NOT_COUNTED,
}

func (v voterServer) GetElection(ctx context.Context, _ *recountv1.GetElectionRequest) (*recountv1.GetElectionResponse, error) {
	e := v.n.Election()
	resp := &recountv1.GetElectionResponse{Phase: phases[e.Phase], Credentials: uint64(e.Credentials), BoardKey: e.BoardKey}
	if e.Manifest != nil {
		id := e.Manifest.ID()
		resp.Manifest, resp.ElectionId = e.Manifest.Bytes(), id[:]
	}
	if e.Key != nil {
		resp.JointKey = e.Key.PublicKey.Bytes()
	}
	return resp, nil
}

func (v voterServer) CastBallot(ctx context.Context, req *recountv1.CastBallotRequest) (*recountv1.CastBallotResponse, error) {
	r, err := v.n.SubmitBallot(ctx, election.KindBallot, req.SignedBallot)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.CastBallotResponse{Receipt: receiptMessage(r), ConsistencyProof: v.n.ReceiptConsistency(r, req.SinceSize)}, nil
}

func (v voterServer) ChallengeBallot(ctx context.Context, req *recountv1.ChallengeBallotRequest) (*recountv1.ChallengeBallotResponse, error) {
	r, err := v.n.SubmitBallot(ctx, election.KindSpoiledBallot, req.SpoiledBallot)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.ChallengeBallotResponse{Receipt: receiptMessage(r), ConsistencyProof: v.n.ReceiptConsistency(r, req.SinceSize)}, nil
}

func (v voterServer) GetReceipt(ctx context.Context, req *recountv1.GetReceiptRequest) (*recountv1.GetReceiptResponse, error) {
	if len(req.TrackingCode) != 32 {
		return nil, refuse(FaultInvalid, ReasonBadRequest, nil, "tracking_code is %d bytes, want 32", len(req.TrackingCode)).status().Err()
	}
	l, err := v.n.GetReceipt(election.ID(req.TrackingCode), req.SinceSize, req.Witnessed)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.GetReceiptResponse{Receipt: receiptMessage(l.Inclusion), Status: ballotStatus[l.Status], SupersededBy: l.SupersededBy,
		ConsistencyProof: l.Consistency}, nil
}

// receiptMessage is the Receipt message of an inclusion.
func receiptMessage(r Inclusion) *recountv1.Receipt {
	return &recountv1.Receipt{TrackingCode: r.TrackingCode[:], Index: r.Index, Checkpoint: r.Checkpoint.Signed, InclusionProof: r.Proof,
		BoardKey: r.BoardKey, CosignedCheckpoint: r.Cosigned, Unwitnessed: r.Unwitnessed}
}

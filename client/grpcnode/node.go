package grpcnode

import (
	"context"
	"errors"
	"io"
	"iter"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// Node is client.Node over a connection's VoterService and BoardService stubs.
type Node struct {
	Voter recountv1.VoterServiceClient
	Board recountv1.BoardServiceClient
}

var _ client.Node = Node{}

// Election is GetElection.
func (n Node) Election(ctx context.Context) (*client.NodeElection, error) {
	resp, err := n.Voter.GetElection(ctx, &recountv1.GetElectionRequest{})
	if err != nil {
		return nil, Err(err)
	}
	return &client.NodeElection{Manifest: resp.Manifest, ID: resp.ElectionId, Key: resp.JointKey, BoardKey: resp.BoardKey,
		Phase: PhaseOf(resp.Phase)}, nil
}

// Post is CastBallot for election.KindBallot and ChallengeBallot for election.KindSpoiledBallot.
func (n Node) Post(ctx context.Context, kind election.Kind, payload []byte, sinceSize uint64) (*client.Inclusion, error) {
	var pb *recountv1.Receipt
	var consistency [][]byte
	switch kind {
	case election.KindBallot:
		resp, err := n.Voter.CastBallot(ctx, &recountv1.CastBallotRequest{SignedBallot: payload, SinceSize: sinceSize})
		if err != nil {
			return nil, Err(err)
		}
		pb, consistency = resp.Receipt, resp.ConsistencyProof
	case election.KindSpoiledBallot:
		resp, err := n.Voter.ChallengeBallot(ctx, &recountv1.ChallengeBallotRequest{SpoiledBallot: payload, SinceSize: sinceSize})
		if err != nil {
			return nil, Err(err)
		}
		pb, consistency = resp.Receipt, resp.ConsistencyProof
	default:
		return nil, errors.New("grpcnode: a voter posts a ballot or a challenged ballot, no other kind of entry")
	}
	inc := inclusionOf(pb)
	if inc != nil {
		inc.Consistency = consistency
	}
	return inc, nil
}

// Lookup is GetReceipt.
func (n Node) Lookup(ctx context.Context, code election.ID, sinceSize uint64) (*client.BallotLookup, error) {
	resp, err := n.Voter.GetReceipt(ctx, &recountv1.GetReceiptRequest{TrackingCode: code[:], SinceSize: sinceSize})
	if err != nil {
		return nil, Err(err)
	}
	return &client.BallotLookup{Inclusion: inclusionOf(resp.Receipt), Consistency: resp.ConsistencyProof,
		Status: StatusOf(resp.Status), SupersededBy: resp.SupersededBy}, nil
}

// LookupWitnessed is GetReceipt with witnessed.
func (n Node) LookupWitnessed(ctx context.Context, code election.ID, sinceSize uint64) (*client.BallotLookup, error) {
	resp, err := n.Voter.GetReceipt(ctx, &recountv1.GetReceiptRequest{TrackingCode: code[:], SinceSize: sinceSize, Witnessed: true})
	if err != nil {
		return nil, Err(err)
	}
	return &client.BallotLookup{Inclusion: inclusionOf(resp.Receipt), Consistency: resp.ConsistencyProof,
		Status: StatusOf(resp.Status), SupersededBy: resp.SupersededBy}, nil
}

// Consistency is GetConsistencyProof.
func (n Node) Consistency(ctx context.Context, oldSize, newSize uint64) ([]byte, [][]byte, error) {
	resp, err := n.Board.GetConsistencyProof(ctx, &recountv1.GetConsistencyProofRequest{OldSize: oldSize, NewSize: newSize})
	if err != nil {
		return nil, nil, Err(err)
	}
	return resp.Checkpoint, resp.Proof, nil
}

// Entries is StreamEntries from index from, without following the board.
func (n Node) Entries(ctx context.Context, from uint64) iter.Seq2[tlog.Entry, error] {
	return func(yield func(tlog.Entry, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := n.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{From: from})
		if err != nil {
			yield(tlog.Entry{}, Err(err))
			return
		}
		for {
			m, err := stream.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(tlog.Entry{}, Err(err))
				return
			}
			if !yield(StreamedEntry(m), nil) {
				return
			}
		}
	}
}

// inclusionOf is the inclusion a Receipt message carries; nil for nil.
func inclusionOf(pb *recountv1.Receipt) *client.Inclusion {
	if pb == nil {
		return nil
	}
	return &client.Inclusion{TrackingCode: pb.TrackingCode, Index: pb.Index, Checkpoint: pb.Checkpoint, Proof: pb.InclusionProof,
		BoardKey: pb.BoardKey, Cosigned: pb.CosignedCheckpoint, Unwitnessed: pb.Unwitnessed}
}

// StreamedEntry returns the board entry a StreamEntries message carries, as the node read it from its board: the
// one translation of a streamed entry, which election.FromBoard turns into an election entry.
func StreamedEntry(m *recountv1.StreamEntriesResponse) tlog.Entry {
	return tlog.Entry{Index: m.Index, Kind: tlog.Kind(m.Kind), Payload: m.Payload}
}

var phases = map[recountv1.Phase]client.Phase{
	recountv1.Phase_PHASE_EMPTY:    client.PhaseEmpty,
	recountv1.Phase_PHASE_SETUP:    client.PhaseSetup,
	recountv1.Phase_PHASE_OPEN:     client.PhaseOpen,
	recountv1.Phase_PHASE_CLOSED:   client.PhaseClosed,
	recountv1.Phase_PHASE_TALLYING: client.PhaseTallying,
	recountv1.Phase_PHASE_DONE:     client.PhaseDone,
}

// PhaseOf is the phase of a service's Phase; client.PhaseUnknown for one it does not know.
func PhaseOf(p recountv1.Phase) client.Phase { return phases[p] }

var statuses = map[recountv1.BallotStatus]election.Status{
	recountv1.BallotStatus_BALLOT_STATUS_CAST:        election.StatusCast,
	recountv1.BallotStatus_BALLOT_STATUS_COUNTED:     election.StatusCounted,
	recountv1.BallotStatus_BALLOT_STATUS_SUPERSEDED:  election.StatusSuperseded,
	recountv1.BallotStatus_BALLOT_STATUS_SPOILED:     election.StatusSpoiled,
	recountv1.BallotStatus_BALLOT_STATUS_NOT_COUNTED: election.StatusNotCounted,
}

// StatusOf is the ballot status of a service's BallotStatus; election.StatusUnknown for one it does not know.
func StatusOf(s recountv1.BallotStatus) election.Status { return statuses[s] }

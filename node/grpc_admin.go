package node

import (
	"context"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
)

// adminServer is AdminService: it translates between the service's messages and the node's calls (admin.go).
// The server's interceptor (grpc_auth.go) lets only the commission's calls through.
type adminServer struct {
	recountv1.UnimplementedAdminServiceServer
	n *Node
}

func (a adminServer) CreateElection(ctx context.Context, req *recountv1.CreateElectionRequest) (*recountv1.CreateElectionResponse, error) {
	id, err := a.n.CreateElection(ctx, req.Manifest)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.CreateElectionResponse{ElectionId: id[:]}, nil
}

func (a adminServer) PublishCredentials(ctx context.Context, req *recountv1.PublishCredentialsRequest) (*recountv1.PublishCredentialsResponse, error) {
	p, err := a.n.PublishCredentials(ctx, req.PublicKeys)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.PublishCredentialsResponse{Index: p.Index, Total: uint64(p.Total)}, nil
}

func (a adminServer) FinishKeyCeremony(ctx context.Context, req *recountv1.FinishKeyCeremonyRequest) (*recountv1.FinishKeyCeremonyResponse, error) {
	k, err := a.n.FinishKeyCeremony(ctx, req.Force)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.FinishKeyCeremonyResponse{JointKey: k.PublicKey.Bytes(), Qualified: uint32s(k.Qualified)}, nil
}

func (a adminServer) OpenPolls(ctx context.Context, _ *recountv1.OpenPollsRequest) (*recountv1.OpenPollsResponse, error) {
	i, err := a.n.OpenPolls(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.OpenPollsResponse{Index: i}, nil
}

func (a adminServer) ClosePolls(ctx context.Context, _ *recountv1.ClosePollsRequest) (*recountv1.ClosePollsResponse, error) {
	i, err := a.n.ClosePolls(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.ClosePollsResponse{Index: i}, nil
}

func (a adminServer) Tally(ctx context.Context, _ *recountv1.TallyRequest) (*recountv1.TallyResponse, error) {
	p, err := a.n.Tally(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.TallyResponse{Index: p.Index, Counted: uint64(p.Counted)}, nil
}

func (a adminServer) PublishResult(ctx context.Context, _ *recountv1.PublishResultRequest) (*recountv1.PublishResultResponse, error) {
	p, err := a.n.PublishResult(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.PublishResultResponse{Index: p.Index, Trustees: uint32s(p.Trustees)}, nil
}

func (a adminServer) GetStatus(ctx context.Context, _ *recountv1.GetStatusRequest) (*recountv1.GetStatusResponse, error) {
	st := a.n.Status()
	return &recountv1.GetStatusResponse{Phase: phases[st.Phase], BoardSize: st.BoardSize, Credentials: uint64(st.Credentials),
		BallotsCast: uint64(st.BallotsCast), Voters: uint64(st.Voters), Spoiled: uint64(st.Spoiled),
		Committed: uint32s(st.Committed), Verdicts: uint32s(st.Verdicts), PartialDecryptions: uint32s(st.PartialDecryptions),
		Witnessing: witnessStatusMessage(a.n), Cluster: clusterStatusMessage(a.n)}, nil
}

func (a adminServer) AddMember(ctx context.Context, req *recountv1.AddMemberRequest) (*recountv1.AddMemberResponse, error) {
	if err := a.n.AddMember(ctx, req.Id, req.RaftAddress); err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.AddMemberResponse{}, nil
}

func (a adminServer) RemoveMember(ctx context.Context, req *recountv1.RemoveMemberRequest) (*recountv1.RemoveMemberResponse, error) {
	if err := a.n.RemoveMember(ctx, req.Id); err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.RemoveMemberResponse{}, nil
}

// clusterStatusMessage is the node's view of its cluster, nil without one (or if it cannot be read).
func clusterStatusMessage(n *Node) *recountv1.ClusterStatus {
	st, ok, err := n.ClusterStatus()
	if !ok || err != nil {
		return nil
	}
	m := &recountv1.ClusterStatus{Id: st.ID, State: st.State, LeaderId: st.LeaderID, LeaderRaftAddress: st.LeaderAddr,
		CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIdx, BoardSize: st.BoardSize, Pending: st.Pending, Ready: st.Ready}
	for _, mb := range st.Members {
		m.Members = append(m.Members, &recountv1.ClusterMember{Id: mb.ID, RaftAddress: mb.Addr})
	}
	return m
}

// witnessStatusMessage is the node's witnessing status, nil without a witness policy.
func witnessStatusMessage(n *Node) *recountv1.WitnessStatus {
	ws, ok := n.WitnessStatus()
	if !ok {
		return nil
	}
	m := &recountv1.WitnessStatus{Quorum: ws.Quorum, WitnessedSize: ws.WitnessedSize}
	if !ws.WitnessedAt.IsZero() {
		m.WitnessedAt = ws.WitnessedAt.Unix()
	}
	if !ws.UnwitnessedSince.IsZero() {
		m.UnwitnessedSince = ws.UnwitnessedSince.Unix()
	}
	for _, w := range ws.Witnesses {
		m.Witnesses = append(m.Witnesses, &recountv1.WitnessState{Name: w.Name, CosignedSize: w.Size, LastError: w.LastError})
	}
	return m
}

// uint32s converts trustee indices (at most election.MaxTrustees) to the messages' type; nil for none.
func uint32s(is []int) []uint32 {
	var u []uint32
	for _, i := range is {
		u = append(u, uint32(i))
	}
	return u
}

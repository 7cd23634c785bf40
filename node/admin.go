package node

import (
	"context"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
)

// The commission's calls. Authentication is the server's (auth.go): these methods assume an authorized caller.

func wrongPhase(format string, args ...any) error {
	return refusal(codes.FailedPrecondition, ReasonWrongPhase, nil, format, args...)
}

func needManifest(s *election.State) error {
	if s.Manifest() == nil {
		return refusal(codes.FailedPrecondition, ReasonNoElection, nil, "there is no election on this board yet: create one first")
	}
	return nil
}

// CreateElection posts the manifest (its serialized bytes) as entry 0 of the empty board.
func (n *Node) CreateElection(ctx context.Context, manifest []byte) (election.ID, error) {
	var id election.ID
	_, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if m := s.Manifest(); m != nil {
			return election.Draft{}, refusal(codes.AlreadyExists, ReasonElectionExists, map[string]string{"election": m.ID().String()},
				"this board already holds election %s: a board holds one election; start another node with another data directory", m.ID())
		}
		m, err := election.ParseManifest(manifest)
		if err != nil {
			return election.Draft{}, checkRefusal(codes.InvalidArgument, &election.CheckError{Check: election.CheckManifest, Reason: err.Error()})
		}
		id = m.ID()
		return m.Draft(), nil
	})
	return id, err
}

// PublishCredentials posts a list of public credentials (Ed25519 public keys) and returns its index and the
// number of credentials now published.
func (n *Node) PublishCredentials(ctx context.Context, keys [][]byte) (*recountv1.PublishCredentialsResponse, error) {
	if len(keys) == 0 {
		return nil, refusal(codes.InvalidArgument, ReasonBadRequest, nil, "no public keys")
	}
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(&recordv1.CredentialList{PublicKeys: keys})
	if err != nil {
		return nil, refusal(codes.InvalidArgument, ReasonBadRequest, nil, "%v", err)
	}
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		if PhaseOf(s) != recountv1.Phase_PHASE_SETUP {
			return election.Draft{}, wrongPhase("credentials can be published only before the polls open")
		}
		return election.Draft{Kind: election.KindCredentials, Payload: payload}, nil
	})
	if err != nil {
		return nil, err
	}
	var total int
	n.View(func(s *election.State) { total = s.Credentials() })
	return &recountv1.PublishCredentialsResponse{Index: res.Index, Total: uint64(total)}, nil
}

// FinishKeyCeremony computes and posts the election key. Unless force is set it waits (FailedPrecondition) for
// every trustee that committed to give its verdict and for every complaint to be answered.
func (n *Node) FinishKeyCeremony(ctx context.Context, force bool) (*recountv1.FinishKeyCeremonyResponse, error) {
	_, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		if s.Key() != nil {
			return election.Draft{}, refusal(codes.AlreadyExists, ReasonDuplicate, nil, "the election key is already on the board")
		}
		p := s.Ceremony()
		if !force {
			var silent []int
			for _, i := range p.Committed {
				if !slices.Contains(p.Verdicts, i) {
					silent = append(silent, i)
				}
			}
			if len(silent) > 0 || len(p.Unanswered) > 0 {
				return election.Draft{}, wrongPhase("the key ceremony is not complete: committed %v, verdicts %v, unanswered complaints (dealer, complainant) %v; wait, or force it", p.Committed, p.Verdicts, p.Unanswered)
			}
		}
		d, err := s.ElectionKey()
		if err != nil {
			return election.Draft{}, wrongPhase("the election key cannot be computed yet: %v (committed %v)", err, p.Committed)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	resp := &recountv1.FinishKeyCeremonyResponse{}
	n.View(func(s *election.State) {
		k := s.Key()
		resp.JointKey = k.PublicKey.Bytes()
		for _, q := range k.Qualified {
			resp.Qualified = append(resp.Qualified, uint32(q))
		}
	})
	return resp, nil
}

// OpenPolls posts the open entry. The node's clock must be inside the manifest's voting window.
func (n *Node) OpenPolls(ctx context.Context) (uint64, error) {
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		if s.IsOpen() || s.IsClosed() {
			return election.Draft{}, wrongPhase("the polls were already opened")
		}
		if err := n.inWindow(s.Manifest()); err != nil {
			return election.Draft{}, err
		}
		d, err := s.Open(n.now().Unix())
		if err != nil {
			return election.Draft{}, wrongPhase("the polls cannot open: %v", err)
		}
		return d, nil
	})
	return res.Index, err
}

// ClosePolls posts the close entry, after every ballot in flight.
func (n *Node) ClosePolls(ctx context.Context) (uint64, error) {
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		d, err := s.Close(n.now().Unix())
		if err != nil {
			return election.Draft{}, wrongPhase("the polls cannot close: %v", err)
		}
		return d, nil
	})
	return res.Index, err
}

// Tally posts the encrypted tally and returns its index and the number of counted ballots.
func (n *Node) Tally(ctx context.Context) (*recountv1.TallyResponse, error) {
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		d, err := s.EncryptedTally()
		if err != nil {
			return election.Draft{}, wrongPhase("no encrypted tally now: %v", err)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	var voters int
	n.View(func(s *election.State) { _, voters, _ = s.Counts() })
	return &recountv1.TallyResponse{Index: res.Index, Counted: uint64(voters)}, nil
}

// PublishResult combines the first t valid partial decryptions and posts the result.
func (n *Node) PublishResult(ctx context.Context) (*recountv1.PublishResultResponse, error) {
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		if !s.HasTally() {
			return election.Draft{}, wrongPhase("the encrypted tally is not on the board: run the tally first")
		}
		d, err := s.Result()
		if err != nil {
			if s.HasResult() {
				return election.Draft{}, refusal(codes.AlreadyExists, ReasonDuplicate, nil, "the result is already on the board")
			}
			return election.Draft{}, refusal(codes.FailedPrecondition, ReasonNotEnoughShares, nil, "%v", err)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	resp := &recountv1.PublishResultResponse{Index: res.Index}
	n.View(func(s *election.State) {
		for _, j := range s.Tally().Trustees {
			resp.Trustees = append(resp.Trustees, uint32(j))
		}
	})
	return resp, nil
}

// Status reports the election's progress.
func (n *Node) Status() *recountv1.GetStatusResponse {
	n.stateMu.RLock()
	defer n.stateMu.RUnlock()
	s := n.state
	cast, voters, spoiled := s.Counts()
	resp := &recountv1.GetStatusResponse{Phase: PhaseOf(s), BoardSize: s.Size(), Credentials: uint64(s.Credentials()),
		BallotsCast: uint64(cast), Voters: uint64(voters), Spoiled: uint64(spoiled)}
	if s.Manifest() == nil {
		return resp
	}
	p := s.Ceremony()
	for _, i := range p.Committed {
		resp.Committed = append(resp.Committed, uint32(i))
	}
	for _, i := range p.Verdicts {
		resp.Verdicts = append(resp.Verdicts, uint32(i))
	}
	if s.HasTally() {
		valid, _ := s.ValidPartials()
		for _, j := range valid {
			resp.PartialDecryptions = append(resp.PartialDecryptions, uint32(j))
		}
	}
	return resp
}

// adminServer is AdminService.
type adminServer struct {
	recountv1.UnimplementedAdminServiceServer
	n *Node
}

func (a adminServer) CreateElection(ctx context.Context, req *recountv1.CreateElectionRequest) (*recountv1.CreateElectionResponse, error) {
	id, err := a.n.CreateElection(ctx, req.Manifest)
	if err != nil {
		return nil, err
	}
	return &recountv1.CreateElectionResponse{ElectionId: id[:]}, nil
}

func (a adminServer) PublishCredentials(ctx context.Context, req *recountv1.PublishCredentialsRequest) (*recountv1.PublishCredentialsResponse, error) {
	return a.n.PublishCredentials(ctx, req.PublicKeys)
}

func (a adminServer) FinishKeyCeremony(ctx context.Context, req *recountv1.FinishKeyCeremonyRequest) (*recountv1.FinishKeyCeremonyResponse, error) {
	return a.n.FinishKeyCeremony(ctx, req.Force)
}

func (a adminServer) OpenPolls(ctx context.Context, _ *recountv1.OpenPollsRequest) (*recountv1.OpenPollsResponse, error) {
	i, err := a.n.OpenPolls(ctx)
	if err != nil {
		return nil, err
	}
	return &recountv1.OpenPollsResponse{Index: i}, nil
}

func (a adminServer) ClosePolls(ctx context.Context, _ *recountv1.ClosePollsRequest) (*recountv1.ClosePollsResponse, error) {
	i, err := a.n.ClosePolls(ctx)
	if err != nil {
		return nil, err
	}
	return &recountv1.ClosePollsResponse{Index: i}, nil
}

func (a adminServer) Tally(ctx context.Context, _ *recountv1.TallyRequest) (*recountv1.TallyResponse, error) {
	return a.n.Tally(ctx)
}

func (a adminServer) PublishResult(ctx context.Context, _ *recountv1.PublishResultRequest) (*recountv1.PublishResultResponse, error) {
	return a.n.PublishResult(ctx)
}

func (a adminServer) GetStatus(ctx context.Context, _ *recountv1.GetStatusRequest) (*recountv1.GetStatusResponse, error) {
	return a.n.Status(), nil
}

// FormatTime formats Unix seconds for people.
func FormatTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

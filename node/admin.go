package node

import (
	"context"
	"slices"
	"time"

	"github.com/recount-vote/recount/election"
)

// The commission's calls. Authentication is the gRPC server's (grpc_auth.go): these methods assume an
// authorized caller.

func wrongPhase(format string, args ...any) error {
	return refuse(FaultPhase, ReasonWrongPhase, nil, format, args...)
}

func needManifest(s *election.State) error {
	if s.Manifest() == nil {
		return refuse(FaultPhase, ReasonNoElection, nil, "there is no election on this board yet: create one first")
	}
	return nil
}

// CreateElection posts the manifest (its serialized bytes) as entry 0 of the empty board.
func (n *Node) CreateElection(ctx context.Context, manifest []byte) (election.ID, error) {
	var id election.ID
	_, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if m := s.Manifest(); m != nil {
			return election.Draft{}, refuse(FaultExists, ReasonElectionExists, map[string]string{"election": m.ID().String()},
				"this board already holds election %s: a board holds one election; start another node with another data directory", m.ID())
		}
		m, err := election.ParseManifest(manifest)
		if err != nil {
			return election.Draft{}, checkRefusal(FaultInvalid, &election.CheckError{Check: election.CheckManifest, Reason: err.Error()})
		}
		id = m.ID()
		return m.DraftManifest(), nil
	})
	return id, err
}

// CredentialsPosted is what PublishCredentials appended.
type CredentialsPosted struct {
	Index uint64 // the credential list's
	Total int    // the credentials published so far, this list's included
}

// PublishCredentials posts a list of public credentials (Ed25519 public keys) and returns its index and the
// number of credentials now published.
func (n *Node) PublishCredentials(ctx context.Context, keys [][]byte) (CredentialsPosted, error) {
	if len(keys) == 0 {
		return CredentialsPosted{}, refuse(FaultInvalid, ReasonBadRequest, nil, "no public keys")
	}
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		if PhaseOf(s) != PhaseSetup {
			return election.Draft{}, wrongPhase("credentials can be published only before the polls open")
		}
		return election.DraftCredentials(keys), nil
	})
	if err != nil {
		return CredentialsPosted{}, err
	}
	posted := CredentialsPosted{Index: res.Index}
	n.View(func(s *election.State) { posted.Total = s.Credentials() })
	return posted, nil
}

// FinishKeyCeremony computes and posts the election key, and returns it. Unless force is set it waits
// (FaultPhase) for every trustee that committed to give its verdict and for every complaint to be answered.
func (n *Node) FinishKeyCeremony(ctx context.Context, force bool) (*election.ElectionKey, error) {
	_, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		if s.Key() != nil {
			return election.Draft{}, refuse(FaultExists, ReasonDuplicate, nil, "the election key is already on the board")
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
		d, err := s.DraftElectionKey()
		if err != nil {
			return election.Draft{}, wrongPhase("the election key cannot be computed yet: %v (committed %v)", err, p.Committed)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	var k *election.ElectionKey
	n.View(func(s *election.State) { k = s.Key() })
	return k, nil
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
		d, err := s.DraftOpen(n.now().Unix())
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
		d, err := s.DraftClose(n.now().Unix())
		if err != nil {
			return election.Draft{}, wrongPhase("the polls cannot close: %v", err)
		}
		return d, nil
	})
	return res.Index, err
}

// TallyPosted is what Tally appended.
type TallyPosted struct {
	Index   uint64 // the encrypted tally's
	Counted int    // the ballots it counts: one per voter
}

// Tally posts the encrypted tally and returns its index and the number of counted ballots.
func (n *Node) Tally(ctx context.Context) (TallyPosted, error) {
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		d, err := s.DraftEncryptedTally()
		if err != nil {
			return election.Draft{}, wrongPhase("no encrypted tally now: %v", err)
		}
		return d, nil
	})
	if err != nil {
		return TallyPosted{}, err
	}
	posted := TallyPosted{Index: res.Index}
	n.View(func(s *election.State) { _, posted.Counted, _ = s.Counts() })
	return posted, nil
}

// ResultPosted is what PublishResult appended.
type ResultPosted struct {
	Index    uint64 // the result's
	Trustees []int  // the trustees whose partial decryptions it combines
}

// PublishResult combines the first t valid partial decryptions and posts the result.
func (n *Node) PublishResult(ctx context.Context) (ResultPosted, error) {
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		if !s.HasEncryptedTally() {
			return election.Draft{}, wrongPhase("the encrypted tally is not on the board: run the tally first")
		}
		d, err := s.DraftResult()
		if err != nil {
			if s.HasResult() {
				return election.Draft{}, refuse(FaultExists, ReasonDuplicate, nil, "the result is already on the board")
			}
			return election.Draft{}, refuse(FaultPhase, ReasonNotEnoughShares, nil, "%v", err)
		}
		return d, nil
	})
	if err != nil {
		return ResultPosted{}, err
	}
	posted := ResultPosted{Index: res.Index}
	n.View(func(s *election.State) { posted.Trustees = s.Result().Trustees })
	return posted, nil
}

// Status is an election's progress.
type Status struct {
	Phase       Phase
	BoardSize   uint64 // entries applied
	Credentials int    // credentials published
	BallotsCast int    // cast ballots, superseded ones included
	Voters      int    // voters who cast a ballot
	Spoiled     int    // challenged ballots
	Committed   []int  // the trustees whose key commitment is on the board
	Verdicts    []int  // the trustees whose key verdict is on the board
	// PartialDecryptions are the trustees whose partial decryption of the encrypted tally is valid.
	PartialDecryptions []int
}

// Status reports the election's progress.
func (n *Node) Status() Status {
	n.stateMu.RLock()
	defer n.stateMu.RUnlock()
	s := n.state
	st := Status{Phase: PhaseOf(s), BoardSize: s.Size(), Credentials: s.Credentials()}
	st.BallotsCast, st.Voters, st.Spoiled = s.Counts()
	if s.Manifest() == nil {
		return st
	}
	p := s.Ceremony()
	st.Committed, st.Verdicts = p.Committed, p.Verdicts
	if s.HasEncryptedTally() {
		st.PartialDecryptions, _ = s.ValidPartials()
	}
	return st
}

// FormatTime formats Unix seconds for people.
func FormatTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

package client

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// scripted is a Node whose Post and Consistency answer from a script, one answer per call.
type scripted struct {
	posts       []error
	consistency []error
	calls       int
}

func (s *scripted) Election(context.Context) (*NodeElection, error) { return nil, nil }
func (s *scripted) Post(context.Context, election.Kind, []byte, uint64) (*Inclusion, error) {
	err := s.posts[min(s.calls, len(s.posts)-1)]
	s.calls++
	if err != nil {
		return nil, err
	}
	return &Inclusion{Index: 7}, nil
}
func (s *scripted) Lookup(context.Context, election.ID, uint64) (*BallotLookup, error) {
	return nil, nil
}
func (s *scripted) LookupWitnessed(context.Context, election.ID, uint64) (*BallotLookup, error) {
	return nil, nil
}
func (s *scripted) Consistency(context.Context, uint64, uint64) ([]byte, [][]byte, error) {
	err := s.consistency[min(s.calls, len(s.consistency)-1)]
	s.calls++
	return []byte("cp"), nil, err
}
func (s *scripted) Entries(context.Context, uint64) iter.Seq2[tlog.Entry, error] { return nil }

func TestFailover(t *testing.T) {
	notLeader := &Refusal{Reason: ReasonNotLeader, Err: errors.New("not the leader")}
	unique := &Refusal{Reason: ReasonBallotUnique, Err: errors.New("the ballot already stands")}
	notFound := &Refusal{Reason: ReasonNotFound, Err: errors.New("no checkpoint of that size")}
	invalid := &Refusal{Reason: "BALLOT_PROOFS", Err: errors.New("bad proofs")}
	lost := NoAnswer(errors.New("connection reset"))
	ctx := context.Background()

	// A follower, a dead member, then the leader: the post lands on the leader.
	f := NewFailover(&scripted{posts: []error{notLeader}}, &scripted{posts: []error{lost}}, &scripted{posts: []error{nil}})
	if inc, err := f.Post(ctx, election.KindBallot, []byte("b"), 0); err != nil || inc.Index != 7 {
		t.Fatalf("post through a follower and a dead member: %v, %v", inc, err)
	}
	// The next call starts at the member that answered.
	if i, _ := f.current(); i != 2 {
		t.Fatalf("the current member is %d, want 2", i)
	}
	// The answer was lost but the ballot landed: the next member refuses it as a duplicate, and the post ends
	// without an answer, for Submit's search.
	f = NewFailover(&scripted{posts: []error{lost}}, &scripted{posts: []error{unique}})
	if _, err := f.Post(ctx, election.KindBallot, []byte("b"), 0); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("a duplicate after a lost answer: %v, want ErrNoAnswer", err)
	}
	// A duplicate without a lost answer is the node's refusal, and so is any other refusal.
	f = NewFailover(&scripted{posts: []error{unique}})
	if _, err := f.Post(ctx, election.KindBallot, []byte("b"), 0); !RefusedFor(err, ReasonBallotUnique) {
		t.Fatalf("a duplicate: %v", err)
	}
	f = NewFailover(&scripted{posts: []error{notLeader}}, &scripted{posts: []error{invalid}})
	if _, err := f.Post(ctx, election.KindBallot, []byte("b"), 0); !RefusedFor(err, "BALLOT_PROOFS") {
		t.Fatalf("an invalid ballot: %v", err)
	}
	// No leader for a while (an election): the post waits and tries again until ctx ends.
	f = NewFailover(&scripted{posts: []error{notLeader, notLeader, nil}}, &scripted{posts: []error{notLeader}})
	f.Pause = 1
	if _, err := f.Post(ctx, election.KindBallot, []byte("b"), 0); err != nil {
		t.Fatalf("a post during an election: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f = NewFailover(&scripted{posts: []error{notLeader}})
	if _, err := f.Post(cctx, election.KindBallot, []byte("b"), 0); !RefusedFor(err, ReasonNotLeader) {
		t.Fatalf("a post with no leader and no time: %v", err)
	}
	// A consistency proof to a size a lagging member lacks comes from another member, or later.
	f = NewFailover(&scripted{consistency: []error{notFound}}, &scripted{consistency: []error{notFound, nil}})
	f.Pause = 1
	if _, _, err := f.Consistency(ctx, 1, 2); err != nil {
		t.Fatalf("a consistency proof from a lagging member: %v", err)
	}
}

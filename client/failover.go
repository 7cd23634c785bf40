package client

import (
	"context"
	"errors"
	"iter"
	"sync"
	"time"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// ReasonNotLeader is the refusal of a change by a cluster member that is not the leader: nothing was posted. It
// is the node's (package node's ReasonNotLeader).
const ReasonNotLeader = "NOT_LEADER"

// ReasonInDoubt answers a post whose outcome a cluster's leader does not know (it lost its majority while
// appending); the status is Unavailable, so the call ends without an answer and Submit looks for the ballot. It
// is the node's (package node's ReasonInDoubt).
const ReasonInDoubt = "IN_DOUBT"

// ReasonBallotUnique is the refusal of a ballot whose tracking code is on the board already (check 14).
const ReasonBallotUnique = "BALLOT_UNIQUE"

// A Failover is a Node over the members of one cluster (nodes replicating one board): a call goes to the member
// that answered last, and moves on to the next member when that one does not answer (ErrNoAnswer) or, for a
// post, is not the leader (ReasonNotLeader), so that a voter sees no error when a member dies or loses the
// leadership.
//
// A post whose answer was lost is posted again to the next member: the same ballot cannot be on the board twice
// (its tracking code is unique, check 14), so the worst case is a refusal with ReasonBallotUnique, which says the
// first post did land; the post then ends without an answer (ErrNoAnswer), and Client.Submit's search by
// tracking code finds the ballot. Reads that a lagging member cannot answer (a consistency proof to a size it
// does not have yet, ReasonNotFound) are asked of the other members before the refusal is returned.
type Failover struct {
	nodes []Node
	// Pause is the wait after every member refused a post as not the leader (an election is under way) before
	// trying them again; 0 means 100ms.
	Pause time.Duration

	mu  sync.Mutex
	cur int
}

// NewFailover returns a Failover over nodes, the members of one cluster; it starts with the first.
func NewFailover(nodes ...Node) *Failover { return &Failover{nodes: nodes} }

func (f *Failover) current() (int, Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur, f.nodes[f.cur]
}

// next moves on from member i (unless another call already did).
func (f *Failover) next(i int) {
	f.mu.Lock()
	if f.cur == i {
		f.cur = (i + 1) % len(f.nodes)
	}
	f.mu.Unlock()
}

// read calls fn on the members in turn, from the current one, until one answers with something else than no
// answer (or, with alsoNotFound, a ReasonNotFound refusal: a member behind the others). When every member failed
// so, it tries them all again after a pause (members restarting; with waitNotFound, followers catching up: a
// consistency proof to a size the leader signed), for readRounds rounds at most and until ctx ends, then
// returns the last error.
func read[T any](ctx context.Context, f *Failover, alsoNotFound, waitNotFound bool, fn func(Node) (T, error)) (T, error) {
	var v T
	var err error
	pause := f.Pause
	if pause <= 0 {
		pause = 100 * time.Millisecond
	}
	for round := 0; ; round++ {
		for range f.nodes {
			i, n := f.current()
			v, err = fn(n)
			if err == nil || !(errors.Is(err, ErrNoAnswer) || alsoNotFound && RefusedFor(err, ReasonNotFound)) {
				return v, err
			}
			f.next(i)
		}
		if round == readRounds-1 || !waitNotFound && !errors.Is(err, ErrNoAnswer) {
			return v, err
		}
		t := time.NewTimer(pause << round)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return v, err
		}
	}
}

// readRounds bounds the rounds of read: with the default pause, about 3 s of waiting in all.
const readRounds = 5

func (f *Failover) Election(ctx context.Context) (*NodeElection, error) {
	return read(ctx, f, false, false, func(n Node) (*NodeElection, error) { return n.Election(ctx) })
}

func (f *Failover) Lookup(ctx context.Context, code election.ID, sinceSize uint64) (*BallotLookup, error) {
	return read(ctx, f, true, false, func(n Node) (*BallotLookup, error) { return n.Lookup(ctx, code, sinceSize) })
}

func (f *Failover) LookupWitnessed(ctx context.Context, code election.ID, sinceSize uint64) (*BallotLookup, error) {
	return read(ctx, f, true, false, func(n Node) (*BallotLookup, error) { return n.LookupWitnessed(ctx, code, sinceSize) })
}

func (f *Failover) Consistency(ctx context.Context, oldSize, newSize uint64) ([]byte, [][]byte, error) {
	type answer struct {
		cp    []byte
		proof [][]byte
	}
	a, err := read(ctx, f, true, true, func(n Node) (answer, error) {
		cp, p, err := n.Consistency(ctx, oldSize, newSize)
		return answer{cp, p}, err
	})
	return a.cp, a.proof, err
}

// Entries reads from the current member; a member that stops answering midway is not replaced (the caller
// reads again from where it got to).
func (f *Failover) Entries(ctx context.Context, from uint64) iter.Seq2[tlog.Entry, error] {
	_, n := f.current()
	return n.Entries(ctx, from)
}

// Post posts to the leader, moving on from members that are not the leader or do not answer, until ctx ends.
func (f *Failover) Post(ctx context.Context, kind election.Kind, payload []byte, sinceSize uint64) (*Inclusion, error) {
	pause := f.Pause
	if pause <= 0 {
		pause = 100 * time.Millisecond
	}
	var lost error // the last post whose answer was lost
	misses := 0    // members in a row that did not take the post
	for {
		i, n := f.current()
		inc, err := n.Post(ctx, kind, payload, sinceSize)
		switch {
		case err == nil:
			return inc, nil
		case lost != nil && RefusedFor(err, ReasonBallotUnique):
			// An earlier post landed after all: Submit finds it by its tracking code.
			return nil, lost
		case errors.Is(err, ErrNoAnswer):
			lost = err
		case RefusedFor(err, ReasonNotLeader):
		default:
			return nil, err
		}
		misses++
		f.next(i)
		if misses < len(f.nodes) && ctx.Err() == nil {
			continue
		}
		// A whole round without a leader taking the post: an election is under way, or the members are down.
		misses = 0
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			if lost != nil {
				return nil, lost
			}
			return nil, err
		}
	}
}

package client

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger/tlog"
)

// TestEncrypt: ElectionInfo.Encrypt makes a ballot the election's state admits, and refuses while the node has
// no election key.
func TestEncrypt(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 2, Threshold: 2, Voters: 1})
	if err != nil {
		t.Fatal(err)
	}
	choices := election.RandomChoices(e.Manifest, nil)
	if _, err := (&ElectionInfo{Manifest: e.Manifest}).Encrypt(e.Credentials[0], choices); err == nil {
		t.Error("Encrypt without an election key succeeded")
	}
	info := &ElectionInfo{Manifest: e.Manifest, Key: e.State.Key().PublicKey}
	b, err := info.Encrypt(e.Credentials[0], choices)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Append(b.DraftCast()); err != nil {
		t.Fatalf("the encrypted ballot: %v", err)
	}
}

// fakeNode is a Node whose answers a test sets, counting the calls.
type fakeNode struct {
	post                  error
	lookup                error
	entries               []error // the errors of the successive Entries calls; nil yields entry 0
	posts, lookups, reads int
}

func (f *fakeNode) Election(context.Context) (*NodeElection, error) {
	return nil, errors.New("not in this test")
}

func (f *fakeNode) Post(context.Context, election.Kind, []byte, uint64) (*Inclusion, error) {
	f.posts++
	return nil, f.post
}

func (f *fakeNode) Lookup(context.Context, election.ID, uint64) (*BallotLookup, error) {
	f.lookups++
	return nil, f.lookup
}

func (f *fakeNode) LookupWitnessed(ctx context.Context, code election.ID, since uint64) (*BallotLookup, error) {
	return f.Lookup(ctx, code, since)
}

func (f *fakeNode) Consistency(context.Context, uint64, uint64) ([]byte, [][]byte, error) {
	return nil, nil, errors.New("not in this test")
}

func (f *fakeNode) Entries(_ context.Context, from uint64) iter.Seq2[tlog.Entry, error] {
	return func(yield func(tlog.Entry, error) bool) {
		err := f.entries[f.reads]
		f.reads++
		yield(tlog.Entry{Index: from}, err)
	}
}

// TestSubmitClassifies: a cast that ended without the node's answer (ErrNoAnswer) is searched for by tracking
// code, and is in doubt when not found; a refusal is returned as it is, with no search.
func TestSubmitClassifies(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 2, Threshold: 2, Voters: 1})
	if err != nil {
		t.Fatal(err)
	}
	info := &ElectionInfo{Manifest: e.Manifest, Key: e.State.Key().PublicKey}
	b, err := info.Encrypt(e.Credentials[0], election.RandomChoices(e.Manifest, nil))
	if err != nil {
		t.Fatal(err)
	}
	lost := errors.New("connection lost")
	notFound := &Refusal{Reason: ReasonNotFound, Err: errors.New("no such ballot")}
	n := &fakeNode{post: NoAnswer(lost), lookup: notFound}
	var told error
	_, err = New(n).Submit(context.Background(), info, b, SubmitOptions{InDoubt: func(err error) { told = err }})
	var doubt *InDoubtError
	if !errors.As(err, &doubt) || !errors.Is(doubt.Err, lost) || doubt.Last != notFound || doubt.TrackingCode != b.TrackingCode() {
		t.Fatalf("Submit after a lost answer = %v, want an InDoubtError of the lost answer and the search's refusal", err)
	}
	if n.lookups != 1 || !errors.Is(told, ErrNoAnswer) || told.Error() != lost.Error() {
		t.Errorf("%d searches, told %v; want 1 search, told the lost answer", n.lookups, told)
	}

	refused := &Refusal{Reason: ReasonPollsClosed, Err: errors.New("the polls are closed")}
	n = &fakeNode{post: refused}
	if _, err := New(n).Submit(context.Background(), info, b, SubmitOptions{}); err != refused || n.lookups != 0 {
		t.Errorf("Submit refused = %v after %d searches, want the refusal and no search", err, n.lookups)
	}
}

// TestEntryAtWaitsForStream: reading an entry waits out the node's refusals for too many streams, and only those.
func TestEntryAtWaitsForStream(t *testing.T) {
	busy := &Refusal{Reason: ReasonTooManyStreams, Err: errors.New("too many streams")}
	n := &fakeNode{entries: []error{busy, busy, nil}}
	if e, err := New(n).entryAt(context.Background(), 5); err != nil || e.Index != 5 || n.reads != 3 {
		t.Errorf("entryAt = %+v, %v after %d reads; want entry 5 after 3", e, err, n.reads)
	}
	other := &Refusal{Reason: ReasonBadRequest, Err: errors.New("bad")}
	n = &fakeNode{entries: []error{other, nil}}
	if _, err := New(n).entryAt(context.Background(), 5); err != other || n.reads != 1 {
		t.Errorf("entryAt = %v after %d reads; want the refusal after 1", err, n.reads)
	}
}

// TestNoAnswer: NoAnswer wraps ErrNoAnswer and the call's error, with the call's message.
func TestNoAnswer(t *testing.T) {
	lost := errors.New("connection lost")
	err := NoAnswer(lost)
	if !errors.Is(err, ErrNoAnswer) || !errors.Is(err, lost) || err.Error() != lost.Error() {
		t.Errorf("NoAnswer(%v) = %v", lost, err)
	}
	if NoAnswer(nil) != nil {
		t.Error("NoAnswer(nil) is not nil")
	}
	if RefusedFor(err, "") || !RefusedFor(&Refusal{Reason: ReasonDuplicate, Err: lost}, ReasonDuplicate) {
		t.Error("RefusedFor takes an error that is no refusal, or misses a refusal for its reason")
	}
}

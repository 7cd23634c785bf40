package node_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/node"
)

// TestAutoClose: a node with AutoClose closes the polls by itself once its clock passes closes_at, and refuses
// ballots after that.
func TestAutoClose(t *testing.T) {
	every := 20 * time.Millisecond
	defer node.SetAutoCloseEvery(every)()

	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 2, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	clock.Store(time.Now().Unix())
	n, err := node.Open(t.TempDir(), node.Options{Origin: "test.recount.local/autoclose", AutoClose: true,
		Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	setUpThroughNode(t, n, e)
	b, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[0], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.SubmitBallot(ctx, election.KindBallot, b.DraftCast().Payload); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * every)
	if closed := isClosed(n); closed {
		t.Fatal("the polls closed before the end of the window")
	}

	clock.Store(e.Manifest.Proto().ClosesAt) // the window ends
	deadline := time.Now().Add(10 * time.Second)
	for !isClosed(n) {
		if time.Now().After(deadline) {
			t.Fatal("the node did not close the polls at the end of the window")
		}
		time.Sleep(every)
	}
	b2, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[1], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.SubmitBallot(ctx, election.KindBallot, b2.DraftCast().Payload); err == nil {
		t.Fatal("a ballot was accepted after the polls closed")
	}
}

func isClosed(n *node.Node) bool {
	closed := false
	n.View(func(s *election.State) { closed = s.IsClosed() })
	return closed
}

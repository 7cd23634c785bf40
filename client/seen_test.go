package client

import (
	"context"
	"errors"
	"testing"

	"github.com/recount-vote/recount/election"
)

// swapNode is a Node a test swaps for another mid-session: a node that shows a second history.
type swapNode struct{ Node }

// TestRefusesRollback: the client keeps the last checkpoint it saw and refuses a node whose board does not extend
// it: rolled back (smaller, or of the same size with another root) or rewritten (larger, of another history),
// whether it shows it in a receipt (Submit returns the receipt with a *ForkError), a receipt check or CheckBoard.
// An honest board that grew is accepted; a new client restored from the saved checkpoint (See) refuses the
// rolled-back node as well.
func TestRefusesRollback(t *testing.T) {
	e := reviewElection(t)
	ctx := context.Background()
	honest := newBoardNode(t, e)
	sw := &swapNode{honest}
	c := New(sw)
	info, err := c.Election(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ballot := func(i int) *election.PreparedBallot {
		b, err := info.Encrypt(e.Credentials[i], election.RandomChoices(e.Manifest, nil))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, _, ok := c.Seen(); ok {
		t.Fatal("a new client has seen a checkpoint")
	}
	base := honest.tree.Size()
	r1, err := c.Submit(ctx, info, ballot(0), SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen, key, ok := c.Seen()
	if !ok || seen.Size != base+1 || key != honest.vkey {
		t.Fatalf("after a receipt the client has seen size %d (%v), want %d", seen.Size, ok, base+1)
	}
	// The honest board grows: accepted.
	honest.append(election.KindBallot, ballot(1).DraftCast().Payload)
	if cp, err := c.CheckBoard(ctx, info.BoardKey); err != nil || cp.Size != base+2 {
		t.Fatalf("the honest board grown: %v (size %d)", err, cp.Size)
	}
	if _, _, err := c.CheckReceipt(ctx, r1); err != nil {
		t.Fatalf("the receipt on the honest board: %v", err)
	}
	saved, savedKey, _ := c.Seen()

	// A node with the same key whose board holds the election but not the two ballots (rolled back), and one
	// where another ballot took their place (rewritten, then grown past what the client saw).
	rolledBack := newBoardNode(t, e)
	rewritten := newBoardNode(t, e)
	for range 3 {
		rewritten.append(election.KindBallot, ballot(2).DraftCast().Payload)
	}
	sameSize := newBoardNode(t, e)
	sameSize.append(election.KindBallot, ballot(2).DraftCast().Payload)
	sameSize.append(election.KindBallot, ballot(1).DraftCast().Payload)

	for name, bad := range map[string]*boardNode{"rolled back": rolledBack, "rewritten": rewritten, "same size, another root": sameSize} {
		sw.Node = bad
		var fork *ForkError
		if _, err := c.CheckBoard(ctx, info.BoardKey); !errors.As(err, &fork) || !errors.Is(err, ErrFork) {
			t.Errorf("%s: CheckBoard = %v, want a ForkError", name, err)
		} else if fork.Seen.Size != saved.Size || string(fork.Seen.Signed) != string(saved.Signed) {
			t.Errorf("%s: the ForkError holds the seen checkpoint of size %d, want %d", name, fork.Seen.Size, saved.Size)
		}
		r, err := c.Submit(ctx, info, ballot(0), SubmitOptions{})
		if !errors.As(err, &fork) || r == nil {
			t.Errorf("%s: Submit = %v, %v; want the receipt and a ForkError", name, r, err)
		} else if string(fork.Shown.Signed) != string(r.Checkpoint) {
			t.Errorf("%s: the ForkError does not hold the receipt's checkpoint", name)
		}
		if now, _, _ := c.Seen(); now.Size != saved.Size || now.Root != saved.Root {
			t.Fatalf("%s: the refused board changed what the client saw (size %d)", name, now.Size)
		}
	}

	// A new session, restored from the saved checkpoint, refuses the rolled-back node before it votes.
	c2 := New(&swapNode{rolledBack})
	if err := c2.See(ctx, saved.Signed, savedKey); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.CheckBoard(ctx, info.BoardKey); !errors.Is(err, ErrFork) {
		t.Errorf("a restored client on the rolled-back node: %v, want ErrFork", err)
	}
	// ... and accepts the honest one.
	c3 := New(&swapNode{honest})
	if err := c3.See(ctx, saved.Signed, savedKey); err != nil {
		t.Fatal(err)
	}
	if _, err := c3.CheckBoard(ctx, info.BoardKey); err != nil {
		t.Errorf("a restored client on the honest node: %v", err)
	}
	// A checkpoint under another board key is refused.
	otherSigner, otherKey := testSigner(t, "test.example/board", 2)
	if err := c3.See(ctx, honest.checkpoint(otherSigner, honest.tree.Size()).Signed, otherKey); !errors.Is(err, ErrFork) {
		t.Errorf("another board key: %v, want ErrFork", err)
	}
}

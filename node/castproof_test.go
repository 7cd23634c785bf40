package node_test

import (
	"context"
	"errors"
	"testing"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// TestCastCarriesConsistency: a cast with since_size answers with the consistency proof between the board of that
// size and the receipt's checkpoint, and one with a since_size beyond the board is taken with no proof; the
// client uses the proof instead of asking (GetConsistencyProof), and a proof that does not verify is the node's
// fork, as the answer to the call would be.
func TestCastCarriesConsistency(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 5, trustShapes: true})
	ctx := context.Background()

	seen, err := tn.anon.CheckBoard(ctx, f.info.BoardKey)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tn.anon.Voter.CastBallot(ctx, &recountv1.CastBallotRequest{SignedBallot: f.ballot(t, 0).DraftCast().Payload, SinceSize: seen.Size})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.ParseCheckpoint(resp.Receipt.Checkpoint, f.info.BoardKey)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size <= seen.Size || len(resp.ConsistencyProof) == 0 {
		t.Fatalf("receipt's board of %d entries after a board of %d seen, with %d proof hashes: want a larger board and a proof", cp.Size, seen.Size, len(resp.ConsistencyProof))
	}
	if err := tlog.VerifyConsistency(seen, cp, resp.ConsistencyProof); err != nil {
		t.Errorf("the cast's consistency proof: %v", err)
	}

	resp, err = tn.anon.Voter.CastBallot(ctx, &recountv1.CastBallotRequest{SignedBallot: f.ballot(t, 1).DraftCast().Payload, SinceSize: 1 << 40})
	if err != nil {
		t.Fatalf("a cast with since_size beyond the board: %v", err)
	}
	if resp.Receipt == nil || len(resp.ConsistencyProof) != 0 {
		t.Errorf("a cast with since_size beyond the board answered receipt %v, %d proof hashes: want a receipt and no proof", resp.Receipt, len(resp.ConsistencyProof))
	}

	// The client: no GetConsistencyProof after a cast whose answer carried the proof.
	n := &proofNode{Node: grpcnode.Node{Voter: tn.anon.Voter, Board: tn.anon.Board}}
	c := client.New(n)
	if _, err := c.CheckBoard(ctx, f.info.BoardKey); err != nil {
		t.Fatal(err)
	}
	n.consistency = 0
	if _, err := c.Submit(ctx, f.info, f.ballot(t, 2), client.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	if n.consistency != 0 {
		t.Errorf("Submit asked for %d consistency proofs after a cast that carried one, want 0", n.consistency)
	}

	// A node whose cast answer carries no proof (one before since_size): the client asks.
	n.strip = true
	if _, err := c.Submit(ctx, f.info, f.ballot(t, 3), client.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	if n.consistency != 1 {
		t.Errorf("Submit asked for %d consistency proofs after a cast that carried none, want 1", n.consistency)
	}
	n.strip = false

	// A node whose cast answer carries a proof that does not verify: a fork, with both checkpoints.
	n.tamper = true
	_, err = c.Submit(ctx, f.info, f.ballot(t, 4), client.SubmitOptions{})
	var fork *client.ForkError
	if !errors.As(err, &fork) {
		t.Errorf("Submit with a bad consistency proof in the cast's answer = %v, want a *ForkError", err)
	}
}

// proofNode is a node over gRPC that counts Consistency calls and, with strip, drops the consistency proof its
// casts' answers carry, or, with tamper, changes it.
type proofNode struct {
	grpcnode.Node
	consistency   int
	strip, tamper bool
}

func (n *proofNode) Consistency(ctx context.Context, oldSize, newSize uint64) ([]byte, [][]byte, error) {
	n.consistency++
	return n.Node.Consistency(ctx, oldSize, newSize)
}

func (n *proofNode) Post(ctx context.Context, kind election.Kind, payload []byte, sinceSize uint64) (*client.Inclusion, error) {
	inc, err := n.Node.Post(ctx, kind, payload, sinceSize)
	switch {
	case err != nil:
	case n.strip:
		inc.Consistency = nil
	case n.tamper && len(inc.Consistency) > 0:
		inc.Consistency[0][0] ^= 1
	}
	return inc, err
}

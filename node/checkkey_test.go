package node_test

import (
	"context"
	"strings"
	"testing"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/node"
)

// TestCheckElectionKey: a voting client replays the board up to the election key and accepts the key the node
// hands out only if it is the ceremony's; a node that hands out a key of its own is caught before any ballot is
// encrypted under it.
func TestCheckElectionKey(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 2, Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	tn := startNode(t, t.TempDir(), "")
	ctx := context.Background()
	setUpThroughNode(t, tn.n, e)
	info, err := tn.anon.Election(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.anon.CheckElectionKey(ctx, info, e.Manifest.ID()); err != nil {
		t.Fatalf("the honest key was refused: %v", err)
	}
	if err := tn.anon.CheckElectionKey(ctx, info, election.ID{1}); err == nil {
		t.Fatal("a credential for another election was accepted")
	}
	_, own, err := elgamal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := *info
	forged.Key = own
	if err := tn.anon.CheckElectionKey(ctx, &forged, e.Manifest.ID()); err == nil || !strings.Contains(err.Error(), "not the one the trustees' ceremony") {
		t.Fatalf("a key the node made up was accepted: %v", err)
	}
}

// setUpThroughNode replays a simulated election's set-up (manifest, credentials, ceremony, election key, and the
// open if e holds one) through the node's own calls, as the commission and the trustees would.
func setUpThroughNode(t *testing.T, n *node.Node, e *electiontest.Election) {
	t.Helper()
	ctx := context.Background()
	for _, en := range e.Entries {
		var err error
		switch en.Kind {
		case election.KindManifest:
			_, err = n.CreateElection(ctx, en.Payload)
		case election.KindCredentials:
			var keys [][]byte
			for _, c := range e.Credentials {
				pk := c.PublicKey()
				keys = append(keys, pk[:])
			}
			_, err = n.PublishCredentials(ctx, keys)
		case election.KindKeyCommitment, election.KindKeyVerdict, election.KindKeyReveal:
			_, err = n.PostCeremony(ctx, en.Kind, en.Payload)
		case election.KindElectionKey:
			_, err = n.FinishKeyCeremony(ctx, false)
		case election.KindOpen:
			_, err = n.OpenPolls(ctx)
		}
		if err != nil {
			t.Fatalf("%s: %v", en.Kind, err)
		}
	}
}

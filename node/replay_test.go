package node_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// TestReplayRefusedOverGRPC is issue 9's replay attack as it was found, over loopback gRPC: anyone who reads the
// board takes a voter's superseded ballot, or a challenged one, and casts it again under a wrapper encoded anew
// (or, standing for any other way to new bytes, signed anew). Before the fix the node took each one as
// the credential's latest ballot. Now each is refused, nothing is appended, and the voter's real last ballot is
// still the one that counts.
func TestReplayRefusedOverGRPC(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 2})
	ctx := context.Background()

	superseded, last, challenged := f.ballot(t, 0), f.ballot(t, 0), f.ballot(t, 1)
	for _, s := range []struct {
		b         *election.PreparedBallot
		challenge bool
	}{{superseded, false}, {last, false}, {challenged, true}} {
		if _, err := tn.anon.Submit(ctx, f.info, s.b, client.SubmitOptions{Challenge: s.challenge}); err != nil {
			t.Fatal(err)
		}
	}
	signedOfChallenged, err := electiontest.SignedBallotOf(challenged.DraftChallenge().Payload)
	if err != nil {
		t.Fatal(err)
	}

	cast := func(payload []byte) error {
		_, err := tn.anon.Voter.CastBallot(ctx, &recountv1.CastBallotRequest{SignedBallot: payload})
		return err
	}
	size := tn.size()
	for what, payload := range map[string][]byte{"superseded": superseded.DraftCast().Payload, "challenged": signedOfChallenged} {
		encodings, err := electiontest.ReencodedSignedBallots(payload)
		if err != nil {
			t.Fatal(err)
		}
		for name, replay := range encodings {
			t.Run(what+"/"+name, func(t *testing.T) {
				refused(t, tn, size, cast(replay), codes.InvalidArgument, "BALLOT_SHAPE", election.CheckBallotShape)
			})
		}
	}
	for v, payload := range map[int][]byte{0: superseded.DraftCast().Payload, 1: signedOfChallenged} {
		again, err := electiontest.SignAgain(f.creds[v], payload)
		if err != nil {
			t.Fatal(err)
		}
		refused(t, tn, size, cast(again), codes.AlreadyExists, "BALLOT_UNIQUE", election.CheckBallotUnique)
	}

	tn.n.View(func(s *election.State) {
		if st, _ := s.BallotStatus(last.TrackingCode()); st != election.StatusCast {
			t.Errorf("voter 0's last ballot: %v, want %v", st, election.StatusCast)
		}
		if st, _ := s.BallotStatus(challenged.TrackingCode()); st != election.StatusSpoiled {
			t.Errorf("voter 1's challenged ballot: %v, want %v", st, election.StatusSpoiled)
		}
		if cast, voters, spoiled := s.Counts(); cast != 2 || voters != 1 || spoiled != 1 {
			t.Errorf("counts: %d cast by %d voters, %d spoiled; want 2 by 1, 1", cast, voters, spoiled)
		}
	})
}

// TestWithheldChallengeCannotBeCast: a node that received a voter's challenge, kept it off the board and cast the
// challenged ballot itself after the voter's last ballot made it count (found by review). A challenge now carries
// the ballot signed for a challenge only: cast, it is refused (check 10), and the voter's last ballot counts.
func TestWithheldChallengeCannotBeCast(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 1})
	ctx := context.Background()
	challenged, last := f.ballot(t, 0), f.ballot(t, 0)
	if _, err := tn.anon.Submit(ctx, f.info, last, client.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	// What the ChallengeBallot call handed the node, which it never posted.
	signed, err := electiontest.SignedBallotOf(challenged.DraftChallenge().Payload)
	if err != nil {
		t.Fatal(err)
	}
	size := tn.size()
	_, err = tn.anon.Voter.CastBallot(ctx, &recountv1.CastBallotRequest{SignedBallot: signed})
	refused(t, tn, size, err, codes.InvalidArgument, "BALLOT_SIGNATURE", election.CheckBallotSignature)
	tn.n.View(func(s *election.State) {
		if st, _ := s.BallotStatus(last.TrackingCode()); st != election.StatusCast {
			t.Errorf("the voter's last ballot: %v, want %v", st, election.StatusCast)
		}
	})
}

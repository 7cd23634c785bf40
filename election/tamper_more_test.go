package election_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// Tamperings beyond electiontest.Tamperings (which TestTamperings runs): one that fails two checks, and the
// node's side of one of them.

func unmarshalT(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
}

// A challenged ballot cast afterwards: the spoiled ballot's signed ballot posted again as a cast ballot. Its
// signature is for a challenge (check 10) and its tracking code is on the board (check 14).
func TestTamperChallengedBallotCast(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	var sp recordv1.SpoiledBallot
	unmarshalT(t, e.Entries[electiontest.Find(e.Entries, election.KindSpoiledBallot, 0)].Payload, &sp)
	d := election.Draft{Kind: election.KindBallot, Payload: sp.SignedBallot}
	rep := verify(t, retally(t, e, electiontest.Insert(e.Entries, electiontest.Find(e.Entries, election.KindClose, 0), d), nil))
	for _, f := range rep.Failures {
		if f.Check != election.CheckBallotSignature && f.Check != election.CheckBallotUnique {
			t.Errorf("unexpected failure: %v", f)
		}
	}
	if len(rep.Failed(election.CheckBallotSignature)) != 1 || len(rep.Failed(election.CheckBallotUnique)) != 1 {
		t.Errorf("failures %v, want one of check 10 and one of check 14", rep.Failures)
	}
}

// A challenge the node kept off the board, its ballot cast after the voter's last ballot (found by review: it
// counted in place of the voter's vote, and the record passed every check). The challenge carries the ballot
// signed for a challenge only, so the node refuses it and the record with it cast fails check 10 (TestTamperings),
// and the voter's last ballot still counts.
func TestTamperWithheldChallengeCast(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	v := 0
	withheld, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[v], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	// What the node received in the ChallengeBallot call: the spoiled ballot, with the signed ballot inside.
	var sp recordv1.SpoiledBallot
	unmarshalT(t, withheld.DraftChallenge().Payload, &sp)
	d := election.Draft{Kind: election.KindBallot, Payload: sp.SignedBallot}
	if ce := election.CheckBallot(e.Manifest, e.State.Key().PublicKey, election.Entry{Kind: d.Kind, Payload: d.Payload}).Err(); ce == nil || ce.Check != election.CheckBallotSignature {
		t.Fatalf("the node's admission of the withheld challenge: %v, want a failure of check 10", ce)
	}
	// The record with the withheld challenge cast is the tampering "withheld-challenge-cast" of TestTamperings.
}

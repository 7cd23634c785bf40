package election_test

import (
	"context"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// TestWholeElection runs the election of the issue: 3 trustees with t = 2, 200 voters with mixed contests (a
// 1-of-5, an approval of up to 3 of 6, a score 0..5), 20 revotes, 10 challenges, one trustee absent at
// decryption (under -race, 40 voters, 4 revotes, 2 challenges). The verifier must pass and the result must equal
// the plaintext sums.
func TestWholeElection(t *testing.T) {
	if testing.Short() {
		// -short keeps the shared honest election of the tamper tests (TestHonestRecordPasses): a whole election
		// with every trustee decrypting.
		t.Skip("a whole election of 200 voters with a trustee absent: the full run")
	}
	t.Parallel()
	voters, revotes, challenges := 200, 20, 10
	if raceEnabled {
		// The race detector makes the cryptography 10 to 50 times slower; the election's shape is the same.
		voters, revotes, challenges = 40, 4, 2
	}
	e, err := electiontest.Run(electiontest.Config{Trustees: 3, Threshold: 2, Voters: voters, Revotes: revotes, Challenges: challenges, Absent: []int{2}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := election.Verify(context.Background(), electiontest.Seq(e.Entries), election.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Failures {
		t.Errorf("verifier: %v", f)
	}
	if !rep.Complete {
		t.Fatal("the record is not complete")
	}
	if rep.Count != voters || rep.Spoiled != challenges || rep.Cast != voters+revotes {
		t.Errorf("counted %d, spoiled %d, cast %d; want %d, %d, %d", rep.Count, rep.Spoiled, rep.Cast, voters, challenges, voters+revotes)
	}
	if got := rep.Result.Trustees; len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("result combined trustees %v, want [1 3] (trustee 2 absent)", got)
	}
	for c, cc := range rep.Result.Contests {
		for o, oc := range cc.Options {
			if oc.Count != e.Expected[c][o] {
				t.Errorf("contest %s option %s: count %d, plaintext sum %d", cc.ID, oc.ID, oc.Count, e.Expected[c][o])
			}
		}
	}
	// Every voter's last ballot is counted; the superseded and spoiled ones are not.
	for v, code := range e.Tracking {
		if st, _ := e.State.BallotStatus(code); st != election.StatusCounted {
			t.Errorf("voter %d's last ballot: %v", v, st)
		}
	}
	for _, code := range e.Spoiled {
		if st, _ := e.State.BallotStatus(code); st != election.StatusSpoiled {
			t.Errorf("challenged ballot: %v", st)
		}
	}
}

package election_test

import (
	"context"
	"slices"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// TestCeremonyWithComplaint runs the key ceremony through the board with trustee 2 sending trustee 3 a share
// that does not decrypt. Trustee 3 complains; then either trustee 2 answers with the true share in the clear and
// stays qualified, or it stays silent and is excluded. Either way the election goes on, the others' key works,
// and the record verifies.
func TestCeremonyWithComplaint(t *testing.T) {
	for _, answer := range []bool{true, false} {
		name := map[bool]string{true: "answered", false: "silent"}[answer]
		t.Run(name, func(t *testing.T) {
			e, err := electiontest.Prepare(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 6, Seed: 11})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.CommitWithBadShare(2, 3); err != nil {
				t.Fatal(err)
			}
			if got := e.State.Ceremony().Unanswered; !slices.Equal(got, [][2]int{{2, 3}}) {
				t.Fatalf("unanswered complaints %v, want trustee 3 against trustee 2", got)
			}
			reveals := e.Trustees[1].Trustee.DraftReveals(e.Trustees[1].Dealt, e.State)
			if len(reveals) != 1 {
				t.Fatalf("trustee 2 has %d reveals to make, want 1", len(reveals))
			}
			if answer {
				if _, err := e.Append(reveals[0]); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.OpenPolls(); err != nil {
				t.Fatal(err)
			}
			want := []int{1, 2, 3}
			if !answer {
				want = []int{1, 3}
			}
			if got := e.State.Key().Qualified; !slices.Equal(got, want) {
				t.Fatalf("qualified %v, want %v", got, want)
			}
			if err := e.Voting(); err != nil {
				t.Fatal(err)
			}
			if err := e.Finish(); err != nil {
				t.Fatal(err)
			}
			rep, err := election.Verify(context.Background(), electiontest.Seq(e.Entries), election.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() || !rep.Complete {
				t.Fatalf("record: %v", rep.Failures)
			}
			for c, cc := range rep.Result.Contests {
				for o, oc := range cc.Options {
					if oc.Count != e.Expected[c][o] {
						t.Errorf("contest %d option %d: %d, want %d", c, o, oc.Count, e.Expected[c][o])
					}
				}
			}
		})
	}
}

package election_test

import (
	"slices"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// TestBallotStatusOutsideWindow: a ballot standing before the open or after the close is not counted, and is
// not "superseded" by its credential's ballot inside the window (which, for a ballot after the close, is an
// earlier one).
func TestBallotStatusOutsideWindow(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	late, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[5], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	early, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[6], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	entries := electiontest.Insert(e.Entries, electiontest.Find(e.Entries, election.KindClose, 0)+1, late.DraftCast())
	entries = retally(t, e, electiontest.Insert(entries, electiontest.Find(entries, election.KindOpen, 0), early.DraftCast()), nil)
	s := election.NewState()
	for _, en := range entries {
		s.Apply(en)
	}
	for name, code := range map[string]election.ID{"after the close": late.TrackingCode(), "before the open": early.TrackingCode()} {
		if st, by := s.BallotStatus(code); st != election.StatusNotCounted {
			t.Errorf("a ballot %s: %v (entry %d), want %v", name, st, by, election.StatusNotCounted)
		}
	}
	if st, _ := s.BallotStatus(e.Tracking[5]); st != election.StatusCounted {
		t.Errorf("voter 5's ballot in the window: %v", st)
	}
}

// TestBallotStatusCounted: after an honest tally, each voter's last ballot is counted and an earlier one
// superseded (the state reads this from the counting rule, the list being exactly the latest ballots); after a
// tally whose list leaves out a latest ballot, that ballot is not counted and the others still are (the state
// reads this from the list).
func TestBallotStatusCounted(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	honestList := counted(t, e.Entries)
	var revoted election.ID // voter 0's first cast ballot: voter 0 revoted
	for _, en := range e.Entries {
		if en.Kind == election.KindBallot {
			if b, err := election.ParseBallot(e.Manifest, en.Payload); err == nil && b.Credential == e.Credentials[0].PublicKey() {
				revoted = b.TrackingCode
				break
			}
		}
	}
	left, leftOut := e.Tracking[4], e.Entries[0].Index
	for _, idx := range honestList {
		if b, err := election.ParseBallot(e.Manifest, e.Entries[idx].Payload); err == nil && b.TrackingCode == left {
			leftOut = idx
		}
	}
	if leftOut == 0 {
		t.Fatal("voter 4's ballot is not in the honest list")
	}
	dropped := retally(t, e, e.Entries, func(*election.State) (election.Draft, error) {
		var list []uint64
		for _, idx := range honestList {
			if idx != leftOut {
				list = append(list, idx)
			}
		}
		return electiontest.TallyOf(e.Manifest, e.Entries, list)
	})
	for name, entries := range map[string][]election.Entry{"honest": e.Entries, "one left out": dropped} {
		s := election.NewState()
		var failed []election.Check
		for _, en := range entries {
			for _, ce := range s.Apply(en) {
				failed = append(failed, ce.Check)
			}
		}
		wantFailed := []election.Check(nil)
		if name != "honest" {
			wantFailed = []election.Check{election.CheckCountedComplete}
		}
		if !slices.Equal(failed, wantFailed) {
			t.Errorf("%s: failed checks %v, want %v", name, failed, wantFailed)
		}
		for v, code := range e.Tracking {
			want := election.StatusCounted
			if name != "honest" && v == 4 {
				want = election.StatusNotCounted
			}
			if st, _ := s.BallotStatus(code); st != want {
				t.Errorf("%s: voter %d's last ballot: %v, want %v", name, v, st, want)
			}
		}
		if st, _ := s.BallotStatus(revoted); st != election.StatusSuperseded {
			t.Errorf("%s: voter 0's first ballot: %v, want %v", name, st, election.StatusSuperseded)
		}
	}
}

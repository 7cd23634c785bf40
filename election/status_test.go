package election_test

import (
	"testing"

	"github.com/recount-vote/recount/election"
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
	entries := insert(e.Entries, find(e.Entries, election.KindClose, 0)+1, late.DraftCast())
	entries = retally(t, e, insert(entries, find(entries, election.KindOpen, 0), early.DraftCast()), nil)
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

package election

import (
	"errors"
	"fmt"
	"time"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
)

// The commission's own entries: the election key (computed, never chosen), opening and closing the polls.

// DraftElectionKey returns the ELECTION_KEY entry that ends the key ceremony, computed from the ceremony's entries.
func (s *State) DraftElectionKey() (Draft, error) {
	if s.manifest == nil {
		return Draft{}, errors.New("no manifest")
	}
	if s.key != nil {
		return Draft{}, errors.New("the election key is already on the board")
	}
	key, err := s.ceremony.outcome()
	if err != nil {
		return Draft{}, err
	}
	return Draft{Kind: KindElectionKey, Payload: marshal(key.proto())}, nil
}

// CeremonyProgress says how far the key ceremony is: which trustees have committed, given their verdict, and
// which complaints still wait for a reveal.
type CeremonyProgress struct {
	Committed, Verdicts []int
	Unanswered          [][2]int // (dealer, complainant)
	Revealed            [][2]int // (dealer, complainant): complaints answered by a reveal
}

// Ceremony returns the key ceremony's progress.
func (s *State) Ceremony() CeremonyProgress {
	var p CeremonyProgress
	if s.ceremony == nil {
		return p
	}
	for i := 1; i <= s.ceremony.params.N; i++ {
		if s.ceremony.commits[i] != nil {
			p.Committed = append(p.Committed, i)
		}
		if _, ok := s.ceremony.verdict[i]; ok {
			p.Verdicts = append(p.Verdicts, i)
		}
		for _, j := range s.ceremony.complaintsAgainst(i) {
			if s.ceremony.reveals[[2]int{i, j}] == nil {
				p.Unanswered = append(p.Unanswered, [2]int{i, j})
			} else {
				p.Revealed = append(p.Revealed, [2]int{i, j})
			}
		}
	}
	return p
}

// DraftOpen returns the entry that opens the polls at time now (Unix seconds).
func (s *State) DraftOpen(now int64) (Draft, error) {
	switch {
	case s.key == nil:
		return Draft{}, errors.New("the key ceremony has not finished")
	case s.ncredentials == 0:
		return Draft{}, errors.New("no credentials are published")
	case s.opened:
		return Draft{}, errors.New("the polls are already open")
	case now < s.manifest.pb.OpensAt || now >= s.manifest.pb.ClosesAt:
		return Draft{}, fmt.Errorf("the voting window is [%s, %s): the polls cannot open at %s",
			time.Unix(s.manifest.pb.OpensAt, 0).UTC().Format(time.RFC3339), time.Unix(s.manifest.pb.ClosesAt, 0).UTC().Format(time.RFC3339),
			time.Unix(now, 0).UTC().Format(time.RFC3339))
	}
	return Draft{Kind: KindOpen, Payload: marshal(&recordv1.PollsOpen{Time: now})}, nil
}

// DraftClose returns the entry that closes the polls at time now (Unix seconds).
func (s *State) DraftClose(now int64) (Draft, error) {
	switch {
	case !s.opened:
		return Draft{}, errors.New("the polls are not open")
	case s.closed:
		return Draft{}, errors.New("the polls are already closed")
	}
	return Draft{Kind: KindClose, Payload: marshal(&recordv1.PollsClosed{Time: now})}, nil
}

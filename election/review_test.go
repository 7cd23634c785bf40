package election_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// mutateRecord returns a copy of entries with a few random faults made by r: a byte changed, an entry repeated,
// removed, swapped with another, moved, truncated or given another kind; the entries are renumbered.
func mutateRecord(r *rand.Rand, entries []election.Entry) []election.Entry {
	es := electiontest.Clone(entries)
	for k := 1 + r.IntN(4); k > 0; k-- {
		i := r.IntN(len(es))
		switch r.IntN(7) {
		case 0:
			if len(es[i].Payload) > 0 {
				es[i].Payload[r.IntN(len(es[i].Payload))] ^= byte(1 + r.IntN(255))
			}
		case 1:
			es = slices.Insert(es, r.IntN(len(es)+1), election.Entry{Kind: es[i].Kind, Payload: slices.Clone(es[i].Payload)})
		case 2:
			if len(es) > 1 {
				es = slices.Delete(es, i, i+1)
			}
		case 3:
			j := r.IntN(len(es))
			es[i], es[j] = es[j], es[i]
		case 4:
			e := es[i]
			es = slices.Delete(es, i, i+1)
			es = slices.Insert(es, r.IntN(len(es)+1), e)
		case 5:
			if len(es[i].Payload) > 0 {
				es[i].Payload = es[i].Payload[:r.IntN(len(es[i].Payload))]
			}
		case 6:
			es[i].Kind = election.Kind(1 + r.IntN(15))
		}
	}
	return renumber(es)
}

// TestMutatedRecords runs records with random faults through the three ways a state is built, and holds them to
// each other: the Replayer (ballots checked in parallel, fed in batches) reports the same failures and reaches
// the same state as State.Apply entry by entry; and a node's admission (Admit, or CheckBallot,
// CheckBallotAdmission and ApplyChecked for a ballot), which skips what it refuses, reaches exactly the state of
// a replay of the entries it accepted, each of which passes every check there: a refused entry leaves no trace.
// (The same comparison, run over 3,000 such records against the package before check-then-commit (3063056),
// found its Admit leaving traces: a refused OPEN outside the voting window, or a refused CLOSE before the
// opening time, left the polls open or closed. The Verify reports were the same before and after.)
func TestMutatedRecords(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	n := 120
	switch {
	case testing.Short():
		n = 4 // a sample: the full run without -race tries 120 records
	case raceEnabled:
		n = 3 // -race looks for races in the Replayer, which a few records exercise as well as many
	}
	r := rand.New(rand.NewPCG(11, 12))
	ctx := context.Background()
	for k := range n {
		entries := mutateRecord(r, e.Entries)
		workers, batch := 1+r.IntN(3), 1+r.IntN(len(entries))
		name := fmt.Sprintf("mutant %d (workers %d, batch %d)", k, workers, batch)

		seq := election.NewState()
		var seqFailures []*election.CheckError
		for _, en := range entries {
			seqFailures = append(seqFailures, seq.Apply(en)...)
		}
		var got replayed
		s := election.NewState()
		rp := election.NewReplayer(s, got.options(workers))
		for i := 0; i < len(entries); i += batch {
			if err := rp.Feed(ctx, entries[i:min(i+batch, len(entries))]...); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if !reflect.DeepEqual(got.failures, seqFailures) {
			t.Errorf("%s: the Replayer reports %v, Apply %v", name, got.failures, seqFailures)
		}
		if a, b := summaryOf(t, s, entries), summaryOf(t, seq, entries); a != b {
			t.Errorf("%s: the Replayer's state:\n%s\nApply's:\n%s", name, a, b)
		}

		adm := election.NewState()
		var accepted []election.Entry
		for _, en := range entries {
			en.Index = adm.Size()
			if en.Kind == election.KindBallot || en.Kind == election.KindSpoiledBallot {
				if adm.Key() == nil {
					continue
				}
				bc := election.CheckBallot(adm.Manifest(), adm.Key().PublicKey, en)
				if bc.Err() != nil || adm.CheckBallotAdmission(bc.Ballot()) != nil {
					continue
				}
				if errs := adm.ApplyChecked(en, bc); len(errs) > 0 {
					t.Errorf("%s: a ballot admitted at entry %d fails when applied: %v", name, en.Index, errs)
				}
			} else if errs := adm.Admit(en); len(errs) > 0 {
				continue
			}
			accepted = append(accepted, en)
		}
		again := election.NewState()
		for _, en := range accepted {
			if errs := again.Apply(en); len(errs) > 0 {
				t.Errorf("%s: entry %d, admitted, fails on replay: %v", name, en.Index, errs)
			}
		}
		if d := stateDiff(adm, again); d != "" {
			t.Errorf("%s: the admitted state differs from a replay of the entries admitted: %s", name, d)
		}
	}
}

// summaryOf is stateSummary, or the size alone for a state with no manifest (nothing else to show).
func summaryOf(t *testing.T, s *election.State, entries []election.Entry) string {
	if s.Manifest() == nil {
		return fmt.Sprintf("size %d, no manifest", s.Size())
	}
	return stateSummary(t, s, entries)
}

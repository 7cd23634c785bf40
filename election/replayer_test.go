package election_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger/tlog"
)

// faultyBallots returns the honest record with two faulty ballots: the first ballot's signature changed (check
// 10 fails at entry sig) and the fifth ballot's option proofs swapped (check 12 fails at entry proofs).
func faultyBallots(t *testing.T, e *electiontest.Election) (entries []election.Entry, sig, proofs uint64) {
	t.Helper()
	entries = electiontest.Clone(e.Entries)
	i := electiontest.Find(entries, election.KindBallot, 0)
	var sb recordv1.SignedBallot
	if err := proto.Unmarshal(entries[i].Payload, &sb); err != nil {
		t.Fatal(err)
	}
	sb.Signature[5] ^= 1
	entries[i].Payload = mustMarshal(t, &sb)
	j := electiontest.Find(entries, election.KindBallot, 4)
	entries[j].Payload = resign(t, e, entries[j].Payload, voterOf(t, e, entries, j), func(b *recordv1.Ballot) {
		p := b.Contests[0].Proofs
		p[0], p[1] = p[1], p[0]
	})
	return entries, uint64(i), uint64(j)
}

// stateSummary describes what a state shows of itself: sizes, phase, counts, the key, the status of every
// ballot of entries, the encrypted tally it would post and the result.
func stateSummary(t *testing.T, s *election.State, entries []election.Entry) string {
	t.Helper()
	var b strings.Builder
	cast, voters, spoiled := s.Counts()
	fmt.Fprintf(&b, "size %d, credentials %d, open %v, closed %v, tally %v, result %v, counts %d %d %d\n",
		s.Size(), s.Credentials(), s.IsOpen(), s.IsClosed(), s.HasEncryptedTally(), s.HasResult(), cast, voters, spoiled)
	if k := s.Key(); k != nil {
		fmt.Fprintf(&b, "key %x qualified %v\n", k.PublicKey.Bytes(), k.Qualified)
	}
	m := s.Manifest()
	for _, en := range entries {
		var ballot *election.Ballot
		switch en.Kind {
		case election.KindBallot:
			ballot, _ = election.ParseBallot(m, en.Payload)
		case election.KindSpoiledBallot:
			if sp, err := election.ParseSpoiledBallot(m, en.Payload); err == nil {
				ballot = sp.Ballot
			}
		}
		if ballot != nil {
			st, by := s.BallotStatus(ballot.TrackingCode)
			fmt.Fprintf(&b, "entry %d: %v %d\n", en.Index, st, by)
		}
	}
	if s.IsClosed() {
		d, err := s.DraftEncryptedTally()
		fmt.Fprintf(&b, "encrypted tally %x %v\n", sha256.Sum256(d.Payload), err)
	}
	if tally := s.Result(); tally != nil {
		fmt.Fprintf(&b, "tally %+v\n", *tally)
	}
	return b.String()
}

// replayed is what a replay gave: the failures reported to Applied, in order, and the entries applied.
type replayed struct {
	failures []*election.CheckError
	applied  []uint64
}

func (r *replayed) options(workers int) election.ReplayOptions {
	return election.ReplayOptions{Workers: workers, Applied: func(e election.Entry, errs []*election.CheckError) error {
		r.applied = append(r.applied, e.Index)
		r.failures = append(r.failures, errs...)
		return nil
	}}
}

// Fed all at once, one by one, or in batches of any size, and with any number of workers, a Replayer reaches
// the same state and reports the same failures, in the same order, as Verify.
func TestReplayerFeedingOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries, sig, proofs := faultyBallots(t, e)
	ctx := context.Background()

	var want replayed
	s := election.NewState()
	if err := election.NewReplayer(s, want.options(0)).Feed(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	wantSummary := stateSummary(t, s, entries)
	if len(want.failures) != 2 || want.failures[0].Check != election.CheckBallotSignature || want.failures[0].Entry != sig ||
		want.failures[1].Check != election.CheckBallotProofs || want.failures[1].Entry != proofs {
		t.Fatalf("failures %v, want check 10 at entry %d and check 12 at entry %d", want.failures, sig, proofs)
	}
	if len(want.applied) != len(entries) {
		t.Fatalf("%d entries applied, want %d", len(want.applied), len(entries))
	}
	rep := verify(t, entries)
	if !reflect.DeepEqual(rep.Failures, want.failures) {
		t.Errorf("Verify reports %v, the Replayer %v", rep.Failures, want.failures)
	}
	if got := stateSummary(t, rep.State, entries); got != wantSummary {
		t.Errorf("Verify's state:\n%s\nthe Replayer's:\n%s", got, wantSummary)
	}

	for _, workers := range []int{1, 3} {
		for _, batch := range []int{1, 2, 5, 17, len(entries)} {
			if testing.Short() && !(workers == 1 && batch == 1) && !(workers == 3 && batch == 5) {
				continue // -short: one worker fed one by one, three workers in batches of 5; the full run all ten
			}
			t.Run(fmt.Sprintf("workers=%d,batch=%d", workers, batch), func(t *testing.T) {
				var got replayed
				s := election.NewState()
				r := election.NewReplayer(s, got.options(workers))
				for i := 0; i < len(entries); i += batch {
					if err := r.Feed(ctx, entries[i:min(i+batch, len(entries))]...); err != nil {
						t.Fatal(err)
					}
					if s.Size() != uint64(min(i+batch, len(entries))) {
						t.Fatalf("Feed of entries [%d, %d) returned with %d applied", i, i+batch, s.Size())
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("applied %v with failures %v, want %v with %v", got.applied, got.failures, want.applied, want.failures)
				}
				if summary := stateSummary(t, s, entries); summary != wantSummary {
					t.Errorf("state:\n%s\nwant:\n%s", summary, wantSummary)
				}
			})
		}
	}
}

// A Replayer given a state that holds entries already (a saved position) applies the entries after them
// without checking the earlier ones again, and reaches the state of a whole replay.
func TestReplayerResumes(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries, _, proofs := faultyBallots(t, e)
	ctx := context.Background()
	full := election.NewState()
	if err := election.NewReplayer(full, election.ReplayOptions{}).Feed(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	wantSummary := stateSummary(t, full, entries)

	at := int(proofs) - 2 // saved with ballots on either side, and the faulty one still to come
	s := election.NewState()
	var before replayed
	if err := election.NewReplayer(s, before.options(0)).Feed(ctx, entries[:at]...); err != nil {
		t.Fatal(err)
	}
	var after replayed
	r := election.NewReplayer(s, after.options(0))
	if err := r.FeedSeq(ctx, electiontest.Seq(entries[at:])); err != nil {
		t.Fatal(err)
	}
	if len(after.applied) != len(entries)-at || after.applied[0] != uint64(at) {
		t.Errorf("the resumed replay applied entries %v, want %d to %d", after.applied, at, len(entries)-1)
	}
	if len(after.failures) != 1 || after.failures[0].Check != election.CheckBallotProofs || after.failures[0].Entry != proofs {
		t.Errorf("the resumed replay reports %v, want check 12 at entry %d", after.failures, proofs)
	}
	if got := stateSummary(t, s, entries); got != wantSummary {
		t.Errorf("resumed state:\n%s\nwant:\n%s", got, wantSummary)
	}

	// An entry fed again, out of its place, is refused and changes nothing.
	after = replayed{}
	if err := r.Feed(ctx, entries[3]); err != nil {
		t.Fatal(err)
	}
	if len(after.failures) != 1 || after.failures[0].Check != election.CheckRecord || !strings.Contains(after.failures[0].Reason, "where entry") {
		t.Errorf("an entry fed out of place: %v, want a failure of check 1", after.failures)
	}
	if got := stateSummary(t, s, entries); got != wantSummary {
		t.Errorf("after an entry out of place:\n%s\nwant:\n%s", got, wantSummary)
	}
}

// A Replayer stops when Applied returns an error, when its entries fail to read, and when its context ends;
// the state then holds a prefix of the entries, and a Replayer resuming from it reaches the whole replay's state.
func TestReplayerStops(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries, _, proofs := faultyBallots(t, e)
	full := election.NewState()
	if err := election.NewReplayer(full, election.ReplayOptions{}).Feed(context.Background(), entries...); err != nil {
		t.Fatal(err)
	}
	wantSummary := stateSummary(t, full, entries)
	resume := func(t *testing.T, s *election.State) {
		t.Helper()
		if err := election.NewReplayer(s, election.ReplayOptions{}).Feed(context.Background(), entries[s.Size():]...); err != nil {
			t.Fatal(err)
		}
		if got := stateSummary(t, s, entries); got != wantSummary {
			t.Errorf("resumed state:\n%s\nwant:\n%s", got, wantSummary)
		}
	}

	t.Run("applied", func(t *testing.T) {
		errFault := errors.New("a fault")
		s := election.NewState()
		err := election.NewReplayer(s, election.ReplayOptions{Workers: 2, Applied: func(e election.Entry, errs []*election.CheckError) error {
			if len(errs) > 0 {
				return fmt.Errorf("entry %d: %w", e.Index, errFault)
			}
			return nil
		}}).Feed(context.Background(), entries...)
		// The first ballot's failure stops the replay there, with the ballot applied and no entry after it.
		sig := uint64(electiontest.Find(entries, election.KindBallot, 0))
		if !errors.Is(err, errFault) || !strings.Contains(err.Error(), fmt.Sprint("entry ", sig, ":")) || s.Size() != sig+1 {
			t.Errorf("Feed = %v with %d entries applied, want the fault of entry %d with %d applied", err, s.Size(), sig, sig+1)
		}
		resume(t, s)
	})

	t.Run("read", func(t *testing.T) {
		errRead := errors.New("a read error")
		s := election.NewState()
		err := election.NewReplayer(s, election.ReplayOptions{}).FeedSeq(context.Background(), func(yield func(election.Entry, error) bool) {
			for _, en := range entries[:proofs] {
				if !yield(en, nil) {
					return
				}
			}
			yield(election.Entry{}, errRead)
		})
		if !errors.Is(err, errRead) || s.Size() > proofs {
			t.Errorf("Feed = %v with %d entries applied, want the read error with at most %d", err, s.Size(), proofs)
		}
		resume(t, s)
	})

	t.Run("cancelled", func(t *testing.T) {
		s := election.NewState()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := election.NewReplayer(s, election.ReplayOptions{}).Feed(ctx, entries...); !errors.Is(err, context.Canceled) || s.Size() != 0 {
			t.Errorf("Feed with an ended context = %v with %d entries applied, want context.Canceled with none", err, s.Size())
		}

		// Cancelled in the middle of the ballots.
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		stopAt := uint64(electiontest.Find(entries, election.KindBallot, 2))
		err := election.NewReplayer(s, election.ReplayOptions{Workers: 2, Applied: func(e election.Entry, _ []*election.CheckError) error {
			if e.Index == stopAt {
				cancel()
			}
			return nil
		}}).Feed(ctx, entries...)
		if !errors.Is(err, context.Canceled) || s.Size() <= stopAt || s.Size() >= uint64(len(entries)) {
			t.Errorf("Feed cancelled at entry %d = %v with %d entries applied, want context.Canceled with a part applied", stopAt, err, s.Size())
		}
		resume(t, s)
	})
}

// With ShapeOnly, the cast ballots it names are decoded but not checked again (the node's replay of ballots it
// admitted): the faulty ballots pass, and the predicate is asked about cast ballots only.
func TestReplayerShapeOnly(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries, _, _ := faultyBallots(t, e)
	var got replayed
	opts := got.options(0)
	asked := 0
	opts.ShapeOnly = func(en election.Entry) bool {
		if en.Kind != election.KindBallot {
			t.Errorf("ShapeOnly asked about a %s", en.Kind)
		}
		asked++
		return true
	}
	s := election.NewState()
	if err := election.NewReplayer(s, opts).Feed(context.Background(), entries...); err != nil {
		t.Fatal(err)
	}
	if len(got.failures) != 0 {
		t.Errorf("failures %v with every cast ballot's checks trusted", got.failures)
	}
	if cast, _, _ := s.Counts(); asked != cast {
		t.Errorf("ShapeOnly asked about %d ballots, want the %d cast", asked, cast)
	}
}

// FromBoardSeq turns the board's entries into election entries, with their errors.
func TestFromBoardSeq(t *testing.T) {
	errRead := errors.New("a read error")
	board := func(yield func(tlog.Entry, error) bool) {
		if !yield(tlog.Entry{Index: 0, Kind: tlog.Kind(election.KindManifest), Payload: []byte{1}}, nil) {
			return
		}
		yield(tlog.Entry{}, errRead)
	}
	var got []election.Entry
	var gotErr error
	for en, err := range election.FromBoardSeq(board) {
		if err != nil {
			gotErr = err
			break
		}
		got = append(got, en)
	}
	want := []election.Entry{{Index: 0, Kind: election.KindManifest, Payload: []byte{1}}}
	if !reflect.DeepEqual(got, want) || gotErr != errRead {
		t.Errorf("FromBoardSeq = %v, %v; want %v, %v", got, gotErr, want, errRead)
	}
}

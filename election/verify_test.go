package election_test

import (
	"context"
	"testing"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// hostileEntries returns the honest record up to its close, followed by n ballot entries that do not decode: the
// cheapest entries an operator holding the board key can sign by the million (a few bytes each), every one of
// them a failure of check 8.
func hostileEntries(t *testing.T, n int) (entries []election.Entry, firstBad uint64) {
	t.Helper()
	honest := honestElection(t).Entries
	end := electiontest.Find(honest, election.KindClose, 0)
	entries = electiontest.Clone(honest[:end])
	firstBad = uint64(len(entries))
	for i := range n {
		entries = append(entries, election.Entry{Index: firstBad + uint64(i), Kind: election.KindBallot, Payload: []byte{0xff, byte(i)}})
	}
	return entries, firstBad
}

// TestVerifyKeepsFewFailures: a record of 20,000 failing entries gives a report that keeps the first
// DefaultFailuresKept of them, with their entries and reasons, and counts all of them exactly. (Before, every
// failure was kept: 2 million of them cost the verifier 706 MB.)
func TestVerifyKeepsFewFailures(t *testing.T) {
	t.Parallel()
	const bad = 20000
	entries, firstBad := hostileEntries(t, bad)
	rep, err := election.Verify(context.Background(), electiontest.Seq(entries), election.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Fatal("the hostile record passes")
	}
	if len(rep.FailureCounts) != 1 || rep.FailureCounts[election.CheckBallotShape] != bad {
		t.Errorf("failure counts %v, want %d failures of check 8 only", rep.FailureCounts, bad)
	}
	if len(rep.Failures) != election.DefaultFailuresKept {
		t.Fatalf("%d failures kept, want %d", len(rep.Failures), election.DefaultFailuresKept)
	}
	for i, f := range rep.Failures {
		if f.Check != election.CheckBallotShape || f.NoEntry || f.Entry != firstBad+uint64(i) || f.Reason == "" {
			t.Errorf("kept failure %d: %+v, want check 8 at entry %d", i, f, firstBad+uint64(i))
		}
	}
	if got := rep.Omitted(election.CheckBallotShape); got != bad-election.DefaultFailuresKept {
		t.Errorf("omitted %d, want %d", got, bad-election.DefaultFailuresKept)
	}
	if rep.Omitted(election.CheckBallotProofs) != 0 || len(rep.Failed(election.CheckBallotProofs)) != 0 {
		t.Error("a check that did not fail has failures")
	}
	// The ballots that do not decode passed none of the ballot checks after check 8.
	honestBallots := rep.Passed[election.CheckBallotShape]
	for _, c := range []election.Check{election.CheckBallotElection, election.CheckBallotSignature, election.CheckBallotCredential,
		election.CheckBallotProofs, election.CheckBallotWindow, election.CheckBallotUnique} {
		if rep.Passed[c] != honestBallots {
			t.Errorf("check %v: %d passed, want %d (the ballots that decode)", c, rep.Passed[c], honestBallots)
		}
	}
	if rep.Entries != uint64(len(entries)) {
		t.Errorf("%d entries checked, want %d", rep.Entries, len(entries))
	}
}

// TestVerifyFailuresKeptOption: VerifyOptions.FailuresKept sets how many failures of each check are kept, and
// each check keeps its own first failures.
func TestVerifyFailuresKeptOption(t *testing.T) {
	t.Parallel()
	entries, firstBad := hostileEntries(t, 50)
	// A result-less record with an entry after the close that is not a ballot: one failure of check 2 after the
	// 50 of check 8.
	entries = append(entries, election.Entry{Index: uint64(len(entries)), Kind: election.KindOpen, Payload: []byte{0xff}})
	rep, err := election.Verify(context.Background(), electiontest.Seq(entries), election.VerifyOptions{FailuresKept: 3, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	shape := rep.Failed(election.CheckBallotShape)
	if len(shape) != 3 || shape[0].Entry != firstBad || shape[2].Entry != firstBad+2 || rep.FailureCounts[election.CheckBallotShape] != 50 {
		t.Errorf("check 8: kept %v of %d", shape, rep.FailureCounts[election.CheckBallotShape])
	}
	if rec := rep.Failed(election.CheckRecord); len(rec) != 1 || rep.FailureCounts[election.CheckRecord] != 1 || rep.Omitted(election.CheckRecord) != 0 {
		t.Errorf("check 2: kept %v of %d", rec, rep.FailureCounts[election.CheckRecord])
	}
	if len(rep.Failures) != 4 {
		t.Errorf("%d failures kept, want 4: %v", len(rep.Failures), rep.Failures)
	}
}

// TestVerifyTallyFailuresCounted: an encrypted tally that lists 20,000 indices of no ballot fails check 16 once
// per index; the report describes the first few and counts the rest exactly, and the entry itself describes no
// more than DefaultFailuresKept of them (the rest are its CheckError's More), so a tally of millions of bad
// indices costs the verifier a counter, not a failure each.
func TestVerifyTallyFailuresCounted(t *testing.T) {
	t.Parallel()
	const bad = 20000
	entries := electiontest.Clone(honestElection(t).Entries)
	i := electiontest.Find(entries, election.KindEncryptedTally, 0)
	var pb recordv1.EncryptedTally
	unmarshalT(t, entries[i].Payload, &pb)
	for j := range bad {
		pb.Counted = append(pb.Counted, uint64(1<<40+j))
	}
	entries[i].Payload = mustMarshal(t, &pb)

	rep := verify(t, entries)
	if got := rep.FailureCounts[election.CheckCountedValid]; got != bad {
		t.Errorf("check 16 failed %d times, want %d", got, bad)
	}
	kept := rep.Failed(election.CheckCountedValid)
	if len(kept) != election.DefaultFailuresKept || rep.Omitted(election.CheckCountedValid) != bad-election.DefaultFailuresKept {
		t.Errorf("check 16: %d failures kept, %d omitted", len(kept), rep.Omitted(election.CheckCountedValid))
	}
	var more uint64
	for _, f := range kept {
		if f.Entry != uint64(i) {
			t.Errorf("failure at entry %d, want %d: %v", f.Entry, i, f)
		}
		more += f.More
	}
	if more != bad-election.DefaultFailuresKept {
		t.Errorf("the tally entry counted %d undescribed failures, want %d", more, bad-election.DefaultFailuresKept)
	}
	for _, f := range rep.Failures {
		if f.Check != election.CheckCountedValid {
			t.Errorf("unexpected failure: %v", f)
		}
	}
}

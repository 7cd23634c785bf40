package election

import (
	"context"
	"iter"

	"github.com/recount-vote/recount/crypto/elgamal"
)

// The verifier: every numbered check (checks.go, docs/verification.md) over the board's entries alone. Ballot
// checks that need no state (shape, election, signature, proofs, openings) run in parallel on all cores; the
// rest runs in order, through State.Apply, the same code the node uses to accept entries.

// BallotCheck is the outcome of a ballot entry's stateless checks, computed ahead (in parallel, or by the node
// before it appends the ballot).
type BallotCheck = ballotCheck

// CheckBallot runs a ballot or spoiled-ballot entry's stateless checks.
func CheckBallot(m *Manifest, pk *elgamal.PublicKey, e Entry) *BallotCheck {
	return checkBallotEntry(m, pk, e)
}

// AdmitBallot runs a ballot or spoiled-ballot entry's stateless checks as a node admitting it does: cheapest
// first, stopping at the first failure. before, if set, runs once the ballot decodes and names the election, before
// its signature and proofs are checked: the node's checks against its state (State.CheckBallotAdmission), so that a ballot copied
// from the board, or one for an unknown credential, costs its sender no proof verification. If ctx ends during
// the proofs, AdmitBallot returns ctx's error.
func AdmitBallot(ctx context.Context, m *Manifest, pk *elgamal.PublicKey, e Entry, before func(*Ballot) *CheckError) (*BallotCheck, error) {
	return checkBallotStages(ctx, m, pk, e, before, true)
}

// Err returns the first failure of the stateless checks, or nil.
func (bc *BallotCheck) Err() *CheckError {
	if len(bc.errs) == 0 {
		return nil
	}
	return bc.errs[0]
}

// Ballot returns the decoded ballot, or nil if it did not decode.
func (bc *BallotCheck) Ballot() *Ballot { return bc.ballot }

// ApplyChecked applies a ballot entry whose stateless checks are already done.
func (s *State) ApplyChecked(e Entry, bc *BallotCheck) []*CheckError { return s.apply(e, bc) }

// DefaultFailuresKept is the number of failures of each check that Verify keeps in full (entry and reason)
// unless VerifyOptions.FailuresKept says otherwise. Beyond it a check's failures are only counted, so that a
// record of millions of failing entries costs the verifier memory for its honest state (the ballots that decode),
// not for its failures.
const DefaultFailuresKept = 10

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Workers is the number of goroutines checking ballots; 0 means GOMAXPROCS.
	Workers int
	// Progress, if set, is called now and then with the number of entries checked.
	Progress func(checked uint64)
	// FailuresKept is the number of failures of each check kept in Report.Failures, the first in record order;
	// the others are only counted, in Report.FailureCounts. 0 (or less) means DefaultFailuresKept.
	FailuresKept int
	// Record, if set, reads back the entries Verify has applied from the record it reads: the state then keeps no
	// ballot's ciphertexts but reads a ballot back when it needs them (NewStateReading). A failure to read back
	// ends Verify with an error.
	Record EntryReader
}

// Report is the verifier's account of a record.
type Report struct {
	Election ID
	Title    string
	Entries  uint64
	// Passed counts, per check, the entries (or records) that passed it.
	Passed map[Check]uint64
	// Failures lists the first failures of each check (VerifyOptions.FailuresKept of them at most), in record
	// order; FailureCounts counts every failure of each check, kept or not, and those an entry counted in a
	// CheckError's More. A check that never failed has no key in FailureCounts.
	Failures      []*CheckError
	FailureCounts map[Check]uint64
	// NotRun counts, per check, the entries subject to it on which it could not run: their payload did not
	// decode (its PayloadCheck failed), or they stand out of place (check 2 failed), or what the check needs did
	// not decode upstream (the manifest, the election key, the encrypted tally). They count as neither passed nor
	// failed: the failure is that of the check named.
	NotRun map[Check]uint64
	// Complete is set when the record ends with a result that decodes and that check 22 judged (pass or fail).
	Complete                     bool
	Credentials                  int
	Cast, Voters, Spoiled, Count int
	Result                       *Result
	State                        *State
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return len(r.FailureCounts) == 0 }

// Omitted returns the number of failures of check c counted but not kept in Failures (their More included).
func (r *Report) Omitted(c Check) uint64 { return r.FailureCounts[c] - uint64(len(r.Failed(c))) }

// Failed returns the failures of one check kept in Failures.
func (r *Report) Failed(c Check) []*CheckError {
	var out []*CheckError
	for _, f := range r.Failures {
		if f.Check == c {
			out = append(out, f)
		}
	}
	return out
}

// checksOf lists the checks an entry of kind goes through, for counting passes.
func checksOf(k Kind) []Check {
	switch k {
	case KindManifest:
		return []Check{CheckRecord, CheckManifest}
	case KindCredentials:
		return []Check{CheckRecord, CheckCredentials}
	case KindKeyCommitment:
		return []Check{CheckRecord, CheckKeyCommitment}
	case KindKeyVerdict, KindKeyReveal:
		return []Check{CheckRecord, CheckKeyComplaints}
	case KindElectionKey:
		return []Check{CheckRecord, CheckElectionKey}
	case KindBallot:
		return []Check{CheckRecord, CheckBallotShape, CheckBallotElection, CheckBallotSignature, CheckBallotCredential, CheckBallotProofs, CheckBallotWindow, CheckBallotUnique}
	case KindSpoiledBallot:
		return []Check{CheckRecord, CheckBallotShape, CheckBallotElection, CheckBallotSignature, CheckBallotCredential, CheckBallotProofs, CheckBallotWindow, CheckBallotUnique, CheckSpoiledOpening}
	case KindEncryptedTally:
		return []Check{CheckRecord, CheckCountedValid, CheckCountedUnique, CheckCountedLatest, CheckCountedComplete, CheckEncryptedTally}
	case KindPartialDecryption:
		return []Check{CheckRecord, CheckPartialDecryption}
	case KindResult:
		return []Check{CheckRecord, CheckResult}
	case KindOpen, KindClose:
		return []Check{CheckRecord, CheckPollsWindow}
	default:
		return []Check{CheckRecord}
	}
}

// Verify replays the entries of a record and runs every check on them. The returned error is set only when the
// entries could not be read (ctx cancelled, or the iterator failed); check failures are in the report.
func Verify(ctx context.Context, entries iter.Seq2[Entry, error], opts VerifyOptions) (*Report, error) {
	kept := uint64(opts.FailuresKept)
	if opts.FailuresKept <= 0 {
		kept = DefaultFailuresKept
	}
	s := NewState()
	if opts.Record != nil {
		s = NewStateReading(opts.Record)
	}
	rep := &Report{Passed: map[Check]uint64{}, FailureCounts: map[Check]uint64{}, NotRun: map[Check]uint64{}, State: s}
	addFailure := func(f *CheckError) {
		if rep.FailureCounts[f.Check] < kept {
			rep.Failures = append(rep.Failures, f)
		}
		rep.FailureCounts[f.Check] += 1 + f.More
	}
	record := func(e Entry, errs []*CheckError) error {
		failed, notRunOn := map[Check]bool{}, map[Check]bool{}
		unread := false // the entry's payload was not read: none of its checks but 2 ran
		for _, f := range errs {
			if f.notRun {
				if f.Check == 0 {
					unread = true
				}
				notRunOn[f.Check] = true
				continue
			}
			failed[f.Check] = true
			unread = unread || f.undecoded || f.Check == CheckRecord
			addFailure(f)
		}
		for _, c := range checksOf(e.Kind) {
			switch {
			case failed[c]:
			case notRunOn[c], notRunOn[0], unread && c != CheckRecord:
				rep.NotRun[c]++
			default:
				rep.Passed[c]++
			}
		}
		rep.Entries++
		if opts.Progress != nil && rep.Entries%256 == 0 {
			opts.Progress(rep.Entries)
		}
		return nil
	}
	r := NewReplayer(s, ReplayOptions{Workers: opts.Workers, Applied: record})
	if err := r.FeedSeq(ctx, entries); err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress(rep.Entries)
	}

	if s.manifest != nil {
		rep.Election, rep.Title = s.manifest.ID(), s.manifest.pb.Title
	} else if rep.Entries == 0 {
		addFailure(failRecord(CheckRecord, "the record is empty"))
	}
	rep.Credentials = s.ncredentials
	rep.Cast, rep.Voters, rep.Spoiled = s.Counts()
	if s.tally != nil {
		rep.Count = len(s.tally.counted)
	}
	rep.Complete = s.result != nil && !s.resultUnchecked
	if rep.Complete {
		rep.Result = s.Result()
	}
	return rep, nil
}

// CheckBallotShapeOnly decodes a ballot entry and checks its shape only, for a state that trusts the rest of the
// entry's stateless checks to have been done already (the node, which checks ballots before it appends them).
func CheckBallotShapeOnly(m *Manifest, e Entry) *BallotCheck {
	bc := &ballotCheck{}
	b, err := ParseBallot(m, e.Payload)
	if err != nil {
		bc.errs = append(bc.errs, failUndecoded(CheckBallotShape, e.Index, "%v", err))
		return bc
	}
	bc.ballot = b
	return bc
}

package election

import "fmt"

// Check is one of the verifier's numbered checks, listed in docs/verification.md. A failure names the check and
// the entry at fault.
type Check int

// The checks, numbered as in docs/verification.md.
const (
	CheckBoard             Check = 1  // the entries hash to the board's signed checkpoint (package ledger)
	CheckRecord            Check = 2  // entry 0 is the manifest; every kind is known; entries come in phase order (payloads: PayloadCheck)
	CheckManifest          Check = 3  // the manifest is well formed
	CheckCredentials       Check = 4  // credential lists: valid, distinct Ed25519 keys
	CheckKeyCommitment     Check = 5  // trustee commitments: signed, well formed, coefficient proofs valid
	CheckKeyComplaints     Check = 6  // verdicts and reveals: signed, answering real complaints, reveals valid
	CheckElectionKey       Check = 7  // the published qualified set, joint key and verification keys are recomputed
	CheckBallotShape       Check = 8  // a ballot decodes and has the manifest's shape
	CheckBallotElection    Check = 9  // a ballot names this election
	CheckBallotSignature   Check = 10 // a ballot is signed by its credential
	CheckBallotCredential  Check = 11 // a ballot's credential is on a published list
	CheckBallotProofs      Check = 12 // every range proof of a ballot verifies
	CheckBallotWindow      Check = 13 // a ballot stands between the open and close entries
	CheckBallotUnique      Check = 14 // no ballot appears twice, cast or spoiled
	CheckSpoiledOpening    Check = 15 // a spoiled ballot's nonces open its ciphertexts to allowed choices
	CheckCountedValid      Check = 16 // every counted index is a cast ballot
	CheckCountedUnique     Check = 17 // no ballot is counted twice
	CheckCountedLatest     Check = 18 // no counted ballot was superseded by a later ballot of its credential
	CheckCountedComplete   Check = 19 // every credential's last cast ballot is counted
	CheckEncryptedTally    Check = 20 // the encrypted sums are the sums of the counted ballots
	CheckPartialDecryption Check = 21 // partial decryptions: signed, one per trustee, proofs valid
	CheckResult            Check = 22 // the result is the combination of valid partial decryptions
	CheckPollsWindow       Check = 23 // the polls opened and closed inside the manifest's voting window
)

// Checks lists every check in order.
var Checks = []Check{CheckBoard, CheckRecord, CheckManifest, CheckCredentials, CheckKeyCommitment,
	CheckKeyComplaints, CheckElectionKey, CheckBallotShape, CheckBallotElection, CheckBallotSignature,
	CheckBallotCredential, CheckBallotProofs, CheckBallotWindow, CheckBallotUnique, CheckSpoiledOpening,
	CheckCountedValid, CheckCountedUnique, CheckCountedLatest, CheckCountedComplete, CheckEncryptedTally,
	CheckPartialDecryption, CheckResult, CheckPollsWindow}

var checkNames = map[Check]string{
	CheckBoard:             "board-integrity",
	CheckRecord:            "record-structure",
	CheckManifest:          "manifest",
	CheckCredentials:       "credentials",
	CheckKeyCommitment:     "key-commitments",
	CheckKeyComplaints:     "key-complaints",
	CheckElectionKey:       "election-key",
	CheckBallotShape:       "ballot-shape",
	CheckBallotElection:    "ballot-election",
	CheckBallotSignature:   "ballot-signature",
	CheckBallotCredential:  "ballot-credential",
	CheckBallotProofs:      "ballot-proofs",
	CheckBallotWindow:      "ballot-window",
	CheckBallotUnique:      "ballot-unique",
	CheckSpoiledOpening:    "spoiled-opening",
	CheckCountedValid:      "counted-valid",
	CheckCountedUnique:     "counted-unique",
	CheckCountedLatest:     "counted-latest",
	CheckCountedComplete:   "counted-complete",
	CheckEncryptedTally:    "encrypted-tally",
	CheckPartialDecryption: "partial-decryption",
	CheckResult:            "result",
	CheckPollsWindow:       "polls-window",
}

// String returns the check's number and name, e.g. "12 ballot-proofs".
func (c Check) String() string { return fmt.Sprintf("%d %s", int(c), c.Name()) }

// Name returns the check's short name.
func (c Check) Name() string {
	if n, ok := checkNames[c]; ok {
		return n
	}
	return "unknown"
}

// CheckError is a failed check: which check, which entry, and why.
type CheckError struct {
	Check Check
	// Entry is the board index of the entry at fault.
	Entry uint64
	// NoEntry is set when the failure concerns the record as a whole (for example a missing entry).
	NoEntry bool
	Reason  string
	// More counts the further failures of the same check at the same entry left undescribed: an entry that
	// can fail a check once per item it lists (an encrypted tally's counted indices) describes the first
	// DefaultFailuresKept and counts the others here, so that its failures cost memory for a counter.
	More uint64

	// undecoded marks a failure of the entry's payload check (PayloadCheck): the payload did not decode as its
	// kind's message in its canonical form, or does not have the manifest's shape, so none of the entry's other
	// checks ran.
	undecoded bool
	// notRun marks no failure but a check that could not run on the entry, because what it needs did not decode
	// upstream (the manifest, the election key, the encrypted tally); Check 0 means every check of the entry.
	// Verify counts it as neither passed nor failed.
	notRun bool
}

func (e *CheckError) Error() string {
	more := ""
	if e.More > 0 {
		more = fmt.Sprintf(" (and %d more failures of this check at this entry)", e.More)
	}
	if e.NoEntry {
		return fmt.Sprintf("check %s failed: %s%s", e.Check, e.Reason, more)
	}
	return fmt.Sprintf("check %s failed at entry %d: %s%s", e.Check, e.Entry, e.Reason, more)
}

// entryFailures gathers the failures of one entry, describing the first DefaultFailuresKept of each check and
// counting the others in the More of the last one described.
type entryFailures struct {
	errs []*CheckError
	last map[Check]*CheckError
	n    map[Check]int
}

func (f *entryFailures) add(c Check, entry uint64, format string, args ...any) {
	if f.n[c] >= DefaultFailuresKept {
		f.last[c].More++
		return
	}
	if f.n == nil {
		f.n, f.last = map[Check]int{}, map[Check]*CheckError{}
	}
	ce := fail(c, entry, format, args...)
	f.errs = append(f.errs, ce)
	f.last[c] = ce
	f.n[c]++
}

func fail(c Check, entry uint64, format string, args ...any) *CheckError {
	return &CheckError{Check: c, Entry: entry, Reason: fmt.Sprintf(format, args...)}
}

// failUndecoded is the failure of an entry whose payload does not decode: c is its kind's PayloadCheck.
func failUndecoded(c Check, entry uint64, format string, args ...any) *CheckError {
	ce := fail(c, entry, format, args...)
	ce.undecoded = true
	return ce
}

// notRun says that check c (0: every check of the entry) could not run on the entry, for the reason given.
func notRun(c Check, entry uint64, format string, args ...any) *CheckError {
	ce := fail(c, entry, format, args...)
	ce.notRun = true
	return ce
}

// PayloadCheck returns the check that reports an entry of kind k whose payload does not decode as its kind's
// message, is not in its canonical encoding (record.md 2.1), or (for a ballot or the encrypted tally) does not
// have the manifest's shape: the kind's own check, never check 2, which judges only where each kind of entry
// stands. Check 2 for an unknown kind, which has no message.
func PayloadCheck(k Kind) Check {
	switch k {
	case KindManifest:
		return CheckManifest
	case KindCredentials:
		return CheckCredentials
	case KindKeyCommitment:
		return CheckKeyCommitment
	case KindKeyVerdict, KindKeyReveal:
		return CheckKeyComplaints
	case KindElectionKey:
		return CheckElectionKey
	case KindOpen, KindClose:
		return CheckPollsWindow
	case KindBallot, KindSpoiledBallot:
		return CheckBallotShape
	case KindEncryptedTally:
		return CheckEncryptedTally
	case KindPartialDecryption:
		return CheckPartialDecryption
	case KindResult:
		return CheckResult
	default:
		return CheckRecord
	}
}

func failRecord(c Check, format string, args ...any) *CheckError {
	return &CheckError{Check: c, NoEntry: true, Reason: fmt.Sprintf(format, args...)}
}

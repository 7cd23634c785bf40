package verify

import (
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// Report is the verifier's account of a record. Its JSON encoding (the fields with JSON names) is what
// `recount verify --json` prints; the other fields are for programs that look further (a receipt check).
type Report struct {
	// OK is set when every check passed.
	OK bool `json:"ok"`
	// Complete is set when the record holds its result, decoded and judged by check 22 (pass or fail). An
	// incomplete record that is OK is an election in progress, not a failure; one whose result or encrypted tally
	// did not decode is not OK (docs/verification.md, Undecodable entries).
	Complete bool          `json:"complete"`
	Source   string        `json:"source"`
	Election *ElectionInfo `json:"election,omitempty"`
	Board    BoardInfo     `json:"board"`
	Ballots  *BallotCounts `json:"ballots,omitempty"`
	Result   *ResultInfo   `json:"result,omitempty"`
	// Checks has one entry per check of election.Checks, in order: check 1 first.
	Checks []CheckResult `json:"checks"`
	// Failures lists check 1's failure, if any, then the first failures of each other check (Options.FailuresKept
	// of them at most), in record order.
	Failures []Failure `json:"failures"`
	// Witnessed is the outcome of a witness policy's check of the final checkpoint ([CheckWitnessed],
	// [CheckCovers]), set by a caller that checks one (recount verify --witness-policy); nil otherwise.
	Witnessed *WitnessInfo `json:"witnessed,omitempty"`

	// BoardErr is check 1's failure, if any.
	BoardErr error `json:"-"`
	// Checkpoint is the record's final checkpoint, verified (when BoardErr is nil and the record was read to
	// its end).
	Checkpoint tlog.Checkpoint `json:"-"`
	// ElectionReport is the outcome of checks 2-23, with the election's state at the end of the record, or nil
	// when they did not run or prove nothing (check 1 failed).
	ElectionReport *election.Report `json:"-"`
}

// WitnessInfo is the outcome of checking that the record's final checkpoint is witnessed under a policy.
type WitnessInfo struct {
	// Met is set when a cosigned checkpoint covering the final checkpoint meets the policy.
	Met bool `json:"met"`
	// Quorum is the policy's quorum, e.g. "quorum (2 of 3)"; Cosigners the names of the witnesses whose
	// cosignatures verified, in the policy's order.
	Quorum    string   `json:"quorum,omitempty"`
	Cosigners []string `json:"cosigners"`
	// Summary says it for people: "witnessed by 2 of 3 (alice, bob): ...", or why not.
	Summary string `json:"summary"`
}

// ElectionInfo names the election, as its manifest does.
type ElectionInfo struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// BoardInfo describes the board that signed the record: compare its key fingerprint, size and root with those the
// election published.
type BoardInfo struct {
	Origin         string `json:"origin"`
	VerifierKey    string `json:"verifier_key"`
	KeyFingerprint string `json:"key_fingerprint"`
	// Size and Root are those of the record's final signed checkpoint: compare them with what was published.
	Size       uint64 `json:"size"`
	Root       string `json:"root,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
}

// BallotCounts counts the record's credentials and ballots.
type BallotCounts struct {
	Credentials int `json:"credentials"`
	Cast        int `json:"cast"`
	Voters      int `json:"voters"`
	Spoiled     int `json:"spoiled"`
	Counted     int `json:"counted"`
}

// ResultInfo is the decrypted result on the board.
type ResultInfo struct {
	// Trustees are the indexes of the trustees whose partial decryptions were combined.
	Trustees []int           `json:"trustees"`
	Contests []ContestResult `json:"contests"`
}

// ContestResult is one contest's result.
type ContestResult struct {
	ID      string         `json:"id"`
	Title   string         `json:"title"`
	Options []OptionResult `json:"options"`
}

// OptionResult is one option's count.
type OptionResult struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Count uint64 `json:"count"`
}

// Status is the outcome of one check.
type Status string

const (
	StatusPass Status = "pass"
	StatusFail Status = "fail"
	// StatusNotRun: check 1 failed, or the record could not be read far enough, or no entry passed or failed the
	// check but some could not be checked (election.Report.NotRun: they, or what the check needs, did not decode).
	StatusNotRun Status = "not run"
	// StatusNone: no entry of the record is subject to the check.
	StatusNone Status = "none"
)

// CheckResult is the outcome of one check.
type CheckResult struct {
	Number int    `json:"number"`
	Name   string `json:"name"`
	// Status is "pass", "fail", "not run" (check 1 failed, or the record could not be read), or "none" (no
	// entry of the record is subject to it).
	Status Status `json:"status"`
	Passed uint64 `json:"passed"`
	// Failed counts every failure of the check; the first of them (Options.FailuresKept at most) are listed in
	// the report's failures, and NotListed counts the others.
	Failed    uint64 `json:"failed"`
	NotListed uint64 `json:"failures_not_listed"`
}

// Failure is one failure of a check.
type Failure struct {
	Check int    `json:"check"`
	Name  string `json:"name"`
	// Entry is the board index of the entry at fault; absent when the failure concerns the whole record.
	Entry  *uint64 `json:"entry,omitempty"`
	Reason string  `json:"reason"`
}

// FailedChecks returns the number of checks that failed: 1 when none did but the report is not OK (the record
// could not be read far enough for any check to run).
func (r *Report) FailedChecks() int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			n++
		}
	}
	if n == 0 && !r.OK {
		n = 1
	}
	return n
}

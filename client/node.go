package client

import (
	"context"
	"errors"
	"iter"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// Node is what the voter's client needs of a node, in domain values, whatever carries the calls: package
// client/grpcnode implements it over gRPC, and a browser's voting page may implement it over the node's HTTP API.
//
// A call the node answered with a refusal returns a *Refusal; a call that ended without the node's answer (a
// lost connection, an unavailable node, a deadline, a cancellation), so that it may have been carried out all the
// same, returns an error wrapping ErrNoAnswer. Submit searches for a ballot whose cast ended so.
type Node interface {
	// Election returns the node's election as the node states it; the client checks it.
	Election(ctx context.Context) (*NodeElection, error)
	// Post asks the node to post a ballot: a cast ballot (kind election.KindBallot, payload a SignedBallot) or a
	// challenged one (election.KindSpoiledBallot, a SpoiledBallot). It returns the node's proof that the ballot
	// is on the board, nil if the node sent none. With sinceSize > 0, the size of the latest checkpoint the
	// client saw, the node adds the consistency proof between that board and the proof's (Inclusion.Consistency).
	Post(ctx context.Context, kind election.Kind, payload []byte, sinceSize uint64) (*Inclusion, error)
	// Lookup asks the node for the ballot with tracking code code: its inclusion in the latest checkpoint and
	// its status, and, when sinceSize > 0, the consistency proof from the board of that size to that checkpoint.
	Lookup(ctx context.Context, code election.ID, sinceSize uint64) (*BallotLookup, error)
	// LookupWitnessed is Lookup against the latest witnessed checkpoint (one whose cosignatures meet the node's
	// witness policy: Inclusion.Cosigned carries them) instead of the latest. The node refuses it while no
	// witnessed checkpoint covers the ballot and sinceSize, and when it has no witness policy.
	LookupWitnessed(ctx context.Context, code election.ID, sinceSize uint64) (*BallotLookup, error)
	// Consistency returns the node's signed checkpoint of size newSize (its latest when 0) and the consistency
	// proof from the board of oldSize (at most that size) to it. A node without a checkpoint of newSize
	// refuses with ReasonNotFound.
	Consistency(ctx context.Context, oldSize, newSize uint64) (checkpoint []byte, proof [][]byte, err error)
	// Entries reads the board's entries from index from to the board's current end, in order. An error ends
	// the sequence.
	Entries(ctx context.Context, from uint64) iter.Seq2[tlog.Entry, error]
}

// NodeElection is the election as a node states it, unchecked: Client.Election checks it into an ElectionInfo.
type NodeElection struct {
	// Manifest is the manifest entry's payload, empty while the node holds no election; ID is the election
	// identity the node claims for it (the manifest's SHA-256).
	Manifest, ID []byte
	// Key is the joint election key, empty before the key ceremony ends.
	Key []byte
	// BoardKey is the board's note verifier key.
	BoardKey string
	Phase    Phase
}

// Inclusion is a node's proof that a ballot is on the board: its entry, and a signed checkpoint whose tree holds
// the entry with the inclusion proof.
type Inclusion struct {
	TrackingCode []byte
	Index        uint64
	Checkpoint   []byte
	Proof        [][]byte
	BoardKey     string
	// Cosigned is Checkpoint followed by the witnesses' cosignature lines, when the node had it witnessed.
	Cosigned []byte
	// Unwitnessed says the node has a witness policy and Checkpoint is not witnessed yet.
	Unwitnessed bool
	// Consistency is Post's consistency proof between the board of the sinceSize asked and Checkpoint's, from the
	// smaller size to the larger: nil when none was asked or the node sent none (then the client asks with
	// Node.Consistency).
	Consistency [][]byte
}

// BallotLookup is a node's answer about a ballot, by its tracking code.
type BallotLookup struct {
	// Inclusion is the ballot's entry proved in the latest checkpoint; nil if the node sent no proof.
	Inclusion *Inclusion
	// Consistency is the consistency proof from the board of the size asked to Inclusion's checkpoint.
	Consistency [][]byte
	Status      election.Status
	// SupersededBy is the index of the ballot that replaced it, if Status is election.StatusSuperseded.
	SupersededBy uint64
}

// Phase is the phase of a node's election.
type Phase int

// The phases, in order, after PhaseUnknown (a phase the node did not name, or one this client does not know).
// They are the node's (package node's Phase), which a test in package node checks.
const (
	PhaseUnknown  Phase = iota
	PhaseEmpty          // no manifest on the board
	PhaseSetup          // credentials and the key ceremony, until the polls open
	PhaseOpen           // the polls are open
	PhaseClosed         // the polls are closed
	PhaseTallying       // the encrypted tally is on the board: the trustees decrypt it
	PhaseDone           // the result is on the board
)

var phaseNames = [...]string{"unknown", "empty", "setup", "open", "closed", "tallying", "done"}

func (p Phase) String() string {
	if p < 0 || int(p) >= len(phaseNames) {
		return "unknown"
	}
	return phaseNames[p]
}

// ErrNoAnswer is wrapped by the error of a call that ended without the node's answer: the node may have carried
// it out all the same.
var ErrNoAnswer = errors.New("the node did not answer")

// NoAnswer marks err, the error of a call that ended without the node's answer, so that it wraps ErrNoAnswer;
// its message stays err's. A Node implementation calls it; nil stays nil.
func NoAnswer(err error) error {
	if err == nil {
		return nil
	}
	return &noAnswerError{err}
}

type noAnswerError struct{ err error }

func (e *noAnswerError) Error() string   { return e.err.Error() }
func (e *noAnswerError) Unwrap() []error { return []error{ErrNoAnswer, e.err} }

// Refusal is a node's refusal of a call: it answered, and did not carry the call out.
type Refusal struct {
	// Reason is the refusal's reason: one of the Reason constants, or a numbered check's name in upper snake
	// case; "" if the node gave none.
	Reason string
	// Check is the number of the failed check, 0 if none.
	Check int
	// Err is the transport's error, whose message is the node's.
	Err error
}

func (r *Refusal) Error() string { return r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

// RefusedFor reports whether err is a node's refusal for reason.
func RefusedFor(err error, reason string) bool {
	var r *Refusal
	return errors.As(err, &r) && r.Reason == reason
}

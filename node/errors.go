package node

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/recount-vote/recount/election"
)

// The node refuses a call with a *Refusal: its Fault says what kind of fault it is and its Reason which, in a
// form a program can act on. The gRPC services (grpc_errors.go) send it as a status whose code is the fault's and
// whose errdetails.ErrorInfo holds the reason and the metadata:
//
//	FaultInvalid (InvalidArgument)      the request is malformed or fails a check: Reason is the check's name in
//	                                    upper case (BALLOT_PROOFS, BALLOT_SIGNATURE, ...) and Metadata["check"]
//	                                    its number (docs/verification.md); the message says "check 12
//	                                    ballot-proofs: <why>"
//	FaultPhase (FailedPrecondition)     the election is not in the phase the request needs (POLLS_NOT_OPEN,
//	                                    POLLS_CLOSED, ...)
//	FaultExists (AlreadyExists)         the ballot or trustee entry is already on the board (BALLOT_UNIQUE, ...)
//	FaultDenied (PermissionDenied)      an admin call without the commission's credentials (ADMIN_AUTH)
//	FaultNotFound (NotFound)            an unknown tracking code or index (NOT_FOUND)
//	FaultOutOfRange (OutOfRange)        an index beyond the board (NOT_FOUND)
//	FaultExhausted (ResourceExhausted)  too many streaming calls in progress, on the connection or on the node
//	                                    (TOO_MANY_STREAMS, Metadata["limit"] "connection" or "node"), or a
//	                                    request too large
//	FaultUnavailable (Unavailable)      the node is starting (STARTING: try again shortly), shutting down
//	                                    (SHUTTING_DOWN), or its board refuses appends (BOARD_FAILED: restart it)
//	FaultInternal (Internal)            a proof the board could not make (BOARD_FAILED)
//
// A call whose context ends is answered with the context's error instead. A refused request appends nothing.

// A Fault is the kind of a Refusal; each maps to one gRPC status code (see above).
type Fault int

// The faults.
const (
	FaultInvalid Fault = iota + 1
	FaultPhase
	FaultExists
	FaultDenied
	FaultNotFound
	FaultOutOfRange
	FaultExhausted
	FaultUnavailable
	FaultInternal
)

// A Refusal is the error with which the node refuses a call.
type Refusal struct {
	Fault  Fault
	Reason string // the ErrorInfo reason: a Reason constant, or CheckReason of a numbered check
	// Metadata is the ErrorInfo metadata (nil for none): "check" and "check_name" for a numbered check,
	// "limit" and "max" for TOO_MANY_STREAMS, "election" for ELECTION_EXISTS.
	Metadata map[string]string
	Message  string // for people
}

func (r *Refusal) Error() string { return r.Message }

// ErrorDomain is the ErrorInfo domain of the node's errors.
const ErrorDomain = "recount.v1"

// Reasons that are not numbered checks.
const (
	ReasonPollsNotOpen    = "POLLS_NOT_OPEN"
	ReasonPollsClosed     = "POLLS_CLOSED"
	ReasonOutsideWindow   = "OUTSIDE_VOTING_WINDOW"
	ReasonWrongPhase      = "WRONG_PHASE"
	ReasonNoElection      = "NO_ELECTION"
	ReasonElectionExists  = "ELECTION_EXISTS"
	ReasonAdminAuth       = "ADMIN_AUTH"
	ReasonNotFound        = "NOT_FOUND"
	ReasonBadRequest      = "BAD_REQUEST"
	ReasonDuplicate       = "DUPLICATE"
	ReasonStarting        = "STARTING"
	ReasonShuttingDown    = "SHUTTING_DOWN"
	ReasonBoardFailed     = "BOARD_FAILED"
	ReasonNotEnoughShares = "NOT_ENOUGH_SHARES"
	ReasonTooManyStreams  = "TOO_MANY_STREAMS"
)

// CheckReason returns the ErrorInfo reason of a numbered check: its name in upper snake case.
func CheckReason(c election.Check) string {
	return strings.ToUpper(strings.ReplaceAll(c.Name(), "-", "_"))
}

// refuse makes a Refusal.
func refuse(fault Fault, reason string, meta map[string]string, format string, args ...any) *Refusal {
	return &Refusal{Fault: fault, Reason: reason, Metadata: meta, Message: fmt.Sprintf(format, args...)}
}

// checkRefusal refuses, with fault, a request that failed a check: the message and the reason name the check.
func checkRefusal(fault Fault, ce *election.CheckError) *Refusal {
	return refuse(fault, CheckReason(ce.Check), map[string]string{"check": strconv.Itoa(int(ce.Check)), "check_name": ce.Check.Name()},
		"check %s: %s", ce.Check, ce.Reason)
}

// refusalReason returns the reason of a Refusal in err's chain, and the number of its failed check when there is
// one (0 otherwise); "" and 0 for any other error.
func refusalReason(err error) (reason string, check int) {
	var r *Refusal
	if !errors.As(err, &r) {
		return "", 0
	}
	n, _ := strconv.Atoi(r.Metadata["check"])
	return r.Reason, n
}

// errNodeBroken is wrapped in the refusal returned after the board refused an append.
var errNodeBroken = errors.New("the board refused an append; the node refuses every change until it is restarted")

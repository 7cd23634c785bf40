package node

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/recount-vote/recount/election"
)

// Every refusal is a gRPC status whose code says what kind of fault it is and whose errdetails.ErrorInfo says
// which, in a form a program can act on:
//
//	InvalidArgument     the request is malformed or fails a check: ErrorInfo.Reason is the check's name in upper
//	                    case (BALLOT_PROOFS, BALLOT_SIGNATURE, ...) and Metadata["check"] its number
//	                    (docs/verification.md); the message says "check 12 ballot-proofs: <why>"
//	FailedPrecondition  the election is not in the phase the request needs (POLLS_NOT_OPEN, POLLS_CLOSED, ...)
//	AlreadyExists       the ballot or trustee entry is already on the board (BALLOT_UNIQUE, ...)
//	PermissionDenied    an admin call without the commission's credentials (ADMIN_AUTH)
//	NotFound            an unknown tracking code or index (NOT_FOUND)
//	OutOfRange          an index beyond the board (NOT_FOUND)
//	ResourceExhausted   too many streaming calls in progress, on the connection or on the node
//	                    (TOO_MANY_STREAMS, Metadata["limit"] "connection" or "node"), or a request too large
//	Unavailable         the node is starting (STARTING: try again shortly), shutting down (SHUTTING_DOWN), or its
//	                    board refuses appends (BOARD_FAILED: restart it)
//
// A refused request appends nothing.

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

// refusal makes a status with an ErrorInfo.
func refusal(code codes.Code, reason string, meta map[string]string, format string, args ...any) error {
	st := status.New(code, fmt.Sprintf(format, args...))
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: meta}); err == nil {
		st = d
	}
	return st.Err()
}

// checkRefusal turns a failed check into a status with code: the message and the reason name the check.
func checkRefusal(code codes.Code, ce *election.CheckError) error {
	return refusal(code, CheckReason(ce.Check), map[string]string{"check": strconv.Itoa(int(ce.Check)), "check_name": ce.Check.Name()},
		"check %s: %s", ce.Check, ce.Reason)
}

// Reason returns the ErrorInfo reason of an error returned by the node (through gRPC or not), and the number of
// the failed check when there is one (0 otherwise).
func Reason(err error) (reason string, check int) {
	st, ok := status.FromError(err)
	if !ok {
		return "", 0
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			n, _ := strconv.Atoi(info.Metadata["check"])
			return info.Reason, n
		}
	}
	return "", 0
}

// errNodeBroken is wrapped in the status returned after the board refused an append.
var errNodeBroken = errors.New("the board refused an append; the node refuses every change until it is restarted")

// ctxStatus turns a context's error into the status gRPC uses for it.
func ctxStatus(err error) error { return status.FromContextError(err).Err() }

package client

import "time"

// What the client assumes of a node's limits: the same values as the node's defaults (package node's
// DefaultMaxMessageBytes, DefaultCallTimeout and the largest message it sends), which a test in package node
// checks.
const (
	// MaxMessageBytes is the largest request the client sends: a node's default bound on a request.
	MaxMessageBytes = 4 << 20
	// DefaultCallTimeout is the deadline given to a unary call whose context has none.
	DefaultCallTimeout = 30 * time.Second
	// MaxReceiveBytes is the largest message the client accepts: the largest a node sends (an export chunk, or
	// an entry of up to tlog.MaxPayloadSize in StreamEntries).
	MaxReceiveBytes = 17 << 20
)

// The reasons of a node's refusals (Refusal.Reason) that are not numbered checks (a numbered check's reason is
// its name in upper snake case). They are the node's own, which a test in package node checks.
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

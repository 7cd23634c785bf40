package grpcnode

import (
	"errors"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/recount-vote/recount/client"
)

// Err translates the error of a call to the node for package client: a status carrying an ErrorInfo, the node's
// refusal, is a *client.Refusal with its reason and check; a status that ended the call without the node's answer
// wraps client.ErrNoAnswer. Either keeps err, its message and its status; other errors, and nil, are returned as
// they are.
//
// Without the node's answer means Unavailable, DeadlineExceeded or Canceled (with or without an ErrorInfo), and
// Unknown, Internal, Aborted, DataLoss and ResourceExhausted when they carry no ErrorInfo: the node sends every
// refusal of its own with one, so such a status came from something between the voter and the node (a proxy
// resetting the stream, an HTTP 500 in front of the node, an answer too large to read), perhaps after the node
// posted the ballot; the client must then look for it rather than tell the voter it failed (found by review). The
// codes left out (InvalidArgument, Unimplemented, Unauthenticated, PermissionDenied, ...) without ErrorInfo say
// the request was not taken.
func Err(err error) error {
	st, ok := Status(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.DeadlineExceeded, codes.Unavailable, codes.Canceled:
		// Even from the node (shutting down, its board failing): the ballot may be on the board.
		return client.NoAnswer(err)
	}
	if reason, check := Reason(err); reason != "" {
		return &client.Refusal{Reason: reason, Check: check, Err: err}
	}
	switch st.Code() {
	case codes.Unknown, codes.Internal, codes.Aborted, codes.DataLoss, codes.ResourceExhausted:
		return client.NoAnswer(err)
	}
	return err
}

// Status returns the gRPC status that err is or wraps, read as status.FromError reads it, with one difference: a
// status wrapped only by errors that keep its message (a *client.Refusal, a call without an answer: Err's) keeps
// the node's message, where status.FromError would give it the status error's whole text. False if err carries
// no status.
func Status(err error) (*status.Status, bool) {
	var se interface {
		error
		GRPCStatus() *status.Status
	}
	if err == nil || !errors.As(err, &se) || se.GRPCStatus() == nil {
		return nil, false
	}
	if se.Error() == err.Error() {
		return se.GRPCStatus(), true
	}
	return status.FromError(err)
}

// Reason returns the ErrorInfo reason of an error a node returned through gRPC (a status), and the number of the
// failed check when there is one (0 otherwise); "" and 0 for an error that carries no ErrorInfo.
func Reason(err error) (reason string, check int) {
	st, ok := Status(err)
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

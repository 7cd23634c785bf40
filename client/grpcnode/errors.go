package grpcnode

import (
	"errors"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/recount-vote/recount/client"
)

// Err translates the error of a call to the node for package client: a status that ended the call without the
// node's answer (Unavailable, DeadlineExceeded, Canceled) wraps client.ErrNoAnswer; one carrying an ErrorInfo, a
// refusal, is a *client.Refusal with its reason and check. Either keeps err, its message and its status; other
// errors, and nil, are returned as they are.
func Err(err error) error {
	st, ok := Status(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.DeadlineExceeded, codes.Unavailable, codes.Canceled:
		return client.NoAnswer(err)
	}
	if reason, check := Reason(err); reason != "" {
		return &client.Refusal{Reason: reason, Check: check, Err: err}
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

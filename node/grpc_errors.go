package node

import (
	"errors"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// faultCodes are the gRPC status codes of the faults (errors.go).
var faultCodes = map[Fault]codes.Code{
	FaultInvalid:     codes.InvalidArgument,
	FaultPhase:       codes.FailedPrecondition,
	FaultExists:      codes.AlreadyExists,
	FaultDenied:      codes.PermissionDenied,
	FaultNotFound:    codes.NotFound,
	FaultOutOfRange:  codes.OutOfRange,
	FaultExhausted:   codes.ResourceExhausted,
	FaultUnavailable: codes.Unavailable,
	FaultInternal:    codes.Internal,
}

// status returns the status that sends r: its fault's code, its message, and an ErrorInfo with its reason and
// metadata.
func (r *Refusal) status() *status.Status {
	code, ok := faultCodes[r.Fault]
	if !ok {
		code = codes.Unknown
	}
	st := status.New(code, r.Message)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: r.Reason, Domain: ErrorDomain, Metadata: r.Metadata}); err == nil {
		st = d
	}
	return st
}

// grpcError translates an error of the node into the error a gRPC handler returns: a Refusal into its status, a
// status unchanged, and any other error (a context's, above all) into the status gRPC uses for it.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	var r *Refusal
	if errors.As(err, &r) {
		return r.status().Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.FromContextError(err).Err()
}

// Reason returns the ErrorInfo reason of an error returned by the node, through gRPC (a status) or not (a
// Refusal), and the number of the failed check when there is one (0 otherwise).
func Reason(err error) (reason string, check int) {
	if reason, check := refusalReason(err); reason != "" {
		return reason, check
	}
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

package node

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/recount-vote/recount/election"
)

// TestGRPCError: each Fault is sent with its own status code, the refusal's message and an ErrorInfo that Reason
// reads back as it reads the Refusal itself; a context's error becomes gRPC's status for it, and a status passes
// unchanged.
func TestGRPCError(t *testing.T) {
	want := map[Fault]codes.Code{
		FaultInvalid: codes.InvalidArgument, FaultPhase: codes.FailedPrecondition, FaultExists: codes.AlreadyExists,
		FaultDenied: codes.PermissionDenied, FaultNotFound: codes.NotFound, FaultOutOfRange: codes.OutOfRange,
		FaultExhausted: codes.ResourceExhausted, FaultUnavailable: codes.Unavailable, FaultInternal: codes.Internal,
	}
	for f, code := range want {
		r := checkRefusal(f, &election.CheckError{Check: election.CheckBallotProofs, Reason: "bad"})
		err := grpcError(r)
		st := status.Convert(err)
		if st.Code() != code || st.Message() != r.Message {
			t.Errorf("fault %d: got %v, want %v %q", f, err, code, r.Message)
		}
		gotReason, gotCheck := Reason(err)
		wantReason, wantCheck := Reason(r)
		if gotReason != wantReason || gotCheck != wantCheck || wantReason != "BALLOT_PROOFS" || wantCheck != int(election.CheckBallotProofs) {
			t.Errorf("fault %d: Reason of the status %q %d, of the refusal %q %d", f, gotReason, gotCheck, wantReason, wantCheck)
		}
	}
	if len(want) != len(faultCodes) {
		t.Errorf("faultCodes maps %d faults, want %d", len(faultCodes), len(want))
	}

	if got := status.Code(grpcError(fmt.Errorf("reading: %w", context.DeadlineExceeded))); got != codes.DeadlineExceeded {
		t.Errorf("a deadline: got %v", got)
	}
	if got := status.Code(grpcError(context.Canceled)); got != codes.Canceled {
		t.Errorf("a cancel: got %v", got)
	}
	sent := status.Error(codes.Aborted, "as sent")
	if got := grpcError(sent); got != sent {
		t.Errorf("a status: got %v, want it unchanged", got)
	}
	if grpcError(nil) != nil {
		t.Error("nil became an error")
	}
}

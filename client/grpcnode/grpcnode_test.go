package grpcnode

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
)

// TestReason: Reason reads the ErrorInfo of a node's status, wrapped or not, and nothing from other errors.
func TestReason(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "check 14: duplicate").WithDetails(&errdetails.ErrorInfo{
		Reason: "BALLOT_UNIQUE", Domain: "recount.v1", Metadata: map[string]string{"check": "14"}})
	if err != nil {
		t.Fatal(err)
	}
	limit, err := status.New(codes.ResourceExhausted, "too many").WithDetails(&errdetails.ErrorInfo{Reason: client.ReasonTooManyStreams})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what   string
		err    error
		reason string
		check  int
	}{
		{"a check", st.Err(), "BALLOT_UNIQUE", 14},
		{"a wrapped check", fmt.Errorf("casting: %w", st.Err()), "BALLOT_UNIQUE", 14},
		{"a reason", limit.Err(), client.ReasonTooManyStreams, 0},
		{"a status without details", status.Error(codes.Unavailable, "down"), "", 0},
		{"not a status", errors.New("ENOENT"), "", 0},
		{"nil", nil, "", 0},
	} {
		if reason, check := Reason(c.err); reason != c.reason || check != c.check {
			t.Errorf("%s: Reason = %q, %d; want %q, %d", c.what, reason, check, c.reason, c.check)
		}
	}
}

// TestIsAdmin: the admin token goes with AdminService's calls and no other's.
func TestIsAdmin(t *testing.T) {
	admin := "/" + recountv1.AdminService_ServiceDesc.ServiceName + "/" + recountv1.AdminService_ServiceDesc.Methods[0].MethodName
	voter := "/" + recountv1.VoterService_ServiceDesc.ServiceName + "/" + recountv1.VoterService_ServiceDesc.Methods[0].MethodName
	if !isAdmin(admin) {
		t.Errorf("isAdmin(%q) = false", admin)
	}
	if isAdmin(voter) {
		t.Errorf("isAdmin(%q) = true", voter)
	}
	if isAdmin("/" + recountv1.AdminService_ServiceDesc.ServiceName + "Extra/Create") {
		t.Error("isAdmin takes a service whose name begins with AdminService's for it")
	}
}

// TestStreamedEntry: a streamed entry keeps its index, kind and payload.
func TestStreamedEntry(t *testing.T) {
	m := &recountv1.StreamEntriesResponse{Index: 7, Kind: election.KindSpoiledBallot, Payload: []byte("payload")}
	e := StreamedEntry(m)
	if e.Index != 7 || uint32(e.Kind) != uint32(election.KindSpoiledBallot) || string(e.Payload) != "payload" {
		t.Errorf("StreamedEntry = %+v, want index 7, kind %d, payload %q", e, election.KindSpoiledBallot, "payload")
	}
}

// TestErr: a status that ended the call without an answer wraps client.ErrNoAnswer, one with an ErrorInfo is a
// client.Refusal; either keeps the status, its code and its message, and other errors stay as they are.
func TestErr(t *testing.T) {
	refused, err := status.New(codes.FailedPrecondition, "the polls are closed").WithDetails(&errdetails.ErrorInfo{
		Reason: client.ReasonPollsClosed, Domain: "recount.v1"})
	if err != nil {
		t.Fatal(err)
	}
	check, err := status.New(codes.InvalidArgument, "check 14: duplicate").WithDetails(&errdetails.ErrorInfo{
		Reason: "BALLOT_UNIQUE", Domain: "recount.v1", Metadata: map[string]string{"check": "14"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what     string
		err      error
		noAnswer bool
		reason   string
		check    int
	}{
		{"unavailable", status.Error(codes.Unavailable, "down"), true, "", 0},
		{"a deadline", status.Error(codes.DeadlineExceeded, "late"), true, "", 0},
		{"canceled", status.Error(codes.Canceled, "gone"), true, "", 0},
		{"a refusal", refused.Err(), false, client.ReasonPollsClosed, 0},
		{"a check", check.Err(), false, "BALLOT_UNIQUE", 14},
		{"internal, without details (a proxy's)", status.Error(codes.Internal, "oops"), true, "", 0},
		{"unknown, without details (an HTTP 500)", status.Error(codes.Unknown, "bad gateway"), true, "", 0},
		{"too large an answer", status.Error(codes.ResourceExhausted, "message larger than max"), true, "", 0},
		{"invalid, without details", status.Error(codes.InvalidArgument, "bad request"), false, "", 0},
		{"unimplemented", status.Error(codes.Unimplemented, "no such method"), false, "", 0},
	} {
		got := Err(c.err)
		if got.Error() != c.err.Error() || status.Code(got) != status.Code(c.err) {
			t.Errorf("%s: Err = %v (%s), want %v (%s)", c.what, got, status.Code(got), c.err, status.Code(c.err))
		}
		if st, ok := Status(got); !ok || st.Message() != status.Convert(c.err).Message() {
			t.Errorf("%s: Status(Err) = %v, %v; want the node's message", c.what, st, ok)
		}
		if errors.Is(got, client.ErrNoAnswer) != c.noAnswer {
			t.Errorf("%s: errors.Is(Err, ErrNoAnswer) = %v", c.what, !c.noAnswer)
		}
		var r *client.Refusal
		if isRefusal := errors.As(got, &r); isRefusal != (c.reason != "") || isRefusal && (r.Reason != c.reason || r.Check != c.check) {
			t.Errorf("%s: refusal %+v, want reason %q, check %d", c.what, r, c.reason, c.check)
		}
	}
	// A status wrapped with words of the wrapper's reads as status.FromError reads it, the words included.
	wrapped := fmt.Errorf("reading the board: %w", Err(status.Error(codes.Unavailable, "down")))
	if st, ok := Status(wrapped); !ok || st.Code() != codes.Unavailable || st.Message() != wrapped.Error() {
		t.Errorf("Status(%v) = %v, %v; want Unavailable with the whole message", wrapped, st, ok)
	}
	plain := errors.New("ENOENT")
	if Err(plain) != plain || Err(nil) != nil {
		t.Error("Err changes an error that is no status")
	}
}

// TestPhaseAndStatus: every phase and ballot status of the service has its client value, named as the node
// names it.
func TestPhaseAndStatus(t *testing.T) {
	for v, name := range recountv1.Phase_name {
		p := PhaseOf(recountv1.Phase(v))
		if want := fmt.Sprintf("PHASE_%s", strings.ToUpper(p.String())); (p == client.PhaseUnknown) != (v == 0) || v != 0 && want != name {
			t.Errorf("PhaseOf(%s) = %v", name, p)
		}
	}
	for v, name := range recountv1.BallotStatus_name {
		if s := StatusOf(recountv1.BallotStatus(v)); (s == election.StatusUnknown) != (v == 0) {
			t.Errorf("StatusOf(%s) = %v", name, s)
		}
	}
}

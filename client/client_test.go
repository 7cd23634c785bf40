package client

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// TestEncrypt: ElectionInfo.Encrypt makes a ballot the election's state admits, and refuses while the node has
// no election key.
func TestEncrypt(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 2, Threshold: 2, Voters: 1})
	if err != nil {
		t.Fatal(err)
	}
	choices := election.RandomChoices(e.Manifest, nil)
	if _, err := (&ElectionInfo{Manifest: e.Manifest}).Encrypt(e.Credentials[0], choices); err == nil {
		t.Error("Encrypt without an election key succeeded")
	}
	info := &ElectionInfo{Manifest: e.Manifest, Key: e.State.Key().PublicKey}
	b, err := info.Encrypt(e.Credentials[0], choices)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Append(b.DraftCast()); err != nil {
		t.Fatalf("the encrypted ballot: %v", err)
	}
}

// TestReason: Reason reads the ErrorInfo of a node's status, wrapped or not, and nothing from other errors.
func TestReason(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "check 14: duplicate").WithDetails(&errdetails.ErrorInfo{
		Reason: "BALLOT_UNIQUE", Domain: "recount.v1", Metadata: map[string]string{"check": "14"}})
	if err != nil {
		t.Fatal(err)
	}
	limit, err := status.New(codes.ResourceExhausted, "too many").WithDetails(&errdetails.ErrorInfo{Reason: ReasonTooManyStreams})
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
		{"a reason", limit.Err(), ReasonTooManyStreams, 0},
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

package webnode_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/webnode"
)

// TestCallErrors: the API's answers map to package client's errors as gRPC statuses do in client/grpcnode: a
// reason is a Refusal; no answer, Unavailable, DeadlineExceeded, Cancelled, and a server error without a reason
// (a proxy's) are "no answer", after which a cast is searched for rather than reported failed.
func TestCallErrors(t *testing.T) {
	for _, c := range []struct {
		name     string
		status   int
		body     string
		refusal  string // the Refusal's reason, "" for none
		noAnswer bool
	}{
		{"refusal", 400, `{"code":"FAILED_PRECONDITION","reason":"POLLS_CLOSED","message":"the polls are closed"}`, "POLLS_CLOSED", false},
		{"check", 400, `{"code":"INVALID_ARGUMENT","reason":"BALLOT_CREDENTIAL","check":11,"message":"check 11"}`, "BALLOT_CREDENTIAL", false},
		{"unavailable with a reason", 503, `{"code":"UNAVAILABLE","reason":"STARTING","message":"starting"}`, "", true},
		{"deadline", 504, `{"code":"DEADLINE_EXCEEDED","message":"deadline"}`, "", true},
		{"internal without a reason", 500, `{"code":"INTERNAL","message":"x"}`, "", true},
		{"a proxy's page", 502, `<html>Bad Gateway</html>`, "", true},
		{"a proxy's 404", 404, `<html>Not Found</html>`, "", false},
		{"invalid without a reason", 400, `{"code":"INVALID_ARGUMENT","message":"x"}`, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
			}))
			defer srv.Close()
			_, err := (&webnode.Node{Base: srv.URL}).Election(context.Background())
			var r *client.Refusal
			if got := errors.As(err, &r); got != (c.refusal != "") || (got && r.Reason != c.refusal) {
				t.Errorf("refusal: %v (%v), want reason %q", got, err, c.refusal)
			}
			if got := errors.Is(err, client.ErrNoAnswer); got != c.noAnswer {
				t.Errorf("no answer: %v (%v), want %v", got, err, c.noAnswer)
			}
		})
	}
	_, err := (&webnode.Node{Base: "http://127.0.0.1:1"}).Election(context.Background())
	if !errors.Is(err, client.ErrNoAnswer) {
		t.Errorf("no server: %v", err)
	}
}

// TestEntriesOutOfOrder: a page whose entries are not the ones due is an error, not entries.
func TestEntriesOutOfOrder(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"entries":[{"index":"5","kind":"ENTRY_KIND_BALLOT","payload":"AA=="}],"end":true}`))
	}))
	defer srv.Close()
	for _, err := range (&webnode.Node{Base: srv.URL}).Entries(context.Background(), 0) {
		if err == nil {
			t.Fatal("entry 5 accepted where entry 0 was due")
		}
	}
}

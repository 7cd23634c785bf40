package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/webnode"
)

// slowVoter is a VoterService whose GetElection waits until release is closed or its context ends.
type slowVoter struct {
	recountv1.UnimplementedVoterServiceServer
	entered chan struct{}
	release chan struct{}
}

func (v *slowVoter) GetElection(ctx context.Context, _ *recountv1.GetElectionRequest) (*recountv1.GetElectionResponse, error) {
	v.entered <- struct{}{}
	select {
	case <-v.release:
		return &recountv1.GetElectionResponse{BoardKey: "k"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// slowBoard is a BoardService whose StreamEntries sends one entry and then waits as slowVoter does.
type slowBoard struct {
	recountv1.UnimplementedBoardServiceServer
	entered chan struct{}
	release chan struct{}
}

func (b *slowBoard) StreamEntries(_ *recountv1.StreamEntriesRequest, s grpc.ServerStreamingServer[recountv1.StreamEntriesResponse]) error {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-s.Context().Done():
		return s.Context().Err()
	}
	for i := range uint64(MaxEntriesPerPage + 10) {
		if err := s.Send(&recountv1.StreamEntriesResponse{Index: i, Kind: 8, Payload: []byte("x")}); err != nil {
			return err
		}
	}
	return nil
}

func apiError(t *testing.T, resp *http.Response) APIError {
	t.Helper()
	defer resp.Body.Close()
	var e APIError
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%d %s: %v", resp.StatusCode, b, err)
	}
	return e
}

// TestCallBounds: calls beyond MaxCalls are refused at once (BUSY), a call is ended at CallTimeout, and board
// reads beyond MaxReadsPerClient are refused (TOO_MANY_STREAMS); the slots come back once the calls end.
func TestCallBounds(t *testing.T) {
	voter := &slowVoter{entered: make(chan struct{}, 8), release: make(chan struct{})}
	board := &slowBoard{entered: make(chan struct{}, 8), release: make(chan struct{})}
	a := newAPI(Services{Voter: voter, Board: board}, Limits{MaxCalls: 1, MaxReads: 4, MaxReadsPerClient: 1, CallTimeout: 2 * time.Second}, nil)
	srv := httptest.NewServer(a)
	defer srv.Close()

	var wg sync.WaitGroup
	wg.Go(func() {
		resp, err := http.Get(srv.URL + "/api/v1/election")
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("the first call: %d", resp.StatusCode)
		}
	})
	<-voter.entered
	resp, err := http.Get(srv.URL + "/api/v1/election")
	if err != nil {
		t.Fatal(err)
	}
	if e := apiError(t, resp); resp.StatusCode != 503 || e.Reason != "BUSY" {
		t.Fatalf("a call beyond MaxCalls: %d %+v", resp.StatusCode, e)
	}
	close(voter.release)
	wg.Wait()

	wg.Go(func() {
		resp, err := http.Post(srv.URL+"/api/v1/entries", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		var page struct {
			Entries []json.RawMessage
			End     bool
		}
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Entries) != MaxEntriesPerPage || page.End {
			t.Errorf("a full page: %d entries, end %v, %v", len(page.Entries), page.End, err)
		}
	})
	<-board.entered
	resp, err = http.Post(srv.URL+"/api/v1/entries", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if e := apiError(t, resp); resp.StatusCode != 429 || e.Reason != "TOO_MANY_STREAMS" {
		t.Fatalf("a read beyond MaxReadsPerClient: %d %+v", resp.StatusCode, e)
	}
	close(board.release)
	wg.Wait()

	// The timeout: a call that does not end in CallTimeout is ended with DEADLINE_EXCEEDED.
	voter2 := &slowVoter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	a2 := newAPI(Services{Voter: voter2, Board: board}, Limits{CallTimeout: 100 * time.Millisecond}, nil)
	srv2 := httptest.NewServer(a2)
	defer srv2.Close()
	resp, err = http.Get(srv2.URL + "/api/v1/election")
	if err != nil {
		t.Fatal(err)
	}
	if e := apiError(t, resp); resp.StatusCode != 504 || e.Code != "DEADLINE_EXCEEDED" {
		t.Fatalf("a call past its timeout: %d %+v", resp.StatusCode, e)
	}
}

// failingBoard is a BoardService whose StreamEntries sends three entries and then fails.
type failingBoard struct {
	recountv1.UnimplementedBoardServiceServer
}

func (failingBoard) StreamEntries(_ *recountv1.StreamEntriesRequest, s grpc.ServerStreamingServer[recountv1.StreamEntriesResponse]) error {
	for i := range uint64(3) {
		if err := s.Send(&recountv1.StreamEntriesResponse{Index: i, Kind: 8, Payload: []byte("x")}); err != nil {
			return err
		}
	}
	return refusal(codes.Internal, "BOARD_FAILED", "the board failed")
}

// TestEntriesFailMidPage: a stream that fails after some entries ends the page with its error, which the client
// reads after those entries; the page stays well-formed JSON.
func TestEntriesFailMidPage(t *testing.T) {
	srv := httptest.NewServer(newAPI(Services{Voter: &slowVoter{}, Board: failingBoard{}}, Limits{}, nil))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/api/v1/entries", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	var page webnode.EntriesJSON
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Entries) != 3 || page.End || page.Error == nil || page.Error.Reason != "BOARD_FAILED" {
		t.Fatalf("page: %+v, %v", page, err)
	}
	resp.Body.Close()
	n := 0
	var last error
	for _, err := range (&webnode.Node{Base: srv.URL}).Entries(context.Background(), 0) {
		if err != nil {
			last = err
			break
		}
		n++
	}
	if n != 3 || !client.RefusedFor(last, "BOARD_FAILED") {
		t.Fatalf("read %d entries, then %v", n, last)
	}
}

// TestClientOf: a client is an IPv4 address, or an IPv6 /64.
func TestClientOf(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.1:5000": "192.0.2.1", "[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64", "[2001:db8:1:2:ffff::1]:1": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.1]:80": "192.0.2.1", "not an address": "not an address",
	} {
		if got := clientOf(remote); got != want {
			t.Errorf("clientOf(%q) = %q, want %q", remote, got, want)
		}
	}
}

package node_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
)

// export streams the board's export.
func export(t *testing.T, c *grpcnode.Client) []byte {
	t.Helper()
	stream, err := c.Board.Export(context.Background(), &recountv1.ExportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(msg.Data)
	}
}

// verifyExport checks an export as a stranger would: the board (tlog.VerifyExport) and every numbered check.
func verifyExport(t *testing.T, data []byte, boardKey string) *election.Report {
	t.Helper()
	if _, err := tlog.VerifyExport(bytes.NewReader(data), boardKey); err != nil {
		t.Fatal(err)
	}
	x, err := tlog.NewExportReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := election.Verify(context.Background(), election.FromBoardSeq(x.Entries()), election.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Failures {
		t.Errorf("verifier: %v", f)
	}
	return rep
}

// waitPartials waits until n valid partial decryptions are on the board.
func waitPartials(t *testing.T, c *grpcnode.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Admin.GetStatus(context.Background(), &recountv1.GetStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.PartialDecryptions) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v decrypted", st.PartialDecryptions)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestElectionOverGRPC runs a whole election through the node's gRPC services on a loopback port: three
// trustee nodes (t = 2) in goroutines, each with its own store, follow the board and take part in the
// ceremony; voters cast concurrently, some challenge, some revote; the polls close; trustee 3 stays away from
// the decryption; the result equals the plaintext sums; the export verifies; every receipt checks out with its
// final status.
func TestElectionOverGRPC(t *testing.T) {
	if testing.Short() {
		// -short keeps TestRestartMidVoting, a whole election over gRPC too, with a restart in its middle.
		t.Skip("a whole election over gRPC with three trustee nodes: the full run")
	}
	tn := startNode(t, t.TempDir(), "")
	const voters = 16
	f := newFixture(t, tn.target(), setup{trustees: 3, threshold: 2, voters: voters, absent: []int{3}})
	ctx := context.Background()

	vs := f.vote(t, tn.anon, seq(voters), func(v int) bool { return v%5 == 0 }, func(v int) bool { return v%4 == 1 })
	if t.Failed() {
		t.FailNow()
	}
	if _, err := tn.admin.Admin.ClosePolls(ctx, &recountv1.ClosePollsRequest{}); err != nil {
		t.Fatal(err)
	}
	tally, err := tn.admin.Admin.Tally(ctx, &recountv1.TallyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if tally.Counted != voters {
		t.Fatalf("counted %d, want %d", tally.Counted, voters)
	}
	waitPartials(t, tn.admin, 2)
	res, err := tn.admin.Admin.PublishResult(ctx, &recountv1.PublishResultRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trustees) != 2 || res.Trustees[0] != 1 || res.Trustees[1] != 2 {
		t.Errorf("result combined trustees %v, want [1 2]", res.Trustees)
	}
	st, err := tn.anon.Voter.GetElection(ctx, &recountv1.GetElectionRequest{})
	if err != nil || st.Phase != recountv1.Phase_PHASE_DONE {
		t.Fatalf("phase %v, %v", st.GetPhase(), err)
	}

	rep := verifyExport(t, export(t, tn.anon), f.info.BoardKey)
	if !rep.Complete || rep.Count != voters || rep.Spoiled != len(vs.spoiled) {
		t.Fatalf("report: complete %v, counted %d, spoiled %d", rep.Complete, rep.Count, rep.Spoiled)
	}
	for c, cc := range rep.Result.Contests {
		for o, oc := range cc.Options {
			var want uint64
			for _, ch := range vs.choices {
				want += ch[c][o]
			}
			if oc.Count != want {
				t.Errorf("contest %s option %s: %d, plaintext sum %d", cc.ID, oc.ID, oc.Count, want)
			}
		}
	}
	check := func(r *client.Receipt, want election.Status) {
		t.Helper()
		resp, _, err := tn.anon.CheckReceipt(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != want {
			t.Errorf("ballot at %d: status %v, want %v", r.Index, resp.Status, want)
		}
	}
	for _, r := range vs.last {
		check(r, election.StatusCounted)
	}
	for _, r := range vs.replaced {
		check(r, election.StatusSuperseded)
	}
	for _, r := range vs.spoiled {
		check(r, election.StatusSpoiled)
	}
	// The trustees who decrypted are done; the absent one stopped after the ceremony.
	for i, errc := range f.errs {
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("trustee %d: %v", i+1, err)
			}
			errc <- nil
		case <-time.After(10 * time.Second):
			t.Errorf("trustee %d still runs after the result", i+1)
		}
	}
	// Each trustee kept its key share, sealed in its own store.
	for i, s := range f.stores {
		ks, err := s.KeyShare()
		if err != nil || ks == nil || ks.Index != i+1 {
			t.Errorf("trustee %d's store: key share %v, %v", i+1, ks, err)
		}
	}
}

// TestAdminRefused: without the token, or with a wrong one, every admin call is PermissionDenied and the board
// does not change; a node started without admin credentials refuses every admin call.
func TestAdminRefused(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	wrong, err := grpcnode.Dial(tn.addr, grpcnode.DialOptions{Plaintext: true, Token: []byte("not-the-admin-token-at-all")})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 2, noOpen: true})
	ctx := context.Background()
	calls := map[string]func(c recountv1.AdminServiceClient) error{
		"CreateElection": func(c recountv1.AdminServiceClient) error {
			_, err := c.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: f.manifest.Bytes()})
			return err
		},
		"PublishCredentials": func(c recountv1.AdminServiceClient) error {
			pk := f.creds[0].PublicKey()
			_, err := c.PublishCredentials(ctx, &recountv1.PublishCredentialsRequest{PublicKeys: [][]byte{pk[:]}})
			return err
		},
		"FinishKeyCeremony": func(c recountv1.AdminServiceClient) error {
			_, err := c.FinishKeyCeremony(ctx, &recountv1.FinishKeyCeremonyRequest{Force: true})
			return err
		},
		"OpenPolls": func(c recountv1.AdminServiceClient) error {
			_, err := c.OpenPolls(ctx, &recountv1.OpenPollsRequest{})
			return err
		},
		"ClosePolls": func(c recountv1.AdminServiceClient) error {
			_, err := c.ClosePolls(ctx, &recountv1.ClosePollsRequest{})
			return err
		},
		"Tally": func(c recountv1.AdminServiceClient) error {
			_, err := c.Tally(ctx, &recountv1.TallyRequest{})
			return err
		},
		"PublishResult": func(c recountv1.AdminServiceClient) error {
			_, err := c.PublishResult(ctx, &recountv1.PublishResultRequest{})
			return err
		},
		"GetStatus": func(c recountv1.AdminServiceClient) error {
			_, err := c.GetStatus(ctx, &recountv1.GetStatusRequest{})
			return err
		},
	}
	size := tn.size()
	for name, call := range calls {
		for who, c := range map[string]*grpcnode.Client{"no token": tn.anon, "wrong token": wrong} {
			err := call(c.Admin)
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s with %s: %v, want PermissionDenied", name, who, err)
			}
			if reason, _ := node.Reason(err); reason != node.ReasonAdminAuth {
				t.Errorf("%s with %s: reason %q", name, who, reason)
			}
		}
	}
	if tn.size() != size {
		t.Fatalf("refused admin calls changed the board: %d entries, was %d", tn.size(), size)
	}
	// The real token opens the polls: the refusals above were for the credentials, not the phase.
	if err := calls["OpenPolls"](tn.admin.Admin); err != nil {
		t.Fatal(err)
	}

	// A node without any admin credential configured refuses every admin call.
	n, err := node.Open(t.TempDir(), node.Options{Origin: "test.recount.local/closed"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	srv := node.NewServer(n, node.ServerOptions{})
	lis := listen(t)
	go srv.Serve(lis)
	defer srv.Shutdown(ctx)
	c, err := grpcnode.Dial(lis.Addr().String(), grpcnode.DialOptions{Plaintext: true, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := calls["CreateElection"](c.Admin); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin disabled: %v", err)
	}
	if n.Log().Size() != 0 {
		t.Fatal("a refused CreateElection appended")
	}
}

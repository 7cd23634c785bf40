package node_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/node"
)

// receiptlessVoter is a hostile node: it answers a cast with no receipt, or (lost) with Unavailable, and every
// receipt look-up with an empty answer.
type receiptlessVoter struct {
	recountv1.UnimplementedVoterServiceServer
	lost bool
}

func (v receiptlessVoter) CastBallot(context.Context, *recountv1.CastBallotRequest) (*recountv1.CastBallotResponse, error) {
	if v.lost {
		return nil, status.Error(codes.Unavailable, "connection lost")
	}
	return &recountv1.CastBallotResponse{}, nil
}

func (receiptlessVoter) GetReceipt(context.Context, *recountv1.GetReceiptRequest) (*recountv1.GetReceiptResponse, error) {
	return &recountv1.GetReceiptResponse{}, nil
}

// TestSubmitWithoutReceipt: a node that answers a cast, or the in-doubt search after a lost answer, with no
// receipt at all gets an ErrReceipt; the client used to panic on the nil receipt.
func TestSubmitWithoutReceipt(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	info := &client.ElectionInfo{Manifest: e.Manifest, Key: e.State.Key().PublicKey}
	for _, lost := range []bool{false, true} {
		srv := grpc.NewServer()
		recountv1.RegisterVoterServiceServer(srv, receiptlessVoter{lost: lost})
		lis := listen(t)
		go srv.Serve(lis)
		c, err := grpcnode.Dial(lis.Addr().String(), grpcnode.DialOptions{Plaintext: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := election.EncryptBallot(e.Manifest, info.Key, e.Credentials[0], election.RandomChoices(e.Manifest, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Submit(context.Background(), info, b, client.SubmitOptions{})
		if !errors.Is(err, client.ErrReceipt) {
			t.Errorf("lost answer %v: Submit = %v, want ErrReceipt", lost, err)
		}
		c.Close()
		srv.Stop()
	}
}

// TestCheckReceiptsBeyondStreamLimit: one Client checking many receipts at once, more than the node's streams per
// connection (the demo's 64 voters against the default 32), waits for stream slots instead of failing with
// TOO_MANY_STREAMS.
func TestCheckReceiptsBeyondStreamLimit(t *testing.T) {
	tn := startNodeWith(t, t.TempDir(), "", node.ServerOptions{Admin: node.AdminAuth{Token: testToken}, MaxStreamsPerConn: 2})
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 16})
	v := f.vote(t, tn.anon, seq(16), never, never)
	var wg sync.WaitGroup
	for voter, r := range v.last {
		wg.Go(func() {
			if _, _, err := tn.anon.CheckReceipt(context.Background(), r); err != nil {
				t.Errorf("voter %d: %v", voter, err)
			}
		})
	}
	wg.Wait()
}

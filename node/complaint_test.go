package node_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
)

// TestComplaintAnswered runs the key ceremony over gRPC with a dealer whose encrypted share for trustee 2 does
// not decrypt: trustee 2 complains in its verdict, the dealer's node answers with a reveal, the dealer stays
// qualified, and trustee 2 decrypts the tally with the revealed share.
func TestComplaintAnswered(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	ctx := context.Background()
	f := newFixture(t, tn.target(), setup{trustees: 3, threshold: 2, voters: 3, absent: []int{1}, beforeTrustees: func(f *fixture) {
		// Trustee 1's commitment, stored before its node starts (as if it had crashed before posting it),
		// with the share for trustee 2 garbled.
		t1, err := election.NewTrustee(f.manifest, f.keys[0])
		if err != nil {
			t.Fatal(err)
		}
		d, dealt, err := t1.DraftCommitment(nil)
		if err != nil {
			t.Fatal(err)
		}
		var ts recordv1.TrusteeSigned
		var kc recordv1.KeyCommitment
		if err := proto.Unmarshal(d.Payload, &ts); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(ts.Body, &kc); err != nil {
			t.Fatal(err)
		}
		for _, sh := range kc.Shares {
			if sh.Recipient == 2 {
				sh.Ciphertext[0] ^= 1
			}
		}
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&kc)
		if err != nil {
			t.Fatal(err)
		}
		bad := t1.DraftSigned(election.KindKeyCommitment, body)
		if err := f.stores[0].SaveCommitment(bad.Payload, dealt); err != nil {
			t.Fatal(err)
		}
	}})
	var reveals, complaints int
	stream, err := tn.anon.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := stream.Recv()
		if err != nil {
			break
		}
		switch e.Kind {
		case election.KindKeyReveal:
			reveals++
		case election.KindKeyVerdict:
			var ts recordv1.TrusteeSigned
			var v recordv1.KeyVerdict
			proto.Unmarshal(e.Payload, &ts)
			proto.Unmarshal(ts.Body, &v)
			complaints += len(v.Complaints)
		}
	}
	if complaints != 1 || reveals != 1 {
		t.Fatalf("%d complaints and %d reveals on the board, want 1 and 1", complaints, reveals)
	}
	if len(f.info.Key.Bytes()) == 0 {
		t.Fatal("no election key")
	}
	var qualified []int
	tn.n.View(func(s *election.State) { qualified = s.Key().Qualified })
	if len(qualified) != 3 {
		t.Fatalf("qualified %v: the dealer who answered the complaint should stay", qualified)
	}

	f.vote(t, tn.anon, seq(3), never, never)
	if _, err := tn.admin.Admin.ClosePolls(ctx, &recountv1.ClosePollsRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.admin.Admin.Tally(ctx, &recountv1.TallyRequest{}); err != nil {
		t.Fatal(err)
	}
	waitPartials(t, tn.admin, 2)
	res, err := tn.admin.Admin.PublishResult(ctx, &recountv1.PublishResultRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trustees) != 2 || res.Trustees[0] != 2 {
		t.Fatalf("result from trustees %v, want [2 3] (trustee 2 with the revealed share)", res.Trustees)
	}
	verifyExport(t, export(t, tn.anon), f.info.BoardKey)
}

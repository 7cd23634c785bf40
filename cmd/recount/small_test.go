package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// The small record of docs/record.md's worked example, kept in testdata/ with three voters' receipts. It is made
// by `go test ./cmd/recount -run TestSmallRecord -update-record`; its cryptographic randomness comes from
// crypto/rand, so each regeneration differs and docs/record.md must be updated with it (TestRecordDoc says where).

var updateRecord = flag.Bool("update-record", false, "regenerate testdata/small.record and its receipts")

const (
	smallRecord = "../../testdata/small.record"
	smallOrigin = "recount.example/small"
)

// smallReceipts are the receipts kept beside the small record: a superseded ballot, a counted one and a spoiled one.
var smallReceipts = map[string]string{
	"superseded": "../../testdata/small-receipt-superseded.json",
	"counted":    "../../testdata/small-receipt-counted.json",
	"spoiled":    "../../testdata/small-receipt-spoiled.json",
}

// smallManifest is the small record's manifest: a yes/no question and an approval vote of up to 2 of 3. Its
// window is the 12 hours from the last hour started, so that the polls open inside it.
func smallManifest() *recordv1.Manifest {
	opens := time.Now().Truncate(time.Hour).Unix()
	return &recordv1.Manifest{
		Version: election.ManifestVersion, ElectionRef: "small-2026", Title: "Small example election",
		OpensAt: opens, ClosesAt: opens + 12*3600,
		Contests: []*recordv1.Contest{
			{Id: "question", Title: "Adopt the proposal?", Options: []*recordv1.Option{{Id: "yes", Title: "Yes"}, {Id: "no", Title: "No"}},
				Rule: &recordv1.Contest_Exactly{Exactly: &recordv1.ExactlyRule{K: 1}}},
			{Id: "committee", Title: "Committee", Options: []*recordv1.Option{{Id: "ada", Title: "Ada"}, {Id: "brook", Title: "Brook"}, {Id: "cyd", Title: "Cyd"}},
				Rule: &recordv1.Contest_Approval{Approval: &recordv1.ApprovalRule{Min: 0, Max: 2}}},
		},
	}
}

// generateSmallRecord runs the small election (3 trustees, t = 2, trustee 2 absent at the tally; 3 voters;
// voter 0 challenges a ballot, casts, and casts again) on a real board, one commit per entry, and writes the
// export and three receipts.
func generateSmallRecord(t *testing.T) {
	e, err := electiontest.Run(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 3, Revotes: 1, Challenges: 1,
		Absent: []int{2}, Manifest: smallManifest(), Seed: 2026})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(t.TempDir(), ledger.Options{Origin: smallOrigin})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	receipts := map[uint64]*client.Receipt{}
	for _, en := range e.Entries {
		res, err := l.Append(context.Background(), tlog.Kind(en.Kind), en.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if en.Kind != election.KindBallot && en.Kind != election.KindSpoiledBallot {
			continue
		}
		code, err := election.TrackingCodeOf(en.Kind, en.Payload)
		if err != nil {
			t.Fatal(err)
		}
		proof, err := l.InclusionProof(res.Index, res.Checkpoint.Size)
		if err != nil {
			t.Fatal(err)
		}
		receipts[res.Index] = &client.Receipt{Election: e.Manifest.ID(), TrackingCode: code, Index: res.Index, Kind: en.Kind,
			Checkpoint: res.Checkpoint.Signed, Inclusion: proof, BoardKey: l.VerifierKey()}
	}
	var buf bytes.Buffer
	if err := l.Export(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	write := func(path string, b []byte) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(smallRecord, buf.Bytes())
	// Voter 0: spoiled at the first ballot entry, then a cast ballot superseded by the revote at the last.
	first := func(kind election.Kind) uint64 {
		for _, en := range e.Entries {
			if en.Kind == kind {
				return en.Index
			}
		}
		t.Fatalf("no %s entry", kind)
		return 0
	}
	spoiled, superseded := first(election.KindSpoiledBallot), first(election.KindBallot)
	write(smallReceipts["spoiled"], receipts[spoiled].Marshal())
	write(smallReceipts["superseded"], receipts[superseded].Marshal())
	write(smallReceipts["counted"], receipts[superseded+1].Marshal())
}

func TestSmallRecord(t *testing.T) {
	if *updateRecord {
		generateSmallRecord(t)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"verify", smallRecord}, &out, &errb); code != 0 {
		t.Fatalf("recount verify %s: exit %d\n%s%s", smallRecord, code, out.String(), errb.String())
	}
}

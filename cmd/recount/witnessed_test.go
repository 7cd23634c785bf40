package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/observer"
	"github.com/recount-vote/recount/witness"
	"github.com/recount-vote/recount/witness/policy"
)

// witnessedRecord is the small record's election on a board of the test's, with three witnesses (alice, bob,
// carol) under a 2-of-3 policy written to a file.
type witnessedRecord struct {
	t          *testing.T
	board      *ledger.Log
	record     string // the board's export at size final.Size
	final      tlog.Checkpoint
	policyFile string
	signers    map[string]note.Signer
}

func newWitnessedRecord(t *testing.T) *witnessedRecord {
	t.Helper()
	x, err := tlog.NewExportReader(bytes.NewReader(readFile(t, smallRecord)))
	if err != nil {
		t.Fatal(err)
	}
	var recs []ledger.Record
	for e, err := range x.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, ledger.Record{Kind: e.Kind, Payload: e.Payload})
	}
	dir := t.TempDir()
	l, err := ledger.Open(filepath.Join(dir, "board"), ledger.Options{Origin: "cli.test/witnessed-board"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	// Two commits, so that there is a checkpoint three entries before the end.
	for _, part := range [][]ledger.Record{recs[:len(recs)-3], recs[len(recs)-3:]} {
		if _, err := l.AppendMany(context.Background(), part); err != nil {
			t.Fatal(err)
		}
	}
	w := &witnessedRecord{t: t, board: l, record: filepath.Join(dir, "witnessed.record"), final: l.Latest(), signers: map[string]note.Signer{}}
	var out bytes.Buffer
	if err := l.Export(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.record, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var ws []policy.Witness
	for _, name := range []string{"alice", "bob", "carol"} {
		skey, vkey, err := witness.GenerateKey("witness.test/"+name, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if w.signers[name], err = witness.NewSigner(skey); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, policy.Witness{Name: name, VerifierKey: vkey})
	}
	pol, err := policy.KOfN(l.VerifierKey(), 2, ws...)
	if err != nil {
		t.Fatal(err)
	}
	w.policyFile = filepath.Join(dir, "witness.policy")
	if err := os.WriteFile(w.policyFile, pol.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// cosigned returns the board's checkpoint of size n cosigned by the named witnesses.
func (w *witnessedRecord) cosigned(n uint64, by ...string) []byte {
	w.t.Helper()
	cp, err := w.board.CheckpointAt(n)
	if err != nil {
		w.t.Fatal(err)
	}
	out := bytes.Clone(cp.Signed)
	for _, name := range by {
		signed, err := note.Sign(&note.Note{Text: cp.Body()}, w.signers[name])
		if err != nil {
			w.t.Fatal(err)
		}
		_, sig, _ := bytes.Cut(signed, []byte("\n\n"))
		out = append(out, sig...)
	}
	return out
}

// file writes data to a new file in a temporary directory and returns its path.
func (w *witnessedRecord) file(name string, data []byte) string {
	w.t.Helper()
	path := filepath.Join(w.t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// serve serves the board read-only on loopback as a node whose latest witnessed checkpoint is *cosigned.
func (w *witnessedRecord) serve(cosigned *atomic.Pointer[[]byte]) string {
	w.t.Helper()
	s := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if r, ok := resp.(*recountv1.GetCheckpointResponse); ok && err == nil {
			if c := cosigned.Load(); c != nil {
				r.CosignedCheckpoint = *c
			}
		}
		return resp, err
	}))
	observer.RegisterBoard(s, w.board)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	go s.Serve(lis)
	w.t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// TestVerifyWitnessPolicy: `recount verify --witness-policy` passes a record whose final checkpoint 2 of the 3
// witnesses cosigned, from a file or from the node, also when the node's witnessed checkpoint extends the
// record; it fails, saying who cosigned or why, with 1 of 3, with a witnessed checkpoint older than the record,
// and without any.
func TestVerifyWitnessPolicy(t *testing.T) {
	w := newWitnessedRecord(t)
	n := w.final.Size
	pol := w.policyFile
	code, out, errs := runCmd(t, "verify", w.record, "--witness-policy", pol, "--cosigned", w.file("c", w.cosigned(n, "alice", "bob")))
	if code != 0 || !strings.Contains(out, "OK: the record passes") || !strings.Contains(out, "witnessed by 2 of 3 (alice, bob)") {
		t.Fatalf("2 of 3: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "verify", w.record, "--witness-policy", pol, "--cosigned", w.file("c", w.cosigned(n, "alice")))
	if code != 1 || !strings.Contains(out, "NOT WITNESSED: witnessed by 1 of 3 (alice)") || !strings.Contains(errs, "not witnessed") {
		t.Fatalf("1 of 3: exit %d\n%s%s", code, out, errs)
	}
	// --json carries the witnesses' verdict in the report itself.
	for _, c := range []struct {
		cosigners []string
		code      int
	}{{[]string{"alice", "bob"}, 0}, {[]string{"alice"}, 1}} {
		code, out, errs := runCmd(t, "verify", w.record, "--json", "--witness-policy", pol, "--cosigned", w.file("c", w.cosigned(n, c.cosigners...)))
		var rep struct {
			OK        bool `json:"ok"`
			Witnessed *struct {
				Met       bool     `json:"met"`
				Quorum    string   `json:"quorum"`
				Cosigners []string `json:"cosigners"`
				Summary   string   `json:"summary"`
			} `json:"witnessed"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("--json with %v: %v\n%s%s", c.cosigners, err, out, errs)
		}
		if code != c.code || !rep.OK || rep.Witnessed == nil || rep.Witnessed.Met != (c.code == 0) || !slices.Equal(rep.Witnessed.Cosigners, c.cosigners) ||
			!strings.Contains(rep.Witnessed.Summary, fmt.Sprintf("witnessed by %d of 3", len(c.cosigners))) {
			t.Fatalf("--json with %v: exit %d, report %+v\n%s%s", c.cosigners, code, rep.Witnessed, out, errs)
		}
	}
	if code, out, errs := runCmd(t, "verify", w.record, "--witness-policy", pol); code != 1 || !strings.Contains(errs, "--cosigned") {
		t.Fatalf("no cosigned checkpoint: exit %d\n%s%s", code, out, errs)
	}

	var served atomic.Pointer[[]byte]
	addr := w.serve(&served)
	if code, out, errs := runCmd(t, "verify", "--node", addr, "--witness-policy", pol); code != 1 || !strings.Contains(out, "NOT WITNESSED") || !strings.Contains(out, "no witnessed checkpoint") {
		t.Fatalf("a node without a witnessed checkpoint: exit %d\n%s%s", code, out, errs)
	}
	older := w.cosigned(n-3, "alice", "bob", "carol")
	served.Store(&older)
	if code, out, errs := runCmd(t, "verify", "--node", addr, "--witness-policy", pol); code != 1 || !strings.Contains(out, "older than the record") {
		t.Fatalf("a witnessed checkpoint older than the record: exit %d\n%s%s", code, out, errs)
	}
	current := w.cosigned(n, "bob", "carol")
	served.Store(&current)
	if code, out, errs := runCmd(t, "verify", "--node", addr, "--witness-policy", pol); code != 0 || !strings.Contains(out, "witnessed by 2 of 3 (bob, carol)") {
		t.Fatalf("the node's record, witnessed: exit %d\n%s%s", code, out, errs)
	}
	// The node goes on: its witnessed checkpoint extends the record file, by its consistency proof.
	if _, err := w.board.AppendMany(context.Background(), []ledger.Record{{Kind: 99, Payload: []byte("later")}, {Kind: 99, Payload: []byte("later 2")}}); err != nil {
		t.Fatal(err)
	}
	later := w.cosigned(n+2, "alice", "carol")
	served.Store(&later)
	if code, out, errs := runCmd(t, "verify", w.record, "--node", addr, "--witness-policy", pol); code != 0 || !strings.Contains(out, "witnessed by 2 of 3 (alice, carol)") {
		t.Fatalf("the record file, witnessed by a larger checkpoint: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := runCmd(t, "verify", w.record, "--witness-policy", pol, "--cosigned", w.file("c", later)); code != 1 || !strings.Contains(out, "--node") {
		t.Fatalf("a larger cosigned checkpoint without the node's proof: exit %d\n%s%s", code, out, errs)
	}
}

// TestReceiptWitnessPolicy: `recount receipt --witness-policy` passes a receipt whose cosigned checkpoint meets
// the policy and fails one that does not; for a tracking code it checks the record's final checkpoint.
func TestReceiptWitnessPolicy(t *testing.T) {
	w := newWitnessedRecord(t)
	n := w.final.Size
	r, err := client.ParseReceipt(readFile(t, "../../testdata/small-receipt-counted.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The receipt as this board would give it.
	r.Checkpoint, r.BoardKey = w.final.Signed, w.board.VerifierKey()
	if r.Inclusion, err = w.board.InclusionProof(r.Index, n); err != nil {
		t.Fatal(err)
	}
	r.Cosigned = w.cosigned(n, "alice", "carol")
	good := w.file("r.json", r.Marshal())
	code, out, errs := runCmd(t, "receipt", good, w.record, "--witness-policy", w.policyFile)
	if code != 0 || !strings.Contains(out, "the receipt's checkpoint (size") || !strings.Contains(out, "witnessed by 2 of 3 (alice, carol)") || !strings.Contains(out, "is COUNTED") {
		t.Fatalf("a witnessed receipt: exit %d\n%s%s", code, out, errs)
	}
	r.Cosigned = w.cosigned(n, "carol")
	code, out, errs = runCmd(t, "receipt", w.file("r.json", r.Marshal()), w.record, "--witness-policy", w.policyFile)
	if code != 1 || !strings.Contains(out, "FAIL  the receipt's checkpoint is not witnessed under the policy: witnessed by 1 of 3 (carol)") {
		t.Fatalf("a receipt cosigned by 1 of 3: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runCmd(t, "receipt", election.HumanTrackingCode(r.TrackingCode), w.record, "--witness-policy", w.policyFile, "--cosigned", w.file("c", w.cosigned(n, "alice", "bob")))
	if code != 0 || !strings.Contains(out, "the record's final checkpoint (size") || !strings.Contains(out, "witnessed by 2 of 3 (alice, bob)") {
		t.Fatalf("a tracking code on a witnessed record: exit %d\n%s%s", code, out, errs)
	}
}

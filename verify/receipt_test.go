package verify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
)

// TestReceiptVerify: each receipt of testdata checks out against the entry of the small record at its index,
// under the record's board key, and fails against any other entry, under another key, or with its proof changed.
func TestReceiptVerify(t *testing.T) {
	x, err := tlog.NewExportReader(bytes.NewReader(readSmall(t)))
	if err != nil {
		t.Fatal(err)
	}
	var entries []tlog.Entry
	for e, err := range x.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	key := x.VerifierKey()
	for _, name := range []string{"counted", "spoiled", "superseded"} {
		data, err := os.ReadFile("../testdata/small-receipt-" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		r, err := verify.ParseReceipt(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		e := entries[r.Index]
		cp, err := r.Verify(key, election.Kind(e.Kind), e.Payload)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cp.Size <= r.Index {
			t.Errorf("%s: checkpoint size %d holds no entry %d", name, cp.Size, r.Index)
		}
		for _, other := range entries {
			if other.Index == r.Index {
				continue
			}
			if _, err := r.Verify(key, election.Kind(other.Kind), other.Payload); !errors.Is(err, verify.ErrReceipt) {
				t.Errorf("%s: checks out against entry %d: %v", name, other.Index, err)
			}
		}
		if _, err := r.Verify(key[:len(key)-2]+"AA", election.Kind(e.Kind), e.Payload); !errors.Is(err, verify.ErrReceipt) {
			t.Errorf("%s: checks out under another key: %v", name, err)
		}
		if len(r.Inclusion) > 0 {
			r.Inclusion[0][0] ^= 1
			if _, err := r.Verify(key, election.Kind(e.Kind), e.Payload); !errors.Is(err, verify.ErrReceipt) {
				t.Errorf("%s: checks out with its proof changed: %v", name, err)
			}
		}
	}
}

func readReceipt(t *testing.T, name string) *verify.Receipt {
	t.Helper()
	data, err := os.ReadFile("../testdata/small-receipt-" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := verify.ParseReceipt(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// TestCheckReceipt: each receipt of testdata checks out against the small record with the status its name
// says, by receipt and by tracking code; the board's own consistency proof is asked for and checked.
func TestCheckReceipt(t *testing.T) {
	b := readSmall(t)
	for name, want := range map[string]election.Status{"counted": election.StatusCounted, "spoiled": election.StatusSpoiled, "superseded": election.StatusSuperseded} {
		r := readReceipt(t, name)
		asked := 0
		opts := verify.ReceiptOptions{Options: verify.Options{Workers: 1}, BoardProof: func(_ context.Context, oldSize, newSize uint64) ([][]byte, error) {
			asked++
			var tree tlog.LeafTree
			x, err := tlog.NewExportReader(bytes.NewReader(b))
			if err != nil {
				return nil, err
			}
			for e, err := range x.Entries() {
				if err != nil {
					return nil, err
				}
				tree.Append(tlog.LeafHash(e.Kind, e.Payload))
			}
			return tree.ConsistencyProof(oldSize, newSize)
		}}
		rc, err := verify.CheckReceipt(context.Background(), bytes.NewReader(b), r, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !rc.OK() || rc.Status != want || rc.Entry == nil || rc.Entry.Index != r.Index || len(rc.Steps) != 2 || asked != 1 {
			t.Errorf("%s: OK %v, status %v, steps %+v, board asked %d times", name, rc.OK(), rc.Status, rc.Steps, asked)
		}
		rc, err = verify.CheckTrackingCode(context.Background(), bytes.NewReader(b), r.TrackingCode, verify.ReceiptOptions{Options: verify.Options{Workers: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if !rc.OK() || rc.Status != want || rc.Entry.Index != r.Index {
			t.Errorf("%s by tracking code: OK %v, status %v, steps %+v", name, rc.OK(), rc.Status, rc.Steps)
		}
	}
}

// TestCheckReceiptFails: a receipt that names another entry, a board whose own proof does not hold, and a record
// that fails check 1 each fail the check, saying why.
func TestCheckReceiptFails(t *testing.T) {
	b := readSmall(t)
	opts := verify.ReceiptOptions{Options: verify.Options{Workers: 1}}
	r := readReceipt(t, "counted")
	want := r.Index
	r.Index++
	rc, err := verify.CheckReceipt(context.Background(), bytes.NewReader(b), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	if last := rc.Steps[len(rc.Steps)-1]; rc.OK() || last.OK || !strings.Contains(last.Note, fmt.Sprintf("entry %d instead", want)) {
		t.Errorf("another entry: steps %+v", rc.Steps)
	}

	r = readReceipt(t, "counted")
	opts.BoardProof = func(context.Context, uint64, uint64) ([][]byte, error) { return [][]byte{make([]byte, 32)}, nil }
	if rc, err = verify.CheckReceipt(context.Background(), bytes.NewReader(b), r, opts); err != nil {
		t.Fatal(err)
	}
	if last := rc.Steps[len(rc.Steps)-1]; rc.OK() || last.OK || !strings.Contains(last.What, "not consistent") {
		t.Errorf("a bad board proof: steps %+v", rc.Steps)
	}

	b[len(b)/2] ^= 1
	if rc, err = verify.CheckReceipt(context.Background(), bytes.NewReader(b), r, verify.ReceiptOptions{}); err != nil {
		t.Fatal(err)
	}
	if rc.OK() || rc.Record.BoardErr == nil || len(rc.Steps) != 0 {
		t.Errorf("a record failing check 1: steps %+v, board %v", rc.Steps, rc.Record.BoardErr)
	}
}

// TestCheckReceiptSeen: with the checkpoint the voter's client saw last, the record's final checkpoint must extend
// it: an earlier checkpoint of the board passes (one more step), a checkpoint the board did not sign fails.
func TestCheckReceiptSeen(t *testing.T) {
	b := readSmall(t)
	r := readReceipt(t, "counted")
	opts := verify.ReceiptOptions{Options: verify.Options{Workers: 1}, Seen: r.Checkpoint}
	rc, err := verify.CheckReceipt(context.Background(), bytes.NewReader(b), r, opts)
	if err != nil {
		t.Fatal(err)
	}
	if last := rc.Steps[len(rc.Steps)-1]; !rc.OK() || len(rc.Steps) != 3 || !strings.Contains(last.What, "extends the checkpoint your voting client saw last") {
		t.Errorf("an earlier checkpoint seen: steps %+v", rc.Steps)
	}
	forged := bytes.Clone(r.Checkpoint)
	forged[bytes.IndexByte(forged, '\n')+1] ^= 1 // the size line's first digit: the signature no longer holds
	opts.Seen = forged
	if rc, err = verify.CheckReceipt(context.Background(), bytes.NewReader(b), r, opts); err != nil {
		t.Fatal(err)
	}
	if last := rc.Steps[len(rc.Steps)-1]; rc.OK() || !strings.Contains(last.What, "not one of this board's") {
		t.Errorf("a seen checkpoint the board did not sign: steps %+v", rc.Steps)
	}
}

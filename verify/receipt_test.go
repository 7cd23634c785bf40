package verify_test

import (
	"bytes"
	"errors"
	"os"
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

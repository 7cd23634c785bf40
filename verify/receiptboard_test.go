package verify_test

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
)

// TestCheckOnBoard: each receipt of testdata checks out against an honest board's answer built from the small
// record (its final checkpoint, the consistency and inclusion proofs), and fails with each part of the answer
// changed in turn.
func TestCheckOnBoard(t *testing.T) {
	x, err := tlog.NewExportReader(bytes.NewReader(readSmall(t)))
	if err != nil {
		t.Fatal(err)
	}
	var entries []tlog.Entry
	var tree tlog.LeafTree
	for e, err := range x.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
		tree.Append(tlog.LeafHash(e.Kind, e.Payload))
	}
	final, err := x.Finish()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"counted", "spoiled", "superseded"} {
		data, err := os.ReadFile("../testdata/small-receipt-" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		r, err := verify.ParseReceipt(data)
		if err != nil {
			t.Fatal(err)
		}
		old, err := tlog.ParseCheckpoint(r.Checkpoint, r.BoardKey)
		if err != nil {
			t.Fatal(err)
		}
		consistency, err := tree.ConsistencyProof(old.Size, final.Size)
		if err != nil {
			t.Fatal(err)
		}
		inclusion, err := tree.InclusionProof(r.Index, final.Size)
		if err != nil {
			t.Fatal(err)
		}
		e := entries[r.Index]
		honest := verify.BoardAnswer{Checkpoint: final.Signed, ConsistencyProof: consistency, Index: r.Index,
			InclusionProof: inclusion, Kind: election.Kind(e.Kind), Payload: e.Payload}
		latest, err := r.CheckOnBoard(honest)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if latest.Size != final.Size || latest.Root != final.Root {
			t.Errorf("%s: latest checkpoint %v, want %v", name, latest, final)
		}

		other := entries[(r.Index+1)%uint64(len(entries))]
		changes := map[string]func(a *verify.BoardAnswer){
			"checkpoint signature": func(a *verify.BoardAnswer) {
				a.Checkpoint = slices.Clone(a.Checkpoint)
				a.Checkpoint[len(a.Checkpoint)-3] ^= 1
			},
			"an older checkpoint": func(a *verify.BoardAnswer) { a.Checkpoint = r.Checkpoint },
			"consistency proof":   func(a *verify.BoardAnswer) { a.ConsistencyProof = flipFirst(a.ConsistencyProof) },
			"no consistency proof": func(a *verify.BoardAnswer) {
				a.ConsistencyProof = nil
			},
			"index":           func(a *verify.BoardAnswer) { a.Index++ },
			"inclusion proof": func(a *verify.BoardAnswer) { a.InclusionProof = flipFirst(a.InclusionProof) },
			"another entry": func(a *verify.BoardAnswer) {
				a.Kind, a.Payload = election.Kind(other.Kind), other.Payload
			},
			"kind": func(a *verify.BoardAnswer) {
				a.Kind = election.KindBallot + election.KindSpoiledBallot - a.Kind
			},
		}
		for what, change := range changes {
			a := honest
			change(&a)
			if (what == "an older checkpoint" || what == "no consistency proof") && old.Size == final.Size {
				continue // the receipt's checkpoint is the final one: no older one, and its proof is empty
			}
			if _, err := r.CheckOnBoard(a); !errors.Is(err, verify.ErrReceipt) {
				t.Errorf("%s: the answer with its %s changed checks out: %v", name, what, err)
			}
		}
	}
}

// flipFirst returns a copy of proof with its first hash changed, or a one-hash proof when it is empty.
func flipFirst(proof [][]byte) [][]byte {
	if len(proof) == 0 {
		return [][]byte{make([]byte, tlog.HashSize)}
	}
	out := slices.Clone(proof)
	out[0] = slices.Clone(out[0])
	out[0][0] ^= 1
	return out
}

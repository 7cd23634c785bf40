package ledger

import (
	"testing"

	"github.com/recount-vote/recount/ledger/tlog"
)

// TestLeafTree checks that a LeafTree gives exactly the board's roots and proofs, for every size, index and
// pair of sizes of a board of 33 entries, and that its proofs verify against the board's checkpoints.
func TestLeafTree(t *testing.T) {
	l, _ := newTestLog(t)
	const n = 33
	cps := appendN(t, l, n)
	var lt tlog.LeafTree
	for i := range n {
		lt.Append(tlog.LeafHash(testKind(i), testPayload(i)))
	}
	if lt.Size() != n {
		t.Fatalf("Size %d, want %d", lt.Size(), n)
	}
	for size := uint64(0); size <= n; size++ {
		root, err := lt.Root(size)
		if err != nil || root != cps[size].Root {
			t.Fatalf("Root(%d) = %x, %v; the checkpoint has %x", size, root, err, cps[size].Root)
		}
		for idx := range size {
			want, err := l.InclusionProof(idx, size)
			if err != nil {
				t.Fatal(err)
			}
			got, err := lt.InclusionProof(idx, size)
			if err != nil || !equalProofs(got, want) {
				t.Fatalf("InclusionProof(%d, %d) differs from the board's (%v)", idx, size, err)
			}
			if err := tlog.VerifyInclusion(cps[size], testKind(int(idx)), testPayload(int(idx)), idx, got); err != nil {
				t.Fatal(err)
			}
		}
		for m := uint64(0); m <= size; m++ {
			want, err := l.ConsistencyProof(m, size)
			if err != nil {
				t.Fatal(err)
			}
			got, err := lt.ConsistencyProof(m, size)
			if err != nil || !equalProofs(got, want) {
				t.Fatalf("ConsistencyProof(%d, %d) differs from the board's (%v)", m, size, err)
			}
			if err := tlog.VerifyConsistency(cps[m], cps[size], got); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := lt.Root(n + 1); err == nil {
		t.Error("Root beyond the size: no error")
	}
	if _, err := lt.InclusionProof(3, 3); err == nil {
		t.Error("InclusionProof of an index not in the tree: no error")
	}
	if _, err := lt.InclusionProof(0, n+1); err == nil {
		t.Error("InclusionProof beyond the size: no error")
	}
	if _, err := lt.ConsistencyProof(5, 4); err == nil {
		t.Error("ConsistencyProof(5, 4): no error")
	}
	if _, err := lt.ConsistencyProof(1, n+1); err == nil {
		t.Error("ConsistencyProof beyond the size: no error")
	}
}

package ledger

import (
	"bytes"
	"testing"

	"github.com/recount-vote/recount/ledger/tlog"
)

// TestProofs checks every inclusion and consistency proof of a board of 33 entries against the RFC 9162
// reference algorithms, verifies them, and checks that changing any input makes verification fail.
func TestProofs(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	const n = 33
	cps := appendN(t, l, n)
	var data [][]byte
	for i := range n {
		data = append(data, tlog.LeafData(testKind(i), testPayload(i)))
	}
	for size := 1; size <= n; size++ {
		cp := cps[size]
		for idx := range size {
			p, err := l.InclusionProof(uint64(idx), uint64(size))
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", idx, size, err)
			}
			if !equalProofs(p, refPath(idx, data[:size])) {
				t.Fatalf("InclusionProof(%d, %d) differs from RFC 9162 PATH", idx, size)
			}
			k, pl := testKind(idx), testPayload(idx)
			if err := tlog.VerifyInclusion(cp, k, pl, uint64(idx), p); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d): %v", idx, size, err)
			}
			// Each change is rejected.
			wantErr(t, tlog.VerifyInclusion(cp, k+1, pl, uint64(idx), p), ErrBadProof, "other kind")
			wantErr(t, tlog.VerifyInclusion(cp, k, append(bytes.Clone(pl), 0), uint64(idx), p), ErrBadProof, "other payload")
			if size > 1 {
				wantErr(t, tlog.VerifyInclusion(cp, k, pl, uint64((idx+1)%size), p), ErrBadProof, "other index")
			}
			wantErr(t, tlog.VerifyInclusion(cp, k, pl, uint64(size), p), ErrBadProof, "index beyond size")
			for j := range p {
				q := cloneProof(p)
				q[j][j%tlog.HashSize] ^= 1
				wantErr(t, tlog.VerifyInclusion(cp, k, pl, uint64(idx), q), ErrBadProof, "changed proof hash")
				wantErr(t, tlog.VerifyInclusion(cp, k, pl, uint64(idx), append(cloneProof(p[:j]), p[j+1:]...)), ErrBadProof, "dropped proof hash")
				q = cloneProof(p)
				q[j] = q[j][:tlog.HashSize-1]
				wantErr(t, tlog.VerifyInclusion(cp, k, pl, uint64(idx), q), ErrBadProof, "short proof hash")
			}
			wantErr(t, tlog.VerifyInclusion(cp, k, pl, uint64(idx), append(cloneProof(p), make([]byte, tlog.HashSize))), ErrBadProof, "extra proof hash")
			other := cp
			other.Root[0] ^= 1
			wantErr(t, tlog.VerifyInclusion(other, k, pl, uint64(idx), p), ErrBadProof, "other root")
			if size < n {
				wantErr(t, tlog.VerifyInclusion(cps[size+1], k, pl, uint64(idx), p), ErrBadProof, "other checkpoint")
			}
		}
	}
	for m := 0; m <= n; m++ {
		for size := m; size <= n; size++ {
			p, err := l.ConsistencyProof(uint64(m), uint64(size))
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", m, size, err)
			}
			if !equalProofs(p, refProof(m, data[:size])) {
				t.Fatalf("ConsistencyProof(%d, %d) differs from RFC 9162 PROOF", m, size)
			}
			if err := tlog.VerifyConsistency(cps[m], cps[size], p); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", m, size, err)
			}
			if m > 0 && m < size {
				for j := range p {
					q := cloneProof(p)
					q[j][0] ^= 0x80
					wantErr(t, tlog.VerifyConsistency(cps[m], cps[size], q), ErrBadProof, "changed proof hash")
				}
				wantErr(t, tlog.VerifyConsistency(cps[m], cps[size], p[1:]), ErrBadProof, "dropped proof hash")
				old := cps[m]
				old.Root[5] ^= 4
				wantErr(t, tlog.VerifyConsistency(old, cps[size], p), ErrBadProof, "changed older root")
				nw := cps[size]
				nw.Root[31] ^= 1
				wantErr(t, tlog.VerifyConsistency(cps[m], nw, p), ErrBadProof, "changed newer root")
				if m+1 < size {
					wantErr(t, tlog.VerifyConsistency(cps[m+1], cps[size], p), ErrBadProof, "other older size")
				}
				wantErr(t, tlog.VerifyConsistency(cps[size], cps[m], p), ErrBadProof, "sizes swapped")
			}
		}
	}
	// A size-0 checkpoint must have the empty root; checkpoints of other boards do not mix.
	bad := cps[0]
	bad.Root[0] ^= 1
	wantErr(t, tlog.VerifyConsistency(bad, cps[3], nil), ErrBadProof, "size 0 with a non-empty root")
	foreign := cps[3]
	foreign.Origin = "other.example/board"
	p, _ := l.ConsistencyProof(2, 3)
	wantErr(t, tlog.VerifyConsistency(cps[2], foreign, p), ErrBadProof, "different origins")

	_, err := l.InclusionProof(n, n)
	wantErr(t, err, ErrNotFound, "inclusion of index == size")
	_, err = l.InclusionProof(0, n+1)
	wantErr(t, err, ErrNotFound, "inclusion in a size beyond the board")
	_, err = l.ConsistencyProof(5, 4)
	wantErr(t, err, ErrInvalid, "consistency from a larger size")
	_, err = l.ConsistencyProof(1, n+1)
	wantErr(t, err, ErrNotFound, "consistency to a size beyond the board")
}

func cloneProof(p [][]byte) [][]byte {
	q := make([][]byte, len(p))
	for i := range p {
		q[i] = bytes.Clone(p[i])
	}
	return q
}

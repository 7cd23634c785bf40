package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/recount-vote/recount/ledger/tlog"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "test.example/board"

func openTest(t testing.TB, dir string) *Log {
	t.Helper()
	l, err := Open(dir, Options{Origin: testOrigin})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newTestLog(t testing.TB) (*Log, string) {
	t.Helper()
	dir := t.TempDir()
	return openTest(t, dir), dir
}

// testPayload returns a deterministic payload for index i.
func testPayload(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	p := make([]byte, r.IntN(200))
	for j := range p {
		p[j] = byte(r.Uint32())
	}
	return p
}

func testKind(i int) tlog.Kind { return tlog.Kind(i%5 + 1) }

// appendN appends n entries, one per commit, and returns the checkpoint after each commit (index = size).
func appendN(t testing.TB, l *Log, n int) []tlog.Checkpoint {
	t.Helper()
	cps := []tlog.Checkpoint{l.Latest()}
	start := int(l.Size())
	for i := start; i < start+n; i++ {
		res, err := l.Append(context.Background(), testKind(i), testPayload(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		if res.Index != uint64(i) || res.Checkpoint.Size != uint64(i+1) {
			t.Fatalf("Append %d: got index %d checkpoint size %d", i, res.Index, res.Checkpoint.Size)
		}
		cps = append(cps, res.Checkpoint)
	}
	return cps
}

// refMTH is a direct implementation of RFC 9162 section 2.1.1, independent of the board's code.
func refMTH(leaves [][]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := refMTH(leaves[:k]), refMTH(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// refPath is RFC 9162 section 2.1.3.1 PATH(m, D[n]).
func refPath(m int, leaves [][]byte) [][]byte {
	n := len(leaves)
	if n == 1 {
		return nil
	}
	k := 1
	for k*2 < n {
		k *= 2
	}
	if m < k {
		h := refMTH(leaves[k:])
		return append(refPath(m, leaves[:k]), h[:])
	}
	h := refMTH(leaves[:k])
	return append(refPath(m-k, leaves[k:]), h[:])
}

// refProof is RFC 9162 section 2.1.4.1 PROOF(m, D[n]).
func refProof(m int, leaves [][]byte) [][]byte {
	if m == 0 || m == len(leaves) {
		return nil
	}
	return refSubproof(m, leaves, true)
}

func refSubproof(m int, leaves [][]byte, b bool) [][]byte {
	n := len(leaves)
	if m == n {
		if b {
			return nil
		}
		h := refMTH(leaves)
		return [][]byte{h[:]}
	}
	k := 1
	for k*2 < n {
		k *= 2
	}
	if m <= k {
		h := refMTH(leaves[k:])
		return append(refSubproof(m, leaves[:k], b), h[:])
	}
	h := refMTH(leaves[:k])
	return append(refSubproof(m-k, leaves[k:], false), h[:])
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// fixedKey returns a deterministic signing key for origin (for fuzz seeds and golden tests).
func fixedKey(t testing.TB, origin string, seed byte) (note.Signer, string) {
	t.Helper()
	skey, _, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)), origin)
	if err != nil {
		t.Fatal(err)
	}
	s, vkey, err := parseSignerKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

func wantErr(t testing.TB, err error, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

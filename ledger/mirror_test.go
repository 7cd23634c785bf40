package ledger

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestMirror copies a board into a mirror commit by commit with AppendSigned, refuses what does not hash to the
// signed checkpoint (writing nothing), and ends with a mirror that verifies, exports the source's bytes, and
// reopens where it was.
func TestMirror(t *testing.T) {
	ctx := context.Background()
	src, _ := newTestLog(t)
	appendN(t, src, 3)
	var exp bytes.Buffer
	if err := src.Export(ctx, &exp); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "mirror")
	imp, err := Import(dir, &exp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	imp.Close()
	m, err := OpenMirror(dir, Options{VerifierKey: src.VerifierKey()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Append(ctx, 1, []byte("x")); err == nil {
		t.Fatal("a mirror appended an entry of its own")
	}
	cps := appendN(t, src, 4) // sizes 3..7
	recs := func(from, to int) []Record {
		var rs []Record
		for i := from; i < to; i++ {
			rs = append(rs, Record{Kind: testKind(i), Payload: testPayload(i)})
		}
		return rs
	}
	// Entries that are not the signed ones, a checkpoint of the wrong size, a forged signature: refused.
	bad := recs(3, 5)
	bad[1].Payload = append(bytes.Clone(bad[1].Payload), 0)
	if _, err := m.AppendSigned(ctx, bad, cps[2].Signed); err == nil {
		t.Error("entries that do not hash to the checkpoint were appended")
	}
	if _, err := m.AppendSigned(ctx, recs(3, 4), cps[2].Signed); err == nil {
		t.Error("a checkpoint of another size was accepted")
	}
	forged := bytes.Clone(cps[2].Signed)
	forged[len(forged)-5] ^= 1
	if _, err := m.AppendSigned(ctx, recs(3, 5), forged); err == nil {
		t.Error("a checkpoint with a damaged signature was accepted")
	}
	if m.Size() != 3 {
		t.Fatalf("refused appends changed the mirror: size %d", m.Size())
	}
	if _, err := m.AppendSigned(ctx, recs(3, 5), cps[2].Signed); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AppendSigned(ctx, recs(5, 7), cps[4].Signed); err != nil {
		t.Fatal(err)
	}
	if m.Latest().Root != src.Latest().Root || m.Size() != 7 {
		t.Fatalf("mirror at %s, source at %s", m.Latest(), src.Latest())
	}
	if err := m.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	p1, err := m.ConsistencyProof(4, 7)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := src.ConsistencyProof(4, 7)
	if !equalProofs(p1, p2) {
		t.Error("the mirror's consistency proof differs from the source's")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = OpenMirror(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var a, b bytes.Buffer
	m.Export(ctx, &a)
	src.Export(ctx, &b)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the reopened mirror's export differs from the source's")
	}
	// A signing board is no mirror.
	other, otherDir := newTestLog(t)
	other.Close()
	if _, err := OpenMirror(otherDir, Options{}); !errors.Is(err, ErrMismatch) {
		t.Errorf("OpenMirror of a signing board: %v", err)
	}
}

package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/recount-vote/recount/ledger/tlog"
)

func exportBytes(t testing.TB, l *Log) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := l.Export(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestExportFraming rebuilds an export byte by byte from the documented format and compares.
func TestExportFraming(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	recs := []Record{{1, []byte("first")}, {0xdeadbeef, nil}, {3, bytes.Repeat([]byte{7}, 300)}}
	if _, err := l.AppendMany(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	got := exportBytes(t, l)
	var want []byte
	want = append(want, "RCNTBRD\n"...)
	want = append(want, 0, 1)
	want = append(want, 0, byte(len(testOrigin)))
	want = append(want, testOrigin...)
	vk := l.VerifierKey()
	want = append(want, byte(len(vk)>>8), byte(len(vk)))
	want = append(want, vk...)
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 3)
	for _, r := range recs {
		var h [8]byte
		binary.BigEndian.PutUint32(h[:], uint32(r.Kind))
		binary.BigEndian.PutUint32(h[4:], uint32(len(r.Payload)))
		want = append(want, h[:]...)
		want = append(want, r.Payload...)
	}
	cp := l.Latest().Signed
	want = append(want, byte(len(cp)>>8), byte(len(cp)))
	want = append(want, cp...)
	want = append(want, "RCNTEND\n"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("export differs from the documented framing:\n got %q\nwant %q", got, want)
	}
}

func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := context.Background()
	appendN(t, l, 40)
	if _, err := l.AppendMany(ctx, []Record{{5, nil}, {6, []byte("six")}}); err != nil {
		t.Fatal(err)
	}
	data := exportBytes(t, l)
	for _, key := range []string{l.VerifierKey(), ""} {
		cp, err := tlog.VerifyExport(bytes.NewReader(data), key)
		if err != nil {
			t.Fatalf("VerifyExport(key %q): %v", key, err)
		}
		if !bytes.Equal(cp.Signed, l.Latest().Signed) {
			t.Fatalf("VerifyExport returned %v, want %v", cp, l.Latest())
		}
	}
	_, other := fixedKey(t, testOrigin, 9)
	_, err := tlog.VerifyExport(bytes.NewReader(data), other)
	wantErr(t, err, ErrBadSignature, "VerifyExport with another key")

	// Streaming reader: header, entries, checkpoint.
	x, err := tlog.NewExportReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if x.Origin() != testOrigin || x.VerifierKey() != l.VerifierKey() || x.Size() != l.Size() {
		t.Fatalf("header: %q %q %d", x.Origin(), x.VerifierKey(), x.Size())
	}
	i := uint64(0)
	for e, err := range x.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		want, _ := l.Entry(i)
		if e.Index != i || e.Kind != want.Kind || !bytes.Equal(e.Payload, want.Payload) {
			t.Fatalf("entry %d differs", i)
		}
		i++
	}
	if i != l.Size() {
		t.Fatalf("read %d entries, want %d", i, l.Size())
	}
	if cp, err := x.Finish(); err != nil || cp.Size != l.Size() {
		t.Fatalf("Finish: %v %v", cp, err)
	}
	// Finish after a partial read reads the rest.
	x, _ = tlog.NewExportReader(bytes.NewReader(data))
	x.Next()
	if _, err := x.Finish(); err != nil {
		t.Fatalf("Finish after one entry: %v", err)
	}

	// Import builds a read-only copy with the same entries, tree and checkpoint.
	dir := filepath.Join(t.TempDir(), "copy")
	imp, err := Import(dir, bytes.NewReader(data), Options{VerifierKey: l.VerifierKey(), Origin: testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	if !imp.ReadOnly() || imp.Size() != l.Size() || !bytes.Equal(imp.Latest().Signed, l.Latest().Signed) {
		t.Fatalf("imported board: size %d latest %v", imp.Size(), imp.Latest())
	}
	_, err = imp.Append(ctx, 1, nil)
	wantErr(t, err, ErrReadOnly, "Append to an imported board")
	if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !os.IsNotExist(err) {
		t.Fatalf("an imported board has a key file: %v", err)
	}
	if err := imp.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	for idx := uint64(0); idx < l.Size(); idx += 7 {
		a, _ := l.InclusionProof(idx, l.Size())
		b, err := imp.InclusionProof(idx, imp.Size())
		if err != nil || !equalProofs(a, b) {
			t.Fatalf("inclusion proofs of %d differ: %v", idx, err)
		}
	}
	if !bytes.Equal(exportBytes(t, imp), data) {
		t.Fatal("the imported board exports different bytes")
	}
	imp.Close()
	// Reopening an imported board gives a read-only board again, without a key.
	re, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	if !re.ReadOnly() || re.Size() != l.Size() {
		t.Fatalf("reopened import: read-only %v size %d", re.ReadOnly(), re.Size())
	}
	_, err = Import(dir, bytes.NewReader(data), Options{})
	wantErr(t, err, ErrExists, "Import into a directory with a board")
	_, err = Import(t.TempDir(), bytes.NewReader(data), Options{Origin: "other.example"})
	wantErr(t, err, ErrMismatch, "Import with another origin")
}

func TestExportEmptyBoard(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	data := exportBytes(t, l)
	cp, err := tlog.VerifyExport(bytes.NewReader(data), l.VerifierKey())
	if err != nil || cp.Size != 0 {
		t.Fatalf("VerifyExport of an empty board: %v %v", cp, err)
	}
	imp, err := Import(t.TempDir(), bytes.NewReader(data), Options{})
	if err != nil {
		t.Fatal(err)
	}
	imp.Close()
}

// byteChanges returns the ways the byte-changing tests change each byte (xor masks): flipping the lowest bit,
// the case of a letter (0x20), the top bit, and all bits; more without the race detector.
func byteChanges() []byte {
	if raceEnabled {
		return []byte{0x01, 0x20, 0xff}
	}
	return []byte{0x01, 0x02, 0x04, 0x20, 0x80, 0xff}
}

// TestExportEveryByte changes every byte of a small export in several ways (including flipping the case of
// letters), truncates it at every length and appends a byte: verification must fail every time, whether the
// verifier key is given or taken from the header.
func TestExportEveryByte(t *testing.T) {
	if testing.Short() {
		t.Skip("every byte of an export, six ways: the full run; -short has TestExportSampledBytes")
	}
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := context.Background()
	appendN(t, l, 2)
	if _, err := l.AppendMany(ctx, []Record{{7, []byte("x")}, {8, nil}}); err != nil {
		t.Fatal(err)
	}
	data := exportBytes(t, l)
	vkey := l.VerifierKey()
	check := func(b []byte, what string) {
		t.Helper()
		for _, key := range []string{vkey, ""} {
			if _, err := tlog.VerifyExport(bytes.NewReader(b), key); err == nil {
				t.Fatalf("%s was not detected (key %q)", what, key)
			}
		}
	}
	for i := range data {
		for _, x := range byteChanges() {
			b := bytes.Clone(data)
			b[i] ^= x
			check(b, "changing byte "+strconv.Itoa(i)+" by xor "+strconv.Itoa(int(x)))
		}
	}
	for n := range len(data) {
		check(data[:n], "truncation to "+strconv.Itoa(n)+" bytes")
	}
	check(append(bytes.Clone(data), 0), "an extra byte at the end")
	check(append(bytes.Clone(data), data...), "a doubled export")
	t.Logf("checked %d bytes x %d changes", len(data), len(byteChanges()))
}

// TestExportSampledBytes changes a random sample of bytes of a larger export.
func TestExportSampledBytes(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	recs := make([]Record, 300)
	for i := range recs {
		recs[i] = Record{testKind(i), testPayload(i)}
	}
	if _, err := l.AppendMany(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	data := exportBytes(t, l)
	r := rand.New(rand.NewPCG(1, 2))
	samples := 1500
	if raceEnabled || testing.Short() {
		samples = 300
	}
	for range samples {
		i := r.IntN(len(data))
		x := byte(1 + r.IntN(255))
		b := bytes.Clone(data)
		b[i] ^= x
		if _, err := tlog.VerifyExport(bytes.NewReader(b), ""); err == nil {
			t.Fatalf("changing byte %d of %d by xor %#x was not detected", i, len(data), x)
		}
	}
}

func TestImportRefusesAlteredExport(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	appendN(t, l, 20)
	data := exportBytes(t, l)
	// Change a payload byte in the middle: the import fails at the checkpoint, after writing entries.
	b := bytes.Clone(data)
	b[len(b)/2] ^= 1
	dir := t.TempDir()
	_, err := Import(dir, bytes.NewReader(b), Options{})
	wantErr(t, err, ErrBadExport, "Import of an altered export")
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Fatalf("a failed import left files behind: %v", left)
	}
	fresh := filepath.Join(t.TempDir(), "new")
	_, err = Import(fresh, bytes.NewReader(b), Options{})
	wantErr(t, err, ErrBadExport, "Import of an altered export into a new directory")
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Fatalf("a failed import left the directory it created: %v", err)
	}
	_, err = Import(t.TempDir(), bytes.NewReader(data), Options{VerifierKey: mustOtherKey(t)})
	wantErr(t, err, ErrBadSignature, "Import with another expected key")
}

func mustOtherKey(t *testing.T) string {
	_, k := fixedKey(t, testOrigin, 42)
	return k
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	if len(p) > r.n {
		p = p[:r.n]
	}
	r.n -= len(p)
	return len(p), nil
}

func TestExportReaderIOError(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	appendN(t, l, 3)
	data := exportBytes(t, l)
	_, err := tlog.VerifyExport(io.MultiReader(bytes.NewReader(data[:50]), &failingReader{}), "")
	if err == nil || errors.Is(err, ErrBadExport) {
		t.Fatalf("an I/O error is reported as %v; want the I/O error, not ErrBadExport", err)
	}
}

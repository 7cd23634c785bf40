package tlog

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "test.example/board"

// fixedKey returns a deterministic signing key for origin (for fuzz seeds and golden tests).
func fixedKey(t testing.TB, origin string, seed byte) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)), origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// buildExport builds an export of the given entries (their kinds and payloads) signed by s.
func buildExport(t testing.TB, s note.Signer, vkey string, entries []Entry) []byte {
	t.Helper()
	hs := make([][HashSize]byte, len(entries))
	b := AppendExportHeader(nil, s.Name(), vkey, uint64(len(entries)))
	for i, e := range entries {
		hs[i] = LeafHash(e.Kind, e.Payload)
		b = AppendExportEntry(b, e.Kind, e.Payload)
	}
	cp, err := SignCheckpoint(s, s.Name(), uint64(len(entries)), RootHash(hs))
	if err != nil {
		t.Fatal(err)
	}
	return AppendExportTrailer(b, cp.Signed)
}

func wantErr(t testing.TB, err error, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// byteChanges returns the ways the byte-changing tests change each byte (xor masks): flipping the lowest bit,
// the case of a letter (0x20), the top bit, and all bits; more without the race detector.
func byteChanges() []byte {
	if raceEnabled {
		return []byte{0x01, 0x20, 0xff}
	}
	return []byte{0x01, 0x02, 0x04, 0x20, 0x80, 0xff}
}

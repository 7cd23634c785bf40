package tlog

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func FuzzExportReader(f *testing.F) {
	s, vkey := fixedKey(f, testOrigin, 1)
	f.Add(buildExport(f, s, vkey, nil))
	f.Add(buildExport(f, s, vkey, []Entry{{Kind: 1, Payload: []byte("a")}}))
	f.Add(buildExport(f, s, vkey, []Entry{{Kind: 1, Payload: []byte("a")}, {Kind: 2}, {Kind: 3, Payload: []byte("ccc")}}))
	f.Add([]byte("RCNTBRD\n\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := NewExportReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		var entries []Entry
		for e, err := range x.Entries() {
			if err != nil {
				return
			}
			entries = append(entries, e)
		}
		cp, err := x.Finish()
		if err != nil {
			return
		}
		// A verified export is the canonical encoding of what was read.
		b := AppendExportHeader(nil, x.Origin(), x.VerifierKey(), uint64(len(entries)))
		for _, e := range entries {
			b = AppendExportEntry(b, e.Kind, e.Payload)
		}
		b = AppendExportTrailer(b, cp.Signed)
		if !bytes.Equal(b, data) {
			t.Fatalf("verified an export that is not canonical")
		}
		if x.VerifierKey() != vkey {
			t.Fatalf("verified an export signed by a key other than the seeds'")
		}
	})
}

// TestReadExportEntryAt: an entry frame is read again at its offset; a length over MaxPayloadSize and a frame cut
// short are errors.
func TestReadExportEntryAt(t *testing.T) {
	b := AppendExportHeader(nil, "example.org/board", "example.org/board+00000000+AA", 2)
	first := int64(len(b))
	b = AppendExportEntry(b, 3, []byte("first"))
	second := int64(len(b))
	b = AppendExportEntry(b, 7, bytes.Repeat([]byte{9}, 70000))
	r := bytes.NewReader(b)
	for _, want := range []struct {
		off     int64
		index   uint64
		kind    Kind
		payload []byte
	}{{first, 0, 3, []byte("first")}, {second, 1, 7, bytes.Repeat([]byte{9}, 70000)}} {
		e, err := ReadExportEntryAt(r, want.off, want.index)
		if err != nil || e.Index != want.index || e.Kind != want.kind || !bytes.Equal(e.Payload, want.payload) {
			t.Errorf("at %d: %d %d %d bytes, %v", want.off, e.Index, e.Kind, len(e.Payload), err)
		}
	}
	huge := bytes.Clone(b)
	binary.BigEndian.PutUint32(huge[first+4:], MaxPayloadSize+1)
	if _, err := ReadExportEntryAt(bytes.NewReader(huge), first, 0); err == nil {
		t.Error("a payload length over MaxPayloadSize was read")
	}
	if _, err := ReadExportEntryAt(bytes.NewReader(b[:len(b)-1]), second, 1); err == nil {
		t.Error("a frame cut short was read")
	}
}

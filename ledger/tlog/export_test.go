package tlog

import (
	"bytes"
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

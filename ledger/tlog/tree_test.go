package tlog

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
)

func TestLeafData(t *testing.T) {
	t.Parallel()
	got := LeafData(0x01020304, []byte("abc"))
	want := []byte{1, 2, 3, 4, 'a', 'b', 'c'}
	if string(got) != string(want) {
		t.Fatalf("LeafData = %x, want %x", got, want)
	}
	if got := LeafData(7, nil); string(got) != "\x00\x00\x00\x07" {
		t.Fatalf("LeafData(7, nil) = %x", got)
	}
}

func TestLeafHash(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind    Kind
		payload string
	}{{0, ""}, {1, "abc"}, {0xffffffff, "ballot"}} {
		want := sha256.Sum256(append([]byte{0}, LeafData(tc.kind, []byte(tc.payload))...))
		if got := LeafHash(tc.kind, []byte(tc.payload)); got != want {
			t.Errorf("LeafHash(%d, %q) = %x, want %x", tc.kind, tc.payload, got, want)
		}
		if got := rfc6962.DefaultHasher.HashLeaf(LeafData(tc.kind, []byte(tc.payload))); string(got) != string(want[:]) {
			t.Errorf("rfc6962 leaf hash differs for (%d, %q)", tc.kind, tc.payload)
		}
	}
	// A fixed vector: SHA-256(00 00000001 616263), computed with sha256sum.
	got := LeafHash(1, []byte("abc"))
	if hex.EncodeToString(got[:]) != "d46e38a5b2facfdc759688d32a4774fc252b4fa9fc2f19fbc5c9c940b00161d2" {
		t.Fatalf("LeafHash(1, abc) = %x", got)
	}
}

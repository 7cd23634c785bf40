package drbg

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

func TestDRBG(t *testing.T) {
	whole := make([]byte, 100)
	New("seed").Read(whole)
	b0 := sha256.Sum256([]byte("seed\x00\x00\x00\x00\x00\x00\x00\x00"))
	b1 := sha256.Sum256([]byte("seed\x00\x00\x00\x00\x00\x00\x00\x01"))
	if !bytes.Equal(whole[:32], b0[:]) || !bytes.Equal(whole[32:64], b1[:]) {
		t.Fatal("the stream is not SHA-256(seed || uint64be(i))")
	}
	d := New("seed")
	var pieces []byte
	for _, n := range []int{1, 30, 2, 40, 27} {
		p := make([]byte, n)
		d.Read(p)
		pieces = append(pieces, p...)
	}
	if !bytes.Equal(pieces, whole) {
		t.Fatal("the stream depends on how reads are split")
	}
}

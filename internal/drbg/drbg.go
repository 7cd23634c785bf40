// Package drbg is the deterministic "random" stream of Recount's known-answer vectors (crypto/kat) and of tests
// that need reproducible randomness. It is for tests only: Recount's provers use crypto/rand.
package drbg

import (
	"crypto/sha256"
	"encoding/binary"
)

// DRBG is a deterministic "random" stream: the concatenation of the blocks
//
//	SHA-256(seed || uint64be(i))   for i = 0, 1, 2, ...
//
// Reads consume the stream in order, so the bytes a reader gets do not depend on how it splits its reads.
// It is for tests only: a secret seed would make it a fine generator, but Recount's provers use crypto/rand.
type DRBG struct {
	seed    []byte
	counter uint64
	buf     []byte
}

// New returns the stream for seed.
func New(seed string) *DRBG { return &DRBG{seed: []byte(seed)} }

// Read fills p from the stream. It never fails.
func (d *DRBG) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(d.buf) == 0 {
			var ctr [8]byte
			binary.BigEndian.PutUint64(ctr[:], d.counter)
			d.counter++
			h := sha256.New()
			h.Write(d.seed)
			h.Write(ctr[:])
			d.buf = h.Sum(nil)
		}
		c := copy(p[n:], d.buf)
		d.buf = d.buf[c:]
		n += c
	}
	return n, nil
}

// Package transcript is Recount's Fiat-Shamir transcript: a running SHA-512 hash over length-prefixed, named
// fields, from which a proof's challenge is derived.
//
// The hash input is the concatenation of frames, in order. A frame is
//
//	uint32be(len(name)) || name || uint32be(len(value)) || value
//
// A transcript starts with two frames,
//
//	frame("recount-transcript-v1", protocol)   the proof's own label, e.g. "recount/range-proof/v1"
//	frame("election", election)                the election's identity (32 bytes in Recount)
//
// then one frame per Append call. Challenge(name) appends frame("challenge", name), takes the SHA-512 digest
// of everything so far (64 bytes), appends frame("challenge-digest", digest) so that a second challenge differs
// from the first, and returns digest read as a little-endian integer reduced modulo the group order.
//
// Because every frame carries its length, no two different sequences of fields hash the same; because a proof
// appends its whole public statement and every commitment, a challenge cannot be reused for another statement
// (the weak Fiat-Shamir flaw that broke Helios in 2012).
package transcript

import (
	"crypto/sha512"
	"encoding"
	"encoding/binary"
	"hash"

	"github.com/recount-vote/recount/crypto/group"
)

// Domain is the name of a transcript's first frame.
const Domain = "recount-transcript-v1"

// Transcript accumulates the public inputs of a proof. The zero value is not usable; use New.
type Transcript struct {
	h hash.Hash
}

// New starts a transcript for protocol (a proof's label) in the election with identity election.
func New(protocol string, election []byte) *Transcript {
	t := &Transcript{h: sha512.New()}
	t.frame([]byte(Domain), []byte(protocol))
	t.frame([]byte("election"), election)
	return t
}

func (t *Transcript) frame(name, value []byte) {
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(name)))
	t.h.Write(l[:])
	t.h.Write(name)
	binary.BigEndian.PutUint32(l[:], uint32(len(value)))
	t.h.Write(l[:])
	t.h.Write(value)
}

// AppendBytes appends the field name with value.
func (t *Transcript) AppendBytes(name string, value []byte) { t.frame([]byte(name), value) }

// AppendElement appends the field name with e's 32-byte encoding.
func (t *Transcript) AppendElement(name string, e *group.Element) {
	var b [group.ElementSize]byte
	t.frame([]byte(name), e.AppendBytes(b[:0]))
}

// AppendScalar appends the field name with s's 32-byte encoding.
func (t *Transcript) AppendScalar(name string, s *group.Scalar) { t.frame([]byte(name), s.Bytes()) }

// AppendUint64 appends the field name with x as 8 bytes, big-endian.
func (t *Transcript) AppendUint64(name string, x uint64) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], x)
	t.frame([]byte(name), b[:])
}

// Challenge derives the challenge called name from everything appended so far.
func (t *Transcript) Challenge(name string) *group.Scalar {
	t.frame([]byte("challenge"), []byte(name))
	digest := t.h.Sum(nil)
	t.frame([]byte("challenge-digest"), digest)
	c, err := group.NewScalar().SetUniformBytes(digest)
	if err != nil {
		panic("transcript: " + err.Error()) // unreachable: SHA-512 gives 64 bytes
	}
	return c
}

// Clone returns an independent copy of t, for proofs that share a common prefix.
func (t *Transcript) Clone() *Transcript {
	state, err := t.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("transcript: " + err.Error())
	}
	h := sha512.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		panic("transcript: " + err.Error())
	}
	return &Transcript{h: h}
}

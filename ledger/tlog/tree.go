package tlog

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size of every hash in the tree: SHA-256.
const HashSize = sha256.Size

// MaxPayloadSize is the largest payload an entry may have (16 MiB).
const MaxPayloadSize = 16 << 20

// A Kind is the type of an entry. The board gives kinds no meaning; their values are defined by the caller.
type Kind uint32

// An Entry is one record of the board: its index (0, 1, 2, ... in append order), its kind and its payload.
type Entry struct {
	Index   uint64
	Kind    Kind
	Payload []byte
}

// LeafData returns the bytes that the Merkle tree hashes for an entry: the kind as 4 bytes big-endian,
// followed by the payload.
//
//	leaf data = uint32be(kind) || payload
func LeafData(kind Kind, payload []byte) []byte {
	b := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(b, uint32(kind))
	copy(b[4:], payload)
	return b
}

// LeafHash returns the RFC 9162 leaf hash of an entry:
//
//	leaf hash = SHA-256(0x00 || uint32be(kind) || payload)
func LeafHash(kind Kind, payload []byte) [HashSize]byte {
	var pre [5]byte
	binary.BigEndian.PutUint32(pre[1:], uint32(kind))
	h := sha256.New()
	h.Write(pre[:])
	h.Write(payload)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// LeafDataHash returns the RFC 9162 leaf hash of leaf data (as made by LeafData): SHA-256(0x00 || leafData).
// LeafDataHash(LeafData(kind, payload)) == LeafHash(kind, payload).
func LeafDataHash(leafData []byte) [HashSize]byte {
	h := sha256.New()
	h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
	h.Write(leafData)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// HashChildren is the RFC 9162 interior node hash: SHA-256(0x01 || left || right).
func HashChildren(left, right []byte) []byte {
	return rfc6962.DefaultHasher.HashChildren(left, right)
}

// EmptyRoot is the root of the empty tree: SHA-256 of the empty string.
func EmptyRoot() [HashSize]byte { return sha256.Sum256(nil) }

// rangeFactory builds compact ranges with the RFC 9162 node hash.
var rangeFactory = &compact.RangeFactory{Hash: HashChildren}

// RangeRoot returns the root hash of the tree that a compact range (built with HashChildren) covers; the range
// must start at leaf 0, or RangeRoot panics. It is EmptyRoot for an empty range.
func RangeRoot(r *compact.Range) [HashSize]byte {
	if r.End() == 0 {
		return EmptyRoot()
	}
	h, err := r.GetRootHash(nil)
	if err != nil || len(h) != HashSize {
		// r starts at 0 by construction; this cannot happen.
		panic("ledger: compact range does not start at 0")
	}
	var out [HashSize]byte
	copy(out[:], h)
	return out
}

// RootHash computes the RFC 9162 root hash of the tree whose leaves have the given leaf hashes, in order. It is
// a reference for verifiers and tests; the board itself keeps the tree incrementally.
func RootHash(leafHashes [][HashSize]byte) [HashSize]byte {
	r := rangeFactory.NewEmptyRange(0)
	for i := range leafHashes {
		if err := r.Append(leafHashes[i][:], nil); err != nil {
			panic("ledger: appending to a compact range: " + err.Error())
		}
	}
	return RangeRoot(r)
}

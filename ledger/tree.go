package ledger

import (
	"encoding/binary"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/transparency-dev/merkle/compact"
)

// A Record is what a caller appends: a kind and a payload.
type Record struct {
	Kind    tlog.Kind
	Payload []byte
}

// rangeFactory builds compact ranges with the RFC 9162 node hash.
var rangeFactory = &compact.RangeFactory{Hash: tlog.HashChildren}

// cloneRange returns an independent copy of r.
func cloneRange(r *compact.Range) *compact.Range {
	hs := make([][]byte, len(r.Hashes()))
	copy(hs, r.Hashes())
	c, err := rangeFactory.NewRange(r.Begin(), r.End(), hs)
	if err != nil {
		panic("ledger: cloning a valid compact range: " + err.Error())
	}
	return c
}

// u64key encodes an index or size as a bbolt key: 8 bytes big-endian, so that keys sort numerically.
func u64key(i uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, i)
	return b
}

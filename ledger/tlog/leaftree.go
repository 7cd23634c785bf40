package tlog

import (
	"fmt"

	"github.com/transparency-dev/merkle/proof"
)

// A LeafTree is the RFC 9162 tree of a list of leaf hashes held in memory: what a verifier has after reading an
// export (32 bytes per entry) rather than a board. It gives the root of any prefix, and the same inclusion and
// consistency proofs as the board (ledger.Log.InclusionProof and ConsistencyProof), for example to check that a
// checkpoint kept in a voter's receipt is consistent with an export's final checkpoint. Each proof takes time
// linear in the tree's size. A LeafTree is not safe for concurrent use.
type LeafTree struct {
	leaves [][HashSize]byte
}

// Append adds the next leaf hash (LeafHash of an entry).
func (t *LeafTree) Append(leafHash [HashSize]byte) { t.leaves = append(t.leaves, leafHash) }

// Size returns the number of leaves.
func (t *LeafTree) Size() uint64 { return uint64(len(t.leaves)) }

// Root returns the root hash of the tree of the first size leaves.
func (t *LeafTree) Root(size uint64) ([HashSize]byte, error) {
	if size > t.Size() {
		return [HashSize]byte{}, fmt.Errorf("ledger: root of tree size %d: %w: there are %d leaves", size, ErrNotFound, t.Size())
	}
	return RootHash(t.leaves[:size]), nil
}

// InclusionProof returns the proof that leaf index is in the tree of the first size leaves.
func (t *LeafTree) InclusionProof(index, size uint64) ([][]byte, error) {
	if size > t.Size() {
		return nil, fmt.Errorf("ledger: inclusion proof in tree size %d: %w: there are %d leaves", size, ErrNotFound, t.Size())
	}
	if index >= size {
		return nil, fmt.Errorf("ledger: inclusion proof of entry %d in tree size %d: %w: the entry is not in that tree", index, size, ErrNotFound)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("ledger: inclusion proof: %w: %v", ErrInvalid, err)
	}
	return t.build(nodes)
}

// ConsistencyProof returns the proof that the tree of the first m leaves is a prefix of the tree of the first n.
func (t *LeafTree) ConsistencyProof(m, n uint64) ([][]byte, error) {
	if m > n {
		return nil, fmt.Errorf("ledger: consistency proof from size %d to %d: %w: the first size must not be larger", m, n, ErrInvalid)
	}
	if n > t.Size() {
		return nil, fmt.Errorf("ledger: consistency proof to tree size %d: %w: there are %d leaves", n, ErrNotFound, t.Size())
	}
	nodes, err := proof.Consistency(m, n)
	if err != nil {
		return nil, fmt.Errorf("ledger: consistency proof: %w: %v", ErrInvalid, err)
	}
	return t.build(nodes)
}

// build computes the hashes of the perfect subtrees a proof names and rehashes them into the proof.
func (t *LeafTree) build(nodes proof.Nodes) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		if end > t.Size() {
			return nil, fmt.Errorf("ledger: building a proof: node (level %d, index %d) is beyond the %d leaves", id.Level, id.Index, t.Size())
		}
		h := RootHash(t.leaves[begin:end])
		hashes[i] = h[:]
	}
	p, err := nodes.Rehash(hashes, HashChildren)
	if err != nil {
		return nil, fmt.Errorf("ledger: building a proof: %w", err)
	}
	return p, nil
}

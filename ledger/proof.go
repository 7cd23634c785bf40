package ledger

import (
	"fmt"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/transparency-dev/merkle/proof"
	bolt "go.etcd.io/bbolt"
)

// Proofs are those of RFC 9162 (section 2.1.3 and 2.1.4): a list of 32-byte node hashes, ordered from the
// leaf (or the older tree) up to the root. The board builds them from the stored perfect subtrees: O(log n) reads
// and at most O(log n) hashes for the one subtree at the right edge that is not perfect.

// InclusionProof returns the proof that entry index is in the tree of the given size (index < size <= Size()).
// Verify it with tlog.VerifyInclusion against a checkpoint of that size.
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	if n := l.Size(); size > n {
		return nil, fmt.Errorf("ledger: inclusion proof in tree size %d: %w: the board has %d entries", size, ErrNotFound, n)
	}
	if index >= size {
		return nil, fmt.Errorf("ledger: inclusion proof of entry %d in tree size %d: %w: the entry is not in that tree", index, size, ErrNotFound)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("ledger: inclusion proof: %w: %v", ErrInvalid, err)
	}
	return l.buildProof(nodes)
}

// ConsistencyProof returns the proof that the tree of size m is a prefix of the tree of size n
// (m <= n <= Size()). Verify it with tlog.VerifyConsistency against checkpoints of sizes m and n.
func (l *Log) ConsistencyProof(m, n uint64) ([][]byte, error) {
	if m > n {
		return nil, fmt.Errorf("ledger: consistency proof from size %d to %d: %w: the first size must not be larger", m, n, ErrInvalid)
	}
	if s := l.Size(); n > s {
		return nil, fmt.Errorf("ledger: consistency proof to tree size %d: %w: the board has %d entries", n, ErrNotFound, s)
	}
	nodes, err := proof.Consistency(m, n)
	if err != nil {
		return nil, fmt.Errorf("ledger: consistency proof: %w: %v", ErrInvalid, err)
	}
	return l.buildProof(nodes)
}

func (l *Log) buildProof(nodes proof.Nodes) ([][]byte, error) {
	var hashes [][]byte
	err := l.view(func(tx *bolt.Tx) error {
		var err error
		hashes, err = newNodeReader(tx).getAll(nodes.IDs, l.path)
		return err
	})
	if err != nil {
		return nil, err
	}
	p, err := nodes.Rehash(hashes, tlog.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("ledger: building a proof: %w", err)
	}
	return p, nil
}

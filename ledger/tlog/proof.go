package tlog

import (
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Proofs are those of RFC 9162 (section 2.1.3 and 2.1.4): a list of 32-byte node hashes, ordered from the
// leaf (or the older tree) up to the root. The board (ledger.Log) builds them from its stored perfect subtrees, a
// LeafTree from its leaf hashes; this file verifies them.

func checkProofHashes(p [][]byte) error {
	if len(p) > 64 {
		return fmt.Errorf("ledger: %w: the proof has %d hashes, more than any tree needs", ErrBadProof, len(p))
	}
	for i, h := range p {
		if len(h) != HashSize {
			return fmt.Errorf("ledger: %w: proof hash %d is %d bytes, not %d", ErrBadProof, i, len(h), HashSize)
		}
	}
	return nil
}

// VerifyInclusion checks that the entry (kind, payload) is entry index of the tree that cp signs, using an
// inclusion proof. cp must have been obtained from ParseCheckpoint (which verifies its signature) or from the
// board itself.
func VerifyInclusion(cp Checkpoint, kind Kind, payload []byte, index uint64, p [][]byte) error {
	if index >= cp.Size {
		return fmt.Errorf("ledger: %w: entry %d cannot be in a tree of size %d", ErrBadProof, index, cp.Size)
	}
	if err := checkProofHashes(p); err != nil {
		return err
	}
	leaf := LeafHash(kind, payload)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, leaf[:], p, cp.Root[:]); err != nil {
		return fmt.Errorf("ledger: %w: entry %d is not in the tree of size %d signed by %s: %v", ErrBadProof, index, cp.Size, cp.Origin, errText(err))
	}
	return nil
}

// VerifyConsistency checks that the tree signed by older is a prefix of the tree signed by newer, using a
// consistency proof: nothing in the older tree was changed or dropped. Both checkpoints must be of the same
// origin and must have been obtained from ParseCheckpoint or from the board itself.
func VerifyConsistency(older, newer Checkpoint, p [][]byte) error {
	if older.Origin != newer.Origin {
		return fmt.Errorf("ledger: %w: the checkpoints are of different boards (%q and %q)", ErrBadProof, older.Origin, newer.Origin)
	}
	if err := checkEmptyRoot(older); err != nil {
		return err
	}
	if err := checkEmptyRoot(newer); err != nil {
		return err
	}
	if older.Size > newer.Size {
		return fmt.Errorf("ledger: %w: the older checkpoint has size %d, larger than the newer's %d: the board shrank", ErrBadProof, older.Size, newer.Size)
	}
	if err := checkProofHashes(p); err != nil {
		return err
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, older.Size, newer.Size, p, older.Root[:], newer.Root[:]); err != nil {
		return fmt.Errorf("ledger: %w: the tree of size %d is not a prefix of the tree of size %d signed by %s: the board was rewritten (keep both checkpoints as evidence): %v", ErrBadProof, older.Size, newer.Size, newer.Origin, errText(err))
	}
	return nil
}

// errText shortens the merkle library's errors (its root mismatch error prints both roots as byte lists).
func errText(err error) string {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return "the computed root does not match"
	}
	return err.Error()
}

// checkEmptyRoot rejects a checkpoint of size 0 whose root is not the empty tree's (which no board signs).
func checkEmptyRoot(cp Checkpoint) error {
	if cp.Size == 0 && cp.Root != EmptyRoot() {
		return fmt.Errorf("ledger: %w: a checkpoint of size 0 must have the empty tree's root", ErrBadProof)
	}
	return nil
}

package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// CheckIntegrity checks that the board's entries hash to its latest signed checkpoint: it re-hashes every entry,
// recomputes the whole tree from them, compares every stored tree node (from which proofs are made) with it, and
// compares the recomputed root with the latest checkpoint's. It reads the whole database once and computes about
// two SHA-256 hashes per entry (figures in BENCHMARKS.md), and nothing is trusted from an earlier check: a byte
// changed in an old entry is found as surely as one in the newest.
//
// Open runs it before returning unless Options.DeferIntegrityCheck is set; a writable board opened that way
// refuses appends until CheckIntegrity has passed. progress, if not nil, is called after each chunk with the
// number of entries checked so far and the total.
//
// An error wraps ErrCorrupt and names the first damaged entry (or tree node, when the entries are intact) and
// what to do; after one, appends are refused until the board is reopened. If ctx ends, CheckIntegrity returns
// ctx.Err() and the board stays as it was.
func (l *Log) CheckIntegrity(ctx context.Context, progress func(checked, total uint64)) error {
	err := l.rehash(ctx, l.Latest(), false, progress)
	if err == nil {
		l.failed.CompareAndSwap(&errUnchecked, nil)
		return nil
	}
	if ctx.Err() == nil {
		l.failed.Store(&err)
		l.logger.Error("ledger: the board failed its integrity check", "dir", l.dir, "err", err)
	}
	return err
}

// errUnchecked is what appends return on a board opened with Options.DeferIntegrityCheck until CheckIntegrity
// passes.
var errUnchecked = fmt.Errorf("ledger: %w: the board's integrity has not been checked yet (Options.DeferIntegrityCheck): call CheckIntegrity", ErrReadOnly)

// Verify checks the whole board, up to the latest checkpoint when it starts:
//
//   - bbolt's page-level consistency check of the database file (appends wait while it runs);
//   - everything CheckIntegrity checks: every entry is present and re-hashed, the whole tree is recomputed from
//     the entries and every stored node is compared with it;
//   - every kept checkpoint verifies with the board's key and signs the recomputed root of its size.
//
// It takes time proportional to the board's size. An error wraps ErrCorrupt and names what is wrong.
func (l *Log) Verify(ctx context.Context) error {
	cp := l.Latest()
	if err := l.checkPages(); err != nil {
		return err
	}
	return l.rehash(ctx, cp, true, nil)
}

// rehash recomputes the tree of the first cp.Size entries, compares every stored node with it and its root with
// cp's, and, if checkpoints is set, checks every kept checkpoint against the recomputed root of its size. It reads
// the whole range even after a mismatch, so that it can tell a damaged entry from a damaged tree node: if the
// entries still hash to the signed root, the entries are intact and the first mismatching node is damaged;
// otherwise the first entry whose hash differs from the leaf hash stored when it was appended is named.
func (l *Log) rehash(ctx context.Context, cp tlog.Checkpoint, checkpoints bool, progress func(checked, total uint64)) error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("ledger: checking %s: %w: %s: %s", l.path, ErrCorrupt, fmt.Sprintf(format, args...), recoveryAdvice)
	}
	rng := rangeFactory.NewEmptyRange(0)
	// Checkpoint of size 0 (every signing board has one; an imported one may not).
	if checkpoints {
		err := l.view(func(tx *bolt.Tx) error {
			if v := tx.Bucket(bucketCheckpoints).Get(u64key(0)); v != nil {
				return l.checkStoredCheckpoint(0, v, rng)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	var badNode *compact.NodeID // the first stored node that differs from the recomputed one
	for i := uint64(0); i < cp.Size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := l.view(func(tx *bolt.Tx) error {
			ns := nodeScanner{nodes: tx.Bucket(bucketNodes)}
			visit := func(id compact.NodeID, hash []byte) {
				if badNode == nil && !ns.matches(id, hash) {
					badNode = &id
				}
			}
			ec := tx.Bucket(bucketEntries).Cursor()
			cc := tx.Bucket(bucketCheckpoints).Cursor()
			var ck, cv []byte
			if checkpoints {
				ck, cv = cc.Seek(u64key(i + 1))
			}
			total := 0
			k, v := ec.Seek(u64key(i))
			for ; i < cp.Size && total < readChunkBytes; i++ {
				if len(k) != 8 || binary.BigEndian.Uint64(k) != i {
					return corrupt("entry %d is missing", i)
				}
				if len(v) < 4 {
					return corrupt("entry %d is too short", i)
				}
				lh := tlog.LeafDataHash(v)
				if err := rng.Append(lh[:], visit); err != nil {
					return corrupt("rebuilding the tree: %v", err)
				}
				if checkpoints {
					if len(ck) == 8 && binary.BigEndian.Uint64(ck) == i+1 {
						if err := l.checkStoredCheckpoint(i+1, cv, rng); err != nil {
							return err
						}
						ck, cv = cc.Next()
					} else if ck != nil && (len(ck) != 8 || binary.BigEndian.Uint64(ck) <= i+1) {
						return corrupt("a checkpoint is stored under a malformed key %x", ck)
					}
				}
				total += len(v)
				k, v = ec.Next()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if progress != nil {
			progress(i, cp.Size)
		}
	}
	if root := tlog.RangeRoot(rng); root != cp.Root {
		if badNode != nil && badNode.Level == 0 {
			return corrupt("entry %d does not hash to the signed tree: its bytes differ from those appended (they do not hash to the leaf hash stored for it, and the entries do not hash to the root signed by the checkpoint of size %d)", badNode.Index, cp.Size)
		}
		return corrupt("the entries do not hash to the root signed by the checkpoint of size %d", cp.Size)
	}
	if badNode != nil {
		first := badNode.Index << badNode.Level
		return corrupt("the entries are intact, but the stored tree node (level %d, index %d) over entries %d to %d is damaged, so proofs that use it would not verify", badNode.Level, badNode.Index, first, first+(1<<badNode.Level)-1)
	}
	return nil
}

// recoveryAdvice ends the error of a board whose content is damaged.
const recoveryAdvice = "stop the node and restore board.db from a backup, or rebuild the board from an export (`recount export` writes one, ledger.Import reads it); `recount verify EXPORT` checks an export"

// checkStoredCheckpoint checks a stored checkpoint of the given size against the recomputed tree.
func (l *Log) checkStoredCheckpoint(size uint64, signed []byte, rng *compact.Range) error {
	cp, err := tlog.OpenCheckpoint(signed, l.verifier)
	if err != nil {
		return fmt.Errorf("ledger: verify %s: %w: the checkpoint of size %d does not verify: %v", l.path, ErrCorrupt, size, err)
	}
	if cp.Size != size {
		return fmt.Errorf("ledger: verify %s: %w: the checkpoint stored for size %d has size %d", l.path, ErrCorrupt, size, cp.Size)
	}
	if cp.Root != tlog.RangeRoot(rng) {
		return fmt.Errorf("ledger: verify %s: %w: the checkpoint of size %d signs a root that the entries do not have", l.path, ErrCorrupt, size)
	}
	return nil
}

// checkPages runs bbolt's consistency check. On a writable database it runs in a write transaction (which it
// rolls back), as bbolt requires when other writers may run.
func (l *Log) checkPages() error {
	if l.isClosed.Load() {
		return fmt.Errorf("ledger: %s: %w", l.path, ErrClosed)
	}
	check := func(tx *bolt.Tx) error {
		var first error
		n := 0
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
			n++
		}
		if first != nil {
			return fmt.Errorf("ledger: verify %s: %w: the database file is damaged (%d problems, first: %v): restore it from a backup, or rebuild the board from an export with Import", l.path, ErrCorrupt, n, first)
		}
		return nil
	}
	return mapClosed(guard(l.path, func() error {
		if l.db.IsReadOnly() {
			return l.db.View(check)
		}
		tx, err := l.db.Begin(true)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		return check(tx)
	}))
}

// nodeScanner compares stored tree nodes with recomputed ones within one read transaction. The tree is rebuilt
// left to right, so each level's nodes are asked for in increasing order: one cursor per level steps through them
// (a B+tree search per node would double the cost of the whole check).
type nodeScanner struct {
	nodes   *bolt.Bucket
	cursors [64]*bolt.Cursor
	next    [64]uint64 // the index the level's cursor reaches with Next
}

// matches reports whether node id is stored with the given hash.
func (s *nodeScanner) matches(id compact.NodeID, hash []byte) bool {
	if id.Level >= 64 {
		return false
	}
	c := s.cursors[id.Level]
	var k, v []byte
	switch {
	case c == nil:
		b := s.nodes.Bucket([]byte{byte(id.Level)})
		if b == nil {
			return false
		}
		c = b.Cursor()
		s.cursors[id.Level] = c
		k, v = c.Seek(u64key(id.Index))
	case s.next[id.Level] == id.Index:
		k, v = c.Next()
	default:
		k, v = c.Seek(u64key(id.Index))
	}
	s.next[id.Level] = id.Index + 1
	return len(k) == 8 && binary.BigEndian.Uint64(k) == id.Index && bytes.Equal(v, hash)
}

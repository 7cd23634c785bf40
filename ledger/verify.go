package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// Verify checks the whole board, up to the latest checkpoint when it starts:
//
//   - bbolt's page-level consistency check of the database file (appends wait while it runs);
//   - every entry is present and re-hashed, the whole tree is recomputed from the entries and every stored
//     node is compared with it;
//   - every kept checkpoint verifies with the board's key and signs the recomputed root of its size.
//
// It takes time proportional to the board's size. An error wraps ErrCorrupt and names what is wrong.
func (l *Log) Verify(ctx context.Context) error {
	cp := l.Latest()
	if err := l.checkPages(); err != nil {
		return err
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("ledger: verify %s: %w: %s", l.path, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	rng := rangeFactory.NewEmptyRange(0)
	// Checkpoint of size 0 (every signing board has one; an imported one may not).
	err := l.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCheckpoints).Get(u64key(0)); v != nil {
			return l.checkStoredCheckpoint(0, v, rng)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := uint64(0); i < cp.Size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := l.view(func(tx *bolt.Tx) error {
			nr := newNodeReader(tx)
			var nodeErr error
			visit := func(id compact.NodeID, hash []byte) {
				if nodeErr == nil && !bytes.Equal(nr.get(id), hash) {
					nodeErr = corrupt("tree node (level %d, index %d) does not match the entries", id.Level, id.Index)
				}
			}
			ec := tx.Bucket(bucketEntries).Cursor()
			cc := tx.Bucket(bucketCheckpoints).Cursor()
			ck, cv := cc.Seek(u64key(i + 1))
			total := 0
			k, v := ec.Seek(u64key(i))
			for ; i < cp.Size && total < readChunkBytes; i++ {
				if len(k) != 8 || binary.BigEndian.Uint64(k) != i {
					return corrupt("entry %d is missing", i)
				}
				if len(v) < 4 {
					return corrupt("entry %d is too short", i)
				}
				lh := leafHashOf(v)
				if err := rng.Append(lh[:], visit); err != nil {
					return corrupt("rebuilding the tree: %v", err)
				}
				if nodeErr != nil {
					return nodeErr
				}
				if len(ck) == 8 && binary.BigEndian.Uint64(ck) == i+1 {
					if err := l.checkStoredCheckpoint(i+1, cv, rng); err != nil {
						return err
					}
					ck, cv = cc.Next()
				} else if ck != nil && (len(ck) != 8 || binary.BigEndian.Uint64(ck) <= i+1) {
					return corrupt("a checkpoint is stored under a malformed key %x", ck)
				}
				total += len(v)
				k, v = ec.Next()
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if root := rootOf(rng); root != cp.Root {
		return corrupt("the root recomputed from the entries does not match the latest checkpoint")
	}
	return nil
}

// checkStoredCheckpoint checks a stored checkpoint of the given size against the recomputed tree.
func (l *Log) checkStoredCheckpoint(size uint64, signed []byte, rng *compact.Range) error {
	cp, err := parseCheckpoint(signed, l.verifier)
	if err != nil {
		return fmt.Errorf("ledger: verify %s: %w: the checkpoint of size %d does not verify: %v", l.path, ErrCorrupt, size, err)
	}
	if cp.Size != size {
		return fmt.Errorf("ledger: verify %s: %w: the checkpoint stored for size %d has size %d", l.path, ErrCorrupt, size, cp.Size)
	}
	if cp.Root != rootOf(rng) {
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

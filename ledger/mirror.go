package ledger

import (
	"context"
	"fmt"

	"github.com/recount-vote/recount/ledger/tlog"
	bolt "go.etcd.io/bbolt"
)

// A mirror is a board built by Import (a copy of another board, without its signing key) that goes on copying
// that board: AppendSigned adds the other board's next entries with the checkpoint it signed over them, once
// the copy's tree has been found to hash to that checkpoint. An observer keeps one.

// OpenMirror opens the imported board in dir for AppendSigned. Reads are as on any board; Append refuses
// (ErrReadOnly): the mirror signs nothing. The board's verifier key is the other board's, checked against
// opts.VerifierKey when set. Only one process may hold a mirror open (the database's exclusive lock).
func OpenMirror(dir string, opts Options) (*Log, error) {
	if opts.ReadOnly {
		return nil, fmt.Errorf("ledger: open mirror %s: %w: a mirror is opened to append to it; open it with Open to read it", dir, ErrInvalid)
	}
	opts.ReadOnly = false
	l, err := Open(dir, opts)
	if err != nil {
		return nil, err
	}
	if !l.imported {
		l.Close()
		return nil, fmt.Errorf("ledger: open mirror %s: %w: the board there signs its own checkpoints; a mirror is built by Import from another board's export", dir, ErrMismatch)
	}
	l.mirror = true
	return l, nil
}

// AppendSigned appends recs, the other board's entries from index Size(), with signed, the checkpoint that board
// signed over them (size Size()+len(recs)). It verifies the checkpoint's signature with the board's key and that
// the tree with the entries added has the checkpoint's root, and only then writes the entries, their tree nodes
// and the checkpoint in one transaction, synced to disk before it returns. Anything that does not verify
// (ErrBadCheckpoint, ErrBadSignature, ErrTooLarge, ErrMismatch) writes nothing. A checkpoint of size Size() with
// the root of the latest one, and no entries, is no change. Concurrent calls are applied one after the other. As
// with Append, after a failed write the mirror refuses appends until it is reopened (which checks it).
func (l *Log) AppendSigned(ctx context.Context, recs []Record, signed []byte) (tlog.Checkpoint, error) {
	if !l.mirror {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: append to %s: %w: only a mirror (OpenMirror) appends another board's entries", l.path, ErrReadOnly)
	}
	l.mirrorMu.Lock()
	defer l.mirrorMu.Unlock()
	if err := ctx.Err(); err != nil {
		return tlog.Checkpoint{}, err
	}
	return l.appendUnder(recs, signed, nil, "mirror")
}

// appendUnder appends recs under signed, a checkpoint signed with the board's key of size Size()+len(recs),
// once the tree with the entries added has been found to hash to it, in one synced transaction that also stores
// state (when not nil) under meta "replica". what names the board in errors ("mirror", "replica"). The caller
// holds mirrorMu.
func (l *Log) appendUnder(recs []Record, signed, state []byte, what string) (tlog.Checkpoint, error) {
	if f := l.failed.Load(); f != nil {
		return tlog.Checkpoint{}, *f
	}
	cp, err := tlog.OpenCheckpoint(signed, l.verifier)
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: append to %s %s: %w", what, l.path, err)
	}
	if cp.Origin != l.origin {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: append to %s %s: %w: the checkpoint is of board %q, not %q", what, l.path, ErrMismatch, cp.Origin, l.origin)
	}
	start := l.Size()
	if cp.Size != start+uint64(len(recs)) {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: append to %s %s: %w: %d entries from index %d need a checkpoint of size %d, not %d", what, l.path, ErrMismatch, len(recs), start, start+uint64(len(recs)), cp.Size)
	}
	rng := cloneRange(l.rng)
	leaves := make([][]byte, len(recs))
	for i, r := range recs {
		if len(r.Payload) > tlog.MaxPayloadSize {
			return tlog.Checkpoint{}, fmt.Errorf("ledger: append to %s %s: %w: entry %d has a payload of %d bytes, at most %d are allowed", what, l.path, ErrTooLarge, start+uint64(i), len(r.Payload), tlog.MaxPayloadSize)
		}
		leaves[i] = tlog.LeafData(r.Kind, r.Payload)
		h := tlog.LeafDataHash(leaves[i])
		if err := rng.Append(h[:], nil); err != nil {
			return tlog.Checkpoint{}, fmt.Errorf("ledger: append to %s %s: %w", what, l.path, err)
		}
	}
	if root := tlog.RangeRoot(rng); root != cp.Root {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: append to %s %s: %w: the %d entries from index %d do not hash to the signed checkpoint %s", what, l.path, ErrBadCheckpoint, len(recs), start, cp)
	}
	if len(recs) == 0 && state == nil {
		return cp, nil
	}
	// Hash again while writing, to store the tree's nodes: the check above wrote nothing.
	wrng := cloneRange(l.rng)
	err = l.update(func(tx *bolt.Tx) error {
		entries := tx.Bucket(bucketEntries)
		entries.FillPercent = 1
		nw := newNodeWriter(tx)
		for i, ld := range leaves {
			if err := entries.Put(u64key(start+uint64(i)), ld); err != nil {
				return err
			}
			h := tlog.LeafDataHash(ld)
			if err := wrng.Append(h[:], nw.visit); err != nil {
				return err
			}
			if nw.err != nil {
				return nw.err
			}
		}
		cps := tx.Bucket(bucketCheckpoints)
		cps.FillPercent = 1
		if err := cps.Put(u64key(cp.Size), cp.Signed); err != nil {
			return err
		}
		if state != nil {
			if err := tx.Bucket(bucketMeta).Put(keyReplica, state); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySize, u64key(cp.Size))
	})
	if err != nil {
		err = fmt.Errorf("ledger: append to %s %s: the write failed, nothing was written, and appends are refused until the mirror is reopened: %w", what, l.path, err)
		l.failed.Store(&err)
		return tlog.Checkpoint{}, err
	}
	// A replica records the checkpoint in board.checkpoint as the committer does, so that a board.db that goes
	// back in time is refused at the next start rather than extended under a second signed history.
	if l.signed != nil {
		if err := l.signed.write(cp); err != nil {
			err = fmt.Errorf("ledger: append to %s %s: %w: the entries were committed, but their checkpoint could not be recorded in %s (%v); appends are refused until the board is reopened, which keeps them", what, l.path, ErrMaybeAppended, l.signedPath, err)
			l.failed.Store(&err)
			return tlog.Checkpoint{}, err
		}
	}
	l.rng = wrng
	l.mu.Lock()
	l.size = cp.Size
	l.latest = cp
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return cp, nil
}

package ledger

import (
	"fmt"
	"io"

	"github.com/recount-vote/recount/ledger/tlog"
	bolt "go.etcd.io/bbolt"
)

// A replica's board (Options.Replica) is one copy of a board that several nodes keep identical through a
// consensus log (package ledger/replica). Its entries are never appended by Append: a batch of records is first
// committed by the cluster, then the leader signs the checkpoint of the board extended by the committed records
// (SignExtension), and every member appends the records under that checkpoint (AppendReplicated), checking that
// they hash to it. All members hold the board's one key, but a checkpoint is only ever signed over records a
// majority already holds, and Ed25519 signatures are deterministic: two leaders signing the same size sign the
// same bytes, so no size is ever signed twice with different content.

// ReplicaStateNew is the replication state of a replica's board that no replicated entry has reached yet.
var ReplicaStateNew = []byte("new")

// AppendReplicated appends recs, the records the cluster committed from index Size(), under signed, the
// checkpoint the cluster's leader signed over them with the board's key (size Size()+len(recs)). As AppendSigned,
// it writes nothing unless the signature verifies and the entries hash to the checkpoint's root; then one synced
// transaction stores the entries, their tree nodes, the checkpoint, the new size and state, the replication
// layer's state at this size (which must not be empty), and the checkpoint is recorded in board.checkpoint
// before it returns. With no records, it only stores state (the checkpoint must then be of Size() with the
// latest root). After a failed write it refuses appends until the board is reopened.
func (l *Log) AppendReplicated(recs []Record, signed, state []byte) (tlog.Checkpoint, error) {
	if !l.replica {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: append to %s: %w: the board was not opened as a replica", l.path, ErrReadOnly)
	}
	if len(state) == 0 {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: append to replica %s: %w: the replication state is empty", l.path, ErrInvalid)
	}
	l.mirrorMu.Lock()
	defer l.mirrorMu.Unlock()
	return l.appendUnder(recs, signed, state, "replica")
}

// SignExtension signs the checkpoint of the board extended by recs (of size Size()+len(recs)) without writing
// anything. The replication layer calls it on the leader only for records the cluster has committed: a
// checkpoint is never signed for a size that a majority does not hold.
func (l *Log) SignExtension(recs []Record) (tlog.Checkpoint, error) {
	if !l.replica || l.signer == nil {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: sign %s: %w: the board was not opened as a replica", l.path, ErrReadOnly)
	}
	l.mirrorMu.Lock()
	defer l.mirrorMu.Unlock()
	if f := l.failed.Load(); f != nil {
		return tlog.Checkpoint{}, *f
	}
	rng := cloneRange(l.rng)
	for i, r := range recs {
		if len(r.Payload) > tlog.MaxPayloadSize {
			return tlog.Checkpoint{}, fmt.Errorf("ledger: sign %s: %w: record %d has a payload of %d bytes, at most %d are allowed", l.path, ErrTooLarge, i, len(r.Payload), tlog.MaxPayloadSize)
		}
		h := tlog.LeafDataHash(tlog.LeafData(r.Kind, r.Payload))
		if err := rng.Append(h[:], nil); err != nil {
			return tlog.Checkpoint{}, fmt.Errorf("ledger: sign %s: %w", l.path, err)
		}
	}
	return tlog.SignCheckpoint(l.signer, l.origin, rng.End(), tlog.RangeRoot(rng))
}

// ReplicaState returns the replication state stored with the board's latest entries by AppendReplicated,
// ReplicaStateNew on a replica's board that no replicated entry has reached, or nil on a board that is no
// replica.
func (l *Log) ReplicaState() ([]byte, error) {
	var st []byte
	err := l.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyReplica); v != nil {
			st = append([]byte{}, v...)
		}
		return nil
	})
	return st, err
}

// A BoardCopy is a consistent copy of the board's database as of one moment, taken by Copy: bbolt's own copy
// (Tx.WriteTo) of a read transaction, which later appends do not change.
type BoardCopy struct {
	tx    *bolt.Tx
	size  uint64
	state []byte
}

// Copy starts a consistent copy of the board's database. Call WriteTo (any number of times), then Close. The
// copy holds a read transaction open until Close: bbolt cannot grow its file meanwhile, so copy and close
// promptly.
func (l *Log) Copy() (*BoardCopy, error) {
	if l.isClosed.Load() {
		return nil, fmt.Errorf("ledger: %s: %w", l.path, ErrClosed)
	}
	var c *BoardCopy
	err := guard(l.path, func() error {
		tx, err := l.db.Begin(false)
		if err != nil {
			return mapClosed(err)
		}
		m, err := readBoardMeta(tx, l.path)
		if err != nil {
			tx.Rollback()
			return err
		}
		c = &BoardCopy{tx: tx, size: m.size}
		if v := tx.Bucket(bucketMeta).Get(keyReplica); v != nil {
			c.state = append([]byte{}, v...)
		}
		return nil
	})
	return c, err
}

// Size returns the size of the board in the copy.
func (c *BoardCopy) Size() uint64 { return c.size }

// ReplicaState returns the replication state of the board in the copy (nil if none).
func (c *BoardCopy) ReplicaState() []byte { return c.state }

// WriteTo writes the database file as of the copy's moment to w.
func (c *BoardCopy) WriteTo(w io.Writer) (int64, error) { return c.tx.WriteTo(w) }

// Close ends the copy's read transaction.
func (c *BoardCopy) Close() error { return c.tx.Rollback() }

// DBSize returns the number of bytes WriteTo writes.
func (c *BoardCopy) DBSize() int64 { return c.tx.Size() }

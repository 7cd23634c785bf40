package replica

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"golang.org/x/mod/sumdb/note"
)

// The Raft log holds two kinds of command entries, told apart by their first byte:
//
//	batch: 'B' || uvarint(n) || n × (uint32be(kind) || uvarint(len) || payload)
//	       records to append to the board, in order. Committing it fixes their indexes (the board's size plus the
//	       records of the batches committed before it and not yet on the board), but nothing is signed yet.
//	seal:  'S' || signed checkpoint note
//	       the checkpoint the leader signed, with the board's key, over the board extended by every batch that
//	       its state machine had applied when it signed (so only over committed records). Applying it appends
//	       those batches' records to the board under it, in one synced transaction.
//
// A seal of a size the board already has changes nothing (a later leader signing the same size signs the same
// bytes: Ed25519 is deterministic). The board's replication state (stored by ledger.Log.AppendReplicated with
// the entries) is 'R' || uint64be(Raft index of the last batch whose records are all on the board): after a
// restart, Raft replays its log and the batches at or below that index are skipped; the others are pending
// again, in order, from the board's size.
const (
	kindBatch = 'B'
	kindSeal  = 'S'
	stateTag  = 'R'
)

// maxBatchRecords bounds a decoded batch (a batch is only ever written by a member; this guards against a
// damaged log).
const maxBatchRecords = 1 << 20

// encodeBatch encodes recs as a batch command.
func encodeBatch(recs []ledger.Record) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, r := range recs {
		n += 4 + binary.MaxVarintLen64 + len(r.Payload)
	}
	b := make([]byte, 0, n)
	b = append(b, kindBatch)
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		b = binary.BigEndian.AppendUint32(b, uint32(r.Kind))
		b = binary.AppendUvarint(b, uint64(len(r.Payload)))
		b = append(b, r.Payload...)
	}
	return b
}

// decodeBatch decodes a batch command's body (after the kind byte).
func decodeBatch(b []byte) ([]ledger.Record, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxBatchRecords {
		return nil, errors.New("bad record count")
	}
	b = b[k:]
	recs := make([]ledger.Record, 0, n)
	for range n {
		if len(b) < 4 {
			return nil, errors.New("truncated record")
		}
		kind := tlog.Kind(binary.BigEndian.Uint32(b))
		l, k := binary.Uvarint(b[4:])
		if k <= 0 || l > uint64(len(b)-4-k) {
			return nil, errors.New("truncated payload")
		}
		b = b[4+k:]
		recs = append(recs, ledger.Record{Kind: kind, Payload: b[:l:l]})
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, errors.New("trailing bytes")
	}
	return recs, nil
}

func encodeState(covered uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{stateTag}, covered)
}

// decodeState returns the Raft index of the last batch on the board from its replication state.
func decodeState(st []byte) (uint64, error) {
	switch {
	case bytes.Equal(st, ledger.ReplicaStateNew):
		return 0, nil
	case len(st) == 9 && st[0] == stateTag:
		return binary.BigEndian.Uint64(st[1:]), nil
	}
	return 0, fmt.Errorf("the board's replication state (%d bytes) is not one this program writes", len(st))
}

// pendingBatch is a committed batch whose records are not on the board yet.
type pendingBatch struct {
	index uint64 // its Raft log index
	recs  []ledger.Record
}

// batchResult is the state machine's answer to a batch: its records' indexes on the board are [first, end).
type batchResult struct {
	first, end uint64
}

// fsm is the Raft state machine: the board plus the committed batches waiting for their seal.
type fsm struct {
	board    *ledger.Log
	verifier note.Verifier
	tmpDir   string // where Restore unpacks a snapshot's board
	logger   *slog.Logger
	onApply  func() // called after each applied command (wakes the sealer); may be nil

	mu      sync.Mutex
	covered uint64 // Raft index of the last batch whose records are all on the board
	pending []pendingBatch
	npend   uint64 // records in pending
	failed  error  // set when the board could not take a sealed batch: the member must be restarted

	restored atomic.Int64 // snapshots restored that brought entries to the board
}

func newFSM(board *ledger.Log, tmpDir string, logger *slog.Logger) (*fsm, error) {
	st, err := board.ReplicaState()
	if err != nil {
		return nil, err
	}
	covered := uint64(0)
	if st != nil {
		if covered, err = decodeState(st); err != nil {
			return nil, fmt.Errorf("replica: board %s: %w", board.Dir(), err)
		}
	} else if board.Size() > 0 {
		return nil, fmt.Errorf("replica: board %s: %w: it holds %d entries and is not a replica's board", board.Dir(), ledger.ErrMismatch, board.Size())
	}
	v, err := tlog.NewVerifier(board.VerifierKey())
	if err != nil {
		return nil, err
	}
	return &fsm{board: board, verifier: v, tmpDir: tmpDir, logger: logger, covered: covered}, nil
}

// assignedEnd returns the board's size plus the pending records: the index the next batch's first record gets.
// The caller holds mu.
func (f *fsm) assignedEnd() uint64 { return f.board.Size() + f.npend }

// Apply applies a committed Raft entry. It returns a batchResult for a batch, nil for a seal, or an error if the
// entry cannot be applied (the member then refuses every later entry: its board no longer follows the log).
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.onApply != nil {
		defer f.onApply()
	}
	if f.failed != nil {
		return f.failed
	}
	if len(l.Data) == 0 {
		return f.fail(fmt.Errorf("replica: log entry %d is empty", l.Index))
	}
	switch l.Data[0] {
	case kindBatch:
		recs, err := decodeBatch(l.Data[1:])
		if err != nil {
			return f.fail(fmt.Errorf("replica: log entry %d: batch: %w", l.Index, err))
		}
		if l.Index <= f.covered {
			return nil // replayed after a restart: already on the board
		}
		first := f.assignedEnd()
		f.pending = append(f.pending, pendingBatch{index: l.Index, recs: recs})
		f.npend += uint64(len(recs))
		return batchResult{first: first, end: first + uint64(len(recs))}
	case kindSeal:
		return f.applySeal(l.Index, l.Data[1:])
	}
	return f.fail(fmt.Errorf("replica: log entry %d has unknown kind %#x", l.Index, l.Data[0]))
}

func (f *fsm) fail(err error) error {
	f.failed = err
	f.logger.Error("replica: the state machine stopped; restart the member", "err", err)
	return err
}

// applySeal appends the pending batches a seal covers under its checkpoint. The caller holds mu.
func (f *fsm) applySeal(index uint64, signed []byte) any {
	cp, err := tlog.OpenCheckpoint(signed, f.verifier)
	if err != nil {
		return f.fail(fmt.Errorf("replica: log entry %d: seal: %w", index, err))
	}
	size := f.board.Size()
	if cp.Size <= size {
		// Sealed already (by this leader's earlier seal or another's): it must be the same history.
		if cp.Size == size && cp.Root != f.board.Latest().Root {
			return f.fail(fmt.Errorf("replica: log entry %d: %w: the seal %s has another root than the board's checkpoint of that size", index, ledger.ErrBadCheckpoint, cp))
		}
		return nil
	}
	var recs []ledger.Record
	k := 0
	for n := size; n < cp.Size && k < len(f.pending); k++ {
		recs = append(recs, f.pending[k].recs...)
		n += uint64(len(f.pending[k].recs))
	}
	if size+uint64(len(recs)) != cp.Size {
		return f.fail(fmt.Errorf("replica: log entry %d: the seal %s does not end at a batch committed before it (board %d, pending %d)", index, cp, size, f.npend))
	}
	covered := f.pending[k-1].index
	if _, err := f.board.AppendReplicated(recs, signed, encodeState(covered)); err != nil {
		return f.fail(fmt.Errorf("replica: log entry %d: %w", index, err))
	}
	f.covered = covered
	f.pending = append(f.pending[:0:0], f.pending[k:]...)
	f.npend -= uint64(len(recs))
	return nil
}

// signPending signs, with the board's key, the checkpoint of the board extended by every pending batch. It
// returns ok false when nothing is pending.
func (f *fsm) signPending() (cp tlog.Checkpoint, ok bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != nil {
		return tlog.Checkpoint{}, false, f.failed
	}
	if f.npend == 0 {
		return tlog.Checkpoint{}, false, nil
	}
	recs := make([]ledger.Record, 0, f.npend)
	for _, b := range f.pending {
		recs = append(recs, b.recs...)
	}
	cp, err = f.board.SignExtension(recs)
	return cp, err == nil, err
}

// pendingCount returns the number of committed records not yet on the board.
func (f *fsm) pendingCount() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.npend
}

// A snapshot is the board's database as of one applied index (bbolt's consistent copy) and the batches pending
// at that index:
//
//	"recount-replica-snapshot/1\n" || uint64be(database length) || database ||
//	uint64be(batches) || batches × (uint64be(Raft index) || uint64be(length) || batch command)
const snapshotMagic = "recount-replica-snapshot/1\n"

// restoreChunk is the fewest entries Restore appends in one transaction when the snapshot's board has a
// checkpoint to cut at (a variable for tests).
var restoreChunk uint64 = 8192

type snapshot struct {
	copy    *ledger.BoardCopy
	pending []pendingBatch
}

// Snapshot captures the state machine's state (Raft calls it between applies).
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != nil {
		return nil, f.failed
	}
	c, err := f.board.Copy()
	if err != nil {
		return nil, err
	}
	return &snapshot{copy: c, pending: append([]pendingBatch{}, f.pending...)}, nil
}

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	err := func() error {
		w.WriteString(snapshotMagic)
		w.Write(binary.BigEndian.AppendUint64(nil, uint64(s.copy.DBSize())))
		if _, err := s.copy.WriteTo(w); err != nil {
			return err
		}
		w.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s.pending))))
		for _, b := range s.pending {
			cmd := encodeBatch(b.recs)
			w.Write(binary.BigEndian.AppendUint64(nil, b.index))
			w.Write(binary.BigEndian.AppendUint64(nil, uint64(len(cmd))))
			w.Write(cmd)
		}
		return w.Flush()
	}()
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("replica: writing a snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() { s.copy.Close() }

// Restore brings the board up to a snapshot's. The board is append-only, so a snapshot never replaces it: the
// snapshot's board must extend this one (checked with a consistency proof between their signed checkpoints), and
// only the entries the board lacks are appended, under the snapshot's latest checkpoint, which every record
// hashes to. A snapshot behind the board must be a prefix of it, and changes only the pending batches.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != nil {
		return f.failed
	}
	dir, err := os.MkdirTemp(f.tmpDir, "restore-")
	if err != nil {
		return fmt.Errorf("replica: restore: %w", err)
	}
	defer os.RemoveAll(dir)
	r := bufio.NewReaderSize(rc, 1<<20)
	bad := func(what string) error { return fmt.Errorf("replica: restore: the snapshot is malformed: %s", what) }
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return bad("not a replica snapshot")
	}
	var u [8]byte
	if _, err := io.ReadFull(r, u[:]); err != nil {
		return bad("no database length")
	}
	dbLen := int64(binary.BigEndian.Uint64(u[:]))
	db, err := os.OpenFile(filepath.Join(dir, ledger.DBFileName), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("replica: restore: %w", err)
	}
	_, err = io.CopyN(db, r, dbLen)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("replica: restore: copying the snapshot's board: %w", err)
	}
	var pending []pendingBatch
	if _, err := io.ReadFull(r, u[:]); err != nil {
		return bad("no batch count")
	}
	nb := binary.BigEndian.Uint64(u[:])
	for range nb {
		var h [16]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return bad("truncated batch")
		}
		n := binary.BigEndian.Uint64(h[8:])
		if n > 64<<20 {
			return bad("batch too large")
		}
		cmd := make([]byte, n)
		if _, err := io.ReadFull(r, cmd); err != nil || n == 0 || cmd[0] != kindBatch {
			return bad("truncated batch")
		}
		recs, err := decodeBatch(cmd[1:])
		if err != nil {
			return bad(err.Error())
		}
		pending = append(pending, pendingBatch{index: binary.BigEndian.Uint64(h[:8]), recs: recs})
	}
	snap, err := ledger.Open(dir, ledger.Options{ReadOnly: true, VerifierKey: f.board.VerifierKey()})
	if err != nil {
		return fmt.Errorf("replica: restore: the snapshot's board: %w", err)
	}
	defer snap.Close()
	st, err := snap.ReplicaState()
	if err != nil {
		return err
	}
	snapCovered, err := decodeState(st)
	if err != nil {
		return fmt.Errorf("replica: restore: %w", err)
	}
	mine, theirs := f.board.Latest(), snap.Latest()
	covered := f.covered
	switch {
	case theirs.Size > mine.Size:
		p, err := snap.ConsistencyProof(mine.Size, theirs.Size)
		if err == nil {
			err = tlog.VerifyConsistency(mine, theirs, p)
		}
		if err != nil {
			return fmt.Errorf("replica: restore: %w: the snapshot's board %s does not extend this member's %s: %v", ledger.ErrRolledBack, theirs, mine, err)
		}
		// The missing entries go in chunks, each under a checkpoint the snapshot's board kept (one per seal),
		// of restoreChunk entries or more, so that a long catch-up does not hold every entry in one
		// transaction; the last chunk is under the snapshot's latest checkpoint, with the snapshot's state. An
		// intermediate chunk keeps this member's state: a crash midway restores the snapshot again from there.
		ctx := context.Background()
		var cuts []tlog.Checkpoint
		for cp, err := range snap.Checkpoints(ctx, mine.Size+1) {
			if err != nil {
				return fmt.Errorf("replica: restore: reading the snapshot's checkpoints: %w", err)
			}
			last := mine.Size
			if len(cuts) > 0 {
				last = cuts[len(cuts)-1].Size
			}
			if cp.Size < theirs.Size && cp.Size-last >= restoreChunk {
				cuts = append(cuts, cp)
			}
		}
		cuts = append(cuts, theirs)
		from := mine.Size
		for _, cut := range cuts {
			var recs []ledger.Record
			for e, err := range snap.Entries(ctx, from) {
				if err != nil {
					return fmt.Errorf("replica: restore: reading the snapshot's board: %w", err)
				}
				if e.Index >= cut.Size {
					break
				}
				recs = append(recs, ledger.Record{Kind: e.Kind, Payload: e.Payload})
			}
			state := encodeState(f.covered)
			if cut.Size == theirs.Size {
				state = st
			}
			if _, err := f.board.AppendReplicated(recs, cut.Signed, state); err != nil {
				return f.fail(fmt.Errorf("replica: restore: %w", err))
			}
			from = cut.Size
		}
		covered = snapCovered
		f.restored.Add(1)
		f.logger.Info("replica: caught up from a snapshot", "dir", f.board.Dir(), "from", mine.Size, "to", theirs.Size)
	default:
		p, err := f.board.ConsistencyProof(theirs.Size, mine.Size)
		if err == nil {
			err = tlog.VerifyConsistency(theirs, mine, p)
		}
		if err != nil {
			return fmt.Errorf("replica: restore: %w: the snapshot's board %s is not a prefix of this member's %s: %v", ledger.ErrMismatch, theirs, mine, err)
		}
		covered = max(covered, snapCovered)
	}
	// The snapshot's pending batches from the board's size on: those already on the board are at or below covered.
	f.pending, f.npend = nil, 0
	skipped := uint64(0)
	for _, b := range pending {
		if b.index <= covered {
			skipped += uint64(len(b.recs))
			continue
		}
		f.pending = append(f.pending, b)
		f.npend += uint64(len(b.recs))
	}
	if theirs.Size <= mine.Size && theirs.Size+skipped > f.board.Size() {
		return f.fail(fmt.Errorf("replica: restore: the snapshot's pending batches (%d records on this board) do not meet this board's size %d from the snapshot's %d", skipped, f.board.Size(), theirs.Size))
	}
	f.covered = covered
	return nil
}

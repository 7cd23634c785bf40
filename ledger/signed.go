package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/recount-vote/recount/ledger/tlog"
	"golang.org/x/mod/sumdb/note"
)

// CheckpointFileName is the file, beside board.key, that records the latest checkpoint the board signed. It lives
// outside board.db so that a board.db that goes back in time (bbolt falling back to its older meta page after the
// newer one was damaged, or an old backup restored) cannot also take back the record of what the board signed.
//
// The file is 8192 bytes: two slots of 4096 bytes, each empty (all zero) or holding a signed checkpoint (the note
// exactly as in the checkpoints bucket) followed by zero bytes. Every commit overwrites the slot that does not
// hold the latest checkpoint and syncs the file (fdatasync: the file's size never changes), after board.db's
// transaction and before any append of the commit returns: once per commit, not once per entry. A write cut by a
// crash damages only the slot being written, whose commit no append has been told about; the other slot still
// holds the checkpoint before it. The recorded checkpoint is the one of the larger size among the slots whose
// signature verifies with the board's key; a file in which no slot verifies is refused.
const CheckpointFileName = "board.checkpoint"

const (
	signedSlotSize = 4096
	signedFileSize = 2 * signedSlotSize
)

// A signedFile is board.checkpoint open for writing.
type signedFile struct {
	f    *os.File
	next int // the slot the next checkpoint goes to: the one not holding the latest
}

// write records cp in the next slot and syncs the file.
func (s *signedFile) write(cp tlog.Checkpoint) error {
	if len(cp.Signed) > signedSlotSize {
		return fmt.Errorf("the checkpoint is %d bytes, more than a slot's %d", len(cp.Signed), signedSlotSize)
	}
	var slot [signedSlotSize]byte
	copy(slot[:], cp.Signed)
	if _, err := s.f.WriteAt(slot[:], int64(s.next)*signedSlotSize); err != nil {
		return err
	}
	if err := fdatasync(s.f); err != nil {
		return err
	}
	s.next ^= 1
	return nil
}

// parseSignedFile returns the checkpoint recorded in the content of a board.checkpoint file, and its slot.
func parseSignedFile(data []byte, v note.Verifier) (tlog.Checkpoint, int, error) {
	if len(data) != signedFileSize {
		return tlog.Checkpoint{}, 0, fmt.Errorf("%w: the file has %d bytes, not %d", ErrBadCheckpoint, len(data), signedFileSize)
	}
	var cps [2]tlog.Checkpoint
	var errs [2]error
	for i := range cps {
		body := bytes.TrimRight(data[i*signedSlotSize:(i+1)*signedSlotSize], "\x00")
		if len(body) == 0 {
			errs[i] = errors.New("empty")
			continue
		}
		cps[i], errs[i] = tlog.OpenCheckpoint(body, v)
	}
	switch {
	case errs[0] != nil && errs[1] != nil:
		return tlog.Checkpoint{}, 0, fmt.Errorf("%w: neither slot holds a checkpoint signed by the board's key (slot 0: %v; slot 1: %v)", ErrBadCheckpoint, errs[0], errs[1])
	case errs[1] != nil:
		return cps[0], 0, nil
	case errs[0] != nil:
		return cps[1], 1, nil
	case cps[0].Size == cps[1].Size && cps[0].Root != cps[1].Root:
		return tlog.Checkpoint{}, 0, fmt.Errorf("%w: its slots hold two checkpoints of size %d with different roots", ErrBadCheckpoint, cps[0].Size)
	case cps[1].Size > cps[0].Size:
		return cps[1], 1, nil
	}
	return cps[0], 0, nil
}

// readSignedFile reads dir/board.checkpoint and returns the checkpoint it records, and its slot. It returns an
// error wrapping fs.ErrNotExist if there is none.
func (l *Log) readSignedFile() (tlog.Checkpoint, int, error) {
	f, err := os.Open(l.signedPath)
	if err != nil {
		return tlog.Checkpoint{}, 0, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, signedFileSize+1))
	if err != nil {
		return tlog.Checkpoint{}, 0, err
	}
	return parseSignedFile(data, l.verifier)
}

// createSignedFile writes a new board.checkpoint recording cp (in slot 0) and opens it for writing.
func (l *Log) createSignedFile(cp tlog.Checkpoint) error {
	data := make([]byte, signedFileSize)
	copy(data, cp.Signed)
	if err := writeFileAtomic(l.signedPath, data, 0o600); err != nil {
		return fmt.Errorf("ledger: open %s: recording the latest checkpoint: %w", l.signedPath, err)
	}
	return l.openSignedFile(1)
}

// openSignedFile opens board.checkpoint for writing; next is the slot the next checkpoint goes to.
func (l *Log) openSignedFile(next int) error {
	f, err := os.OpenFile(l.signedPath, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", l.signedPath, err)
	}
	l.signed = &signedFile{f: f, next: next}
	return nil
}

// checkNotRolledBack compares the board's latest checkpoint with the one recorded in board.checkpoint, and
// refuses a board.db behind it: starting from it would lose entries whose appends returned, and signing again
// would sign a second checkpoint of a size already signed. A board.db ahead of the file (a crash between the
// commit and the file's write) must extend the recorded checkpoint; the file is then brought up to date. A
// missing file (a board from before the file was kept) is created from board.db. On a writable board it leaves
// the file open for the committer; a read-only Log checks but writes nothing.
func (l *Log) checkNotRolledBack() error {
	latest := l.latest
	rec, slot, err := l.readSignedFile()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if l.readOnly {
			return nil
		}
		if latest.Size > 0 {
			l.logger.Warn("ledger: "+CheckpointFileName+" is missing (a board from before it was kept): recording the board's latest checkpoint", "dir", l.dir, "size", latest.Size)
		}
		return l.createSignedFile(latest)
	case err != nil:
		return fmt.Errorf("ledger: open %s: %w: it records the latest checkpoint the board signed and cannot be read (%v), so there is no telling whether %s was rolled back: compare the board's latest checkpoint (%s) with the latest one anyone received from it (a receipt, an observer, a trustee's node); only if they agree, delete %s, and the next start records the board's latest checkpoint again", l.signedPath, ErrCorrupt, err, DBFileName, latest, l.signedPath)
	}
	switch {
	case rec.Size > latest.Size:
		return fmt.Errorf("ledger: open %s: %w: %s holds %d entries, but the board signed a checkpoint of size %d (recorded in %s): the database went back in time (a damaged disk made bbolt fall back to an older state, or an older backup was restored), and entries %d to %d, whose appends may have been receipted, are missing. The node must not start from it: it would sign a second checkpoint of a size it already signed, which every observer would see as the board signing two histories. Stop, and restore a copy of %s holding at least %d entries (a newer backup); if there is none, the missing entries exist only in copies others took (an export made with `recount export --node ADDR --out FILE`, a trustee's or an observer's copy of the board: check one with `recount verify FILE`)", l.path, ErrRolledBack, DBFileName, latest.Size, rec.Size, l.signedPath, latest.Size, rec.Size-1, DBFileName, rec.Size)
	case rec.Size == latest.Size && rec.Root != latest.Root:
		return fmt.Errorf("ledger: open %s: %w: its latest checkpoint (%s) and the one recorded in %s (%s) are of the same size with different roots: board.db does not hold the history the board signed (it was replaced or damaged). Stop, and restore the copy of %s that holds the recorded checkpoint (a backup)", l.path, ErrRolledBack, latest, l.signedPath, rec, DBFileName)
	case rec.Size < latest.Size:
		p, err := l.ConsistencyProof(rec.Size, latest.Size)
		if err == nil {
			err = tlog.VerifyConsistency(rec, latest, p)
		}
		if err != nil {
			return fmt.Errorf("ledger: open %s: %w: the board's latest checkpoint (%s) does not extend the one recorded in %s (%s): board.db does not hold the history the board signed (%v). Stop, and restore the copy of %s that holds the recorded checkpoint (a backup)", l.path, ErrRolledBack, latest, l.signedPath, rec, err, DBFileName)
		}
	}
	if l.readOnly {
		return nil
	}
	if err := l.openSignedFile(slot ^ 1); err != nil {
		return err
	}
	if rec.Size < latest.Size {
		if err := l.signed.write(latest); err != nil {
			l.signed.f.Close()
			return fmt.Errorf("ledger: open %s: recording the latest checkpoint: %w", l.signedPath, err)
		}
	}
	return nil
}

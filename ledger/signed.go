package ledger

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// CheckpointFileName is the file, beside board.key, that records the latest checkpoint the board signed: the
// signed note exactly as in the checkpoints bucket. It lives outside board.db so that a board.db that goes back in
// time (bbolt falling back to its older meta page after the newer one was damaged, or an old backup restored)
// cannot also take back the record of what the board signed. Every commit writes it (writeFileAtomic: a
// temporary file, fsync, rename, fsync of the directory) after board.db's transaction and before any append of
// the commit returns, once per commit, not once per entry. Open refuses a board.db behind it (ErrRolledBack).
const CheckpointFileName = "board.checkpoint"

// readSignedFile reads and verifies dir/board.checkpoint. It returns an error wrapping fs.ErrNotExist if there
// is none.
func (l *Log) readSignedFile() (Checkpoint, error) {
	f, err := os.Open(l.signedPath)
	if err != nil {
		return Checkpoint{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCheckpointSize+1))
	if err != nil {
		return Checkpoint{}, err
	}
	return parseCheckpoint(data, l.verifier)
}

// writeSignedFile records cp as the latest checkpoint the board signed.
func (l *Log) writeSignedFile(cp Checkpoint) error {
	return writeFileAtomic(l.signedPath, cp.Signed, 0o600)
}

// checkNotRolledBack compares the board's latest checkpoint with the one recorded in board.checkpoint, and
// refuses a board.db that is behind it: starting from it would lose entries whose appends returned, and signing
// again would sign a second checkpoint of a size already signed. A board.db ahead of the file (a crash between
// the commit and the file's write) must extend the recorded checkpoint; the file is then brought up to date. A
// missing file (a board from before the file was kept) is created from board.db. A read-only Log checks but
// writes nothing.
func (l *Log) checkNotRolledBack() error {
	latest := l.latest
	rec, err := l.readSignedFile()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if l.readOnly {
			return nil
		}
		if latest.Size > 0 {
			l.logger.Warn("ledger: "+CheckpointFileName+" is missing (a board from before it was kept): recording the board's latest checkpoint", "dir", l.dir, "size", latest.Size)
		}
		return l.recordSigned(latest)
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
			err = VerifyConsistency(rec, latest, p)
		}
		if err != nil {
			return fmt.Errorf("ledger: open %s: %w: the board's latest checkpoint (%s) does not extend the one recorded in %s (%s): board.db does not hold the history the board signed (%v). Stop, and restore the copy of %s that holds the recorded checkpoint (a backup)", l.path, ErrRolledBack, latest, l.signedPath, rec, err, DBFileName)
		}
		if !l.readOnly {
			return l.recordSigned(latest)
		}
	}
	return nil
}

// recordSigned writes cp to board.checkpoint when opening, naming the file in the error.
func (l *Log) recordSigned(cp Checkpoint) error {
	if err := l.writeSignedFile(cp); err != nil {
		return fmt.Errorf("ledger: open %s: recording the latest checkpoint: %w", l.signedPath, err)
	}
	return nil
}

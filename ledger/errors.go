package ledger

import (
	"errors"

	"github.com/recount-vote/recount/ledger/tlog"
)

// Sentinel errors. Every error the package returns wraps at most a few of these (test with errors.Is) and adds
// the context: which file, which index, and what the user can do about it. Those that a board shares with its
// formats (a malformed key, checkpoint, proof or export, a size not found) are the values of package tlog, so
// that errors.Is matches an error of either package with either name.
var (
	// ErrNotFound: the entry, checkpoint or tree size asked for does not exist (yet), or there is no board in
	// the directory.
	ErrNotFound = tlog.ErrNotFound
	// ErrInvalid: an argument is out of range or malformed (an empty origin, a proof asked from size m > n, ...).
	ErrInvalid = tlog.ErrInvalid
	// ErrTooLarge: a payload is larger than tlog.MaxPayloadSize.
	ErrTooLarge = errors.New("too large")
	// ErrReadOnly: the board was opened read-only or was built by Import; it cannot append. (Also returned by
	// appends to a board opened with Options.DeferIntegrityCheck until CheckIntegrity has passed.)
	ErrReadOnly = errors.New("board is read-only")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("board is closed")
	// ErrCorrupt: the board's files on disk are damaged, truncated, or inconsistent with the signed checkpoints.
	ErrCorrupt = errors.New("board is corrupt")
	// ErrRolledBack: board.db holds less than, or other than, the latest checkpoint the board signed (recorded in
	// board.checkpoint): starting from it would lose entries and sign a second history.
	ErrRolledBack = errors.New("board was rolled back")
	// ErrNotBoard: the file is a valid bbolt database but not a Recount board (another program's file, or an
	// unsupported format version).
	ErrNotBoard = errors.New("not a Recount board")
	// ErrMismatch: the board exists but does not match what the caller expects (another origin, another key).
	ErrMismatch = errors.New("mismatch")
	// ErrExists: Import was asked to write into a directory that already holds a board.
	ErrExists = errors.New("board already exists")
	// ErrBadKey: a key (board.key, or a verifier key string) is malformed or has unsafe file permissions.
	ErrBadKey = tlog.ErrBadKey
	// ErrBadCheckpoint: a checkpoint is not in the exact format the board writes.
	ErrBadCheckpoint = tlog.ErrBadCheckpoint
	// ErrBadSignature: a checkpoint's signature does not verify with the expected key.
	ErrBadSignature = tlog.ErrBadSignature
	// ErrBadProof: an inclusion or consistency proof does not verify against the checkpoint(s).
	ErrBadProof = tlog.ErrBadProof
	// ErrBadExport: an export stream is malformed, or its entries do not hash to the root its checkpoint signs.
	ErrBadExport = tlog.ErrBadExport
	// ErrMaybeAppended: the caller's context ended after its entries were queued for the commit; they may or
	// may not have been written. Look for them (Entries from the last known size) before appending them again.
	ErrMaybeAppended = errors.New("append outcome unknown: the entries were queued and may still be written")
)

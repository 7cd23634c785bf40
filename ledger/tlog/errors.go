package tlog

import "errors"

// Sentinel errors. Every error the package returns wraps at most a few of these (test with errors.Is) and adds
// the context: which field, which byte, which entry. Package ledger returns the same values for the same faults
// in a stored board.
var (
	// ErrNotFound: the entry or tree size asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: an argument is out of range or malformed (an empty origin, a proof asked from size m > n, ...).
	ErrInvalid = errors.New("invalid argument")
	// ErrBadKey: a key (a verifier key string, or the board's signing key) is malformed.
	ErrBadKey = errors.New("bad key")
	// ErrBadCheckpoint: a checkpoint is not in the exact format the board writes.
	ErrBadCheckpoint = errors.New("malformed checkpoint")
	// ErrBadSignature: a checkpoint's signature does not verify with the expected key.
	ErrBadSignature = errors.New("bad signature")
	// ErrBadProof: an inclusion or consistency proof does not verify against the checkpoint(s).
	ErrBadProof = errors.New("proof does not verify")
	// ErrBadExport: an export stream is malformed, or its entries do not hash to the root its checkpoint signs.
	ErrBadExport = errors.New("bad export")
)

package witness

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Every refusal of AddCheckpoint wraps exactly one of them (test with errors.Is); Status maps
// each to the status code c2sp.org/tlog-witness prescribes, and the Client maps the codes back.
var (
	// ErrMalformed: the request is not a well-formed add-checkpoint body, the checkpoint is not a well-formed
	// checkpoint, or the old size is larger than the checkpoint's (400 Bad Request).
	ErrMalformed = errors.New("malformed request")
	// ErrUnknownLog: the checkpoint's origin is not a log this witness is configured for (404 Not Found).
	ErrUnknownLog = errors.New("unknown log")
	// ErrBadSignature: the checkpoint carries no signature by the log's key, or one that does not verify
	// (403 Forbidden).
	ErrBadSignature = errors.New("bad log signature")
	// ErrConflict: the old size is not the size of the latest checkpoint the witness cosigned for the log
	// (409 Conflict); the error is a *ConflictError carrying that size.
	ErrConflict = errors.New("old size is not the witness's")
	// ErrInconsistent: the checkpoint does not extend the latest one the witness cosigned: the consistency
	// proof does not verify, a proof came with old size 0, the same size has another root, or a checkpoint of
	// size 0 has a root other than the empty tree's (422 Unprocessable Entity).
	ErrInconsistent = errors.New("checkpoint is not consistent with the cosigned one")
	// ErrNotVerified: an observer-witness has not (or not yet) verified every entry up to the checkpoint's size,
	// so it does not cosign it (503 Service Unavailable: the client may try again later). Not part of
	// tlog-witness, which has no such check.
	ErrNotVerified = errors.New("entries not verified up to this size")
	// ErrUnavailable: the witness cannot answer now: its state could not be read or written, or it is closed
	// (500 Internal Server Error). The Client also returns it for a witness it cannot reach or whose answer is
	// not the protocol's.
	ErrUnavailable = errors.New("witness unavailable")
)

// A ConflictError is the refusal of a request whose old size is not the size of the latest checkpoint the
// witness cosigned for the log. A client retries with a consistency proof from Size.
type ConflictError struct {
	Origin string
	Size   uint64 // the size of the latest checkpoint the witness cosigned (0: none)
	Old    uint64 // the old size the request named
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness: %v: the request's old size is %d, but the latest checkpoint the witness cosigned for %s has size %d", ErrConflict, e.Old, e.Origin, e.Size)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// A ForkError is the refusal of a checkpoint of the same size as the one the witness cosigned but with another
// root: both are signed by the log, so together they prove that the log showed two histories. It wraps
// ErrInconsistent.
type ForkError struct {
	Cosigned  []byte // the checkpoint the witness cosigned, with the log's signature and the witness's cosignature
	Submitted []byte // the refused checkpoint, as submitted
	Origin    string
	Size      uint64
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("witness: %v: a fork of %s: two checkpoints of size %d with different roots, both signed by the log (keep both as evidence)", ErrInconsistent, e.Origin, e.Size)
}

func (e *ForkError) Unwrap() error { return ErrInconsistent }

// Status returns the HTTP status code of an AddCheckpoint error, as c2sp.org/tlog-witness prescribes it.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrMalformed):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownLog):
		return http.StatusNotFound
	case errors.Is(err, ErrBadSignature):
		return http.StatusForbidden
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrInconsistent):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrNotVerified):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

package tlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// A Checkpoint is the board's signed statement of its tree: "the log named Origin has Size entries and its
// RFC 9162 Merkle tree has root hash Root".
//
// The signed text (the note body) is the transparency-dev checkpoint format, exactly three lines:
//
//	<origin>\n
//	<size in decimal, no sign, no leading zeros>\n
//	<root hash, 32 bytes, standard base64 with padding>\n
//
// It is signed as a golang.org/x/mod/sumdb/note with the board's Ed25519 key, whose name is the origin. The
// whole signed note (Signed) is the body, a blank line, and exactly one signature line:
//
//	— <origin> <base64(4-byte key hash || 64-byte Ed25519 signature of the body)>\n
//
// The board accepts only this canonical form (one signature, canonical numbers and base64), so that no byte of
// a checkpoint can change without the change being detected.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [HashSize]byte
	Signed []byte // the whole signed note text
}

// maxCheckpointSize bounds a signed checkpoint; a canonical one is under 400 bytes for the longest origin.
const maxCheckpointSize = 4096

// maxOriginLen bounds an origin (bytes).
const maxOriginLen = 255

// CheckpointBody returns the exact text that a checkpoint of (origin, size, root) signs.
func CheckpointBody(origin string, size uint64, root [HashSize]byte) string {
	return origin + "\n" + strconv.FormatUint(size, 10) + "\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
}

// SignCheckpoint signs the checkpoint of (origin, size, root).
func SignCheckpoint(s note.Signer, origin string, size uint64, root [HashSize]byte) (Checkpoint, error) {
	signed, err := note.Sign(&note.Note{Text: CheckpointBody(origin, size, root)}, s)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ledger: signing the checkpoint of size %d: %w", size, err)
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Signed: signed}, nil
}

// ParseCheckpoint parses a signed checkpoint and verifies its signature with verifierKey (the note verifier key
// "<origin>+<hash>+<base64 key>", as returned by ledger.Log.VerifierKey). It accepts only the canonical form the board
// writes (see Checkpoint) and the checkpoint's origin must be the key's name.
func ParseCheckpoint(signed []byte, verifierKey string) (Checkpoint, error) {
	v, err := NewVerifier(verifierKey)
	if err != nil {
		return Checkpoint{}, err
	}
	return OpenCheckpoint(signed, v)
}

// OpenCheckpoint is ParseCheckpoint with a verifier already made by NewVerifier, for a caller that checks many
// checkpoints of one board.
func OpenCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	bad := func(format string, args ...any) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("ledger: checkpoint: %w: %s", ErrBadCheckpoint, fmt.Sprintf(format, args...))
	}
	if len(signed) > maxCheckpointSize {
		return bad("%d bytes, more than the %d a checkpoint may have", len(signed), maxCheckpointSize)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var invalid *note.InvalidSignatureError
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("ledger: checkpoint: %w: the signature by %s does not verify: the checkpoint was altered or forged", ErrBadSignature, v.Name())
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("ledger: checkpoint: %w: not signed by the expected key %s+%08x: check that you have the right verifier key", ErrBadSignature, v.Name(), v.KeyHash())
		}
		return bad("not a signed note: %v", err)
	}
	if len(n.Sigs) != 1 || len(n.UnverifiedSigs) != 0 {
		return bad("it must carry exactly one signature, the board's")
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return bad("the body must be exactly three lines: origin, size, root hash")
	}
	origin := lines[0]
	if origin != v.Name() {
		return bad("origin %q is not the signing key's name %q", origin, v.Name())
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return bad("size %q is not a canonical decimal number", lines[1])
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(raw) != HashSize || base64.StdEncoding.EncodeToString(raw) != lines[2] {
		return bad("root %q is not the canonical base64 of a 32-byte hash", lines[2])
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(n.Sigs[0].Base64)
	if err != nil || base64.StdEncoding.EncodeToString(sig) != n.Sigs[0].Base64 {
		return bad("the signature is not canonical base64")
	}
	want := n.Text + "\n" + "— " + origin + " " + n.Sigs[0].Base64 + "\n"
	if !bytes.Equal(signed, []byte(want)) {
		return bad("it is not in the canonical form (body, blank line, one signature line)")
	}
	cp := Checkpoint{Origin: origin, Size: size, Signed: bytes.Clone(signed)}
	copy(cp.Root[:], raw)
	return cp, nil
}

// Body returns the signed text of the checkpoint (three lines).
func (c Checkpoint) Body() string { return CheckpointBody(c.Origin, c.Size, c.Root) }

// String returns a one-line description for logs and messages.
func (c Checkpoint) String() string {
	return fmt.Sprintf("%s size %d root %s", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
)

// A checkpoint is a c2sp.org/tlog-checkpoint whose log signature verified.
type checkpoint struct {
	tlog.Checkpoint                  // Origin, Size, Root; Signed is the note as received
	text            string           // the note text (body), which a cosignature signs
	logSigs         []note.Signature // the log's verified signatures
}

// noteOrigin returns the first line of a signed note, the origin if it is a checkpoint, before anything is
// verified: it only picks the log whose key must then verify the note.
func noteOrigin(signed []byte) string {
	line, _, _ := bytes.Cut(signed, []byte("\n"))
	return string(line)
}

// openCheckpoint verifies signed with the log's verifier (other signatures, such as other witnesses'
// cosignatures, are ignored, as signed-note requires) and parses its body as c2sp.org/tlog-checkpoint: origin,
// size in canonical decimal, root as the canonical base64 of 32 bytes, then optional non-empty extension lines.
func openCheckpoint(signed []byte, v note.Verifier) (checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var invalid *note.InvalidSignatureError
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &invalid):
			return checkpoint{}, fmt.Errorf("witness: %w: the signature by %s+%08x does not verify", ErrBadSignature, v.Name(), v.KeyHash())
		case errors.As(err, &unverified):
			return checkpoint{}, fmt.Errorf("witness: %w: the checkpoint carries no signature by the log's key %s+%08x", ErrBadSignature, v.Name(), v.KeyHash())
		}
		return checkpoint{}, fmt.Errorf("witness: %w: the checkpoint is not a signed note: %v", ErrMalformed, err)
	}
	bad := func(format string, args ...any) (checkpoint, error) {
		return checkpoint{}, fmt.Errorf("witness: %w: checkpoint: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	lines := strings.Split(n.Text, "\n") // n.Text ends in "\n", so the last element is ""
	if len(lines) < 4 {
		return bad("fewer than three lines (origin, size, root hash)")
	}
	for _, ext := range lines[3 : len(lines)-1] {
		if ext == "" {
			return bad("an empty extension line")
		}
	}
	if lines[0] != v.Name() {
		return bad("origin %q is not the log key's name %q", lines[0], v.Name())
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return bad("size %q is not a canonical decimal number", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return bad("root %q is not the canonical base64 of a %d-byte hash", lines[2], tlog.HashSize)
	}
	cp := checkpoint{text: n.Text, logSigs: n.Sigs}
	cp.Origin, cp.Size, cp.Signed = lines[0], size, signed
	copy(cp.Root[:], root)
	return cp, nil
}

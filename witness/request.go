package witness

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/recount-vote/recount/ledger/tlog"
)

// An AddCheckpoint is the body of a tlog-witness add-checkpoint request (c2sp.org/tlog-witness): the size of the
// latest checkpoint the client believes the witness cosigned, a consistency proof from that size to the new
// checkpoint's, and the new signed checkpoint.
//
// Its wire form is, every line ending in "\n":
//
//	old <OldSize, decimal, no leading zeros>
//	<Proof[0], standard base64 of 32 bytes>
//	...
//	<empty line>
//	<Checkpoint: a signed note, as the log signed it>
type AddCheckpoint struct {
	OldSize    uint64
	Proof      [][]byte
	Checkpoint []byte
}

// MaxProofHashes is the most consistency proof lines a request may carry (the protocol's bound: a proof between
// trees of at most 2^63 leaves has at most 63 hashes).
const MaxProofHashes = 63

// MaxRequestSize bounds an add-checkpoint body: the old size line, 63 proof lines of 45 bytes, and a checkpoint of
// at most MaxCheckpointSize bytes.
const MaxRequestSize = 32 + MaxProofHashes*45 + 1 + MaxCheckpointSize

// MaxCheckpointSize bounds a submitted signed checkpoint. A Recount board's checkpoint is under 400 bytes; the
// bound leaves room for the cosignatures of other witnesses that a client may forward (an Ed25519 cosignature
// line is about 130 bytes, an ML-DSA-44 one about 3,300).
const MaxCheckpointSize = 64 << 10

// Marshal returns the request's wire form.
func (r AddCheckpoint) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("old ")
	b.WriteString(strconv.FormatUint(r.OldSize, 10))
	b.WriteByte('\n')
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ParseAddCheckpoint parses an add-checkpoint request body. It checks the form only: the old size line in
// canonical decimal, at most MaxProofHashes proof lines each the canonical base64 of a 32-byte hash, the empty line,
// and a non-empty checkpoint of at most MaxCheckpointSize bytes; the checkpoint itself is checked by the Witness.
// An error wraps ErrMalformed.
func ParseAddCheckpoint(body []byte) (AddCheckpoint, error) {
	bad := func(format string, args ...any) (AddCheckpoint, error) {
		return AddCheckpoint{}, fmt.Errorf("witness: %w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if len(body) > MaxRequestSize {
		return bad("the body is %d bytes, more than the %d allowed", len(body), MaxRequestSize)
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return bad("no old size line")
	}
	num, ok := bytes.CutPrefix(line, []byte("old "))
	if !ok {
		return bad("the first line must be \"old <size>\"")
	}
	old, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil || strconv.FormatUint(old, 10) != string(num) {
		return bad("old size %q is not a canonical decimal number", num)
	}
	r := AddCheckpoint{OldSize: old}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return bad("no empty line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(r.Proof) == MaxProofHashes {
			return bad("more than %d consistency proof lines", MaxProofHashes)
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != string(line) {
			return bad("proof line %d is not the canonical base64 of a %d-byte hash", len(r.Proof)+1, tlog.HashSize)
		}
		r.Proof = append(r.Proof, h)
	}
	if len(rest) == 0 {
		return bad("no checkpoint after the empty line")
	}
	if len(rest) > MaxCheckpointSize {
		return bad("the checkpoint is %d bytes, more than the %d allowed", len(rest), MaxCheckpointSize)
	}
	r.Checkpoint = bytes.Clone(rest)
	return r, nil
}

package tlog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// An export is the whole board in one byte stream. All integers are unsigned big-endian; every length is
// explicit; nothing may follow the end marker.
//
//	header:
//	  magic        8 bytes  "RCNTBRD\n" (52 43 4e 54 42 52 44 0a)
//	  version      uint16   1
//	  origin len   uint16   1..255
//	  origin       bytes    the board's origin (UTF-8)
//	  key len      uint16   1..1024
//	  verifier key bytes    the note verifier key "<origin>+<8 hex>+<base64>" (canonical form)
//	  count        uint64   N, the number of entries, equal to the final checkpoint's size
//	N entries, in index order 0..N-1:
//	  kind         uint32
//	  payload len  uint32   0..16777216 (MaxPayloadSize)
//	  payload      bytes
//	trailer:
//	  checkpoint len uint16 1..4096
//	  checkpoint   bytes    the signed checkpoint note of size N (canonical form, see Checkpoint)
//	  end marker   8 bytes  "RCNTEND\n" (52 43 4e 54 45 4e 44 0a)
//	  end of stream
//
// Verifying an export: read the header; check the verifier key (against one known out of band, or show its
// fingerprint); check that its name is the origin; hash each entry as an RFC 9162 leaf
// (SHA-256(0x00 || uint32be(kind) || payload)) and build the tree; then check the checkpoint's signature with the
// verifier key, its origin, that its size is N and its root the tree's root, the end marker, and the end of the
// stream. Any changed, missing or added byte makes one of these checks fail.
const (
	exportMagic       = "RCNTBRD\n"
	exportEnd         = "RCNTEND\n"
	exportVersion     = 1
	maxVerifierKeyLen = 1024
)

// AppendExportHeader appends to b the header of an export of the board origin, signed by the verifier key vkey,
// holding count entries. origin and vkey must be at most 65535 bytes (NewExportReader accepts at most 255 and 1024).
func AppendExportHeader(b []byte, origin, vkey string, count uint64) []byte {
	b = append(b, exportMagic...)
	b = binary.BigEndian.AppendUint16(b, exportVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(origin)))
	b = append(b, origin...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(vkey)))
	b = append(b, vkey...)
	return binary.BigEndian.AppendUint64(b, count)
}

// AppendExportEntry appends to b the frame of one entry. payload must be at most MaxPayloadSize bytes.
func AppendExportEntry(b []byte, kind Kind, payload []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(kind))
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// ReadExportEntryAt reads the entry frame (as AppendExportEntry writes it) at offset off of r, as the entry at
// index: to read an entry again from an export, or any file of such frames, once its offset is known. A payload
// length above MaxPayloadSize is an error, so that a changed file cannot make it allocate more.
func ReadExportEntryAt(r io.ReaderAt, off int64, index uint64) (Entry, error) {
	var head [8]byte
	if _, err := r.ReadAt(head[:], off); err != nil {
		return Entry{}, fmt.Errorf("ledger: reading entry %d again at byte %d: %w", index, off, err)
	}
	n := binary.BigEndian.Uint32(head[4:])
	if n > MaxPayloadSize {
		return Entry{}, fmt.Errorf("ledger: entry %d read again at byte %d has a payload of %d bytes, more than the %d allowed: the file changed", index, off, n, MaxPayloadSize)
	}
	payload := make([]byte, n)
	if _, err := r.ReadAt(payload, off+8); err != nil {
		return Entry{}, fmt.Errorf("ledger: reading entry %d again at byte %d: %w", index, off, err)
	}
	return Entry{Index: index, Kind: Kind(binary.BigEndian.Uint32(head[:4])), Payload: payload}, nil
}

// AppendExportTrailer appends to b the trailer of an export: the signed checkpoint (at most 4096 bytes) and the
// end marker.
func AppendExportTrailer(b []byte, signed []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(signed)))
	b = append(b, signed...)
	return append(b, exportEnd...)
}

// An ExportReader reads an export as a stream: NewExportReader reads the header, Next (or Entries) returns the
// entries one by one while the reader builds their Merkle tree, and Finish reads the checkpoint and checks that
// it is signed by the header's verifier key and that it signs exactly the entries read.
//
// Entries are not verified until Finish returns without error: a caller must not act on them before (or must
// undo what it did if Finish fails). The header's verifier key is only what the export claims: compare it to
// the key you expect (VerifyExport does), or show its KeyFingerprint to the user.
type ExportReader struct {
	r        *bufio.Reader
	off      int64 // bytes consumed so far, for error messages
	origin   string
	vkey     string
	verifier note.Verifier
	size     uint64
	next     uint64
	rng      *compact.Range
	visit    compact.VisitFn // called with every tree node (see VisitNodes)
	leaf     []byte          // leaf data of the last entry returned by Next
	err      error           // sticky
	cp       Checkpoint
	finished bool
}

// NewExportReader reads and checks the header of an export.
func NewExportReader(r io.Reader) (*ExportReader, error) {
	x := &ExportReader{r: bufio.NewReaderSize(r, 64<<10), rng: rangeFactory.NewEmptyRange(0)}
	magic, err := x.read(len(exportMagic), "the magic number")
	if err != nil {
		return nil, err
	}
	if string(magic) != exportMagic {
		return nil, x.bad(0, "it does not start with %q: this is not a Recount board export", exportMagic)
	}
	ver, err := x.u16("the version")
	if err != nil {
		return nil, err
	}
	if ver != exportVersion {
		return nil, x.bad(len(exportMagic), "format version %d, this program reads version %d", ver, exportVersion)
	}
	n, err := x.u16("the origin length")
	if err != nil {
		return nil, err
	}
	if n == 0 || n > maxOriginLen {
		return nil, x.bad(2, "origin length %d is out of range 1..%d", n, maxOriginLen)
	}
	b, err := x.read(int(n), "the origin")
	if err != nil {
		return nil, err
	}
	x.origin = string(b)
	if err := CheckOrigin(x.origin); err != nil {
		return nil, x.bad(int(n), "bad origin: %v", err)
	}
	if n, err = x.u16("the verifier key length"); err != nil {
		return nil, err
	}
	if n == 0 || n > maxVerifierKeyLen {
		return nil, x.bad(2, "verifier key length %d is out of range 1..%d", n, maxVerifierKeyLen)
	}
	if b, err = x.read(int(n), "the verifier key"); err != nil {
		return nil, err
	}
	x.vkey = string(b)
	if x.verifier, err = NewVerifier(x.vkey); err != nil {
		return nil, x.bad(int(n), "%v", err)
	}
	if x.verifier.Name() != x.origin {
		return nil, x.bad(int(n), "the verifier key is named %q, not the origin %q", x.verifier.Name(), x.origin)
	}
	if x.size, err = x.u64("the entry count"); err != nil {
		return nil, err
	}
	return x, nil
}

// VisitNodes makes the reader call visit with every node of the tree (its ID and hash) as Next computes it, so
// that a store can keep the tree without hashing the entries again (ledger.Import does). Call it before the first
// Next. The hash passed to visit must not be modified.
func (x *ExportReader) VisitNodes(visit compact.VisitFn) { x.visit = visit }

// LeafData returns the leaf data (LeafData(kind, payload)) of the entry that Next last returned, or nil before
// the first. The entry's Payload is its last bytes: the two share memory.
func (x *ExportReader) LeafData() []byte { return x.leaf }

// Offset returns how many bytes of the stream the reader has consumed: before a call to Next, where the next
// entry's frame (kind, length, payload) starts, counted from where the export starts.
func (x *ExportReader) Offset() int64 { return x.off }

// Origin returns the origin named in the header.
func (x *ExportReader) Origin() string { return x.origin }

// VerifierKey returns the verifier key named in the header (not yet trusted; see ExportReader).
func (x *ExportReader) VerifierKey() string { return x.vkey }

// Size returns the number of entries the header announces.
func (x *ExportReader) Size() uint64 { return x.size }

// bad returns an ErrBadExport error about the field that ended back bytes ago.
func (x *ExportReader) bad(back int, format string, args ...any) error {
	x.err = fmt.Errorf("ledger: export: %w: at byte %d: %s", ErrBadExport, x.off-int64(back), fmt.Sprintf(format, args...))
	return x.err
}

// read reads exactly n bytes.
func (x *ExportReader) read(n int, what string) ([]byte, error) {
	if x.err != nil {
		return nil, x.err
	}
	b, err := readN(x.r, n)
	if err != nil {
		return nil, x.readErr(err, what)
	}
	x.off += int64(n)
	return b, nil
}

// readInto fills b.
func (x *ExportReader) readInto(b []byte, what string) ([]byte, error) {
	if x.err != nil {
		return nil, x.err
	}
	if _, err := io.ReadFull(x.r, b); err != nil {
		return nil, x.readErr(err, what)
	}
	x.off += int64(len(b))
	return b, nil
}

func (x *ExportReader) readErr(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		x.err = fmt.Errorf("ledger: export: %w: at byte %d: the stream ends inside %s: the export is truncated", ErrBadExport, x.off, what)
	} else {
		x.err = fmt.Errorf("ledger: export: reading %s at byte %d: %w", what, x.off, err)
	}
	return x.err
}

func (x *ExportReader) u16(what string) (uint16, error) {
	b, err := x.read(2, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(b), nil
}

func (x *ExportReader) u32(what string) (uint32, error) {
	b, err := x.read(4, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

func (x *ExportReader) u64(what string) (uint64, error) {
	b, err := x.read(8, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b), nil
}

// Next returns the next entry, or io.EOF after the last one (then call Finish). The entry is not verified
// until Finish succeeds.
func (x *ExportReader) Next() (Entry, error) {
	if x.err != nil {
		return Entry{}, x.err
	}
	if x.next == x.size || x.finished {
		return Entry{}, io.EOF
	}
	kind, err := x.u32("an entry's kind")
	if err != nil {
		return Entry{}, err
	}
	n, err := x.u32("an entry's length")
	if err != nil {
		return Entry{}, err
	}
	if n > MaxPayloadSize {
		return Entry{}, x.bad(4, "entry %d has a payload length of %d, more than the %d allowed", x.next, n, MaxPayloadSize)
	}
	if n <= 64<<10 {
		// Read the payload straight into its leaf data: one allocation, no copy.
		x.leaf = make([]byte, 4+n)
		binary.BigEndian.PutUint32(x.leaf, kind)
		if _, err := x.readInto(x.leaf[4:], "entry "+strconv.FormatUint(x.next, 10)); err != nil {
			return Entry{}, err
		}
	} else {
		payload, err := x.read(int(n), "entry "+strconv.FormatUint(x.next, 10))
		if err != nil {
			return Entry{}, err
		}
		x.leaf = LeafData(Kind(kind), payload)
	}
	payload := x.leaf[4:len(x.leaf):len(x.leaf)]
	lh := LeafDataHash(x.leaf)
	if err := x.rng.Append(lh[:], x.visit); err != nil {
		x.err = fmt.Errorf("ledger: export: building the tree: %w", err)
		return Entry{}, x.err
	}
	e := Entry{Index: x.next, Kind: Kind(kind), Payload: payload}
	x.next++
	return e, nil
}

// Entries iterates over the remaining entries; it yields one error and stops if the stream is malformed. The
// entries are not verified until Finish succeeds.
func (x *ExportReader) Entries() iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for {
			e, err := x.Next()
			if err == io.EOF {
				return
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// Finish reads any entries not yet read, then the checkpoint and the end marker, and verifies the export: the
// checkpoint is signed by the header's verifier key, is of the header's origin, its size is the number of
// entries, its root is the root of their tree, and nothing follows the end marker. It returns the verified
// checkpoint.
func (x *ExportReader) Finish() (Checkpoint, error) {
	if x.finished {
		return x.cp, x.err
	}
	for {
		_, err := x.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Checkpoint{}, err
		}
	}
	x.finished = true
	n, err := x.u16("the checkpoint length")
	if err != nil {
		return Checkpoint{}, err
	}
	if n == 0 || n > maxCheckpointSize {
		return Checkpoint{}, x.bad(2, "checkpoint length %d is out of range 1..%d", n, maxCheckpointSize)
	}
	signed, err := x.read(int(n), "the checkpoint")
	if err != nil {
		return Checkpoint{}, err
	}
	cp, err := OpenCheckpoint(signed, x.verifier)
	if err != nil {
		x.err = fmt.Errorf("ledger: export: at byte %d: %w: %w", x.off-int64(n), ErrBadExport, err)
		return Checkpoint{}, x.err
	}
	if cp.Size != x.size {
		return Checkpoint{}, x.bad(int(n), "the checkpoint has size %d but the export holds %d entries", cp.Size, x.size)
	}
	if RangeRoot(x.rng) != cp.Root {
		return Checkpoint{}, x.bad(int(n), "the entries do not hash to the root that the checkpoint signs: the export was altered")
	}
	end, err := x.read(len(exportEnd), "the end marker")
	if err != nil {
		return Checkpoint{}, err
	}
	if string(end) != exportEnd {
		return Checkpoint{}, x.bad(len(exportEnd), "the end marker %q is missing", exportEnd)
	}
	switch _, err := x.r.ReadByte(); {
	case err == nil:
		return Checkpoint{}, x.bad(0, "there are bytes after the end marker")
	case err != io.EOF:
		x.err = fmt.Errorf("ledger: export: reading after the end marker: %w", err)
		return Checkpoint{}, x.err
	}
	x.cp = cp
	return cp, nil
}

// VerifyExport reads a whole export and verifies it (see ExportReader.Finish). If verifierKey is not empty, the
// export must be signed by exactly that key; if it is empty, the key named in the export's header is trusted,
// and the caller should show its KeyFingerprint to the user. It returns the verified checkpoint.
func VerifyExport(r io.Reader, verifierKey string) (Checkpoint, error) {
	x, err := NewExportReader(r)
	if err != nil {
		return Checkpoint{}, err
	}
	if verifierKey != "" && x.VerifierKey() != verifierKey {
		return Checkpoint{}, fmt.Errorf("ledger: export: %w: it is signed by key %s, not the expected %s", ErrBadSignature, x.VerifierKey(), verifierKey)
	}
	return x.Finish()
}

// readN is io.ReadFull for a length given by untrusted input: it allocates as data arrives, not up front.
func readN(r io.Reader, n int) ([]byte, error) {
	const chunk = 64 << 10
	if n <= chunk {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	var buf bytes.Buffer
	buf.Grow(chunk)
	m, err := io.CopyN(&buf, r, int64(n))
	if err != nil {
		if m < int64(n) && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf.Bytes(), nil
}

package ledger

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// exportBufferSize is Export's write buffer: a reader that does not read holds it (with one read chunk).
const exportBufferSize = 64 << 10

// Export writes the whole board, up to the latest checkpoint when it starts, to w in the export format. Entries
// appended meanwhile are not included. Export reads the database in short transactions, so it does not hold up
// appends.
func (l *Log) Export(ctx context.Context, w io.Writer) error {
	cp := l.Latest()
	bw := bufio.NewWriterSize(w, exportBufferSize)
	werr := func(err error) error { return fmt.Errorf("ledger: export: writing: %w", err) }
	if _, err := bw.Write(tlog.AppendExportHeader(nil, l.origin, l.vkey, cp.Size)); err != nil {
		return werr(err)
	}
	var frame []byte
	for i := uint64(0); i < cp.Size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk, err := l.readEntries(i, cp.Size)
		if err != nil {
			return fmt.Errorf("ledger: export: %w", err)
		}
		for _, e := range chunk {
			frame = tlog.AppendExportEntry(frame[:0], e.Kind, e.Payload)
			if _, err := bw.Write(frame); err != nil {
				return werr(err)
			}
		}
		i += uint64(len(chunk))
	}
	if _, err := bw.Write(tlog.AppendExportTrailer(nil, cp.Signed)); err != nil {
		return werr(err)
	}
	if err := bw.Flush(); err != nil {
		return werr(err)
	}
	return nil
}

// importBatch bounds one write transaction of Import.
const (
	importBatchEntries = 16384
	importBatchBytes   = 16 << 20
)

// Import verifies an export while writing it into a new board in dir, and opens that board read-only: it has no
// signing key and Append returns ErrReadOnly. The new board holds the entries, the whole tree, and the export's
// checkpoint (the only one an export carries). dir must not already hold a board (ErrExists). If
// opts.VerifierKey is set the export must be signed by that key, and if opts.Origin is set it must be of that
// origin. If the export does not verify, nothing is left in dir.
func Import(dir string, r io.Reader, opts Options) (*Log, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dbPath := filepath.Join(dir, DBFileName)
	if _, err := os.Stat(dbPath); err == nil {
		return nil, fmt.Errorf("ledger: import into %s: %w: %s exists; import into an empty directory", dir, ErrExists, dbPath)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ledger: import into %s: %w", dir, err)
	}
	x, err := tlog.NewExportReader(r)
	if err != nil {
		return nil, err
	}
	if opts.Origin != "" && x.Origin() != opts.Origin {
		return nil, fmt.Errorf("ledger: import: %w: the export is of board %q, not %q", ErrMismatch, x.Origin(), opts.Origin)
	}
	if opts.VerifierKey != "" && x.VerifierKey() != opts.VerifierKey {
		return nil, fmt.Errorf("ledger: import: %w: the export is signed by key %s, not the expected %s", ErrBadSignature, x.VerifierKey(), opts.VerifierKey)
	}
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: import into %s: %w", dir, err)
	}
	tmp := dbPath + ".import"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ledger: import into %s: %w", dir, err)
	}
	cp, err := importInto(tmp, x)
	if err == nil {
		err = os.Rename(tmp, dbPath)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		if created {
			os.Remove(dir) // only if still empty
		}
		return nil, err
	}
	logger.Info("ledger: imported a board", "dir", dir, "origin", cp.Origin, "size", cp.Size, "verifier_key", x.VerifierKey(), "fingerprint", tlog.KeyFingerprint(x.VerifierKey()))
	return Open(dir, Options{Origin: cp.Origin, Logger: opts.Logger, ReadOnly: opts.ReadOnly, VerifierKey: x.VerifierKey()})
}

// importInto writes the export read by x into a new database at path, verifying it on the way.
func importInto(path string, x *tlog.ExportReader) (tlog.Checkpoint, error) {
	db, err := bolt.Open(path, 0o600, boltOptions(false))
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: import: creating %s: %w", path, err)
	}
	defer db.Close()
	werr := func(err error) error { return fmt.Errorf("ledger: import: writing %s: %w", path, err) }
	db.NoSync = true // the last commit syncs everything
	err = db.Update(func(tx *bolt.Tx) error {
		return initBoard(tx, boardMeta{origin: x.Origin(), vkey: x.VerifierKey(), mode: modeImported})
	})
	if err != nil {
		return tlog.Checkpoint{}, werr(err)
	}
	type node struct {
		id   compact.NodeID
		hash []byte
	}
	var leaves [][]byte
	var nodes []node
	var next uint64 // the index of the entry after the last one read
	x.VisitNodes(func(id compact.NodeID, hash []byte) { nodes = append(nodes, node{id, hash}) })
	flush := func() error {
		return db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketEntries)
			b.FillPercent = 1
			first := next - uint64(len(leaves))
			for i, ld := range leaves {
				if err := b.Put(u64key(first+uint64(i)), ld); err != nil {
					return err
				}
			}
			nw := newNodeWriter(tx)
			for _, n := range nodes {
				nw.visit(n.id, n.hash)
			}
			return nw.err
		})
	}
	size := 0
	for {
		e, err := x.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return tlog.Checkpoint{}, err
		}
		next = e.Index + 1
		leaf := x.LeafData()
		leaves = append(leaves, leaf)
		size += len(leaf)
		if len(leaves) >= importBatchEntries || size >= importBatchBytes {
			if err := flush(); err != nil {
				return tlog.Checkpoint{}, werr(err)
			}
			leaves, nodes, size = leaves[:0], nodes[:0], 0
		}
	}
	if err := flush(); err != nil {
		return tlog.Checkpoint{}, werr(err)
	}
	cp, err := x.Finish()
	if err != nil {
		return tlog.Checkpoint{}, err
	}
	db.NoSync = false
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketCheckpoints).Put(u64key(cp.Size), cp.Signed); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySize, u64key(cp.Size))
	})
	if err != nil {
		return tlog.Checkpoint{}, werr(err)
	}
	if err := db.Close(); err != nil {
		return tlog.Checkpoint{}, werr(err)
	}
	return cp, nil
}

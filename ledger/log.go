package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
)

// Options configure Open and Import.
type Options struct {
	// Origin names the board: it is the first line of every checkpoint and the name of the signing key, for
	// example "recount.example/board". Required to create a board; if set when opening an existing board, it
	// must match the board's origin.
	Origin string
	// Logger receives the board's log messages (open, create, import). Nil means no logging.
	Logger *slog.Logger
	// ReadOnly opens an existing board for reading only, without its signing key: Append returns ErrReadOnly.
	// The database is opened with a shared lock, so several read-only readers may share it, but not with a
	// writer.
	ReadOnly bool
	// VerifierKey, if set, is the note verifier key that the board must have (Open) or that the export must be
	// signed with (Import).
	VerifierKey string
	// DeferIntegrityCheck makes Open skip the full integrity check (see CheckIntegrity), which reads the whole
	// board, so that a server can answer health checks while it runs: the caller must call CheckIntegrity before
	// serving entries or proofs, and a writable board refuses appends until it has passed. Open still runs its
	// cheap checks (files, latest checkpoint, stored tree root, rollback) before returning.
	DeferIntegrityCheck bool
	// Replica opens (or creates) a signing board whose entries are appended by a replication layer (package
	// ledger/replica), not by Append: Append and AppendMany refuse (ErrReadOnly), and AppendReplicated adds
	// entries under a checkpoint that the cluster's leader signed (SignExtension) once they were committed.
	// A board that has replicated refuses to open without Replica (it would sign alone a history the cluster
	// signs), and a board that signed entries alone refuses to open with it (it cannot join a cluster's history).
	Replica bool
	// SigningKey, if set, is the note private key text ("PRIVATE+KEY+<origin>+...") that Open uses to create a
	// new board instead of generating one, and that an existing board's board.key must hold. The nodes of a
	// cluster share the board's one key: the first node generates it, the others are created with it.
	SigningKey string
}

// An AppendResult tells where an appended entry landed and which checkpoint first covers it.
type AppendResult struct {
	Index uint64
	// Checkpoint is the signed checkpoint of the commit that made the entry durable (Checkpoint.Size > Index).
	Checkpoint tlog.Checkpoint
}

// A Log is an open board. Its methods are safe for concurrent use.
type Log struct {
	dir        string
	path       string      // dir/board.db
	signedPath string      // dir/board.checkpoint
	signed     *signedFile // board.checkpoint open for the committer; nil when read-only
	origin     string
	vkey       string
	verifier   note.Verifier
	signer     note.Signer // nil when read-only
	readOnly   bool
	imported   bool       // built by Import: a copy of another board
	mirror     bool       // opened by OpenMirror: AppendSigned adds the other board's entries
	mirrorMu   sync.Mutex // serializes AppendSigned, AppendReplicated and SignExtension
	replica    bool       // opened with Options.Replica
	db         *bolt.DB
	logger     *slog.Logger

	mu      sync.Mutex // guards size, latest, changed
	size    uint64
	latest  tlog.Checkpoint
	changed chan struct{} // closed and replaced at every commit

	rng *compact.Range // the tree's compact range; owned by the committer goroutine

	closeMu   sync.RWMutex // held for reading while enqueueing; for writing by Close
	closing   bool
	closedCh  chan struct{} // closed when Close starts
	closeOnce sync.Once
	closeErr  error
	isClosed  atomic.Bool
	reqs      chan *appendReq
	done      chan struct{} // closed when the committer exits
	failed    atomic.Pointer[error]

	beforeCommit func() // test hook: called by the committer before each commit
}

// appendReq is one Append or AppendMany call waiting for the committer.
type appendReq struct {
	leaves [][]byte              // leaf data (kind || payload), owned by the request
	hashes [][tlog.HashSize]byte // leaf hashes, computed by the caller's goroutine
	first  uint64                // set by the committer
	cp     tlog.Checkpoint       // set by the committer
	done   chan error            // receives the outcome once
}

const (
	queueLen        = 1024     // pending requests before Append blocks
	maxBatchEntries = 8192     // the committer stops gathering requests past this many entries...
	maxBatchBytes   = 32 << 20 // ...or this many bytes (a single larger AppendMany still commits alone)
	readChunkBytes  = 64 << 10 // streaming reads copy about this much per read transaction (a slow reader holds it)
	readChunkCount  = 4096
)

// Open opens the board in dir, creating it on first start: dir/board.db (the database) and dir/board.key (the
// signing key, mode 0600). Open refuses, with an error naming the file, a database that is truncated or
// damaged, a bbolt file that is not a board, a board with another origin, and a key file that others can read or
// that belongs to another board. Before returning it checks that the stored tree matches the latest signed
// checkpoint and, unless Options.DeferIntegrityCheck is set, that every entry and tree node hashes to it
// (CheckIntegrity; Verify checks everything).
//
// A board whose board.key exists but whose board.db does not is refused: a key must never sign two different
// histories. Restore board.db from a backup, or, for a board that never served, delete board.key.
func Open(dir string, opts Options) (*Log, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Origin != "" {
		if err := tlog.CheckOrigin(opts.Origin); err != nil {
			return nil, err
		}
	}
	if opts.VerifierKey != "" {
		if _, err := tlog.NewVerifier(opts.VerifierKey); err != nil {
			return nil, fmt.Errorf("ledger: Options.VerifierKey: %w", err)
		}
	}
	dbPath := filepath.Join(dir, DBFileName)
	keyPath := filepath.Join(dir, KeyFileName)
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		if opts.ReadOnly {
			return nil, fmt.Errorf("ledger: open %s: %w: there is no board in %s", dbPath, ErrNotFound, dir)
		}
		if err := create(dir, dbPath, keyPath, opts, logger); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", dbPath, err)
	}
	return openExisting(dir, dbPath, keyPath, opts, logger)
}

// create makes a new signing board in dir.
func create(dir, dbPath, keyPath string, opts Options, logger *slog.Logger) error {
	if opts.Origin == "" {
		return fmt.Errorf("ledger: create %s: %w: Options.Origin is required to create a board", dbPath, ErrInvalid)
	}
	if opts.VerifierKey != "" {
		return fmt.Errorf("ledger: create %s: %w: there is no board in %s, but Options.VerifierKey expects an existing one", dbPath, ErrNotFound, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ledger: create %s: %w", dbPath, err)
	}
	if _, err := os.Lstat(keyPath); err == nil {
		return fmt.Errorf("ledger: create %s: %w: %s exists but %s does not: the board's database is missing; restore it from a backup (a key must never sign two histories), or, if this board never served, delete %s", dbPath, ErrNotFound, keyPath, dbPath, keyPath)
	}
	if signedPath := filepath.Join(dir, CheckpointFileName); fileExists(signedPath) {
		return fmt.Errorf("ledger: create %s: %w: %s exists but %s does not: this directory held a board, whose database is missing; restore it (and %s) from a backup, or use another directory for a new board", dbPath, ErrNotFound, signedPath, dbPath, KeyFileName)
	}
	skey, signer, vkey, err := generateKey(opts.Origin)
	if opts.SigningKey != "" {
		skey = opts.SigningKey
		signer, vkey, err = parseSignerKey(skey)
		if err == nil && signer.Name() != opts.Origin {
			err = fmt.Errorf("%w: the key is named %q, not the origin %q", ErrBadKey, signer.Name(), opts.Origin)
		}
		if err != nil {
			err = fmt.Errorf("ledger: create %s: Options.SigningKey: %w", dbPath, err)
		}
	}
	if err != nil {
		return err
	}
	err = createBoard(dbPath, opts.Origin, vkey, signer, opts.Replica, func() error {
		return writeFileAtomic(keyPath, []byte(skey+"\n"), 0o600)
	})
	if err != nil {
		return err
	}
	logger.Info("ledger: created a new board", "dir", dir, "origin", opts.Origin, "verifier_key", vkey, "fingerprint", tlog.KeyFingerprint(vkey))
	return nil
}

// fileExists reports whether path names something (a file, a link, anything).
func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func openExisting(dir, dbPath, keyPath string, opts Options, logger *slog.Logger) (*Log, error) {
	db, err := openBolt(dbPath, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	l, err := newLog(dir, dbPath, keyPath, db, opts, logger)
	if err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

func newLog(dir, dbPath, keyPath string, db *bolt.DB, opts Options, logger *slog.Logger) (*Log, error) {
	var m boardMeta
	err := guard(dbPath, func() error {
		return db.View(func(tx *bolt.Tx) error {
			var err error
			m, err = readBoardMeta(tx, dbPath)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if opts.Origin != "" && opts.Origin != m.origin {
		return nil, fmt.Errorf("ledger: open %s: %w: the board's origin is %q, not %q: check the directory or the configured origin", dbPath, ErrMismatch, m.origin, opts.Origin)
	}
	v, err := tlog.NewVerifier(m.vkey)
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w: the stored verifier key is invalid: %v", dbPath, ErrCorrupt, err)
	}
	if v.Name() != m.origin {
		return nil, fmt.Errorf("ledger: open %s: %w: the stored verifier key is named %q, not the origin %q", dbPath, ErrCorrupt, v.Name(), m.origin)
	}
	if opts.VerifierKey != "" && opts.VerifierKey != m.vkey {
		return nil, fmt.Errorf("ledger: open %s: %w: the board's verifier key is %s, not the expected %s", dbPath, ErrMismatch, m.vkey, opts.VerifierKey)
	}
	readOnly := opts.ReadOnly || m.mode == modeImported
	var signer note.Signer
	if !readOnly {
		s, vkey, err := readKeyFile(keyPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ledger: open %s: %w: the signing key %s is missing: restore it from a backup, or open the board with Options.ReadOnly to read it", dbPath, ErrBadKey, keyPath)
		}
		if err != nil {
			return nil, err
		}
		if vkey != m.vkey {
			return nil, fmt.Errorf("ledger: open %s: %w: %s holds key %s, but the board was signed by %s: this key belongs to another board", dbPath, ErrMismatch, keyPath, vkey, m.vkey)
		}
		if opts.SigningKey != "" {
			if _, want, err := parseSignerKey(opts.SigningKey); err != nil || want != vkey {
				return nil, fmt.Errorf("ledger: open %s: %w: Options.SigningKey is not the board's key %s", dbPath, ErrMismatch, vkey)
			}
		}
		signer = s
		switch {
		case m.replicated && !opts.Replica:
			return nil, fmt.Errorf("ledger: open %s: %w: the board is replicated by a cluster (its entries are signed by the cluster's leader once a majority holds them): open it as a cluster member, or read-only", dbPath, ErrMismatch)
		case opts.Replica && !m.replicated && m.size > 0:
			return nil, fmt.Errorf("ledger: open %s: %w: the board signed %d entries alone, outside any cluster: it cannot become a replica of a cluster's board; start the member with an empty data directory", dbPath, ErrMismatch, m.size)
		}
	}
	var rng *compact.Range
	var latest tlog.Checkpoint
	err = guard(dbPath, func() error {
		return db.View(func(tx *bolt.Tx) error {
			var err error
			rng, latest, err = loadState(tx, m, v, dbPath)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	l := &Log{
		dir:        dir,
		path:       dbPath,
		signedPath: filepath.Join(dir, CheckpointFileName),
		origin:     m.origin,
		vkey:       m.vkey,
		verifier:   v,
		signer:     signer,
		readOnly:   readOnly,
		imported:   m.mode == modeImported,
		replica:    opts.Replica && !readOnly,
		db:         db,
		logger:     logger,
		size:       m.size,
		latest:     latest,
		changed:    make(chan struct{}),
		rng:        rng,
		closedCh:   make(chan struct{}),
		done:       make(chan struct{}),
	}
	// The rollback check first: a board behind its recorded checkpoint is best reported as rolled back, even when
	// the older state it fell back to is also damaged.
	if m.mode == modeSigning {
		if err := l.checkNotRolledBack(); err != nil {
			return nil, err
		}
	}
	if opts.DeferIntegrityCheck {
		l.failed.Store(&errUnchecked)
	} else {
		start := time.Now()
		if err := l.CheckIntegrity(context.Background(), nil); err != nil {
			return nil, err
		}
		logger.Info("ledger: checked the board's integrity", "dir", dir, "size", m.size, "took", time.Since(start).Round(time.Millisecond))
	}
	if readOnly || l.replica {
		close(l.done)
	} else {
		l.reqs = make(chan *appendReq, queueLen)
		go l.committer()
	}
	logger.Info("ledger: opened board", "dir", dir, "origin", m.origin, "size", m.size, "mode", m.mode, "read_only", readOnly)
	return l, nil
}

// Close stops accepting appends, waits until the appends already queued are committed (or failed), and closes
// the database. Later calls return the first call's result. Calls on a closed Log return ErrClosed.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.closeMu.Lock()
		l.closing = true
		close(l.closedCh)
		if l.reqs != nil {
			close(l.reqs)
		}
		l.closeMu.Unlock()
		<-l.done
		l.isClosed.Store(true)
		l.closeErr = l.db.Close()
		if l.signed != nil {
			if err := l.signed.f.Close(); l.closeErr == nil {
				l.closeErr = err
			}
		}
	})
	return l.closeErr
}

// Origin returns the board's origin.
func (l *Log) Origin() string { return l.origin }

// VerifierKey returns the note verifier key of the board's signing key, "<origin>+<hash>+<base64 key>".
func (l *Log) VerifierKey() string { return l.vkey }

// ReadOnly reports whether the board cannot append (opened with Options.ReadOnly, or built by Import).
func (l *Log) ReadOnly() bool { return l.readOnly }

// Dir returns the board's directory.
func (l *Log) Dir() string { return l.dir }

// Size returns the number of entries committed so far.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Latest returns the latest signed checkpoint (of size Size()).
func (l *Log) Latest() tlog.Checkpoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest
}

// Append appends one entry and returns once it is durable: its transaction, which also holds the tree nodes and
// the signed checkpoint of its commit, has been committed and fsynced. Concurrent appends are committed together
// (group commit), each getting the next index.
//
// If ctx is done before the entry is queued, Append returns ctx.Err() and nothing is written. If ctx ends after
// the entry was queued, Append returns an error wrapping both ErrMaybeAppended and ctx.Err(): the entry may or
// may not have been written, and the caller must look for it before appending it again.
func (l *Log) Append(ctx context.Context, kind tlog.Kind, payload []byte) (AppendResult, error) {
	res, err := l.AppendMany(ctx, []Record{{Kind: kind, Payload: payload}})
	if err != nil {
		return AppendResult{}, err
	}
	return res[0], nil
}

// AppendMany appends the records atomically: they all get consecutive indexes in one commit, or none is written.
// It returns one result per record, in order. Durability and contexts are as for Append. Appending no records
// does nothing and returns no results.
func (l *Log) AppendMany(ctx context.Context, recs []Record) ([]AppendResult, error) {
	if l.readOnly {
		return nil, fmt.Errorf("ledger: append to %s: %w: the board was opened read-only or imported", l.path, ErrReadOnly)
	}
	if l.replica {
		return nil, fmt.Errorf("ledger: append to %s: %w: the board is a cluster's replica: append through the cluster", l.path, ErrReadOnly)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	req := &appendReq{
		leaves: make([][]byte, len(recs)),
		hashes: make([][tlog.HashSize]byte, len(recs)),
		done:   make(chan error, 1),
	}
	for i, r := range recs {
		if len(r.Payload) > tlog.MaxPayloadSize {
			return nil, fmt.Errorf("ledger: append: %w: record %d has a payload of %d bytes, at most %d are allowed", ErrTooLarge, i, len(r.Payload), tlog.MaxPayloadSize)
		}
		req.leaves[i] = tlog.LeafData(r.Kind, r.Payload)
		req.hashes[i] = tlog.LeafDataHash(req.leaves[i])
	}

	l.closeMu.RLock()
	if l.closing {
		l.closeMu.RUnlock()
		return nil, fmt.Errorf("ledger: append to %s: %w", l.path, ErrClosed)
	}
	if f := l.failed.Load(); f != nil {
		l.closeMu.RUnlock()
		return nil, *f
	}
	select {
	case l.reqs <- req:
	case <-ctx.Done():
		l.closeMu.RUnlock()
		return nil, ctx.Err()
	}
	l.closeMu.RUnlock()

	select {
	case err := <-req.done:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("ledger: append to %s: %w: %w", l.path, ErrMaybeAppended, ctx.Err())
	}
	out := make([]AppendResult, len(recs))
	for i := range out {
		out[i] = AppendResult{Index: req.first + uint64(i), Checkpoint: req.cp}
	}
	return out, nil
}

// committer is the single goroutine that writes to the database. It takes every request waiting in the queue
// (up to maxBatchEntries entries or maxBatchBytes bytes) and commits them in one transaction.
func (l *Log) committer() {
	defer close(l.done)
	debug.SetPanicOnFault(true) // a damaged page must fail the commit, not crash the process
	var batch []*appendReq
	for {
		req, ok := <-l.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], req)
		n, b := len(req.leaves), reqBytes(req)
	gather:
		for n < maxBatchEntries && b < maxBatchBytes {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
				n += len(r.leaves)
				b += reqBytes(r)
			default:
				break gather
			}
		}
		l.commit(batch)
		clear(batch)
	}
}

func reqBytes(r *appendReq) int {
	n := 0
	for _, ld := range r.leaves {
		n += len(ld)
	}
	return n
}

// commit writes a batch of requests in one transaction and tells each request the outcome.
func (l *Log) commit(batch []*appendReq) {
	reply := func(err error) {
		for _, r := range batch {
			r.done <- err
		}
	}
	if l.beforeCommit != nil {
		l.beforeCommit()
	}
	if f := l.failed.Load(); f != nil {
		reply(*f)
		return
	}
	// Sign only a checkpoint that extends the last one signed: the range to extend must be the tree of that
	// checkpoint. (Open refused a board.db behind board.checkpoint; this guards the committer's own state.)
	last := l.Latest()
	if l.rng.End() != last.Size || tlog.RangeRoot(l.rng) != last.Root {
		err := fmt.Errorf("ledger: append to %s: %w: refusing to sign: the tree to extend (size %d) is not that of the last checkpoint signed (%s); appends are refused until the board is reopened", l.path, ErrCorrupt, l.rng.End(), last)
		l.failed.Store(&err)
		l.logger.Error("ledger: refusing to sign a checkpoint that does not extend the last one", "dir", l.dir, "err", err)
		reply(err)
		return
	}
	start := l.rng.End()
	rng := cloneRange(l.rng)
	var cp tlog.Checkpoint
	err := l.update(func(tx *bolt.Tx) error {
		entries := tx.Bucket(bucketEntries)
		entries.FillPercent = 1 // keys are appended in increasing order
		nw := newNodeWriter(tx)
		idx := start
		for _, r := range batch {
			r.first = idx
			for i, ld := range r.leaves {
				if err := entries.Put(u64key(idx), ld); err != nil {
					return err
				}
				if err := rng.Append(r.hashes[i][:], nw.visit); err != nil {
					return err
				}
				if nw.err != nil {
					return nw.err
				}
				idx++
			}
		}
		var err error
		cp, err = tlog.SignCheckpoint(l.signer, l.origin, idx, tlog.RangeRoot(rng))
		if err != nil {
			return err
		}
		cps := tx.Bucket(bucketCheckpoints)
		cps.FillPercent = 1
		if err := cps.Put(u64key(idx), cp.Signed); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySize, u64key(idx))
	})
	if err != nil {
		// After a failed write or fsync the kernel's page cache may no longer match the disk, so no later
		// commit is trusted: appends are refused until the board is closed and reopened (which checks it).
		err = fmt.Errorf("ledger: append to %s: the commit failed, nothing was written, and appends are refused until the board is reopened: %w", l.path, err)
		l.failed.Store(&err)
		l.logger.Error("ledger: commit failed; appends are refused until the board is reopened", "dir", l.dir, "err", err)
		reply(err)
		return
	}
	// The checkpoint is handed out (to these appends, Latest, CheckpointAt) only once it is recorded outside
	// board.db too, so that a board.db that later goes back in time is refused rather than signing again.
	if err := l.signed.write(cp); err != nil {
		err = fmt.Errorf("ledger: append to %s: %w: the entries were committed, but their checkpoint could not be recorded in %s (%v); appends are refused until the board is reopened, which keeps them", l.path, ErrMaybeAppended, l.signedPath, err)
		l.failed.Store(&err)
		l.logger.Error("ledger: recording the checkpoint failed; appends are refused until the board is reopened", "dir", l.dir, "err", err)
		reply(err)
		return
	}
	for _, r := range batch {
		r.cp = cp
	}
	l.rng = rng
	l.mu.Lock()
	l.size = cp.Size
	l.latest = cp
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	reply(nil)
}

// update runs a write transaction, turning a panic or fault inside bbolt into an ErrCorrupt error.
func (l *Log) update(fn func(tx *bolt.Tx) error) error {
	return guard(l.path, func() error { return l.db.Update(fn) })
}

// view runs a read transaction, turning a panic or fault inside bbolt into an ErrCorrupt error and bbolt's
// "not open" into ErrClosed.
func (l *Log) view(fn func(tx *bolt.Tx) error) error {
	if l.isClosed.Load() {
		return fmt.Errorf("ledger: %s: %w", l.path, ErrClosed)
	}
	return mapClosed(guard(l.path, func() error { return l.db.View(fn) }))
}

// decodeEntry turns a stored (key, leaf data) pair into an Entry, copying the payload.
func (l *Log) decodeEntry(want uint64, k, v []byte) (tlog.Entry, error) {
	if len(k) != 8 || binary.BigEndian.Uint64(k) != want {
		return tlog.Entry{}, fmt.Errorf("ledger: %s: %w: entry %d is missing: run Verify, restore from a backup or rebuild from an export", l.path, ErrCorrupt, want)
	}
	if len(v) < 4 {
		return tlog.Entry{}, fmt.Errorf("ledger: %s: %w: entry %d is too short", l.path, ErrCorrupt, want)
	}
	return tlog.Entry{Index: want, Kind: tlog.Kind(binary.BigEndian.Uint32(v)), Payload: bytes.Clone(v[4:])}, nil
}

// Entry returns entry i.
func (l *Log) Entry(i uint64) (tlog.Entry, error) {
	if n := l.Size(); i >= n {
		return tlog.Entry{}, fmt.Errorf("ledger: entry %d: %w: the board has %d entries", i, ErrNotFound, n)
	}
	var e tlog.Entry
	err := l.view(func(tx *bolt.Tx) error {
		k := u64key(i)
		var err error
		e, err = l.decodeEntry(i, k, tx.Bucket(bucketEntries).Get(k))
		return err
	})
	return e, err
}

// readEntries reads entries [from, end) from one read transaction, stopping after about readChunkBytes.
func (l *Log) readEntries(from, end uint64) ([]tlog.Entry, error) {
	var out []tlog.Entry
	err := l.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEntries).Cursor()
		total := 0
		k, v := c.Seek(u64key(from))
		for i := from; i < end && len(out) < readChunkCount && total < readChunkBytes; i++ {
			e, err := l.decodeEntry(i, k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
			total += len(v)
			k, v = c.Next()
		}
		return nil
	})
	return out, err
}

// Entries streams the entries from index from up to the board's size when the iteration starts. Each read
// transaction is short, so a slow consumer does not hold the database. It yields one error and stops if from
// is beyond the size, if ctx ends, or if a read fails. To follow the board, call WaitSize and then Entries
// again from the next index.
func (l *Log) Entries(ctx context.Context, from uint64) iter.Seq2[tlog.Entry, error] {
	return func(yield func(tlog.Entry, error) bool) {
		end := l.Size()
		if from > end {
			yield(tlog.Entry{}, fmt.Errorf("ledger: entries from %d: %w: the board has %d entries", from, ErrNotFound, end))
			return
		}
		for i := from; i < end; {
			if err := ctx.Err(); err != nil {
				yield(tlog.Entry{}, err)
				return
			}
			chunk, err := l.readEntries(i, end)
			if err != nil {
				yield(tlog.Entry{}, err)
				return
			}
			for _, e := range chunk {
				if !yield(e, nil) {
					return
				}
			}
			i += uint64(len(chunk))
		}
	}
}

// WaitSize blocks until the board has at least size entries (any size: one the board will never reach waits
// until ctx ends), ctx ends (it returns ctx.Err()), or the Log is closed (ErrClosed). It checks ctx and Close
// first, even when the board already has size entries, so that a caller looping on WaitSize ends when its
// context does.
func (l *Log) WaitSize(ctx context.Context, size uint64) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-l.closedCh:
			return fmt.Errorf("ledger: waiting for size %d: %w", size, ErrClosed)
		default:
		}
		l.mu.Lock()
		n, ch := l.size, l.changed
		l.mu.Unlock()
		if n >= size {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.closedCh:
			return fmt.Errorf("ledger: waiting for size %d: %w", size, ErrClosed)
		}
	}
}

// CheckpointAt returns the kept checkpoint of exactly the given size. Every commit signs one checkpoint, so
// sizes inside a group commit have none (ErrNotFound); use Latest and a consistency proof instead.
func (l *Log) CheckpointAt(size uint64) (tlog.Checkpoint, error) {
	if n := l.Size(); size > n {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: checkpoint of size %d: %w: the board has %d entries", size, ErrNotFound, n)
	}
	var cp tlog.Checkpoint
	err := l.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCheckpoints).Get(u64key(size))
		if v == nil {
			return fmt.Errorf("ledger: checkpoint of size %d: %w: no commit ended at that size", size, ErrNotFound)
		}
		var err error
		if cp, err = tlog.OpenCheckpoint(v, l.verifier); err != nil {
			return fmt.Errorf("ledger: %s: %w: the stored checkpoint of size %d does not verify: %v", l.path, ErrCorrupt, size, err)
		}
		if cp.Size != size {
			return fmt.Errorf("ledger: %s: %w: the checkpoint stored for size %d has size %d", l.path, ErrCorrupt, size, cp.Size)
		}
		return nil
	})
	return cp, err
}

// NextCheckpoint returns the kept checkpoint of the smallest size above after: the checkpoint of the commit
// that holds entry after (every entry is in one commit, and every commit keeps its checkpoint). It returns
// ErrNotFound when the board has no more than after entries.
func (l *Log) NextCheckpoint(after uint64) (tlog.Checkpoint, error) {
	if n := l.Size(); after >= n {
		return tlog.Checkpoint{}, fmt.Errorf("ledger: checkpoint after size %d: %w: the board has %d entries", after, ErrNotFound, n)
	}
	var cp tlog.Checkpoint
	err := l.view(func(tx *bolt.Tx) error {
		k, v := tx.Bucket(bucketCheckpoints).Cursor().Seek(u64key(after + 1))
		if k == nil || len(k) != 8 {
			return fmt.Errorf("ledger: %s: %w: no checkpoint kept after size %d, below the board's size", l.path, ErrCorrupt, after)
		}
		size := binary.BigEndian.Uint64(k)
		var err error
		if cp, err = tlog.OpenCheckpoint(v, l.verifier); err != nil || cp.Size != size {
			return fmt.Errorf("ledger: %s: %w: the stored checkpoint of size %d does not verify", l.path, ErrCorrupt, size)
		}
		return nil
	})
	return cp, err
}

// Checkpoints streams the kept checkpoints of sizes from from to the latest, in increasing size.
func (l *Log) Checkpoints(ctx context.Context, from uint64) iter.Seq2[tlog.Checkpoint, error] {
	return func(yield func(tlog.Checkpoint, error) bool) {
		end := l.Size()
		next := from
		for {
			if err := ctx.Err(); err != nil {
				yield(tlog.Checkpoint{}, err)
				return
			}
			var chunk []tlog.Checkpoint
			err := l.view(func(tx *bolt.Tx) error {
				c := tx.Bucket(bucketCheckpoints).Cursor()
				for k, v := c.Seek(u64key(next)); k != nil && len(chunk) < readChunkCount; k, v = c.Next() {
					if len(k) != 8 || binary.BigEndian.Uint64(k) > end {
						break
					}
					cp, err := tlog.OpenCheckpoint(v, l.verifier)
					if err != nil || cp.Size != binary.BigEndian.Uint64(k) {
						return fmt.Errorf("ledger: %s: %w: the stored checkpoint of size %d does not verify", l.path, ErrCorrupt, binary.BigEndian.Uint64(k))
					}
					chunk = append(chunk, cp)
				}
				return nil
			})
			if err != nil {
				yield(tlog.Checkpoint{}, err)
				return
			}
			for _, cp := range chunk {
				if !yield(cp, nil) {
					return
				}
			}
			if len(chunk) < readChunkCount {
				return
			}
			next = chunk[len(chunk)-1].Size + 1
		}
	}
}

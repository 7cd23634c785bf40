package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/mod/sumdb/note"
)

// The board's database, dir/board.db, is a bbolt file with four top-level buckets:
//
//	meta         "magic"        = "recount-board"
//	             "version"      = uint32be(1)
//	             "origin"       = the origin
//	             "verifier-key" = the note verifier key of the board's signing key
//	             "mode"         = "signing" (a board that appends) or "imported" (built by Import; read-only)
//	             "size"         = uint64be(number of entries)
//	             "replica"      = the replication layer's state at this size (only on a replica's board; see
//	                              Log.AppendReplicated), written in the transaction that adds the entries
//	entries      uint64be(index) -> leaf data (uint32be(kind) || payload)
//	nodes        one sub-bucket per tree level, named by the level as one byte (0 = leaves):
//	             uint64be(index in level) -> 32-byte hash of that perfect subtree
//	checkpoints  uint64be(size) -> signed checkpoint note of that size (one per commit)
//
// Only perfect subtrees are stored in nodes (node (level, index) covers leaves [index<<level, (index+1)<<level)),
// so every proof is a handful of reads. One bbolt transaction commits the entries of a group commit, their
// nodes, the checkpoint and the new size, so the file always holds a consistent state.

// DBFileName is the board's database file inside the board directory.
const DBFileName = "board.db"

const (
	formatMagic   = "recount-board"
	formatVersion = 1
	modeSigning   = "signing"
	modeImported  = "imported"
)

var (
	bucketMeta        = []byte("meta")
	bucketEntries     = []byte("entries")
	bucketNodes       = []byte("nodes")
	bucketCheckpoints = []byte("checkpoints")

	keyMagic       = []byte("magic")
	keyVersion     = []byte("version")
	keyOrigin      = []byte("origin")
	keyVerifierKey = []byte("verifier-key")
	keyMode        = []byte("mode")
	keySize        = []byte("size")
	keyReplica     = []byte("replica")
)

// boardMeta is the content of the meta bucket.
type boardMeta struct {
	origin string
	vkey   string
	mode   string
	size   uint64
	// replicated: the board holds a replication state (it was appended to by AppendReplicated).
	replicated bool
}

// lockTimeout is how long Open waits for another process to release board.db (a variable for tests).
var lockTimeout = 2 * time.Second

func boltOptions(readOnly bool) *bolt.Options {
	return &bolt.Options{Timeout: lockTimeout, ReadOnly: readOnly, FreelistType: bolt.FreelistMapType}
}

// openBolt checks the file's bbolt header, then opens it. The header check catches truncated and foreign files
// before bbolt maps them (reading a page past the end of a mapped file would crash the process).
func openBolt(path string, readOnly bool) (db *bolt.DB, err error) {
	if err := checkBoltFile(path); err != nil {
		return nil, err
	}
	// If bbolt panics while opening (on a damaged freelist page, say), it cannot close its file: capture the file
	// to unlock and close it ourselves. (The memory mapping bbolt made is lost until the process exits.)
	var file *os.File
	opts := boltOptions(readOnly)
	opts.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	err = guard(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	if err != nil && db == nil && file != nil && errors.Is(err, ErrCorrupt) {
		unlockFile(file)
		file.Close()
	}
	if err != nil {
		switch {
		case errors.Is(err, ErrCorrupt):
			return nil, err
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("ledger: open %s: the file is locked by another process (is another node using this board?): %w", path, err)
		}
		return nil, fmt.Errorf("ledger: open %s: %w: %v: restore it from a backup, or rebuild the board from an export with Import", path, ErrCorrupt, err)
	}
	return db, nil
}

// guard runs fn, turning a panic or a memory fault (bbolt reading a damaged page) into an ErrCorrupt error
// naming path.
func guard(path string, fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			err = fmt.Errorf("ledger: %s: %w: reading the database failed (%v): run Verify, restore the file from a backup, or rebuild the board from an export with Import", path, ErrCorrupt, r)
		}
	}()
	return fn()
}

// bbolt's on-disk header (internal/common: page and meta), in the machine's byte order.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltMetaOffset   = 16 // page header: id u64, flags u16, count u16, overflow u32
	boltMetaSize     = 56 // magic, version, pageSize, flags u32; root, sequence, freelist, pgid, txid u64; then the checksum
	boltNoFreelist   = ^uint64(0)
	boltBranchPage   = 0x01
	boltLeafPage     = 0x02
	boltFreelistPage = 0x10
	boltMinPageSize  = 1024
	boltMaxPageShift = 14
)

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseBoltMeta decodes and validates a bbolt meta page header (the first 80 bytes of a meta page).
func parseBoltMeta(b []byte) (boltMeta, bool) {
	if len(b) < boltMetaOffset+boltMetaSize+8 {
		return boltMeta{}, false
	}
	ne := binary.NativeEndian
	m := b[boltMetaOffset:]
	if ne.Uint32(m[0:]) != boltMagic || ne.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSize])
	if h.Sum64() != ne.Uint64(m[boltMetaSize:]) {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		pgid:     ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, true
}

// checkBoltFile checks that path is a whole bbolt file: a valid meta page, and a file long enough for every page
// that meta page refers to.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("ledger: open %s: %w", path, err)
	}
	size := st.Size()
	corrupt := func(what string) error {
		return fmt.Errorf("ledger: open %s: %w: %s: restore it from a backup, or rebuild the board from an export with Import", path, ErrCorrupt, what)
	}
	readMeta := func(off int64) (boltMeta, bool) {
		buf := make([]byte, boltMetaOffset+boltMetaSize+8)
		if _, err := f.ReadAt(buf, off); err != nil {
			return boltMeta{}, false
		}
		return parseBoltMeta(buf)
	}
	m0, ok0 := readMeta(0)
	var m1 boltMeta
	var ok1 bool
	if ok0 {
		m1, ok1 = readMeta(int64(m0.pageSize))
	} else {
		for i := 0; i <= boltMaxPageShift && !ok1; i++ {
			m1, ok1 = readMeta(int64(boltMinPageSize) << i)
		}
	}
	if !ok0 && !ok1 {
		if size == 0 {
			return corrupt("the file is empty")
		}
		return corrupt("it is not a bbolt database, or both of its headers are damaged")
	}
	// bbolt uses the valid meta page with the higher transaction id.
	m := m0
	if !ok0 || (ok1 && m1.txid > m0.txid) {
		m = m1
	}
	ps := uint64(m.pageSize)
	if ps < boltMinPageSize || ps > boltMinPageSize<<boltMaxPageShift || ps&(ps-1) != 0 {
		return corrupt(fmt.Sprintf("its header has an impossible page size %d", ps))
	}
	if m.pgid < 2 || m.root >= m.pgid || (m.freelist != boltNoFreelist && m.freelist >= m.pgid) {
		return corrupt("its header points outside the file")
	}
	if m.pgid > uint64(size)/ps {
		return corrupt(fmt.Sprintf("the file is truncated: %d bytes, but its header says %d pages of %d bytes", size, m.pgid, ps))
	}
	// The pages the header points to must say they are what it says.
	checkPage := func(id uint64, what string, flags ...uint16) error {
		var h [boltMetaOffset]byte
		if _, err := f.ReadAt(h[:], int64(id*ps)); err != nil {
			return corrupt(fmt.Sprintf("cannot read its %s page: %v", what, err))
		}
		ne := binary.NativeEndian
		if ne.Uint64(h[0:]) != id {
			return corrupt(fmt.Sprintf("its %s page %d is damaged", what, id))
		}
		got := ne.Uint16(h[8:])
		for _, f := range flags {
			if got == f {
				if id+uint64(ne.Uint32(h[12:])) >= m.pgid {
					return corrupt(fmt.Sprintf("its %s page %d runs past the end of the data", what, id))
				}
				return nil
			}
		}
		return corrupt(fmt.Sprintf("its %s page %d is damaged (type %#x)", what, id, got))
	}
	if err := checkPage(m.root, "root", boltBranchPage, boltLeafPage); err != nil {
		return err
	}
	if m.freelist != boltNoFreelist {
		if err := checkPage(m.freelist, "freelist", boltFreelistPage); err != nil {
			return err
		}
	}
	return nil
}

// readBoardMeta reads and checks the meta bucket.
func readBoardMeta(tx *bolt.Tx, path string) (boardMeta, error) {
	notBoard := func(what string) (boardMeta, error) {
		return boardMeta{}, fmt.Errorf("ledger: open %s: %w: %s: check the path (a board directory holds %s and %s)", path, ErrNotBoard, what, DBFileName, KeyFileName)
	}
	corrupt := func(what string) (boardMeta, error) {
		return boardMeta{}, fmt.Errorf("ledger: open %s: %w: %s: restore it from a backup, or rebuild the board from an export with Import", path, ErrCorrupt, what)
	}
	mb := tx.Bucket(bucketMeta)
	if mb == nil {
		return notBoard("it is a bbolt database without a meta bucket, from another program")
	}
	if string(mb.Get(keyMagic)) != formatMagic {
		return notBoard("its meta bucket does not carry the board's format magic, it belongs to another program")
	}
	v := mb.Get(keyVersion)
	if len(v) != 4 {
		return corrupt("the format version is missing")
	}
	if ver := binary.BigEndian.Uint32(v); ver != formatVersion {
		return boardMeta{}, fmt.Errorf("ledger: open %s: %w: format version %d, this program reads version %d: use a matching version of Recount", path, ErrNotBoard, ver, formatVersion)
	}
	m := boardMeta{
		origin: string(mb.Get(keyOrigin)),
		vkey:   string(mb.Get(keyVerifierKey)),
		mode:   string(mb.Get(keyMode)),
	}
	sz := mb.Get(keySize)
	if len(sz) != 8 {
		return corrupt("the size record is missing")
	}
	m.size = binary.BigEndian.Uint64(sz)
	m.replicated = mb.Get(keyReplica) != nil
	if m.mode != modeSigning && m.mode != modeImported {
		return corrupt(fmt.Sprintf("unknown mode %q", m.mode))
	}
	if err := tlog.CheckOrigin(m.origin); err != nil {
		return corrupt(fmt.Sprintf("bad origin: %v", err))
	}
	if tx.Bucket(bucketEntries) == nil || tx.Bucket(bucketNodes) == nil || tx.Bucket(bucketCheckpoints) == nil {
		return corrupt("a bucket is missing")
	}
	return m, nil
}

// initBoard creates the buckets and the meta records in a new database.
func initBoard(tx *bolt.Tx, m boardMeta) error {
	for _, name := range [][]byte{bucketMeta, bucketEntries, bucketNodes, bucketCheckpoints} {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	mb := tx.Bucket(bucketMeta)
	ver := make([]byte, 4)
	binary.BigEndian.PutUint32(ver, formatVersion)
	for _, kv := range [][2][]byte{
		{keyMagic, []byte(formatMagic)},
		{keyVersion, ver},
		{keyOrigin, []byte(m.origin)},
		{keyVerifierKey, []byte(m.vkey)},
		{keyMode, []byte(m.mode)},
		{keySize, u64key(m.size)},
	} {
		if err := mb.Put(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// createBoard creates the database for a new signing board holding the checkpoint of the empty tree. It builds
// the file under a temporary name (path + ".new"), runs beforeRename (which writes the key file), then renames
// the file into place and syncs the directory: a crash leaves either no board.db or a whole one.
//
// A replica's board (replica) is created with an empty replication state (ReplicaStateNew), which marks it as a
// cluster's from the start.
func createBoard(path string, origin, vkey string, signer note.Signer, replica bool, beforeRename func() error) error {
	tmp := path + ".new"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ledger: creating %s: %w", path, err)
	}
	db, err := bolt.Open(tmp, 0o600, boltOptions(false))
	if err != nil {
		return fmt.Errorf("ledger: creating %s: %w", path, err)
	}
	cp, err := tlog.SignCheckpoint(signer, origin, 0, tlog.EmptyRoot())
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			if err := initBoard(tx, boardMeta{origin: origin, vkey: vkey, mode: modeSigning}); err != nil {
				return err
			}
			if replica {
				if err := tx.Bucket(bucketMeta).Put(keyReplica, ReplicaStateNew); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketCheckpoints).Put(u64key(0), cp.Signed)
		})
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil && beforeRename != nil {
		err = beforeRename()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("ledger: creating %s: %w", path, err)
	}
	return nil
}

// nodeReader reads stored tree nodes within one transaction.
type nodeReader struct {
	nodes  *bolt.Bucket
	levels [64]*bolt.Bucket
}

func newNodeReader(tx *bolt.Tx) *nodeReader { return &nodeReader{nodes: tx.Bucket(bucketNodes)} }

// get returns a copy of the hash of node id, or nil if it is not stored.
func (r *nodeReader) get(id compact.NodeID) []byte {
	if id.Level >= 64 {
		return nil
	}
	b := r.levels[id.Level]
	if b == nil {
		if b = r.nodes.Bucket([]byte{byte(id.Level)}); b == nil {
			return nil
		}
		r.levels[id.Level] = b
	}
	v := b.Get(u64key(id.Index))
	if len(v) != tlog.HashSize {
		return nil
	}
	return bytes.Clone(v)
}

// getAll returns the hashes of the nodes ids, or an ErrCorrupt error naming the first missing node.
func (r *nodeReader) getAll(ids []compact.NodeID, path string) ([][]byte, error) {
	hs := make([][]byte, len(ids))
	for i, id := range ids {
		if hs[i] = r.get(id); hs[i] == nil {
			return nil, fmt.Errorf("ledger: %s: %w: tree node (level %d, index %d) is missing: run Verify, restore from a backup or rebuild from an export", path, ErrCorrupt, id.Level, id.Index)
		}
	}
	return hs, nil
}

// nodeWriter stores tree nodes within one write transaction.
type nodeWriter struct {
	nodes  *bolt.Bucket
	levels [64]*bolt.Bucket
	err    error
}

func newNodeWriter(tx *bolt.Tx) *nodeWriter { return &nodeWriter{nodes: tx.Bucket(bucketNodes)} }

// visit is a compact.VisitFn: it stores the node. hash must not be modified until the transaction ends.
func (w *nodeWriter) visit(id compact.NodeID, hash []byte) {
	if w.err != nil {
		return
	}
	if id.Level >= 64 {
		w.err = fmt.Errorf("ledger: tree level %d out of range", id.Level)
		return
	}
	b := w.levels[id.Level]
	if b == nil {
		b, w.err = w.nodes.CreateBucketIfNotExists([]byte{byte(id.Level)})
		if w.err != nil {
			return
		}
		b.FillPercent = 1 // keys are appended in increasing order
		w.levels[id.Level] = b
	}
	w.err = b.Put(u64key(id.Index), hash)
}

// loadState checks that the stored tree matches the latest signed checkpoint and returns both. It reads the
// compact range of the tree (O(log n) nodes), the latest checkpoint, and the last entry.
func loadState(tx *bolt.Tx, m boardMeta, v note.Verifier, path string) (*compact.Range, tlog.Checkpoint, error) {
	corrupt := func(format string, args ...any) (*compact.Range, tlog.Checkpoint, error) {
		return nil, tlog.Checkpoint{}, fmt.Errorf("ledger: open %s: %w: %s: restore it from a backup, or rebuild the board from an export with Import", path, ErrCorrupt, fmt.Sprintf(format, args...))
	}
	k, sv := tx.Bucket(bucketCheckpoints).Cursor().Last()
	if k == nil {
		return corrupt("there is no signed checkpoint")
	}
	if len(k) != 8 || binary.BigEndian.Uint64(k) != m.size {
		return corrupt("the latest checkpoint is not for the recorded size %d", m.size)
	}
	cp, err := tlog.OpenCheckpoint(sv, v)
	if err != nil {
		return corrupt("the latest checkpoint does not verify: %v", err)
	}
	if cp.Size != m.size {
		return corrupt("the latest checkpoint has size %d, the board records %d", cp.Size, m.size)
	}
	ek, ev := tx.Bucket(bucketEntries).Cursor().Last()
	switch {
	case m.size == 0 && ek != nil:
		return corrupt("the board is empty but holds entries")
	case m.size > 0 && (len(ek) != 8 || binary.BigEndian.Uint64(ek) != m.size-1):
		return corrupt("the last entry is not entry %d", m.size-1)
	}
	nr := newNodeReader(tx)
	hashes, err := nr.getAll(compact.RangeNodes(0, m.size, nil), path)
	if err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	rng, err := rangeFactory.NewRange(0, m.size, hashes)
	if err != nil {
		return corrupt("the tree: %v", err)
	}
	if root := tlog.RangeRoot(rng); root != cp.Root {
		return corrupt("the stored tree's root does not match the latest signed checkpoint")
	}
	if m.size > 0 {
		if len(ev) < 4 {
			return corrupt("entry %d is too short", m.size-1)
		}
		lh := tlog.LeafDataHash(ev)
		if stored := nr.get(compact.NewNodeID(0, m.size-1)); !bytes.Equal(stored, lh[:]) {
			return corrupt("entry %d does not match its leaf hash", m.size-1)
		}
	}
	return rng, cp, nil
}

// mapClosed maps bbolt's "not open" error to ErrClosed.
func mapClosed(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("ledger: %w", ErrClosed)
	}
	return err
}

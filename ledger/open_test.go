package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

func wantOpenErr(t *testing.T, dir string, opts Options, target error, mention string) {
	t.Helper()
	l, err := Open(dir, opts)
	if err == nil {
		l.Close()
		t.Fatalf("Open succeeded; want %v", target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("Open: %v; want %v", err, target)
	}
	if mention != "" && !strings.Contains(err.Error(), mention) {
		t.Fatalf("Open: %q does not mention %q", err, mention)
	}
}

// smallBoard makes a closed board with a few entries and returns its directory.
func smallBoard(t *testing.T, n int) string {
	dir := t.TempDir()
	l, err := Open(dir, Options{Origin: testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOpenRefusesTruncatedFile(t *testing.T) {
	t.Parallel()
	dir := smallBoard(t, 200)
	path := filepath.Join(dir, DBFileName)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The pages in use end at the high-water mark of the newer meta page; bbolt grows the file beyond it.
	m0, _ := parseBoltMeta(orig)
	m1, _ := parseBoltMeta(orig[m0.pageSize:])
	m := max(m0.pgid, m1.pgid)
	used := int(m) * int(m0.pageSize)
	if used > len(orig) {
		t.Fatalf("high-water mark %d beyond the file's %d bytes", used, len(orig))
	}
	for _, n := range []int{0, 1, 100, 4096, 4096 + 100, 8192, used / 2, used - 4096, used - 1} {
		if err := os.WriteFile(path, orig[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		t.Run("size"+strconv.Itoa(n), func(t *testing.T) { wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrCorrupt, path) })
	}
	// Cutting only the unused tail loses nothing.
	if err := os.WriteFile(path, orig[:used], 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir, Options{Origin: testOrigin})
	if err != nil {
		t.Fatalf("cutting the unused tail: %v", err)
	}
	defer l.Close()
	if err := l.Verify(context.Background()); err != nil || l.Size() != 200 {
		t.Fatalf("cutting the unused tail: size %d, %v", l.Size(), err)
	}
}

func TestOpenRefusesGarbage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, DBFileName)
	junk := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrCorrupt, path)
	if err := os.WriteFile(path, []byte("SQLite format 3\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrCorrupt, path)
}

func TestOpenRefusesForeignBolt(t *testing.T) {
	t.Parallel()
	for name, fill := range map[string]func(tx *bolt.Tx) error{
		"no meta bucket": func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("users"))
			if err != nil {
				return err
			}
			return b.Put([]byte("alice"), []byte("x"))
		},
		"other magic": func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return b.Put(keyMagic, []byte("some-other-app"))
		},
		"empty": func(tx *bolt.Tx) error { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, DBFileName)
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(fill); err != nil {
				t.Fatal(err)
			}
			db.Close()
			wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrNotBoard, path)
		})
	}
	t.Run("newer version", func(t *testing.T) {
		dir := smallBoard(t, 1)
		path := filepath.Join(dir, DBFileName)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyVersion, []byte{0, 0, 0, 2})
		})
		db.Close()
		wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrNotBoard, "version 2")
	})
}

func TestOpenOriginAndKeyChecks(t *testing.T) {
	t.Parallel()
	dir := smallBoard(t, 3)
	keyPath := filepath.Join(dir, KeyFileName)
	wantOpenErr(t, dir, Options{Origin: "other.example/board"}, ErrMismatch, "other.example/board")
	_, otherKey := fixedKey(t, testOrigin, 5)
	wantOpenErr(t, dir, Options{Origin: testOrigin, VerifierKey: otherKey}, ErrMismatch, "")

	// Key readable by others: refused with the fix in the message.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrBadKey, "chmod 600")
	os.Chmod(keyPath, 0o600)

	// The key of another board.
	other := smallBoard(t, 1)
	orig, _ := os.ReadFile(keyPath)
	foreign, _ := os.ReadFile(filepath.Join(other, KeyFileName))
	os.WriteFile(keyPath, foreign, 0o600)
	wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrMismatch, keyPath)

	// A damaged key file.
	os.WriteFile(keyPath, []byte("PRIVATE+KEY+garbage\n"), 0o600)
	wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrBadKey, keyPath)

	// A missing key file.
	os.Remove(keyPath)
	wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrBadKey, keyPath)
	os.WriteFile(keyPath, orig, 0o600)
	l, err := Open(dir, Options{Origin: testOrigin})
	if err != nil {
		t.Fatalf("with the key restored: %v", err)
	}
	l.Close()

	// A key without a database is not reused for a new board.
	os.Remove(filepath.Join(dir, DBFileName))
	wantOpenErr(t, dir, Options{Origin: testOrigin}, ErrNotFound, KeyFileName)
}

func TestOpenOriginRules(t *testing.T) {
	t.Parallel()
	wantOpenErr(t, t.TempDir(), Options{}, ErrInvalid, "Origin")
	for _, o := range []string{"has space", "a+b", "new\nline", strings.Repeat("x", 256), "\xff"} {
		wantOpenErr(t, t.TempDir(), Options{Origin: o}, ErrInvalid, "")
	}
}

func TestOpenLocked(t *testing.T) {
	old := lockTimeout
	lockTimeout = 50 * time.Millisecond
	defer func() { lockTimeout = old }()
	l, dir := newTestLog(t)
	wantOpenErr(t, dir, Options{Origin: testOrigin}, berrors.ErrTimeout, "locked")
	_ = l
}

// TestOpenChecksTreeAgainstCheckpoint changes stored data behind the board's back; Open (for the state it
// checks on every start) or Verify (for everything else) must notice.
func TestOpenChecksTreeAgainstCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	edit := func(t *testing.T, dir string, fn func(tx *bolt.Tx) error) {
		db, err := bolt.Open(filepath.Join(dir, DBFileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	t.Run("last entry", func(t *testing.T) {
		dir := smallBoard(t, 10)
		edit(t, dir, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketEntries).Put(u64key(9), []byte("\x00\x00\x00\x01evil"))
		})
		wantOpenErr(t, dir, Options{}, ErrCorrupt, "entry 9")
	})
	t.Run("size", func(t *testing.T) {
		dir := smallBoard(t, 10)
		edit(t, dir, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySize, u64key(9)) })
		wantOpenErr(t, dir, Options{}, ErrCorrupt, "")
	})
	t.Run("tree node", func(t *testing.T) {
		dir := smallBoard(t, 10)
		edit(t, dir, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketNodes).Bucket([]byte{3}).Put(u64key(0), make([]byte, 32))
		})
		wantOpenErr(t, dir, Options{}, ErrCorrupt, "root")
	})
	t.Run("latest checkpoint", func(t *testing.T) {
		dir := smallBoard(t, 10)
		edit(t, dir, func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketCheckpoints)
			return b.Put(u64key(10), b.Get(u64key(9)))
		})
		wantOpenErr(t, dir, Options{}, ErrCorrupt, "checkpoint")
	})
	t.Run("dropped last commit", func(t *testing.T) {
		dir := smallBoard(t, 10)
		edit(t, dir, func(tx *bolt.Tx) error {
			tx.Bucket(bucketCheckpoints).Delete(u64key(10))
			tx.Bucket(bucketEntries).Delete(u64key(9))
			return nil
		})
		wantOpenErr(t, dir, Options{}, ErrCorrupt, "")
	})
	// Changes deeper in the board pass Open's quick check of the latest state, but not its integrity check of
	// every entry and node (or, for an old checkpoint, which Open does not read, Verify).
	for name, fn := range map[string]func(tx *bolt.Tx) error{
		"middle entry": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketEntries).Put(u64key(4), []byte("\x00\x00\x00\x01evil"))
		},
		"leaf node": func(tx *bolt.Tx) error {
			return tx.Bucket(bucketNodes).Bucket([]byte{0}).Put(u64key(4), make([]byte, 32))
		},
		"old checkpoint": func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketCheckpoints)
			return b.Put(u64key(5), b.Get(u64key(6)))
		},
		"missing entry": func(tx *bolt.Tx) error { return tx.Bucket(bucketEntries).Delete(u64key(2)) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := smallBoard(t, 10)
			edit(t, dir, fn)
			l, err := Open(dir, Options{})
			if err != nil {
				wantErr(t, err, ErrCorrupt, "Open")
				return
			}
			defer l.Close()
			wantErr(t, l.Verify(ctx), ErrCorrupt, "Verify")
		})
	}
}

// TestOpenDamagedPages overwrites each page of a board's file in turn with random bytes. Open or Verify must
// fail, or else the board must read back exactly as before (the page was free). Nothing may crash.
func TestOpenDamagedPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := smallBoard(t, 60)
	path := filepath.Join(dir, DBFileName)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	want := exportBytes(t, ref)
	ref.Close()
	pageSize := int(binary.NativeEndian.Uint32(orig[boltMetaOffset+8:]))
	r := rand.New(rand.NewPCG(5, 6))
	detected, harmless := 0, 0
	for p := 0; p*pageSize < len(orig); p++ {
		b := bytes.Clone(orig)
		for i := p * pageSize; i < (p+1)*pageSize && i < len(b); i++ {
			b[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ro := p%2 == 0 // alternate read-only and read-write opens (which load bbolt's freelist)
		l, err := Open(dir, Options{ReadOnly: ro})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotBoard) && !errors.Is(err, ErrRolledBack) {
				t.Fatalf("page %d: Open: %v; want ErrCorrupt, ErrNotBoard or ErrRolledBack", p, err)
			}
			detected++
			continue
		}
		if err := l.Verify(ctx); err != nil {
			wantErr(t, err, ErrCorrupt, "Verify of page "+strconv.Itoa(p))
			detected++
			l.Close()
			continue
		}
		var got bytes.Buffer
		if err := l.Export(ctx, &got); err != nil || !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("page %d: damage was not detected but the board reads differently (%v)", p, err)
		}
		l.Close()
		harmless++
	}
	t.Logf("%d pages: %d damaged pages detected, %d harmless (free pages)", len(orig)/pageSize, detected, harmless)
	if detected == 0 {
		t.Fatal("no damage detected at all")
	}
}

// flipInFile flips one bit of the byte at offset off of every copy of needle in the file at path (bbolt may keep
// stale copies of a page in free pages; flipping those too changes nothing the board reads) and fails if there is
// none.
func flipInFile(t *testing.T, path string, needle []byte, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], needle)
		if j < 0 {
			break
		}
		b[i+j+off] ^= 0x10
		i += j + len(needle)
		n++
	}
	if n == 0 {
		t.Fatalf("%x not found in %s", needle, path)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// storedNode returns the stored hash of tree node (level, index).
func storedNode(t *testing.T, l *Log, level uint, index uint64) []byte {
	t.Helper()
	var h []byte
	err := l.view(func(tx *bolt.Tx) error {
		h = newNodeReader(tx).get(compact.NewNodeID(level, index))
		return nil
	})
	if err != nil || h == nil {
		t.Fatalf("node (%d, %d): %v", level, index, err)
	}
	return h
}

// TestOpenRefusesFlippedByte flips one bit on disk, while the board is closed, in an old entry's payload (one
// that Open's quick check of the latest state does not read) and in stored tree nodes: every start must refuse
// the board, naming the damaged entry or node and the recovery, read-only or not; with DeferIntegrityCheck, Open
// succeeds but appends are refused and CheckIntegrity reports the same.
func TestOpenRefusesFlippedByte(t *testing.T) {
	t.Parallel()
	const size = 300
	for _, c := range []struct {
		name    string
		needle  func(t *testing.T, l *Log) []byte
		off     int
		mention string
	}{
		{"entry payload", func(t *testing.T, l *Log) []byte {
			e, err := l.Entry(123)
			if err != nil {
				t.Fatal(err)
			}
			return tlog.LeafData(e.Kind, e.Payload)
		}, 4 + 10, "entry 123 does not hash to the signed tree"},
		{"leaf hash", func(t *testing.T, l *Log) []byte { return storedNode(t, l, 0, 77) }, 5, "tree node (level 0, index 77) over entries 77 to 77"},
		{"interior node", func(t *testing.T, l *Log) []byte { return storedNode(t, l, 3, 5) }, 31, "tree node (level 3, index 5) over entries 40 to 47"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := smallBoard(t, size)
			l, err := Open(dir, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			needle := c.needle(t, l)
			l.Close()
			if len(needle) <= c.off {
				t.Fatalf("needle of %d bytes is too short", len(needle))
			}
			flipInFile(t, filepath.Join(dir, DBFileName), needle, c.off)
			for _, ro := range []bool{false, true} {
				wantOpenErr(t, dir, Options{ReadOnly: ro}, ErrCorrupt, c.mention)
			}
			wantOpenErr(t, dir, Options{}, ErrCorrupt, "restore board.db from a backup")

			l, err = Open(dir, Options{DeferIntegrityCheck: true})
			if err != nil {
				t.Fatalf("Open with DeferIntegrityCheck: %v", err)
			}
			defer l.Close()
			_, err = l.Append(context.Background(), 1, []byte("before the check"))
			wantErr(t, err, ErrReadOnly, "Append before CheckIntegrity")
			err = l.CheckIntegrity(context.Background(), nil)
			wantErr(t, err, ErrCorrupt, "CheckIntegrity")
			if !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("CheckIntegrity: %q does not mention %q", err, c.mention)
			}
			_, err = l.Append(context.Background(), 1, []byte("after the check"))
			wantErr(t, err, ErrCorrupt, "Append after a failed CheckIntegrity")
		})
	}
}

// TestDeferredIntegrityCheck: on an intact board, CheckIntegrity reports its progress up to the size and then
// lets appends through.
func TestDeferredIntegrityCheck(t *testing.T) {
	t.Parallel()
	dir := smallBoard(t, 50)
	l, err := Open(dir, Options{DeferIntegrityCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var last, total uint64
	if err := l.CheckIntegrity(context.Background(), func(c, n uint64) { last, total = c, n }); err != nil {
		t.Fatal(err)
	}
	if last != 50 || total != 50 {
		t.Fatalf("progress ended at %d of %d, want 50 of 50", last, total)
	}
	appendN(t, l, 3)
}

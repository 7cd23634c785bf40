package ledger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/recount-vote/recount/ledger/tlog"
)

// The crash test re-executes the test binary as a child that appends from several goroutines and prints every
// acknowledged append; the parent kills it with SIGKILL in the middle of the stream and checks the board.
const (
	crashDirEnv     = "LEDGER_CRASH_CHILD_DIR"
	crashRoundEnv   = "LEDGER_CRASH_CHILD_ROUND"
	crashWritersEnv = "LEDGER_CRASH_CHILD_WRITERS"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
		writers, _ := strconv.Atoi(os.Getenv(crashWritersEnv))
		crashChild(dir, round, writers)
		return
	}
	code := m.Run()
	cleanupBench()
	os.Exit(code)
}

// crashPayload is a self-describing payload: round, writer, sequence number, position in its AppendMany batch and
// the batch's length, then filler bytes derived from all of these, so that the parent can check every entry,
// acknowledged or not.
func crashPayload(round, w, seq, pos, n int) []byte {
	r := rand.New(rand.NewPCG(uint64(round<<32|w), uint64(seq<<8|pos)))
	p := make([]byte, 16+r.IntN(2048))
	binary.BigEndian.PutUint32(p[0:], uint32(round))
	binary.BigEndian.PutUint32(p[4:], uint32(w))
	binary.BigEndian.PutUint32(p[8:], uint32(seq))
	binary.BigEndian.PutUint16(p[12:], uint16(pos))
	binary.BigEndian.PutUint16(p[14:], uint16(n))
	for i := 16; i < len(p); i++ {
		p[i] = byte(r.Uint32())
	}
	return p
}

func crashChild(dir string, round, writers int) {
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
		mu.Unlock()
	}
	l, err := Open(dir, Options{Origin: testOrigin})
	if err != nil {
		say("error open: %v", err)
		os.Exit(3)
	}
	say("start %d %s", l.Size(), l.VerifierKey())
	// SIGTERM stops the child cleanly: Close commits what is queued, and every writer prints its last
	// acknowledgements before the child exits.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for seq := 0; ; seq++ {
				n := 1
				if seq%3 == 2 {
					n = 1 + (seq/3)%4
				}
				recs := make([]Record, n)
				for pos := range recs {
					recs[pos] = Record{tlog.Kind(w + 1), crashPayload(round, w, seq, pos, n)}
				}
				var res []AppendResult
				var err error
				if n == 1 && seq%2 == 0 {
					var r AppendResult
					r, err = l.Append(ctx, recs[0].Kind, recs[0].Payload)
					res = []AppendResult{r}
				} else {
					res, err = l.AppendMany(ctx, recs)
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					say("error append: %v", err)
					os.Exit(3)
				}
				for i, r := range res {
					sum := sha256.Sum256(recs[i].Payload)
					say("ack %d %d %x %s", r.Index, recs[i].Kind, sum, base64.StdEncoding.EncodeToString(r.Checkpoint.Signed))
				}
			}
		})
	}
	<-term // or killed
	if err := l.Close(); err != nil {
		say("error close: %v", err)
		os.Exit(3)
	}
	wg.Wait()
	os.Exit(0)
}

type crashAck struct {
	kind tlog.Kind
	sum  string
}

// crashRun drives rounds of crash children appending to one board; it collects what they acknowledged.
type crashRun struct {
	dir   string
	acked map[uint64]crashAck
	seen  map[uint64]tlog.Checkpoint // checkpoints acknowledged by any child, by size
	vkey  string
}

func newCrashRun(t *testing.T) *crashRun {
	return &crashRun{dir: t.TempDir(), acked: map[uint64]crashAck{}, seen: map[uint64]tlog.Checkpoint{}}
}

// round runs a child appending from writers goroutines, sends it sig (SIGKILL: a crash, or SIGTERM: a clean
// stop) once it has acknowledged killAfter entries, and records every acknowledgement it printed before it ended.
func (c *crashRun) round(t *testing.T, round, writers, killAfter int, sig os.Signal) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+c.dir, crashRoundEnv+"="+strconv.Itoa(round), crashWritersEnv+"="+strconv.Itoa(writers))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	br := bufio.NewReader(out)
	n, killed := 0, false
	var startSize uint64
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			break // a final partial line (cut by the kill) was not acknowledged
		}
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(line)
		switch f[0] {
		case "start":
			startSize, _ = strconv.ParseUint(f[1], 10, 64)
			if c.vkey == "" {
				c.vkey = f[2]
			} else if c.vkey != f[2] {
				t.Fatalf("round %d: the board's key changed", round)
			}
			continue
		case "ack":
		default:
			t.Fatalf("round %d: child says %q", round, line)
		}
		idx, _ := strconv.ParseUint(f[1], 10, 64)
		kind, _ := strconv.ParseUint(f[2], 10, 32)
		if _, dup := c.acked[idx]; dup {
			t.Fatalf("round %d: index %d acknowledged twice", round, idx)
		}
		c.acked[idx] = crashAck{tlog.Kind(kind), f[3]}
		signed, err := base64.StdEncoding.DecodeString(f[4])
		if err != nil {
			t.Fatal(err)
		}
		cp, err := tlog.ParseCheckpoint(signed, c.vkey)
		if err != nil {
			t.Fatalf("round %d: acknowledged checkpoint: %v", round, err)
		}
		if cp.Size <= idx {
			t.Fatalf("round %d: checkpoint of size %d acknowledged for entry %d", round, cp.Size, idx)
		}
		c.checkNotSeenOther(t, round, cp)
		if n++; n == killAfter && !killed {
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	timer.Stop()
	if !killed {
		t.Fatalf("round %d: the child stopped after %d acknowledgements: %s", round, n, stderr.String())
	}
	if sig == syscall.SIGTERM && err != nil {
		t.Fatalf("round %d: the child did not stop cleanly: %v: %s", round, err, stderr.String())
	}
	t.Logf("round %d: started at size %d, stopped (%v) after %d acknowledgements (%d read)", round, startSize, sig, killAfter, n)
}

// checkNotSeenOther fails if a different checkpoint of cp's size was acknowledged before, and records cp.
func (c *crashRun) checkNotSeenOther(t *testing.T, round int, cp tlog.Checkpoint) {
	t.Helper()
	if old, ok := c.seen[cp.Size]; ok && !bytes.Equal(old.Signed, cp.Signed) {
		t.Fatalf("round %d: two different checkpoints of size %d: the board signed two histories", round, cp.Size)
	}
	c.seen[cp.Size] = cp
}

// checkAcked checks that every acknowledged entry is on the board as appended, and that every acknowledged
// checkpoint is kept and consistent with the latest one.
func (c *crashRun) checkAcked(t *testing.T, round int, l *Log) {
	t.Helper()
	latest := l.Latest()
	for idx, a := range c.acked {
		e, err := l.Entry(idx)
		if err != nil {
			t.Fatalf("round %d: acknowledged entry %d is lost: %v", round, idx, err)
		}
		if sum := sha256.Sum256(e.Payload); e.Kind != a.kind || hex.EncodeToString(sum[:]) != a.sum {
			t.Fatalf("round %d: acknowledged entry %d changed", round, idx)
		}
	}
	for size, cp := range c.seen {
		p, err := l.ConsistencyProof(size, latest.Size)
		if err != nil {
			t.Fatalf("round %d: acknowledged checkpoint of size %d, board of size %d: %v", round, size, latest.Size, err)
		}
		if err := tlog.VerifyConsistency(cp, latest, p); err != nil {
			t.Fatalf("round %d: checkpoint %d -> %d: %v", round, size, latest.Size, err)
		}
		kept, err := l.CheckpointAt(size)
		if err != nil || !bytes.Equal(kept.Signed, cp.Signed) {
			t.Fatalf("round %d: checkpoint of size %d is not kept: %v", round, size, err)
		}
	}
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	c := newCrashRun(t)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	const rounds = 4
	for round := range rounds {
		c.round(t, round, 8, 30+r.IntN(250), syscall.SIGKILL)

		// Reopen and check.
		l, err := Open(c.dir, Options{Origin: testOrigin, VerifierKey: c.vkey})
		if err != nil {
			t.Fatalf("round %d: reopening after the crash: %v", round, err)
		}
		latest := l.Latest()
		c.checkAcked(t, round, l)
		// The root recomputed from all entries matches; every entry is well formed; batches are whole.
		var hashes [][tlog.HashSize]byte
		type batchKey struct{ round, w, seq int }
		open := map[batchKey]int{}
		var cur *batchKey
		for e, err := range l.Entries(ctx, 0) {
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, tlog.LeafHash(e.Kind, e.Payload))
			p := e.Payload
			if len(p) < 16 {
				t.Fatalf("entry %d is not a crash payload", e.Index)
			}
			k := batchKey{int(binary.BigEndian.Uint32(p)), int(binary.BigEndian.Uint32(p[4:])), int(binary.BigEndian.Uint32(p[8:]))}
			pos, cnt := int(binary.BigEndian.Uint16(p[12:])), int(binary.BigEndian.Uint16(p[14:]))
			if !bytes.Equal(p, crashPayload(k.round, k.w, k.seq, pos, cnt)) || e.Kind != tlog.Kind(k.w+1) {
				t.Fatalf("entry %d does not hold what was appended", e.Index)
			}
			// AppendMany batches are consecutive and whole.
			if pos > 0 {
				if cur == nil || *cur != k || open[k] != pos {
					t.Fatalf("entry %d: batch %v position %d is not right after position %d", e.Index, k, pos, pos-1)
				}
			} else if cur != nil && open[*cur] != -1 {
				t.Fatalf("entry %d: batch %v was cut before it was whole", e.Index, *cur)
			}
			if pos+1 == cnt {
				open[k] = -1
			} else {
				open[k] = pos + 1
			}
			cur = &k
		}
		if cur != nil && open[*cur] != -1 {
			t.Fatalf("the last batch %v is not whole", *cur)
		}
		if uint64(len(hashes)) != latest.Size || tlog.RootHash(hashes) != latest.Root {
			t.Fatalf("round %d: the root recomputed from %d entries does not match the latest checkpoint %v", round, len(hashes), latest)
		}
		if err := l.Verify(ctx); err != nil {
			t.Fatalf("round %d: Verify: %v", round, err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d acknowledged entries, %d checkpoints checked", len(c.acked), len(c.seen))
}

// boltMetaPages returns the page size of a board's bbolt file and the numbers (0 or 1) of its newer and older
// meta pages (bbolt writes them in turn, and opens from the valid one with the higher transaction id).
func boltMetaPages(t *testing.T, file []byte) (pageSize, newer, older int) {
	t.Helper()
	m0, ok0 := parseBoltMeta(file)
	if !ok0 {
		t.Fatal("meta page 0 is not valid")
	}
	m1, ok1 := parseBoltMeta(file[m0.pageSize:])
	if !ok1 {
		t.Fatal("meta page 1 is not valid")
	}
	if m1.txid > m0.txid {
		return int(m0.pageSize), 1, 0
	}
	return int(m0.pageSize), 0, 1
}

// withZeroedPage returns a copy of file with page p zeroed.
func withZeroedPage(file []byte, pageSize, p int) []byte {
	b := bytes.Clone(file)
	clear(b[p*pageSize : (p+1)*pageSize])
	return b
}

// copyBoard copies a closed board's files (board.db replaced by db) into a new directory.
func copyBoard(t *testing.T, dir string, db []byte) string {
	t.Helper()
	to := t.TempDir()
	for _, name := range []string{KeyFileName, CheckpointFileName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(to, DBFileName), db, 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

// TestOpenRefusesRolledBackMetaPage damages bbolt's newer meta page while the board is stopped (as a failing disk
// might): bbolt then opens the file one commit back, silently. The board must refuse to start (read-only too),
// saying what is missing, instead of losing an acknowledged entry and later signing a second checkpoint of the
// same size. Damaging the older meta page instead loses nothing: the board starts with every entry.
func TestOpenRefusesRolledBackMetaPage(t *testing.T) {
	t.Parallel()
	dir := smallBoard(t, 20) // one commit per entry
	path := filepath.Join(dir, DBFileName)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize, newer, older := boltMetaPages(t, orig)

	rolledBack := copyBoard(t, dir, withZeroedPage(orig, pageSize, newer))
	for _, ro := range []bool{false, true} {
		wantOpenErr(t, rolledBack, Options{Origin: testOrigin, ReadOnly: ro}, ErrRolledBack, "holds 19 entries, but the board signed a checkpoint of size 20")
	}
	wantOpenErr(t, rolledBack, Options{Origin: testOrigin}, ErrRolledBack, "restore a copy of board.db holding at least 20 entries")

	intact := copyBoard(t, dir, withZeroedPage(orig, pageSize, older))
	l, err := Open(intact, Options{Origin: testOrigin})
	if err != nil {
		t.Fatalf("with the older meta page zeroed: %v", err)
	}
	if l.Size() != 20 {
		t.Fatalf("with the older meta page zeroed: size %d, want 20", l.Size())
	}
	appendN(t, l, 2)
	if err := l.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// bbolt rewrote the zeroed page with the next commit.
	b, err := os.ReadFile(filepath.Join(intact, DBFileName))
	if err != nil {
		t.Fatal(err)
	}
	boltMetaPages(t, b)
}

// TestCrashRollbackMetaPages runs 64 writers in a child process, stops it at a random point (with SIGKILL, or, every
// other round, with SIGTERM, after which every commit was acknowledged: damaging the newer meta page then always
// takes acknowledged entries away), and then
// starts a copy of its board with meta page 0 zeroed and another with meta page 1 zeroed (one of them is the newer).
// Each start must either refuse (ErrRolledBack; or ErrCorrupt, see below), or hold every acknowledged entry and then sign only
// checkpoints that extend every acknowledged one: never a silent start with an acknowledged entry missing, nor a
// second checkpoint of an acknowledged size.
func TestCrashRollbackMetaPages(t *testing.T) {
	if testing.Short() {
		// -short keeps TestOpenRefusesRolledBackMetaPage, the same rollback without a crash loop.
		t.Skip("starts child processes: 4 rounds of 64 writers killed at random points, in the full run")
	}
	rounds, maxKill := 4, 600
	c := newCrashRun(t)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	rolledBack, damaged := 0, 0
	for round := range rounds {
		sig := os.Signal(syscall.SIGKILL)
		if round%2 == 1 {
			sig = syscall.SIGTERM
		}
		c.round(t, round, 64, 64+r.IntN(maxKill), sig)
		orig, err := os.ReadFile(filepath.Join(c.dir, DBFileName))
		if err != nil {
			t.Fatal(err)
		}
		pageSize, newer, _ := boltMetaPages(t, orig)
		for page := range 2 {
			copied := copyBoard(t, c.dir, withZeroedPage(orig, pageSize, page))
			l, err := Open(copied, Options{Origin: testOrigin, VerifierKey: c.vkey})
			if sig == syscall.SIGTERM && page == newer && !errors.Is(err, ErrRolledBack) {
				// After a clean stop the newer meta page's commit was acknowledged, and nothing reused
				// the older state's pages: that state is whole, but behind.
				t.Fatalf("round %d, newer meta page %d zeroed after a clean stop: Open: %v; want ErrRolledBack", round, page, err)
			}
			if err != nil {
				// The older state can also be damaged: once a commit after it starts, bbolt reuses the
				// pages only it referred to, so a start from it may also be refused as corrupt.
				switch {
				case errors.Is(err, ErrRolledBack):
					rolledBack++
				case errors.Is(err, ErrCorrupt), errors.Is(err, ErrNotBoard):
					damaged++
				default:
					t.Fatalf("round %d, meta page %d zeroed: %v; want a start, ErrRolledBack or ErrCorrupt", round, page, err)
				}
				continue
			}
			c.checkAcked(t, round, l)
			res, err := l.Append(ctx, 1, []byte("after the restart"))
			if errors.Is(err, ErrCorrupt) && page == newer {
				// Started from the older state (the lost commit was never acknowledged), whose pages that
				// commit partly reused: the entries and tree still hash right, so the start passed, but
				// bbolt's free-page bookkeeping is damaged and the first append refuses. Nothing
				// acknowledged is lost and nothing is signed; a restore is needed.
				damaged++
				l.Close()
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.acked[res.Index]; ok {
				t.Fatalf("round %d, meta page %d zeroed: index %d given to a new entry, but it was acknowledged before", round, page, res.Index)
			}
			if old, ok := c.seen[res.Checkpoint.Size]; ok && !bytes.Equal(old.Signed, res.Checkpoint.Signed) {
				t.Fatalf("round %d, meta page %d zeroed: signed a second checkpoint of size %d", round, page, res.Checkpoint.Size)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		// The next round goes on from the undamaged board.
		l, err := Open(c.dir, Options{Origin: testOrigin, VerifierKey: c.vkey})
		if err != nil {
			t.Fatalf("round %d: reopening after the crash: %v", round, err)
		}
		c.checkAcked(t, round, l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d acknowledged entries; of %d starts with a zeroed meta page, %d refused as rolled back, %d as damaged", len(c.acked), 2*rounds, rolledBack, damaged)
}

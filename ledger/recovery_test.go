package ledger

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child that appends from several goroutines and prints every
// acknowledged append; the parent kills it with SIGKILL in the middle of the stream and checks the board.
const (
	crashDirEnv   = "LEDGER_CRASH_CHILD_DIR"
	crashRoundEnv = "LEDGER_CRASH_CHILD_ROUND"
	crashWriters  = 8
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		round, _ := strconv.Atoi(os.Getenv(crashRoundEnv))
		crashChild(dir, round)
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

func crashChild(dir string, round int) {
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
	ctx := context.Background()
	for w := range crashWriters {
		go func() {
			for seq := 0; ; seq++ {
				n := 1
				if seq%3 == 2 {
					n = 1 + (seq/3)%4
				}
				recs := make([]Record, n)
				for pos := range recs {
					recs[pos] = Record{Kind(w + 1), crashPayload(round, w, seq, pos, n)}
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
				if err != nil {
					say("error append: %v", err)
					os.Exit(3)
				}
				for i, r := range res {
					sum := sha256.Sum256(recs[i].Payload)
					say("ack %d %d %x %s", r.Index, recs[i].Kind, sum, base64.StdEncoding.EncodeToString(r.Checkpoint.Signed))
				}
			}
		}()
	}
	select {} // until killed
}

type crashAck struct {
	kind Kind
	sum  string
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	acked := map[uint64]crashAck{}
	seen := map[uint64]Checkpoint{} // checkpoints acknowledged by any child, by size
	var vkey string
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	const rounds = 4
	for round := range rounds {
		killAfter := 30 + r.IntN(250)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
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
				if vkey == "" {
					vkey = f[2]
				} else if vkey != f[2] {
					t.Fatalf("round %d: the board's key changed", round)
				}
				continue
			case "ack":
			default:
				t.Fatalf("round %d: child says %q", round, line)
			}
			idx, _ := strconv.ParseUint(f[1], 10, 64)
			kind, _ := strconv.ParseUint(f[2], 10, 32)
			if _, dup := acked[idx]; dup {
				t.Fatalf("round %d: index %d acknowledged twice", round, idx)
			}
			acked[idx] = crashAck{Kind(kind), f[3]}
			signed, err := base64.StdEncoding.DecodeString(f[4])
			if err != nil {
				t.Fatal(err)
			}
			cp, err := ParseCheckpoint(signed, vkey)
			if err != nil {
				t.Fatalf("round %d: acknowledged checkpoint: %v", round, err)
			}
			if cp.Size <= idx {
				t.Fatalf("round %d: checkpoint of size %d acknowledged for entry %d", round, cp.Size, idx)
			}
			if old, ok := seen[cp.Size]; ok && !bytes.Equal(old.Signed, cp.Signed) {
				t.Fatalf("round %d: two different checkpoints of size %d", round, cp.Size)
			}
			seen[cp.Size] = cp
			if n++; n == killAfter && !killed {
				cmd.Process.Kill() // SIGKILL
				killed = true
			}
		}
		cmd.Wait()
		timer.Stop()
		if !killed {
			t.Fatalf("round %d: the child stopped after %d acknowledgements: %s", round, n, stderr.String())
		}
		t.Logf("round %d: started at size %d, killed after %d acknowledgements (%d read)", round, startSize, killAfter, n)

		// Reopen and check.
		l, err := Open(dir, Options{Origin: testOrigin, VerifierKey: vkey})
		if err != nil {
			t.Fatalf("round %d: reopening after the crash: %v", round, err)
		}
		latest := l.Latest()
		for idx, a := range acked {
			e, err := l.Entry(idx)
			if err != nil {
				t.Fatalf("round %d: acknowledged entry %d is lost: %v", round, idx, err)
			}
			if sum := sha256.Sum256(e.Payload); e.Kind != a.kind || hex.EncodeToString(sum[:]) != a.sum {
				t.Fatalf("round %d: acknowledged entry %d changed", round, idx)
			}
		}
		// The root recomputed from all entries matches; every entry is well formed; batches are whole.
		var hashes [][HashSize]byte
		type batchKey struct{ round, w, seq int }
		open := map[batchKey]int{}
		var cur *batchKey
		for e, err := range l.Entries(ctx, 0) {
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, LeafHash(e.Kind, e.Payload))
			p := e.Payload
			if len(p) < 16 {
				t.Fatalf("entry %d is not a crash payload", e.Index)
			}
			k := batchKey{int(binary.BigEndian.Uint32(p)), int(binary.BigEndian.Uint32(p[4:])), int(binary.BigEndian.Uint32(p[8:]))}
			pos, cnt := int(binary.BigEndian.Uint16(p[12:])), int(binary.BigEndian.Uint16(p[14:]))
			if !bytes.Equal(p, crashPayload(k.round, k.w, k.seq, pos, cnt)) || e.Kind != Kind(k.w+1) {
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
		if uint64(len(hashes)) != latest.Size || RootHash(hashes) != latest.Root {
			t.Fatalf("round %d: the root recomputed from %d entries does not match the latest checkpoint %v", round, len(hashes), latest)
		}
		if err := l.Verify(ctx); err != nil {
			t.Fatalf("round %d: Verify: %v", round, err)
		}
		// Every checkpoint signed before the crash is kept and consistent with the new latest one.
		for size, cp := range seen {
			p, err := l.ConsistencyProof(size, latest.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(cp, latest, p); err != nil {
				t.Fatalf("round %d: checkpoint %d -> %d: %v", round, size, latest.Size, err)
			}
			kept, err := l.CheckpointAt(size)
			if err != nil || !bytes.Equal(kept.Signed, cp.Signed) {
				t.Fatalf("round %d: checkpoint of size %d is not kept: %v", round, size, err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d acknowledged entries, %d checkpoints checked", len(acked), len(seen))
}

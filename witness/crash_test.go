package witness

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/recount-vote/recount/ledger/tlog"
)

// The crash test re-executes the test binary as a child that serves a witness over HTTP on loopback; the
// parent submits checkpoints of a growing board (and of a fork of it) from several goroutines, kills the child
// with SIGKILL in the middle of the stream, restarts it on the same state file, and checks what it cosigns.
const (
	crashDirEnv   = "WITNESS_CRASH_CHILD_DIR"
	crashKeyEnv   = "WITNESS_CRASH_CHILD_KEY"
	crashBoardEnv = "WITNESS_CRASH_CHILD_BOARD"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir, os.Getenv(crashKeyEnv), os.Getenv(crashBoardEnv))
		return
	}
	os.Exit(m.Run())
}

func crashChild(dir, skey, boardKey string) {
	w, err := Open(filepath.Join(dir, "witness.db"), Config{Key: skey, Logs: []Log{{VerifierKey: boardKey}}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("listening", ln.Addr())
	err = NewServer("", NewHandler(w, nil)).Serve(ln)
	fmt.Println("error", err)
	os.Exit(3)
}

type crashChildProc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func startCrashChild(t *testing.T, dir, skey, boardKey string) *crashChildProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashKeyEnv+"="+skey, crashBoardEnv+"="+boardKey)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &crashChildProc{cmd: cmd, done: make(chan struct{})}
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	t.Cleanup(func() {
		timer.Stop()
		cmd.Process.Kill()
		<-c.done
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	go func() { cmd.Wait(); close(c.done) }()
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("the child said %q (%v)", line, err)
	}
	c.url = "http://" + addr
	return c
}

func (c *crashChildProc) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

// crashStream submits checkpoints to the witness at url from writers goroutines until stop is closed: mostly
// the honest board's next checkpoints from the size the witness last named, and now and then one of the fork.
// It returns the largest honest size cosigned, and fails the test if a fork checkpoint is ever cosigned or a
// cosignature does not verify.
func crashStream(t *testing.T, url, vkey string, b, fork *testBoard, maxSize uint64, writers int, stop <-chan struct{}, acked chan<- uint64) {
	var mu sync.Mutex // guards the boards' trees (proofs are computed under it) and known
	known := uint64(0)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := NewClient(url, vkey, &http.Client{Timeout: 5 * time.Second})
			if err != nil {
				t.Error(err)
				return
			}
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				old := known
				forked := r.IntN(8) == 0 && old >= 4
				var req AddCheckpoint
				if forked {
					req = fork.request(old, min(old+uint64(r.IntN(3)), maxSize))
				} else {
					req = b.request(old, min(old+1+uint64(r.IntN(4)), maxSize))
				}
				mu.Unlock()
				cs, err := c.AddCheckpoint(context.Background(), req)
				var ce *ConflictError
				switch {
				case err == nil:
					if forked {
						t.Errorf("the witness cosigned the fork's checkpoint of size %d from %d", noteSize(req.Checkpoint), old)
						return
					}
					n := noteSize(req.Checkpoint)
					mu.Lock()
					known = max(known, n)
					mu.Unlock()
					if cs.Witness != c.Name() {
						t.Errorf("a cosignature by %q", cs.Witness)
					}
					select {
					case acked <- n:
					default:
					}
				case errors.As(err, &ce):
					mu.Lock()
					known = max(known, ce.Size)
					mu.Unlock()
				case errors.Is(err, ErrInconsistent) && forked:
				case errors.Is(err, ErrUnavailable):
					// The child was killed, or is being: the stream ends with the stop signal.
					time.Sleep(time.Millisecond)
				default:
					t.Errorf("old %d, forked %v: %v", old, forked, err)
					return
				}
				mu.Lock()
				finished := known >= maxSize
				mu.Unlock()
				if finished {
					return
				}
			}
		}()
	}
	wg.Wait()
}

func noteSize(signed []byte) uint64 {
	var n uint64
	fmt.Sscanf(strings.SplitN(string(signed), "\n", 3)[1], "%d", &n)
	return n
}

func TestKilledWitnessResumes(t *testing.T) {
	rounds := 4
	if testing.Short() {
		rounds = 1 // the full run kills the witness four times
	}
	b := newTestBoard(t, testOrigin)
	fork := b.fork(2)
	const maxSize = 4000
	b.grow(maxSize)
	fork.grow(maxSize)
	skey, vkey, err := GenerateKey("witness.example/crash", crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var ackedMax uint64
	for round := range rounds {
		child := startCrashChild(t, dir, skey, b.vkey)
		c, err := NewClient(child.url, vkey, nil)
		if err != nil {
			t.Fatal(err)
		}
		// After a restart the witness holds at least every size it acknowledged before the kill.
		_, err = c.AddCheckpoint(context.Background(), b.request(0, ackedMax+1))
		var ce *ConflictError
		if ackedMax > 0 && (!errors.As(err, &ce) || ce.Size < ackedMax) {
			t.Fatalf("round %d: after the restart: %v; want a conflict at a size >= %d, the largest acknowledged", round, err, ackedMax)
		}
		if ce != nil {
			// A fork of the witness's size, and a fork's larger checkpoint, are refused after the restart.
			if _, err := c.AddCheckpoint(context.Background(), fork.request(ce.Size, ce.Size)); !errors.Is(err, ErrInconsistent) {
				t.Fatalf("round %d: the fork at size %d after the restart: %v", round, ce.Size, err)
			}
			if _, err := c.AddCheckpoint(context.Background(), fork.request(ce.Size, ce.Size+3)); !errors.Is(err, ErrInconsistent) {
				t.Fatalf("round %d: the fork past size %d after the restart: %v", round, ce.Size, err)
			}
		}
		stop := make(chan struct{})
		acked := make(chan uint64, 1024)
		done := make(chan struct{})
		go func() {
			crashStream(t, child.url, vkey, b, fork, maxSize, 4, stop, acked)
			close(done)
		}()
		killAfter := 10 + rand.IntN(40)
		for n := 0; n < killAfter; n++ {
			select {
			case size := <-acked:
				ackedMax = max(ackedMax, size)
			case <-done:
				n = killAfter
			case <-time.After(30 * time.Second):
				t.Fatalf("round %d: no cosignature for 30 s", round)
			}
		}
		child.kill(t)
		close(stop)
		<-done
		for len(acked) > 0 {
			ackedMax = max(ackedMax, <-acked)
		}
		if t.Failed() {
			return
		}
	}
	// The last restart: the state verifies and the honest board goes on being cosigned.
	child := startCrashChild(t, dir, skey, b.vkey)
	c, _ := NewClient(child.url, vkey, nil)
	_, err = c.AddCheckpoint(context.Background(), b.request(0, maxSize))
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Size < ackedMax {
		t.Fatalf("final restart: %v, want a conflict at a size >= %d", err, ackedMax)
	}
	req := b.request(ce.Size, maxSize)
	cs, err := c.AddCheckpoint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if root, _ := b.tree.Root(maxSize); !strings.Contains(string(req.Checkpoint), tlog.CheckpointBody(testOrigin, maxSize, root)) || cs.Witness != "witness.example/crash" {
		t.Fatalf("final cosignature %+v", cs)
	}
	t.Logf("%d rounds; the witness had cosigned size %d (largest acknowledged %d) at the last restart", rounds, ce.Size, ackedMax)
}

package observer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/witness"
)

// TestObserverWitnessChild is the observer-witness process that TestKilledObserverWitness kills: it runs only
// in the child, and prints the address of its witness.
func TestObserverWitnessChild(t *testing.T) {
	dir, addr, key := os.Getenv("RECOUNT_OW_CHILD_DIR"), os.Getenv("RECOUNT_OW_CHILD_NODE"), os.Getenv("RECOUNT_OW_CHILD_KEY")
	if dir == "" {
		t.Skip("the child of TestKilledObserverWitness")
	}
	o := openObserver(t, dir, addr)
	w, err := o.OpenWitness(key)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(lis, witness.NewHandler(w, nil))
	fmt.Printf("witness %s\n", lis.Addr())
	o.Run(context.Background())
}

// cosignUpTo submits src's checkpoints to the witness at url, from the size it holds (learnt from a 409) up to
// src's size, each once the witness cosigns it (an observer-witness answers 503 until it has verified that far);
// it returns the largest size cosigned, stopping at the first error other than those.
func cosignUpTo(ctx context.Context, wc *witness.Client, src *ledger.Log, have uint64) (uint64, error) {
	for have < src.Size() {
		cp := src.Latest()
		req := witness.AddCheckpoint{OldSize: have, Checkpoint: cp.Signed}
		if have > 0 {
			p, err := src.ConsistencyProof(have, cp.Size)
			if err != nil {
				return have, err
			}
			req.Proof = p
		}
		_, err := wc.AddCheckpoint(ctx, req)
		var conflict *witness.ConflictError
		switch {
		case err == nil:
			have = cp.Size
		case errors.As(err, &conflict):
			have = conflict.Size
		case errors.Is(err, witness.ErrNotVerified):
		default:
			return have, err
		}
	}
	return have, nil
}

// TestKilledObserverWitness kills (SIGKILL) an observer-witness process while a submitter has it cosign the
// checkpoints of a board being written, and starts it again: its state in DIR/witness.db is a checkpoint of the
// board's history no smaller than the last one whose cosignature the submitter received (a cosignature is given
// only once recorded), and it goes on cosigning from there to the board's end.
func TestKilledObserverWitness(t *testing.T) {
	e := sharedElection(t)
	src := sourceBoard(t, t.TempDir())
	post(t, src, e.Entries[:1], 1)
	fn := startFakeNode(t, src)
	dir := t.TempDir()
	skey := newWitnessKey(t)
	wvkey, err := witness.VerifierKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	kills := 3
	if testing.Short() {
		kills = 1 // the full run kills it at three points
	}
	ctx := context.Background()
	next := 1
	var cosigned uint64 // the largest size whose cosignature the submitter received
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestObserverWitnessChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RECOUNT_OW_CHILD_DIR="+dir, "RECOUNT_OW_CHILD_NODE="+fn.addr, "RECOUNT_OW_CHILD_KEY="+skey)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		if !lines.Scan() || !strings.HasPrefix(lines.Text(), "witness ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child did not start its witness: %s", stderr.String())
		}
		wc, err := witness.NewClient("http://"+strings.TrimPrefix(lines.Text(), "witness "), wvkey, nil)
		if err != nil {
			t.Fatal(err)
		}
		end := next + (len(e.Entries)-1)/kills
		if k == kills-1 {
			end = len(e.Entries)
		}
		// Post a few entries at a time and have each commit cosigned; kill the child in the middle.
		half := next + (end-next)/2
		for next < end {
			to := min(next+2, end)
			post(t, src, e.Entries[next:to], 1)
			next = to
			if next >= half {
				break
			}
			if cosigned, err = cosignUpTo(ctx, wc, src, 0); err != nil {
				t.Fatalf("cosigning: %v\n%s", err, stderr.String())
			}
		}
		// One more submission in flight as the child is killed: it may or may not be recorded.
		go cosignUpTo(ctx, wc, src, cosigned)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		for next < end {
			to := min(next+2, end)
			post(t, src, e.Entries[next:to], 1)
			next = to
		}
	}

	o := openObserver(t, dir, fn.addr)
	stop := running(t, o)
	defer stop()
	w, wc := serveWitness(t, o, skey)
	defer w.Close()
	latest, err := w.Latest(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewVerifier(src.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	held, _, err := anyPolicy.CheckLog(latest, v)
	if err != nil {
		t.Fatalf("the witness's state after the kills: %v", err)
	}
	if held.Size < cosigned {
		t.Fatalf("the witness holds size %d, but cosigned %d before it was killed", held.Size, cosigned)
	}
	if at, err := src.CheckpointAt(held.Size); err != nil || at.Root != held.Root {
		t.Fatalf("the witness holds a checkpoint of size %d that is not the board's: %v", held.Size, err)
	}
	total := uint64(len(e.Entries))
	if have, err := cosignUpTo(ctx, wc, src, 0); err != nil || have != total {
		t.Fatalf("after the restart the witness cosigned up to %d (%v), want %d", have, err, total)
	}
}

package observer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// TestObserverChild is the observer process that TestKilledObserverResumes kills: it runs only in the child.
func TestObserverChild(t *testing.T) {
	dir, addr := os.Getenv("RECOUNT_OBSERVER_CHILD_DIR"), os.Getenv("RECOUNT_OBSERVER_CHILD_NODE")
	if dir == "" {
		t.Skip("the child of TestKilledObserverResumes")
	}
	o := openObserver(t, dir, addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go o.Run(ctx)
	last := uint64(1 << 63)
	for {
		if v := o.Status().Verified; v != last {
			fmt.Printf("verified %d\n", v)
			last = v
		}
		time.Sleep(time.Millisecond)
	}
}

// TestKilledObserverResumes kills (SIGKILL) an observer process while it follows a board being written, and
// starts it again: it resumes from its mirror, its mirror verifies, and its state is that of election.Verify.
func TestKilledObserverResumes(t *testing.T) {
	e := sharedElection(t)
	src := sourceBoard(t, t.TempDir())
	post(t, src, e.Entries[:1], 1)
	fn := startFakeNode(t, src)
	dir := t.TempDir()
	kills := 3
	if testing.Short() {
		kills = 1 // the full run kills it at three points
	}
	next := 1
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestObserverChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "RECOUNT_OBSERVER_CHILD_DIR="+dir, "RECOUNT_OBSERVER_CHILD_NODE="+fn.addr)
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
		verified := func() uint64 {
			if !lines.Scan() {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the child ended: %s", stderr.String())
			}
			n, _ := strconv.ParseUint(strings.TrimPrefix(lines.Text(), "verified "), 10, 64)
			return n
		}
		start := verified()
		// Post entries, a few at a time, until the child has verified some of them; kill it while it goes on.
		end := next + (len(e.Entries)-1)/kills
		if k == kills-1 {
			end = len(e.Entries)
		}
		for next < end {
			to := min(next+2, end)
			post(t, src, e.Entries[next:to], 1)
			next = to
		}
		for v := verified(); v <= start; v = verified() {
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
	}
	o := openObserver(t, dir, fn.addr)
	stop := running(t, o)
	total := uint64(len(e.Entries))
	waitFor(t, "the restarted observer to verify the board", func() bool { return o.Status().Verified == total })
	st := o.Status()
	if err := o.Mirror().Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	var exp bytes.Buffer
	if err := o.Mirror().Export(context.Background(), &exp); err != nil {
		t.Fatal(err)
	}
	stop()
	x, err := tlog.NewExportReader(&exp)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := election.Verify(context.Background(), election.FromBoardSeq(x.Entries()), election.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || st.FailureCount != 0 || st.Cast != rep.Cast || st.Voters != rep.Voters || st.Spoiled != rep.Spoiled || rep.Entries != total {
		t.Errorf("the observer: %+v; Verify of its export: ok %v, %d entries, cast %d, voters %d, spoiled %d", st, rep.OK(), rep.Entries, rep.Cast, rep.Voters, rep.Spoiled)
	}
}

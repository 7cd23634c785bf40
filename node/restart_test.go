package node_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/node"
)

// TestRestartMidVoting stops a node in the middle of voting and starts it again on the same data directory and
// address: every receipted ballot is there with its status, the trustees reconnect by themselves, and the
// election goes on to a verified result.
func TestRestartMidVoting(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, "")
	const voters = 12
	f := newFixture(t, tn.target(), setup{trustees: 3, threshold: 2, voters: voters})
	ctx := context.Background()
	before := f.vote(t, tn.anon, seq(voters/2), func(v int) bool { return v == 1 }, func(v int) bool { return v%3 == 0 })
	if t.Failed() {
		t.FailNow()
	}
	size := tn.size()
	tn.stop()

	tn2 := startNode(t, dir, tn.addr)
	if tn2.size() != size {
		t.Fatalf("the restarted node has %d entries, the stopped one had %d", tn2.size(), size)
	}
	check := func(r *client.Receipt, want election.Status) {
		t.Helper()
		resp, _, err := tn2.anon.CheckReceipt(ctx, r)
		if err != nil {
			t.Fatalf("receipt for entry %d: %v", r.Index, err)
		}
		if resp.Status != want {
			t.Errorf("entry %d: %v, want %v", r.Index, resp.Status, want)
		}
	}
	for _, r := range before.last {
		check(r, election.StatusCast)
	}
	for _, r := range before.replaced {
		check(r, election.StatusSuperseded)
	}
	for _, r := range before.spoiled {
		check(r, election.StatusSpoiled)
	}
	// A ballot cast before the restart is still refused as a duplicate.
	st, err := tn2.admin.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != recountv1.Phase_PHASE_OPEN || st.Voters != voters/2 {
		t.Fatalf("after the restart: %v", st)
	}

	after := f.vote(t, tn2.anon, seq(voters)[voters/2:], never, never)
	if _, err := tn2.admin.Admin.ClosePolls(ctx, &recountv1.ClosePollsRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := tn2.admin.Admin.Tally(ctx, &recountv1.TallyRequest{}); err != nil {
		t.Fatal(err)
	}
	waitPartials(t, tn2.admin, 2)
	if _, err := tn2.admin.Admin.PublishResult(ctx, &recountv1.PublishResultRequest{}); err != nil {
		t.Fatal(err)
	}
	rep := verifyExport(t, export(t, tn2.anon), f.info.BoardKey)
	if !rep.Complete || rep.Count != voters {
		t.Fatalf("complete %v, counted %d", rep.Complete, rep.Count)
	}
	for _, r := range before.last {
		check(r, election.StatusCounted)
	}
	for _, r := range after.last {
		check(r, election.StatusCounted)
	}
}

// childDirEnv names the data directory of the node that TestChildNode serves in a child process.
const childDirEnv = "RECOUNT_NODE_TEST_CHILD_DIR"

// TestChildNode is not a test: it is the node process that TestCrashKilledNode starts and kills.
func TestChildNode(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("the child node of TestCrashKilledNode")
	}
	n, err := node.Open(dir, node.Options{Origin: "test.recount.local/board"})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	serveChild(n)
}

// startChild runs the test named test of this binary in a child process, with env added to its environment, and
// returns it and the address it printed ("ADDR host:port"). The child is killed when the test ends.
func startChild(t *testing.T, test string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // an error if it was killed already
		cmd.Wait()
	})
	lines := bufio.NewScanner(out)
	var addr string
	for lines.Scan() {
		if a, ok := strings.CutPrefix(lines.Text(), "ADDR "); ok {
			addr = a
			break
		}
		if strings.HasPrefix(lines.Text(), "ERROR") {
			t.Fatal(lines.Text())
		}
	}
	if addr == "" {
		t.Fatal("the child node did not start")
	}
	go func() {
		for lines.Scan() { // keep the pipe drained
		}
	}()
	return cmd, addr
}

// serveChild serves n on a loopback port until the process is killed, printing "ADDR host:port" first.
func serveChild(n *node.Node) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", lis.Addr())
	srv := node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: testToken}})
	srv.Serve(lis) // until killed
}

// TestCrashKilledNode runs the node in a child process, has voters cast concurrently, and kills the child
// (SIGKILL) while ballots are in flight. The board reopened from the data directory holds every ballot that got
// a receipt, at the receipt's index, included in the receipt's checkpoint, with its status in the state.
func TestCrashKilledNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd, addr := startChild(t, "TestChildNode", childDirEnv+"="+dir)
	admin, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	anon, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	const voters = 200
	f := newFixture(t, target{addr: addr, admin: admin, anon: anon}, setup{trustees: 1, threshold: 1, voters: voters})

	// Encrypt first, so that the kill comes while many casts are in flight.
	ballots := make([]*election.PreparedBallot, voters)
	for v := range ballots {
		ballots[v] = f.ballot(t, v)
	}
	var mu sync.Mutex
	var receipts []*client.Receipt
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for v := range next {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r, err := anon.Submit(ctx, f.info, ballots[v], client.SubmitOptions{})
				cancel()
				if err == nil {
					mu.Lock()
					receipts = append(receipts, r)
					mu.Unlock()
				}
			}
		})
	}
	for v := range voters {
		if v == voters/4 {
			// Wait for some receipts, then kill the node with casts in flight.
			for {
				mu.Lock()
				n := len(receipts)
				mu.Unlock()
				if n >= 20 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
		next <- v
	}
	close(next)
	wg.Wait()
	cmd.Wait()
	if len(receipts) < 20 {
		t.Fatalf("only %d receipts", len(receipts))
	}

	n, err := node.Open(dir, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Log().Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range receipts {
		e, err := n.Log().Entry(r.Index)
		if err != nil {
			t.Fatalf("receipted entry %d: %v", r.Index, err)
		}
		if _, err := r.Verify(n.Log().VerifierKey(), election.Kind(e.Kind), e.Payload); err != nil {
			t.Fatal(err)
		}
		var st election.Status
		n.View(func(s *election.State) { st, _ = s.BallotStatus(r.TrackingCode) })
		if st != election.StatusCast {
			t.Errorf("entry %d: status %v", r.Index, st)
		}
	}
	t.Logf("%d receipts before the kill, all on the reopened board of %d entries", len(receipts), n.Log().Size())
}

// TestShutdownWithCastsInFlight stops the node gracefully while voters cast: the calls in progress finish
// (their ballots are appended and receipted), later ones are refused, and the reopened board holds every
// receipted ballot.
func TestShutdownWithCastsInFlight(t *testing.T) {
	dir := t.TempDir()
	tn := startNode(t, dir, "")
	const voters = 80
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: voters, trustShapes: true})
	ballots := make([]*election.PreparedBallot, voters)
	for v := range ballots {
		ballots[v] = f.ballot(t, v)
	}
	var mu sync.Mutex
	var receipts []*client.Receipt
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for v := range next {
				r, err := tn.anon.Submit(context.Background(), f.info, ballots[v], client.SubmitOptions{})
				if err == nil {
					mu.Lock()
					receipts = append(receipts, r)
					mu.Unlock()
				}
			}
		})
	}
	stopped := make(chan struct{})
	for v := range voters {
		if v == voters/3 {
			go func() { tn.stop(); close(stopped) }()
		}
		next <- v
	}
	close(next)
	wg.Wait()
	<-stopped
	if len(receipts) < voters/3-16 {
		t.Fatalf("only %d receipts", len(receipts))
	}
	n, err := node.Open(dir, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for _, r := range receipts {
		e, err := n.Log().Entry(r.Index)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Verify(n.Log().VerifierKey(), election.Kind(e.Kind), e.Payload); err != nil {
			t.Fatal(err)
		}
	}
	var cast int
	n.View(func(s *election.State) { cast, _, _ = s.Counts() })
	if cast < len(receipts) {
		t.Fatalf("%d ballots on the board, %d receipts", cast, len(receipts))
	}
	t.Logf("%d receipts; %d ballots on the reopened board", len(receipts), cast)
}

package observer_test

// This file is an external test package: the benchmark needs a real node to follow, and only the test binary
// links it. The observer package itself still links no part of the node (TestNoNode).

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/observer"
	"github.com/recount-vote/recount/trustee"
)

// lagBallots is the number of ballots cast per iteration of BenchmarkObserverLag.
const lagBallots = 2000

// lagSampleEvery is how often BenchmarkObserverLag samples the observer's lag.
const lagSampleEvery = 50 * time.Millisecond

// BenchmarkObserverLag measures how far an observer following a node falls behind while 64 clients cast at the
// node's full rate (issue 12: at most 2 s behind, on the same 2-core machine). Node and clients share the
// benchmark's process, over loopback gRPC; the ballots (electiontest.Mixed) are encrypted before the timer
// starts, and the one trustee checks shapes only, so that neither competes for the cores while casting. The
// observer checks every ballot in full, in one of two places:
//
//   - own-process: the observer runs in its own process (this test binary started again, as `recount observe`
//     would run), so that the operating system shares the two cores between node and observer as it would
//     between the two daemons of a real deployment on one machine;
//   - in-process: the observer runs in the node's process, where Go's scheduler shares the cores among the
//     node's 64 call goroutines and the observer's few workers: the observer gets a smaller share than it would
//     on its own, so this is the harsher figure.
//
// Every 50 ms it samples the lag in entries (the node's board size minus the observer's verified size) and in
// seconds, measured from the node's side: how long ago the node's board first held more entries than the
// observer has verified now (to the sampling period). The observer's own metric (Status.Lag) counts from when
// the observer first saw a checkpoint, so it can read lower; it is reported beside as observer-metric-max-lag-s.
// It reports the ballots accepted per second, the largest lag in entries and seconds, the p50 and p99 of the
// lag in seconds over the samples (from the first ballot until the observer has caught up), and the time from
// the last ballot's receipt to the observer having verified the whole board.
// Run it with a fixed count: -benchtime 1x casts lagBallots ballots.
func BenchmarkObserverLag(b *testing.B) {
	b.Run("own-process", func(b *testing.B) { benchmarkObserverLag(b, startLagChild) })
	b.Run("in-process", func(b *testing.B) { benchmarkObserverLag(b, startLagInProcess) })
}

// lagStatus is what the benchmark samples of an observer.
type lagStatus struct {
	Verified     uint64
	Lag          time.Duration
	Cast         int
	FailureCount uint64
	Alarms       int
}

// lagObserver is an observer the benchmark follows, wherever it runs.
type lagObserver interface {
	status() lagStatus
	// cpu is the processor time the observer's process has used (user and system), if it has its own.
	cpu() (time.Duration, bool)
}

func benchmarkObserverLag(b *testing.B, start func(b *testing.B, addr string) lagObserver) {
	n, addr := lagNode(b)
	voters := lagBallots * b.N
	el := lagElection(b, addr, voters)
	ballots := make([]*election.PreparedBallot, voters)
	encrypt := make(chan int)
	var ewg sync.WaitGroup
	for range 4 {
		ewg.Go(func() {
			for v := range encrypt {
				p, err := election.EncryptBallot(el.manifest, el.info.Key, el.creds[v], election.RandomChoices(el.manifest, nil), nil)
				if err != nil {
					b.Error(err)
				}
				ballots[v] = p
			}
		})
	}
	for v := range voters {
		encrypt <- v
	}
	close(encrypt)
	ewg.Wait()
	if b.Failed() {
		b.FailNow()
	}

	o := start(b, addr)
	// Start from an observer caught up with the election's setup.
	waitLag(b, "the observer to verify the setup", func() bool { return o.status().Verified == n.Log().Size() })

	anon, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		b.Fatal(err)
	}
	defer anon.Close()

	type boardSample struct {
		at   time.Time
		size uint64
	}
	var (
		lagSeconds, metricLag []float64
		boardSizes            []boardSample
		maxEntries            uint64
		casting               atomic.Bool
	)
	casting.Store(true)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(lagSampleEvery)
		defer tick.Stop()
		for range tick.C {
			now, size := time.Now(), n.Log().Size()
			st := o.status()
			boardSizes = append(boardSizes, boardSample{now, size})
			lag := 0.0
			if size > st.Verified {
				maxEntries = max(maxEntries, size-st.Verified)
				i, _ := slices.BinarySearchFunc(boardSizes, st.Verified+1, func(s boardSample, want uint64) int { return cmp.Compare(s.size, want) })
				lag = now.Sub(boardSizes[i].at).Seconds()
			}
			lagSeconds = append(lagSeconds, lag)
			metricLag = append(metricLag, st.Lag.Seconds())
			if !casting.Load() && st.Verified == n.Log().Size() {
				return
			}
		}
	}()

	next := make(chan int)
	var wg sync.WaitGroup
	b.ResetTimer()
	startCast := time.Now()
	nodeCPU0 := processCPU(b)
	obsCPU0, _ := o.cpu()
	for range 64 {
		wg.Go(func() {
			for v := range next {
				if _, err := anon.Submit(context.Background(), el.info, ballots[v], client.SubmitOptions{}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for v := range voters {
		next <- v
	}
	close(next)
	wg.Wait()
	lastReceipt := time.Now()
	casting.Store(false)
	castFor := lastReceipt.Sub(startCast)
	final := n.Log().Size()
	waitLag(b, "the observer to verify the board", func() bool { return o.status().Verified >= final })
	caughtUp := time.Since(lastReceipt)
	nodeCPU := processCPU(b) - nodeCPU0
	obsCPU, ownProcess := o.cpu()
	obsCPU -= obsCPU0
	b.StopTimer()
	<-sampled

	st := o.status()
	if st.FailureCount != 0 || st.Alarms != 0 {
		b.Fatalf("the observer found failures or alarms on an honest board: %+v", st)
	}
	if st.Cast < voters {
		b.Fatalf("the observer counts %d ballots cast, want at least %d", st.Cast, voters)
	}
	sorted := slices.Clone(lagSeconds)
	slices.Sort(sorted)
	b.ReportMetric(float64(voters)/castFor.Seconds(), "ballots/s")
	b.ReportMetric(float64(maxEntries), "max-lag-entries")
	b.ReportMetric(sorted[len(sorted)-1], "max-lag-s")
	b.ReportMetric(quantile(sorted, 0.50), "p50-lag-s")
	b.ReportMetric(quantile(sorted, 0.99), "p99-lag-s")
	b.ReportMetric(caughtUp.Seconds(), "catch-up-s")
	b.ReportMetric(slices.Max(metricLag), "observer-metric-max-lag-s")
	if ownProcess {
		// Processor time per ballot, from the first ballot to the observer caught up: the node's process (node
		// and the 64 clients, which only send pre-encrypted ballots) and the observer's. An observer that needs
		// less per ballot than the node keeps up whenever it gets as large a share of the cores.
		b.ReportMetric(float64(nodeCPU.Microseconds())/1000/float64(voters), "node-cpu-ms/ballot")
		b.ReportMetric(float64(obsCPU.Microseconds())/1000/float64(voters), "observer-cpu-ms/ballot")
	}
}

// inProcessObserver is an observer running in the benchmark's process.
type inProcessObserver struct{ o *observer.Observer }

func (inProcessObserver) cpu() (time.Duration, bool) { return 0, false }

func (p inProcessObserver) status() lagStatus {
	st := p.o.Status()
	return lagStatus{Verified: st.Verified, Lag: st.Lag, Cast: st.Cast, FailureCount: st.FailureCount, Alarms: len(st.Alarms)}
}

func startLagInProcess(b *testing.B, addr string) lagObserver {
	o, stop := runLagObserver(b.TempDir(), addr)
	b.Cleanup(func() {
		if err := stop(); err != nil {
			b.Error(err)
		}
	})
	return inProcessObserver{o}
}

// runLagObserver opens an observer of the node at addr in dir and runs it until stop is called.
func runLagObserver(dir, addr string) (o *observer.Observer, stop func() error) {
	ocl, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		panic(err)
	}
	o, err = observer.Open(context.Background(), observer.Config{Dir: dir, Board: ocl.Board, PollInterval: lagSampleEvery})
	if err != nil {
		ocl.Close()
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- o.Run(ctx) }()
	return o, func() error {
		cancel()
		err := <-runErr
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return errors.Join(err, o.Close(), ocl.Close())
	}
}

// TestLagObserverChild is the observer process of BenchmarkObserverLag's own-process case: it runs only in the
// child, and prints its status as a line "verified lag-ns cast failures alarms" every 10 ms.
func TestLagObserverChild(t *testing.T) {
	dir, addr := os.Getenv("RECOUNT_LAG_CHILD_DIR"), os.Getenv("RECOUNT_LAG_CHILD_NODE")
	if dir == "" {
		t.Skip("the observer process of BenchmarkObserverLag")
	}
	o, _ := runLagObserver(dir, addr)
	for {
		st := o.Status()
		fmt.Printf("%d %d %d %d %d\n", st.Verified, st.Lag.Nanoseconds(), st.Cast, st.FailureCount, len(st.Alarms))
		time.Sleep(lagSampleEvery / 5)
	}
}

// childObserver is an observer in its own process, known by the last status line it printed.
type childObserver struct {
	pid  int
	mu   sync.Mutex
	last lagStatus
}

// cpu reads the child's user and system time from /proc/PID/stat (fields 14 and 15, in clock ticks of 10 ms).
func (c *childObserver) cpu() (time.Duration, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		return 0, false
	}
	// The command name, field 2, is in parentheses and may hold spaces: count fields after its closing one.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}

// processCPU is the user and system time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (c *childObserver) status() lagStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func startLagChild(b *testing.B, addr string) lagObserver {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLagObserverChild$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), "RECOUNT_LAG_CHILD_DIR="+b.TempDir(), "RECOUNT_LAG_CHILD_NODE="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &childObserver{pid: cmd.Process.Pid}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var st lagStatus
			var lag int64
			if _, err := fmt.Sscanf(sc.Text(), "%d %d %d %d %d", &st.Verified, &lag, &st.Cast, &st.FailureCount, &st.Alarms); err != nil {
				continue // not a status line (the test framework's own output)
			}
			st.Lag = time.Duration(lag)
			c.mu.Lock()
			c.last = st
			c.mu.Unlock()
		}
	}()
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		<-read
		if b.Failed() {
			b.Logf("observer process's stderr:\n%s", stderr.String())
		}
	})
	return c
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func waitLag(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var lagToken = []byte("lag-bench-admin-token-0123456789")

// lagNode opens a node in a temporary directory and serves it on a loopback port, until the benchmark ends.
func lagNode(b *testing.B) (*node.Node, string) {
	n, err := node.Open(b.TempDir(), node.Options{Origin: "lag.recount.local/board"})
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close()
		b.Fatal(err)
	}
	srv := node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: lagToken}})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
		if err := n.Close(); err != nil {
			b.Error(err)
		}
	})
	return n, lis.Addr().String()
}

// lagElectionSetup is an election open on a node, with one trustee (checking shapes only) following it.
type lagElectionSetup struct {
	manifest *election.Manifest
	info     *client.ElectionInfo
	creds    []*election.Credential
}

// lagElection creates the election (electiontest.Mixed, one trustee), publishes voters credentials, runs the key
// ceremony and opens the polls, as node's test fixture does.
func lagElection(b *testing.B, addr string, voters int) *lagElectionSetup {
	ctx := context.Background()
	admin, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true, Token: lagToken})
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	st, keys, err := trustee.Create(filepath.Join(b.TempDir(), "trustee.db"), []byte("passphrase 1"), "Trustee 1",
		&trustee.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	pb := electiontest.Mixed()
	pb.Threshold = 1
	pb.Trustees = append(pb.Trustees, keys.Public(1, "Trustee 1"))
	m, err := election.NewManifest(pb)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := admin.Admin.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: m.Bytes()}); err != nil {
		b.Fatal(err)
	}
	tcl, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		b.Fatal(err)
	}
	tctx, tcancel := context.WithCancel(context.Background())
	terr := make(chan error, 1)
	go func() { terr <- trustee.Run(tctx, trustee.Config{Store: st, Client: tcl, ShapeOnly: true}) }()
	b.Cleanup(func() {
		tcancel()
		if err := <-terr; err != nil && !errors.Is(err, context.Canceled) {
			b.Errorf("trustee: %v", err)
		}
		tcl.Close()
		st.Close()
	})
	creds, drafts, err := election.GenerateCredentials(m.ID(), voters, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range drafts {
		var list recordv1.CredentialList
		if err := proto.Unmarshal(d.Payload, &list); err != nil {
			b.Fatal(err)
		}
		if _, err := admin.Admin.PublishCredentials(ctx, &recountv1.PublishCredentialsRequest{PublicKeys: list.PublicKeys}); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := admin.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Verdicts) == 1 {
			_, err := admin.Admin.FinishKeyCeremony(ctx, &recountv1.FinishKeyCeremonyRequest{})
			if err == nil {
				break
			}
			if status.Code(err) != codes.FailedPrecondition {
				b.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the key ceremony did not finish: %v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := admin.Admin.OpenPolls(ctx, &recountv1.OpenPollsRequest{}); err != nil {
		b.Fatal(err)
	}
	info, err := admin.Election(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return &lagElectionSetup{manifest: m, info: info, creds: creds}
}

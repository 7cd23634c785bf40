package node_test

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/node"
)

// BenchmarkCastOverGRPC measures the node's accept path against the ballot checks it runs, side by side, on the
// ballots of electiontest.Mixed (three contests, 15 options: exactly 1 of 5, approval of up to 3 of 6, scores of
// 0-5 for 4), encrypted before the timer starts:
//
//   - path=node casts them to a node in a process of its own (this test binary run again as a child: it serves
//     the node as recountd does, with its text logger at info and its metrics), through VoterService on a
//     loopback port, from 64 clients in the benchmark's process, each with its own connection, casting one
//     ballot after another: each ballot checked in full by the node (signature, proofs, the state's checks),
//     appended with a group-committed fsync and receipted; each receipt checked by its client (checkpoint
//     signature, inclusion proof, consistency with the last checkpoint that client saw). The
//     trustee follows the board from the benchmark's process too, checking shapes only. It reports the wall
//     clock's ballots/s, the node process's ballots per CPU-second of its own (node-ballots/cpu-s: getrusage in
//     the child, read before and after the timed window), the clients' CPU per ballot, and the same ballots
//     checked with election.CheckBallot in a tight loop on GOMAXPROCS goroutines in this process, half just
//     before the timed window and half just after, the node idle (verify-ballots/cpu-s), and the ratio of the
//     two rates (accept/verify): issue 15's goal is 0.85.
//     With -node-cpuprofile FILE the child writes its CPU profile of the timed window alone to FILE.
//   - path=inprocess is path=node with the node, the clients and the trustee in one process: its ballots/cpu-s
//     is the whole process's (node, clients and trustee together).
//   - path=verify checks ballots of the same shape with election.CheckBallot in a tight loop on GOMAXPROCS
//     goroutines: what the same cores verify when they do nothing else.
//
// Compare them with
//
//	go test -run '^$' -bench CastOverGRPC -benchtime 600x -count 6 ./node | tee /tmp/cast.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /path /tmp/cast.txt
func BenchmarkCastOverGRPC(b *testing.B) {
	b.Run("path=node", benchCastToNodeProcess)
	b.Run("path=inprocess", benchCastInProcess)
	b.Run("path=verify", benchVerifyBallots)
}

var nodeCPUProfile = flag.String("node-cpuprofile", "", "BenchmarkCastOverGRPC/path=node: write the node process's CPU profile of the timed window to this file")

func benchCastToNodeProcess(b *testing.B) {
	bn := startBenchNode(b)
	f := newFixture(b, bn.target(), setup{trustees: 1, threshold: 1, voters: b.N, trustShapes: true})
	ballots := make([]*election.PreparedBallot, b.N)
	entries := make([]election.Entry, b.N)
	for v := range ballots {
		ballots[v] = f.ballot(b, v)
		entries[v] = election.Entry{Index: uint64(1000 + v), Kind: election.KindBallot, Payload: ballots[v].DraftCast().Payload}
	}
	// The tight loop on the same ballots, half just before the timed window and half just after, so that a load
	// that changes meanwhile weighs on both sides of the ratio alike.
	checks := max(b.N/2, 128)
	tightCPU := checkBallotsLoop(b, f.manifest, f.info.Key, entries, checks)

	b.ResetTimer()
	clients0 := processCPUTime()
	node0 := bn.cpuTime(b)
	if *nodeCPUProfile != "" {
		bn.command(b, "profile "+*nodeCPUProfile)
	}
	castAll(b, bn.addr, f.info, ballots)
	b.StopTimer()
	nodeCPU := bn.cpuTime(b) - node0
	clientsCPU := processCPUTime() - clients0
	if *nodeCPUProfile != "" {
		bn.command(b, "stop")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ballots/s")

	// The node is idle now; the trustee, which checks the last ballots' shapes in this process, is stopped.
	for _, stop := range f.cancel {
		stop()
	}
	tightCPU += checkBallotsLoop(b, f.manifest, f.info.Key, entries, checks)
	if node0 == 0 || nodeCPU <= 0 || tightCPU <= 0 {
		return // no CPU time outside Unix
	}
	accept := float64(b.N) / (float64(nodeCPU) / 1e9)
	tight := float64(2*checks) / (float64(tightCPU) / 1e9)
	b.ReportMetric(accept, "node-ballots/cpu-s")
	b.ReportMetric(float64(clientsCPU)/1e6/float64(b.N), "clients-cpu-ms/ballot")
	b.ReportMetric(tight, "verify-ballots/cpu-s")
	b.ReportMetric(accept/tight, "accept/verify")
}

// castAll casts ballots to the node at addr from 64 clients, each with a connection of its own and its own last
// checkpoint seen, each casting its share of the ballots one after another; it fails b on any error.
func castAll(b *testing.B, addr string, info *client.ElectionInfo, ballots []*election.PreparedBallot) {
	b.Helper()
	clients := make([]*grpcnode.Client, 64)
	for i := range clients {
		c, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for v := range next {
				if _, err := c.Submit(context.Background(), info, ballots[v], client.SubmitOptions{}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for v := range ballots {
		next <- v
	}
	close(next)
	wg.Wait()
}

// checkBallotsLoop checks n ballots, going round entries, with election.CheckBallot on GOMAXPROCS goroutines, and
// returns the process's CPU time it took (0 outside Unix).
func checkBallotsLoop(b *testing.B, m *election.Manifest, pk *elgamal.PublicKey, entries []election.Entry, n int) int64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := processCPUTime()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if bc := election.CheckBallot(m, pk, entries[i%int64(len(entries))]); bc.Err() != nil {
					b.Error(bc.Err())
				}
			}
		})
	}
	wg.Wait()
	return processCPUTime() - cpu0
}

func benchCastInProcess(b *testing.B) {
	tn := startNode(b, b.TempDir(), "")
	f := newFixture(b, tn.target(), setup{trustees: 1, threshold: 1, voters: b.N, trustShapes: true})
	ballots := make([]*election.PreparedBallot, b.N)
	for v := range ballots {
		ballots[v] = f.ballot(b, v)
	}
	b.ResetTimer()
	cpu0 := processCPUTime()
	castAll(b, tn.addr, f.info, ballots)
	reportRates(b, cpu0)
}

// reportRates reports ballots/s (wall clock) and ballots per CPU-second of the whole process since it had used
// cpu0 ns: for path=inprocess that is the node's, the clients' and the trustee's work together. The machine is
// shared: the CPU figure is the steadier.
func reportRates(b *testing.B, cpu0 int64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ballots/s")
	if cpu := processCPUTime() - cpu0; cpu0 != 0 && cpu > 0 {
		b.ReportMetric(float64(b.N)/(float64(cpu)/1e9), "ballots/cpu-s")
	}
}

// verifyPool is path=verify's election and ballots, made once: the ballots are checked again and again.
var verifyPool struct {
	once     sync.Once
	manifest *election.Manifest
	key      *elgamal.PublicKey
	entries  []election.Entry
}

func benchVerifyBallots(b *testing.B) {
	const pool = 64
	verifyPool.once.Do(func() {
		tn := startNode(b, b.TempDir(), "")
		f := newFixture(b, tn.target(), setup{trustees: 1, threshold: 1, voters: pool, trustShapes: true})
		verifyPool.manifest, verifyPool.key = f.manifest, f.info.Key
		for v := range pool {
			verifyPool.entries = append(verifyPool.entries, election.Entry{Index: uint64(1000 + v), Kind: election.KindBallot, Payload: f.ballot(b, v).DraftCast().Payload})
		}
	})
	m, pk, entries := verifyPool.manifest, verifyPool.key, verifyPool.entries
	if len(entries) != pool {
		b.Fatal("the ballots to verify were not made (see the first run's error)")
	}
	var next atomic.Uint64
	b.ResetTimer()
	cpu0 := processCPUTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if bc := election.CheckBallot(m, pk, entries[next.Add(1)%pool]); bc.Err() != nil {
				b.Error(bc.Err())
			}
		}
	})
	reportRates(b, cpu0)
}

// The environment of a child process that serves a node for BenchmarkCastOverGRPC/path=node: its data directory.
const benchNodeEnv = "RECOUNT_BENCH_NODE_DIR"

// runBenchNode serves a node on dir as recountd does by default (text logs at info on stderr, metrics kept, the
// collector tuned by node.TuneGC), on a loopback port that it prints ("ADDR host:port"), and answers commands
// read from stdin, one a line:
// "cpu" (it prints "CPU ns", the CPU time the process has used), "profile FILE" (starts a CPU profile into
// FILE) and "stop" (stops it), each of the last two answered with "OK". It stops when stdin ends.
func runBenchNode(dir string) int {
	node.TuneGC() // as recountd does
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	n, err := node.Open(dir, node.Options{Origin: "test.recount.local/board", Logger: logger, Metrics: node.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		return 1
	}
	srv := node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: testToken}, Logger: logger})
	go srv.Serve(lis)
	fmt.Println("ADDR", lis.Addr())
	var prof *os.File
	for in := bufio.NewScanner(os.Stdin); in.Scan(); {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "cpu":
			fmt.Println("CPU", processCPUTime())
		case "profile":
			if prof, err = os.Create(arg); err == nil {
				err = pprof.StartCPUProfile(prof)
			}
			if err != nil {
				fmt.Println("ERROR", err)
				continue
			}
			fmt.Println("OK")
		case "stop":
			pprof.StopCPUProfile()
			if err := prof.Close(); err != nil {
				fmt.Println("ERROR", err)
				continue
			}
			fmt.Println("OK")
		default:
			fmt.Println("ERROR unknown command", cmd)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	if err := n.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// benchNode is the node of runBenchNode in a child process, with clients with and without the admin token.
type benchNode struct {
	addr        string
	admin, anon *grpcnode.Client
	in          io.Writer
	out         *bufio.Scanner
}

// startBenchNode starts runBenchNode in a child process on a new data directory; it stops when b ends (its
// logs are shown if b failed).
func startBenchNode(b *testing.B) *benchNode {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchNodeEnv+"="+b.TempDir())
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close() // the child shuts down
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("the node's process: %v", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			b.Error("the node's process did not stop in time")
		}
		if b.Failed() {
			b.Logf("the node's logs:\n%s", logs.String())
		}
	})
	bn := &benchNode{in: in, out: bufio.NewScanner(out)}
	if !bn.out.Scan() {
		b.Fatal("the node's process did not start")
	}
	addr, ok := strings.CutPrefix(bn.out.Text(), "ADDR ")
	if !ok {
		b.Fatalf("the node's process did not start: %s", bn.out.Text())
	}
	bn.addr = addr
	if bn.admin, err = grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true, Token: testToken}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bn.admin.Close() })
	if bn.anon, err = grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bn.anon.Close() })
	return bn
}

func (bn *benchNode) target() target { return target{addr: bn.addr, admin: bn.admin, anon: bn.anon} }

// command sends the child a command and returns its answer, failing b on an error.
func (bn *benchNode) command(b *testing.B, cmd string) string {
	b.Helper()
	if _, err := fmt.Fprintln(bn.in, cmd); err != nil {
		b.Fatal(err)
	}
	if !bn.out.Scan() {
		b.Fatalf("%s: the node's process did not answer", cmd)
	}
	if strings.HasPrefix(bn.out.Text(), "ERROR") {
		b.Fatalf("%s: %s", cmd, bn.out.Text())
	}
	return bn.out.Text()
}

// cpuTime returns the CPU time the node's process has used, in nanoseconds (0 outside Unix).
func (bn *benchNode) cpuTime(b *testing.B) int64 {
	b.Helper()
	v, ok := strings.CutPrefix(bn.command(b, "cpu"), "CPU ")
	ns, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil {
		b.Fatalf("the node's process answered %q to cpu", v)
	}
	return ns
}

// BenchmarkUnreadStreams opens b.N streams whose client reads nothing, over loopback, on a board of 4 MiB
// (1024 entries of 4 KiB), and reports the heap and stacks they hold, per stream, once every Send is blocked:
// slow readers must cost bounded memory. Client and server share the process; the client's share is at most
// its 64 KiB window and its stream's bookkeeping. Run with a fixed count, e.g. -benchtime 200x.
func BenchmarkUnreadStreams(b *testing.B) {
	for _, kind := range []string{"Export", "Follow"} {
		b.Run(kind, func(b *testing.B) {
			tn := startNodeWith(b, b.TempDir(), "", node.ServerOptions{MaxStreams: 1 << 20, MaxStreamsPerConn: 1 << 20, MaxConcurrentStreams: 1 << 20})
			fillBoard(b, tn, 1024, 4<<10)
			board := dialBoard(b, tn.addr, 64<<10)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			before := heldBytes()
			b.ResetTimer()
			for range b.N {
				var err error
				if kind == "Export" {
					_, err = board.Export(ctx, &recountv1.ExportRequest{})
				} else {
					_, err = board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{Follow: true})
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			awaitStreams(b, tn, b.N)
			// Let every Send fill the windows and block: nothing signals that, so wait for the heap to settle.
			last := heldBytes()
			for range 50 {
				time.Sleep(100 * time.Millisecond)
				now := heldBytes()
				if now < last+last/100 {
					break
				}
				last = now
			}
			b.StopTimer()
			b.ReportMetric(float64(heldBytes()-before)/float64(b.N), "B/stream")
			cancel()
			awaitStreams(b, tn, 0)
		})
	}
}

// heldBytes returns the heap in use and the goroutine stacks, after a collection.
func heldBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

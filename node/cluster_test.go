package node_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/replica"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/observer"
)

// testCluster is a cluster of nodes in this process, each with its gRPC server and its Raft on loopback TCP.
type testCluster struct {
	t       testing.TB
	members []replica.Member
	addrs   map[string]string // member ID -> gRPC address
	nodes   []*clusterNode
	key     string // the board's private key text
	mu      sync.Mutex
}

type clusterNode struct {
	id, dir, raftAddr, grpcAddr string
	tn                          *testNode // nil while stopped
	trans                       *raft.NetworkTransport
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newTestCluster(t testing.TB, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t, addrs: map[string]string{}}
	for i := range n {
		cn := &clusterNode{id: string(rune('a' + i)), dir: t.TempDir(), raftAddr: freeAddr(t), grpcAddr: freeAddr(t)}
		c.nodes = append(c.nodes, cn)
		c.members = append(c.members, replica.Member{ID: cn.id, Addr: cn.raftAddr})
		c.addrs[cn.id] = cn.grpcAddr
	}
	c.start(0, true)
	key, err := os.ReadFile(filepath.Join(c.nodes[0].dir, ledger.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	c.key = strings.TrimSpace(string(key))
	for i := 1; i < n; i++ {
		c.start(i, false)
	}
	return c
}

func (c *testCluster) options(i int, bootstrap bool) (node.Options, error) {
	cn := c.nodes[i]
	adv, _ := net.ResolveTCPAddr("tcp", cn.raftAddr)
	var trans *raft.NetworkTransport
	var err error
	for try := 0; try < 50; try++ {
		if trans, err = raft.NewTCPTransport(cn.raftAddr, adv, 3, 2*time.Second, io.Discard); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond) // a port just released
	}
	if err != nil {
		return node.Options{}, err
	}
	cn.trans = trans
	return node.Options{Origin: "test.recount.local/board", Cluster: &node.ClusterOptions{ID: cn.id, Transport: trans, SigningKey: c.key,
		Members: c.members, Bootstrap: bootstrap, Addrs: c.addrs, HeartbeatTimeout: time.Second}}, nil
}

// start starts member i (on its addresses and directory), forming the cluster if bootstrap.
func (c *testCluster) start(i int, bootstrap bool) {
	c.t.Helper()
	opts, err := c.options(i, bootstrap)
	if err != nil {
		c.t.Fatal(err)
	}
	tn := startNodeOpts(c.t, c.nodes[i].dir, c.nodes[i].grpcAddr, opts, node.ServerOptions{})
	c.mu.Lock()
	c.nodes[i].tn = tn
	c.mu.Unlock()
}

// stop stops member i: its server, node (and Raft) and transport.
func (c *testCluster) stop(i int) {
	c.mu.Lock()
	cn := c.nodes[i]
	tn := cn.tn
	cn.tn = nil
	c.mu.Unlock()
	if tn == nil {
		return
	}
	tn.stop()
	cn.trans.Close()
}

// leader waits for a member that leads and takes changes, and returns its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for i, cn := range c.nodes {
			if cn.tn == nil {
				continue
			}
			if st, ok, err := cn.tn.n.ClusterStatus(); ok && err == nil && st.Ready {
				c.mu.Unlock()
				return i
			}
		}
		c.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return -1
}

func (c *testCluster) grpcAddrs() []string {
	var a []string
	for _, cn := range c.nodes {
		a = append(a, cn.grpcAddr)
	}
	return a
}

// converge waits until the running members' boards have the same size, and checks that they hold the same
// entries and latest checkpoint.
func (c *testCluster) converge() {
	c.t.Helper()
	var up []*clusterNode
	for _, cn := range c.nodes {
		if cn.tn != nil {
			up = append(up, cn)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		same := true
		for _, cn := range up {
			st, _, _ := cn.tn.n.ClusterStatus()
			if cn.tn.size() != up[0].tn.size() || st.Pending != 0 {
				same = false
			}
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatal("the members' boards did not converge")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ref := up[0].tn.n.Log()
	for _, cn := range up[1:] {
		l := cn.tn.n.Log()
		if !bytes.Equal(l.Latest().Signed, ref.Latest().Signed) {
			c.t.Fatalf("member %s's latest checkpoint differs from %s's", cn.id, up[0].id)
		}
		for i := range ref.Size() {
			a, err := ref.Entry(i)
			if err != nil {
				c.t.Fatal(err)
			}
			b, err := l.Entry(i)
			if err != nil {
				c.t.Fatal(err)
			}
			if a.Kind != b.Kind || !bytes.Equal(a.Payload, b.Payload) {
				c.t.Fatalf("member %s's entry %d differs from %s's", cn.id, i, up[0].id)
			}
		}
	}
}

// TestClusterCast runs a 3-member cluster over loopback: an election set up on the leader, ballots cast through
// a client that knows every member, the leader stopped mid-vote (the client moves on to the new leader, the
// voters see no error), the stopped member restarted (it catches up), and every receipt checked on every member.
func TestClusterCast(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-member cluster over loopback")
	}
	t0 := time.Now()
	c := newTestCluster(t, 3)
	l := c.leader()
	t.Logf("cluster up in %v", time.Since(t0))
	per := 20 // ballots cast before, during and after the leader's stop
	if raceEnabled {
		per = 6
	}
	tg := c.nodes[l].tn.target()
	tg.addr = strings.Join(c.grpcAddrs(), ",") // the trustee knows every member
	f := newFixture(t, tg, setup{trustees: 1, threshold: 1, voters: 3 * per, trustShapes: true})
	cl, err := grpcnode.DialCluster(c.grpcAddrs(), grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// A follower refuses a change, naming the leader; it serves reads at its board's size.
	fo := c.nodes[(l+1)%3]
	// An observer follows the follower (any member will do): it mirrors and verifies the replicated board.
	ocl, err := grpcnode.Dial(fo.grpcAddr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ocl.Close()
	obs, err := observer.Open(context.Background(), observer.Config{Dir: t.TempDir(), Board: ocl.Board, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	octx, ocancel := context.WithCancel(context.Background())
	oerr := make(chan error, 1)
	go func() { oerr <- obs.Run(octx) }()
	defer func() {
		ocancel()
		<-oerr
		obs.Close()
	}()
	_, err = fo.tn.admin.Admin.ClosePolls(context.Background(), &recountv1.ClosePollsRequest{})
	if reason, _ := grpcnode.Reason(err); reason != node.ReasonNotLeader || !strings.Contains(err.Error(), c.nodes[l].grpcAddr) {
		t.Fatalf("a follower's ClosePolls: %v (reason %q), want NOT_LEADER naming %s", err, reason, c.nodes[l].grpcAddr)
	}

	var mu sync.Mutex
	var receipts []*client.Receipt
	cast := func(voters []int) {
		var wg sync.WaitGroup
		for _, v := range voters {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				r, err := cl.Submit(ctx, f.info, f.ballot(t, v), client.SubmitOptions{InDoubtWait: 20 * time.Second})
				if err != nil {
					t.Errorf("voter %d: %v", v, err)
					return
				}
				mu.Lock()
				receipts = append(receipts, r)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	t.Logf("election set up at %v", time.Since(t0))
	cast(seq(per))
	t.Logf("%d cast at %v", per, time.Since(t0))

	// Stop the leader while 20 more voters cast; then 20 more.
	done := make(chan struct{})
	go func() { cast(seq(2 * per)[per:]); close(done) }()
	time.Sleep(50 * time.Millisecond)
	killed := time.Now()
	c.stop(l)
	t.Logf("leader stopped in %v", time.Since(killed))
	<-done
	firstAfter := time.Since(killed)
	cast(seq(3 * per)[2*per:])
	t.Logf("%d ballots receipted; the casts under way when the leader stopped all finished %v after it", len(receipts), firstAfter)
	if len(receipts) != 3*per {
		t.Fatalf("%d receipts, want %d", len(receipts), 3*per)
	}

	// The stopped member comes back and catches up.
	c.start(l, false)
	c.converge()
	t.Logf("restarted member caught up at %v", time.Since(t0))

	// Every receipt checks on every member, and each ballot is on the board once.
	for _, cn := range c.nodes {
		one, err := grpcnode.Dial(cn.grpcAddr, grpcnode.DialOptions{Plaintext: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range receipts {
			if _, _, err := one.CheckReceipt(context.Background(), r); err != nil {
				t.Fatalf("member %s: receipt of %s: %v", cn.id, election.HumanTrackingCode(r.TrackingCode), err)
			}
		}
		one.Close()
	}
	var cast0 int
	c.nodes[0].tn.n.View(func(s *election.State) { cast0, _, _ = s.Counts() })
	if cast0 != 3*per {
		t.Fatalf("the board holds %d cast ballots, want %d", cast0, 3*per)
	}

	// The election ends on whichever member leads now; the trustee, which followed the first leader, finds the
	// new one for its partial decryption.
	nl := c.nodes[c.leader()].tn
	ctx := context.Background()
	if _, err := nl.admin.Admin.ClosePolls(ctx, &recountv1.ClosePollsRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nl.admin.Admin.Tally(ctx, &recountv1.TallyRequest{}); err != nil {
		t.Fatal(err)
	}
	waitPartials(t, nl.admin, 1)
	if _, err := nl.admin.Admin.PublishResult(ctx, &recountv1.PublishResultRequest{}); err != nil {
		t.Fatal(err)
	}
	c.converge()
	for _, cn := range c.nodes {
		if rep := verifyExport(t, export(t, cn.tn.anon), f.info.BoardKey); !rep.Complete {
			t.Fatalf("member %s's record has no result", cn.id)
		}
	}
	final := fo.tn.size()
	for deadline := time.Now().Add(30 * time.Second); obs.Status().Verified < final; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the observer of follower %s verified %d of %d entries", fo.id, obs.Status().Verified, final)
		}
	}
	if st := obs.Status(); st.FailureCount != 0 || len(st.Alarms) != 0 || st.Phase != client.PhaseDone {
		t.Fatalf("the observer of follower %s: %d failures, %d alarms, phase %v", fo.id, st.FailureCount, len(st.Alarms), st.Phase)
	}
}

// TestClusterRefusals checks that a member refuses, writing nothing, a data directory another node holds, a
// board of another cluster (another key), and members that disagree with the configuration it stored.
func TestClusterRefusals(t *testing.T) {
	c := newTestCluster(t, 1)
	c.leader()
	dir := c.nodes[0].dir

	// Another node on the same data directory: the board is locked.
	other := &testCluster{t: t, nodes: []*clusterNode{{id: "a", dir: dir, raftAddr: freeAddr(t)}}, members: c.members, addrs: c.addrs, key: c.key}
	opts, err := other.options(0, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Open(dir, opts); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("a second node on the same data directory: %v, want a refusal saying it is locked", err)
	}
	other.nodes[0].trans.Close()
	c.stop(0)
	size := mustSize(t, dir)

	// Members that disagree with the stored configuration.
	c.members = append(c.members, replica.Member{ID: "z", Addr: "127.0.0.1:1"})
	opts, err = c.options(0, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Open(dir, opts); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Fatalf("members that disagree: %v, want a refusal", err)
	}
	c.nodes[0].trans.Close()
	c.members = c.members[:1]

	// Another cluster's board: its key is not the one given.
	b, err := ledger.Open(filepath.Join(t.TempDir(), "b"), ledger.Options{Origin: "test.recount.local/board", Replica: true})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	otherKey, err := os.ReadFile(filepath.Join(b.Dir(), ledger.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	c.key = strings.TrimSpace(string(otherKey))
	if opts, err = c.options(0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Open(dir, opts); !errors.Is(err, ledger.ErrMismatch) {
		t.Fatalf("another cluster's key: %v, want ErrMismatch", err)
	}
	c.nodes[0].trans.Close()
	if got := mustSize(t, dir); got != size {
		t.Fatalf("the refused starts changed the board: %d entries, was %d", got, size)
	}

	// A member whose data directory was wiped, started without the cluster's key and without forming the
	// cluster: it would make a board of its own key. Refused, nothing written.
	wiped := t.TempDir()
	c.key = ""
	other = &testCluster{t: t, nodes: []*clusterNode{{id: "n0", dir: wiped, raftAddr: freeAddr(t)}}, members: c.members, addrs: c.addrs}
	if opts, err = other.options(0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Open(wiped, opts); err == nil || !strings.Contains(err.Error(), "needs the board's signing key") {
		t.Fatalf("a wiped member without the cluster's key: %v, want a refusal", err)
	}
	other.nodes[0].trans.Close()
	if names, _ := os.ReadDir(wiped); len(names) != 0 {
		t.Fatalf("the refused start wrote %v", names)
	}
}

func mustSize(t testing.TB, dir string) uint64 {
	t.Helper()
	l, err := ledger.Open(dir, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Size()
}

// BenchmarkClusterCast casts ballots (encrypted beforehand) over gRPC with 64 clients, on a single node and on a
// 3-member cluster on loopback (all in this process, so the three members share the machine's cores), side by
// side: ballots/s. The cluster's client knows every member (grpcnode.DialCluster). Each ballot is checked in
// full by the leader; the followers check its shape only.
func BenchmarkClusterCast(b *testing.B) {
	run := func(b *testing.B, tn *testNode, cl *grpcnode.Client) {
		f := newFixture(b, tn.target(), setup{trustees: 1, threshold: 1, voters: b.N, trustShapes: true})
		ballots := make([]*election.PreparedBallot, b.N)
		for v := range ballots {
			ballots[v] = f.ballot(b, v)
		}
		next := make(chan int)
		var wg sync.WaitGroup
		b.ResetTimer()
		for range 64 {
			wg.Go(func() {
				for v := range next {
					if _, err := cl.Submit(context.Background(), f.info, ballots[v], client.SubmitOptions{}); err != nil {
						b.Error(err)
					}
				}
			})
		}
		for v := range b.N {
			next <- v
		}
		close(next)
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ballots/s")
	}
	b.Run("single", func(b *testing.B) {
		tn := startNode(b, b.TempDir(), "")
		run(b, tn, tn.anon)
	})
	b.Run("cluster3", func(b *testing.B) {
		c := newTestCluster(b, 3)
		l := c.leader()
		cl, err := grpcnode.DialCluster(c.grpcAddrs(), grpcnode.DialOptions{Plaintext: true})
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		run(b, c.nodes[l].tn, cl)
	})
}

// BenchmarkClusterLeaderKill stops a 3-member cluster's leader (Raft heartbeat timeout 1s) and times the next
// ballot accepted through a client that knows every member: from the stop to its receipt (ns/op, and s/failover).
// The stopped member is restarted between iterations, outside the timer.
func BenchmarkClusterLeaderKill(b *testing.B) {
	c := newTestCluster(b, 3)
	l := c.leader()
	f := newFixture(b, c.nodes[l].tn.target(), setup{trustees: 1, threshold: 1, voters: b.N, trustShapes: true})
	cl, err := grpcnode.DialCluster(c.grpcAddrs(), grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ballots := make([]*election.PreparedBallot, b.N)
	for v := range ballots {
		ballots[v] = f.ballot(b, v)
	}
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		c.converge()
		l := c.leader()
		b.StartTimer()
		start := time.Now()
		c.stop(l)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := cl.Submit(ctx, f.info, ballots[i], client.SubmitOptions{InDoubtWait: 20 * time.Second})
		cancel()
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		c.start(l, false)
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/failover")
}

// TestClusterAddRemoveMember grows a 1-member cluster by a member added through the admin service (it starts
// empty and catches up), then removes it; a follower refuses both changes with NOT_LEADER.
func TestClusterAddRemoveMember(t *testing.T) {
	if testing.Short() {
		t.Skip("membership changes")
	}
	c := newTestCluster(t, 1)
	l := c.leader()
	lt := c.nodes[l].tn
	e, err := electiontest.Prepare(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lt.admin.Admin.CreateElection(context.Background(), &recountv1.CreateElectionRequest{Manifest: e.Manifest.Bytes()}); err != nil {
		t.Fatal(err)
	}
	// A new member: its own directories and addresses, the cluster's key, no bootstrap and no members given.
	nn := &clusterNode{id: "z", dir: t.TempDir(), raftAddr: freeAddr(t), grpcAddr: freeAddr(t)}
	c.nodes = append(c.nodes, nn)
	c.addrs[nn.id] = nn.grpcAddr
	saved := c.members
	c.members = nil
	c.start(1, false)
	c.members = saved
	if _, err := lt.admin.Admin.AddMember(context.Background(), &recountv1.AddMemberRequest{Id: nn.id, RaftAddress: nn.raftAddr}); err != nil {
		t.Fatal(err)
	}
	c.converge()
	st, err := lt.admin.Admin.GetStatus(context.Background(), &recountv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Cluster.Members) != 2 {
		t.Fatalf("members after AddMember: %v", st.Cluster.Members)
	}
	_, err = nn.tn.admin.Admin.RemoveMember(context.Background(), &recountv1.RemoveMemberRequest{Id: c.nodes[l].id})
	if reason, _ := grpcnode.Reason(err); reason != node.ReasonNotLeader {
		t.Fatalf("RemoveMember on a follower: %v, want NOT_LEADER", err)
	}
	if _, err := lt.admin.Admin.RemoveMember(context.Background(), &recountv1.RemoveMemberRequest{Id: nn.id}); err != nil {
		t.Fatal(err)
	}
	if st, err = lt.admin.Admin.GetStatus(context.Background(), &recountv1.GetStatusRequest{}); err != nil || len(st.Cluster.Members) != 1 {
		t.Fatalf("members after RemoveMember: %v, %v", st.GetCluster().GetMembers(), err)
	}
}

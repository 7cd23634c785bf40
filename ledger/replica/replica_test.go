package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "recount.test/cluster"

// testCluster is a cluster of members on Raft's in-memory transport, each with its own directories.
type testCluster struct {
	t       testing.TB
	key     string // the board's private key text, shared by the members
	members []*testMember
	snapAt  uint64 // Config.SnapshotThreshold (and TrailingLogs/2)
}

type testMember struct {
	id    string
	addr  raft.ServerAddress
	dir   string
	trans *raft.InmemTransport
	board *ledger.Log
	rep   *Replica
}

func newTestCluster(t testing.TB, n int, snapAt uint64) *testCluster {
	t.Helper()
	c := &testCluster{t: t, snapAt: snapAt}
	for i := range n {
		c.members = append(c.members, &testMember{id: fmt.Sprintf("m%d", i), addr: raft.ServerAddress(fmt.Sprintf("addr%d", i)), dir: t.TempDir()})
	}
	// The first member's board makes the key; the others are created with it.
	b, err := ledger.Open(filepath.Join(c.members[0].dir, "board"), ledger.Options{Origin: testOrigin, Replica: true})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	key, err := os.ReadFile(filepath.Join(c.members[0].dir, "board", ledger.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	c.key = strings.TrimSpace(string(key))
	for i := range c.members {
		c.start(i)
	}
	var ms []Member
	for _, m := range c.members {
		ms = append(ms, Member{ID: m.id, Addr: string(m.addr)})
	}
	if err := c.members[0].rep.Bootstrap(ms); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := range c.members {
			c.stop(i)
		}
	})
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	m := c.members[i]
	b, err := ledger.Open(filepath.Join(m.dir, "board"), ledger.Options{Origin: testOrigin, Replica: true, SigningKey: c.key})
	if err != nil {
		c.t.Fatal(err)
	}
	_, m.trans = raft.NewInmemTransport(m.addr)
	for _, o := range c.members {
		if o != m && o.rep != nil {
			o.trans.Connect(m.addr, m.trans)
			m.trans.Connect(o.addr, o.trans)
		}
	}
	rep, err := Open(Config{ID: m.id, Dir: filepath.Join(m.dir, "raft"), Board: b, Transport: m.trans, HeartbeatTimeout: 200 * time.Millisecond, SnapshotThreshold: c.snapAt, TrailingLogs: c.snapAt / 2})
	if err != nil {
		b.Close()
		c.t.Fatal(err)
	}
	m.board, m.rep = b, rep
}

// stop shuts a member down, as if its machine died (its Raft and board files stay as they are on disk).
func (c *testCluster) stop(i int) {
	m := c.members[i]
	if m.rep == nil {
		return
	}
	for _, o := range c.members {
		if o != m && o.trans != nil {
			o.trans.Disconnect(m.addr)
		}
	}
	if err := m.rep.Close(); err != nil && !errors.Is(err, raft.ErrRaftShutdown) {
		c.t.Errorf("closing %s: %v", m.id, err)
	}
	if err := m.board.Close(); err != nil {
		c.t.Errorf("closing %s's board: %v", m.id, err)
	}
	m.rep, m.board = nil, nil
}

// leader waits for a member that is up to lead, and returns its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for i, m := range c.members {
			if m.rep != nil && m.rep.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader elected")
	return -1
}

// appender appends unique payloads from several goroutines to whichever member leads, recording which were
// acknowledged.
type appender struct {
	mu    sync.Mutex
	acked map[string]ledger.AppendResult
	maybe int
	seq   int
}

func (a *appender) next(w int) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	return fmt.Appendf(nil, "ballot w%d n%d", w, a.seq)
}

// run appends from workers goroutines until stop is closed or each has made per appends.
func (a *appender) run(c *testCluster, workers, per int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := 0; n < per; n++ {
				select {
				case <-stop:
					return
				default:
				}
				c.membersMu().Lock()
				var rep *Replica
				for _, m := range c.members {
					if m.rep != nil && m.rep.IsLeader() {
						rep = m.rep
						break
					}
				}
				c.membersMu().Unlock()
				if rep == nil {
					time.Sleep(5 * time.Millisecond)
					n--
					continue
				}
				p := a.next(w)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := rep.Append(ctx, []ledger.Record{{Kind: 7, Payload: p}})
				cancel()
				a.mu.Lock()
				switch {
				case err == nil:
					a.acked[string(p)] = res[0]
				case errors.Is(err, ErrNotLeader):
					n-- // nothing appended: try again with the next payload
				default:
					a.maybe++
				}
				a.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

var clusterMu sync.Mutex

// membersMu guards the members' rep fields against stop/start while appenders pick a leader.
func (c *testCluster) membersMu() *sync.Mutex { return &clusterMu }

// check waits for the members that are up to reach the same size, then checks that their boards are identical,
// that every acknowledged payload is on them exactly once at its acknowledged index, and that no two signed
// checkpoints of a size differ.
func (c *testCluster) check(a *appender) {
	c.t.Helper()
	var up []*testMember
	for _, m := range c.members {
		if m.rep != nil {
			up = append(up, m)
		}
	}
	// Wait until the sizes agree and nothing is pending on any member.
	deadline := time.Now().Add(20 * time.Second)
	for {
		same := true
		for _, m := range up {
			if m.board.Size() != up[0].board.Size() || m.rep.fsm.pendingCount() != 0 {
				same = false
			}
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			for _, m := range up {
				c.t.Logf("%s: size %d, pending %d", m.id, m.board.Size(), m.rep.fsm.pendingCount())
			}
			c.t.Fatal("the members' boards did not converge")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var ref []tlog.Entry
	for e, err := range up[0].board.Entries(context.Background(), 0) {
		if err != nil {
			c.t.Fatal(err)
		}
		ref = append(ref, e)
	}
	for _, m := range up[1:] {
		i := 0
		for e, err := range m.board.Entries(context.Background(), 0) {
			if err != nil {
				c.t.Fatal(err)
			}
			if e.Kind != ref[i].Kind || !bytes.Equal(e.Payload, ref[i].Payload) {
				c.t.Fatalf("%s's entry %d differs from %s's", m.id, i, up[0].id)
			}
			i++
		}
		if m.board.Latest().Root != up[0].board.Latest().Root || !bytes.Equal(m.board.Latest().Signed, up[0].board.Latest().Signed) {
			c.t.Fatalf("%s's latest checkpoint differs from %s's", m.id, up[0].id)
		}
	}
	seen := map[string]int{}
	for _, e := range ref {
		seen[string(e.Payload)]++
		if seen[string(e.Payload)] > 1 {
			c.t.Fatalf("payload %q is on the board twice", e.Payload)
		}
	}
	for p, res := range a.acked {
		if seen[p] != 1 {
			c.t.Fatalf("acknowledged payload %q is on the board %d times", p, seen[p])
		}
		if !bytes.Equal(ref[res.Index].Payload, []byte(p)) {
			c.t.Fatalf("acknowledged payload %q is not at its index %d", p, res.Index)
		}
		if res.Checkpoint.Size <= res.Index {
			c.t.Fatalf("the checkpoint acknowledged with %q (size %d) does not cover its index %d", p, res.Checkpoint.Size, res.Index)
		}
	}
	// Signed checkpoints: one per size across every member (and every acknowledgement), and each consistent with
	// the final board.
	signed := map[uint64][]byte{}
	add := func(cp tlog.Checkpoint, who string) {
		if prev, ok := signed[cp.Size]; ok && !bytes.Equal(prev, cp.Signed) {
			c.t.Fatalf("two different checkpoints of size %d were signed (%s)", cp.Size, who)
		}
		signed[cp.Size] = cp.Signed
	}
	for _, m := range up {
		for cp, err := range m.board.Checkpoints(context.Background(), 0) {
			if err != nil {
				c.t.Fatal(err)
			}
			add(cp, m.id)
		}
	}
	for _, res := range a.acked {
		add(res.Checkpoint, "an acknowledgement")
	}
	latest := up[0].board.Latest()
	for size := range signed {
		cp, err := tlog.OpenCheckpoint(signed[size], mustVerifier(c.t, up[0].board))
		if err != nil {
			c.t.Fatal(err)
		}
		p, err := up[0].board.ConsistencyProof(size, latest.Size)
		if err != nil {
			c.t.Fatal(err)
		}
		if err := tlog.VerifyConsistency(cp, latest, p); err != nil {
			c.t.Fatalf("the signed checkpoint of size %d is not a prefix of the final board: %v", size, err)
		}
	}
	c.t.Logf("board size %d, %d acknowledged, %d in doubt, %d signed checkpoints", len(ref), len(a.acked), a.maybe, len(signed))
}

func mustVerifier(t testing.TB, b *ledger.Log) note.Verifier {
	v, err := tlog.NewVerifier(b.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestReplicaAppends(t *testing.T) {
	c := newTestCluster(t, 3, 0)
	c.leader()
	a := &appender{acked: map[string]ledger.AppendResult{}}
	per := 40
	if testing.Short() {
		per = 10
	}
	a.run(c, 8, per, nil)
	if len(a.acked) != 8*per {
		t.Fatalf("%d appends acknowledged, want %d (%d in doubt)", len(a.acked), 8*per, a.maybe)
	}
	c.check(a)
	// A follower refuses to append, naming the leader.
	l := c.leader()
	f := c.members[(l+1)%3]
	_, err := f.rep.Append(context.Background(), []ledger.Record{{Kind: 7, Payload: []byte("x")}})
	var nle *NotLeaderError
	if !errors.As(err, &nle) || nle.LeaderID != c.members[l].id {
		t.Fatalf("a follower's Append: %v, want a NotLeaderError naming %s", err, c.members[l].id)
	}
	// A restarted member replays its log without applying a batch twice.
	c.stop((l + 1) % 3)
	c.start((l + 1) % 3)
	a.run(c, 2, 5, nil)
	c.check(a)
}

func TestReplicaLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the leader several times")
	}
	c := newTestCluster(t, 3, 256)
	c.leader()
	a := &appender{acked: map[string]ledger.AppendResult{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { a.run(c, 16, 1<<30, stop); close(done) }()
	for range 5 {
		time.Sleep(300 * time.Millisecond)
		l := c.leader()
		clusterMu.Lock()
		c.stop(l)
		clusterMu.Unlock()
		c.leader() // the other two elect a leader
		time.Sleep(200 * time.Millisecond)
		clusterMu.Lock()
		c.start(l)
		clusterMu.Unlock()
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	if len(a.acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	c.check(a)
}

func TestReplicaPartitionedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for an election")
	}
	c := newTestCluster(t, 3, 0)
	a := &appender{acked: map[string]ledger.AppendResult{}}
	a.run(c, 4, 10, nil)
	l := c.leader()
	old := c.members[l]
	sizeBefore := old.board.Size()
	// Cut the leader off from the others.
	old.trans.DisconnectAll()
	for _, m := range c.members {
		if m != old {
			m.trans.Disconnect(old.addr)
		}
	}
	// The minority side accepts nothing.
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := old.rep.Append(ctx, []ledger.Record{{Kind: 7, Payload: fmt.Appendf(nil, "minority %d", i)}})
		cancel()
		if err == nil {
			t.Fatal("the cut-off leader acknowledged an append")
		}
	}
	// The majority elects a leader and goes on.
	majorityLeader := func() int {
		deadline := time.Now().Add(20 * time.Second)
		for ; time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for i, m := range c.members {
				if m != old && m.rep.IsLeader() {
					return i
				}
			}
		}
		t.Fatal("the majority elected no leader")
		return -1
	}
	nl := majorityLeader()
	for i := range 20 {
		recs := []ledger.Record{{Kind: 7, Payload: fmt.Appendf(nil, "majority %d", i)}}
		res, err := c.members[nl].rep.Append(context.Background(), recs)
		// On a loaded machine the majority may change leaders between two appends: a refusal that names
		// another leader appended nothing, so append there instead.
		for tries := 0; errors.Is(err, ErrNotLeader) && tries < 20; tries++ {
			nl = majorityLeader()
			res, err = c.members[nl].rep.Append(context.Background(), recs)
		}
		if err != nil {
			t.Fatal(err)
		}
		a.acked[fmt.Sprintf("majority %d", i)] = res[0]
	}
	if old.board.Size() != sizeBefore {
		t.Fatalf("the cut-off leader's board grew from %d to %d", sizeBefore, old.board.Size())
	}
	// Heal: the old leader follows and its board becomes the majority's, without its minority appends.
	for _, m := range c.members {
		if m != old {
			m.trans.Connect(old.addr, old.trans)
			old.trans.Connect(m.addr, m.trans)
		}
	}
	c.check(a)
	for e, err := range old.board.Entries(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(e.Payload, []byte("minority")) {
			t.Fatalf("entry %d, appended on the cut-off side, is on the board", e.Index)
		}
	}
}

func TestReplicaWipedFollowerCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("snapshots and restores")
	}
	old := restoreChunk
	restoreChunk = 50 // restore in several transactions
	defer func() { restoreChunk = old }()
	c := newTestCluster(t, 3, 64)
	a := &appender{acked: map[string]ledger.AppendResult{}}
	a.run(c, 8, 20, nil)
	l := c.leader()
	f := (l + 1) % 3
	clusterMu.Lock()
	c.stop(f)
	clusterMu.Unlock()
	if err := os.RemoveAll(c.members[f].dir); err != nil {
		t.Fatal(err)
	}
	a.run(c, 8, 40, nil)
	if err := c.members[c.leader()].rep.Snapshot(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	clusterMu.Lock()
	c.start(f)
	clusterMu.Unlock()
	c.check(a)
	t.Logf("the wiped follower caught up %d entries in %v", c.members[f].board.Size(), time.Since(start))
	// The leader's log no longer starts at 1, so the follower caught up from the snapshot.
	if first, _ := c.members[c.leader()].rep.store.FirstIndex(); first <= 1 {
		t.Fatalf("the leader's log starts at %d: it was not compacted", first)
	}
	if n := c.members[f].rep.fsm.restored.Load(); n == 0 {
		t.Fatal("the wiped follower did not restore a snapshot")
	}
	// It restored in chunks, each under a checkpoint the leader signed: it keeps several.
	kept := 0
	for _, err := range c.members[f].board.Checkpoints(context.Background(), 1) {
		if err != nil {
			t.Fatal(err)
		}
		kept++
	}
	if kept < 3 {
		t.Fatalf("the wiped follower keeps %d checkpoints: it did not restore in chunks", kept)
	}
}

// BenchmarkReplicaCatchUp: a follower whose directories were deleted rejoins a 3-member cluster (Raft's in-memory
// transport) whose board holds b.N entries of 256 bytes, and catches up from the leader's snapshot and log:
// entries/s, from its start to its board's size matching the leader's.
func BenchmarkReplicaCatchUp(b *testing.B) {
	c := newTestCluster(b, 3, 4096)
	l := c.leader()
	f := (l + 1) % 3
	clusterMu.Lock()
	c.stop(f)
	clusterMu.Unlock()
	if err := os.RemoveAll(c.members[f].dir); err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte{'x'}, 248)
	for i := 0; i < b.N; i += 256 {
		var recs []ledger.Record
		for j := i; j < min(i+256, b.N); j++ {
			recs = append(recs, ledger.Record{Kind: 7, Payload: fmt.Appendf(append([]byte{}, payload...), "%08d", j)})
		}
		if _, err := c.members[l].rep.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.members[l].rep.Snapshot(); err != nil {
		b.Fatal(err)
	}
	want := c.members[l].board.Size()
	b.ResetTimer()
	start := time.Now()
	clusterMu.Lock()
	c.start(f)
	clusterMu.Unlock()
	for c.members[f].board.Size() < want {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(want)/time.Since(start).Seconds(), "entries/s")
}

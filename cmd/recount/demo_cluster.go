package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/replica"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
)

// `recount demo --replicas N`: the board on a cluster of N members in this process (node.Options.Cluster), each
// with its own data directory and gRPC listener, replicating the board with Raft over loopback TCP. The voters
// and the trustees know every member (grpcnode.DialCluster: a client.Failover), the commission talks to the
// leader. A third of the way through the vote the leader dies: its gRPC server is cut off at once and its node
// closed, so the calls in flight on it end without an answer and no heartbeat reaches the others. The voters'
// clients move on to the new leader (a cast whose answer was lost is looked up by its tracking code), and at the
// end every receipt is checked against the final board on every member left.
//
// The witnesses, the observers and the web pages follow a single node in the demo (demo_observers.go,
// demo_web.go): with --replicas they are left out.

// demoHeartbeat is the cluster's Raft heartbeat and election timeout (recountd's --raft-heartbeat default): a
// dead leader is replaced after about one to two of these.
const demoHeartbeat = time.Second

// demoCluster is the demo's cluster: its members, the admin token they share, and what happened to the leader.
type demoCluster struct {
	members []*demoMember
	token   []byte

	mu         sync.Mutex
	killed     *demoMember
	killedAt   time.Time // when its server was cut off
	deadAt     time.Time // when its node was closed: no receipt comes from it after this
	killBallot int       // the ballots receipted when it was killed
	leaderIn   time.Duration
	newLeader  *demoMember
	nextBallot time.Time // the first receipt after deadAt
	lostAnswer int       // casts whose answer was lost, then found on the board by tracking code
	killDone   chan struct{}
}

// demoMember is one member of the cluster.
type demoMember struct {
	id, dir, grpcAddr string
	node              *node.Node
	server            *node.Server
	trans             *raft.NetworkTransport
	serveDone         chan struct{}
}

// startCluster starts the cluster's members (the first forms the cluster, the others take its board key),
// waits for a leader that takes changes, and dials the commission's connection to the leader and the voters'
// to every member.
func (d *demo) startCluster() error {
	c := &demoCluster{killDone: make(chan struct{})}
	d.cluster = c
	token := make([]byte, 24)
	rand.Read(token)
	c.token = []byte(hex.EncodeToString(token))
	var members []replica.Member
	addrs := map[string]string{}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			if l != nil {
				l.Close()
			}
		}
	}()
	for i := range d.cfg.replicas {
		m := &demoMember{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(d.dir, fmt.Sprintf("board-n%d", i+1))}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		listeners = append(listeners, lis)
		m.grpcAddr = lis.Addr().String()
		if m.trans, err = raft.NewTCPTransport("127.0.0.1:0", nil, 3, 10*time.Second, io.Discard); err != nil {
			return err
		}
		c.members = append(c.members, m)
		members = append(members, replica.Member{ID: m.id, Addr: string(m.trans.LocalAddr())})
		addrs[m.id] = m.grpcAddr
	}
	logger := slog.New(slog.NewTextHandler(d.cfg.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var key string
	for i, m := range c.members {
		n, err := node.Open(m.dir, node.Options{Origin: demoOrigin, Logger: logger, Cluster: &node.ClusterOptions{ID: m.id, Transport: m.trans,
			SigningKey: key, Members: members, Bootstrap: i == 0, Addrs: addrs, HeartbeatTimeout: demoHeartbeat}})
		if err != nil {
			return fmt.Errorf("member %s: %w", m.id, err)
		}
		m.node = n
		if i == 0 {
			// Every member signs with the board's key: the first member's, made with its board.
			k, err := os.ReadFile(filepath.Join(m.dir, ledger.KeyFileName))
			if err != nil {
				return err
			}
			key = strings.TrimSpace(string(k))
		}
		m.server = node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: c.token}})
		m.serveDone = make(chan struct{})
		go func(lis net.Listener) {
			defer close(m.serveDone)
			m.server.Serve(lis)
		}(listeners[i])
		listeners[i] = nil
	}
	l, err := c.waitLeader(nil, time.Minute)
	if err != nil {
		return err
	}
	if d.admin, err = grpcnode.Dial(l.grpcAddr, grpcnode.DialOptions{Plaintext: true, Token: c.token}); err != nil {
		return err
	}
	d.addr = l.grpcAddr
	if d.voters, err = grpcnode.DialCluster(c.grpcAddrs(), grpcnode.DialOptions{Plaintext: true}); err != nil {
		return err
	}
	var names []string
	for _, m := range c.members {
		names = append(names, fmt.Sprintf("%s %s", m.id, m.grpcAddr))
	}
	d.step("cluster: %d members (%s), each with its own bbolt board under %s, replicating it with Raft over loopback TCP", len(c.members), strings.Join(names, ", "), d.dir)
	d.step("cluster: %s leads and takes the changes; the board key %s is every member's", l.id, tlog.KeyFingerprint(l.node.Log().VerifierKey()))
	return nil
}

// grpcAddrs returns the members' gRPC addresses, in order.
func (c *demoCluster) grpcAddrs() []string {
	var a []string
	for _, m := range c.members {
		a = append(a, m.grpcAddr)
	}
	return a
}

// live returns the members still running.
func (c *demoCluster) live() []*demoMember {
	c.mu.Lock()
	defer c.mu.Unlock()
	var l []*demoMember
	for _, m := range c.members {
		if m != c.killed {
			l = append(l, m)
		}
	}
	return l
}

// waitLeader waits, up to limit, for a member other than not that leads and takes changes.
func (c *demoCluster) waitLeader(not *demoMember, limit time.Duration) (*demoMember, error) {
	deadline := time.Now().Add(limit)
	for {
		for _, m := range c.members {
			if m == not || m.node == nil {
				continue
			}
			if st, ok, err := m.node.ClusterStatus(); ok && err == nil && st.Ready {
				return m, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cluster: no member leads %s after waiting", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killLeader kills the leader as a machine dies: its gRPC server is cut off at once (the calls in flight end
// without an answer), then its node is closed (Raft stops: no heartbeat reaches the others). ballots is the
// number of ballots receipted so far. It returns once the leader is dead; finishKill, in the background, waits
// for the next leader and has the commission talk to it.
func (d *demo) killLeader(ballots int) error {
	c := d.cluster
	l, err := c.waitLeader(nil, 10*time.Second)
	if err != nil {
		close(c.killDone)
		return err
	}
	cut, cancel := context.WithCancel(context.Background())
	cancel()
	c.mu.Lock()
	c.killed, c.killedAt, c.killBallot = l, time.Now(), ballots
	c.mu.Unlock()
	l.server.Shutdown(cut)
	<-l.serveDone
	closeErr := l.node.Close()
	l.trans.Close()
	c.mu.Lock()
	c.deadAt = time.Now()
	c.mu.Unlock()
	if closeErr != nil {
		d.step("node %s: closing: %v", l.id, closeErr)
	}
	go d.finishKill(l)
	return nil
}

// finishKill waits for a new leader, says who and when, and points the commission's connection at it.
func (d *demo) finishKill(dead *demoMember) {
	c := d.cluster
	defer close(c.killDone)
	nl, err := c.waitLeader(dead, time.Minute)
	if err != nil {
		d.step("cluster: %v", err)
		return
	}
	c.mu.Lock()
	c.newLeader, c.leaderIn = nl, time.Since(c.killedAt)
	c.mu.Unlock()
	d.step("node %s (leader) killed at ballot %d; %s leads after %.1f s", dead.id, c.killBallot, nl.id, c.leaderIn.Seconds())
	admin, err := grpcnode.Dial(nl.grpcAddr, grpcnode.DialOptions{Plaintext: true, Token: c.token})
	if err != nil {
		d.step("cluster: %v", err)
		return
	}
	old := d.admin
	d.admin, d.addr = admin, nl.grpcAddr
	old.Close()
}

// accepted notes a receipt's arrival, for the time from the kill to the next accepted ballot.
func (c *demoCluster) accepted(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.deadAt.IsZero() && at.After(c.deadAt) && (c.nextBallot.IsZero() || at.Before(c.nextBallot)) {
		c.nextBallot = at
	}
}

// answerLost counts a cast whose answer was lost (Submit then looks for the ballot by its tracking code).
func (c *demoCluster) answerLost(error) {
	c.mu.Lock()
	c.lostAnswer++
	c.mu.Unlock()
}

// reportKill waits for the new leader and prints the time from the kill to the next accepted ballot.
func (d *demo) reportKill() error {
	c := d.cluster
	<-c.killDone
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.killed == nil {
		return fmt.Errorf("cluster: the leader was not killed")
	}
	if c.newLeader == nil {
		return fmt.Errorf("cluster: no new leader after %s was killed", c.killed.id)
	}
	if c.nextBallot.IsZero() {
		d.step("cluster: every ballot was receipted before %s died: none to time after the kill", c.killed.id)
		return nil
	}
	d.step("cluster: the first ballot accepted after %s died came %.2f s after the kill; %d casts lost their answer and were found on the board by tracking code; no voter saw an error",
		c.killed.id, c.nextBallot.Sub(c.killedAt).Seconds(), c.lostAnswer)
	return nil
}

// checkOnMembers checks, on every member still running (once they hold the same board), that each receipted
// ballot is on the board exactly once, at its receipt's entry, and that the board holds no other ballot.
func (d *demo) checkOnMembers(ctx context.Context, vs *demoVotes) error {
	live := d.cluster.live()
	deadline := time.Now().Add(time.Minute)
	for {
		same := true
		for _, m := range live {
			st, _, _ := m.node.ClusterStatus()
			if m.node.Log().Size() != live[0].node.Log().Size() || st.Pending != 0 {
				same = false
			}
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: the members' boards did not converge in a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var receipts []*client.Receipt
	for _, m := range []map[int]*client.Receipt{vs.last, vs.superseded, vs.spoiled} {
		for _, r := range m {
			receipts = append(receipts, r)
		}
	}
	var ids []string
	for _, m := range live {
		if string(m.node.Log().Latest().Signed) != string(live[0].node.Log().Latest().Signed) {
			return fmt.Errorf("member %s's latest checkpoint differs from %s's", m.id, live[0].id)
		}
		var err error
		m.node.View(func(s *election.State) {
			cast, _, spoiled := s.Counts()
			if cast+spoiled != len(receipts) {
				err = fmt.Errorf("member %s: the board holds %d ballots, the voters hold %d receipts", m.id, cast+spoiled, len(receipts))
				return
			}
			for _, r := range receipts {
				if at, _, ok := s.Lookup(r.TrackingCode); !ok || at != r.Index {
					err = fmt.Errorf("member %s: the ballot %s is not at its receipt's entry %d", m.id, election.HumanTrackingCode(r.TrackingCode), r.Index)
					return
				}
			}
		})
		if err != nil {
			return err
		}
		ids = append(ids, m.id)
	}
	d.step("cluster: %s hold the same board; each of the %d receipted ballots is on it exactly once, at its receipt's entry, and no other ballot is",
		strings.Join(ids[:len(ids)-1], ", ")+" and "+ids[len(ids)-1], len(receipts))
	return nil
}

// exportVia returns a running member's BoardService and its address.
func (d *demo) exportVia() (recountv1.BoardServiceClient, string) {
	if d.cluster == nil {
		return d.voters.Board, d.addr
	}
	live := d.cluster.live()
	for i, m := range d.cluster.members {
		if m == live[0] {
			return d.voters.Members[i].Board, m.grpcAddr
		}
	}
	return d.voters.Board, d.addr
}

// waitKill waits for finishKill, if the leader was killed: it replaces the commission's connection.
func (d *demo) waitKill() {
	if d.cluster == nil {
		return
	}
	d.cluster.mu.Lock()
	killing := d.cluster.killed != nil
	d.cluster.mu.Unlock()
	if killing {
		<-d.cluster.killDone
	}
}

// stopCluster stops the members still running: their servers, nodes and transports.
func (d *demo) stopCluster(ctx context.Context) {
	if d.cluster == nil {
		return
	}
	for _, m := range d.cluster.live() {
		if m.node == nil {
			if m.trans != nil {
				m.trans.Close()
			}
			continue
		}
		if m.server != nil {
			m.server.Shutdown(ctx)
			<-m.serveDone
		}
		m.node.Close()
		m.trans.Close()
	}
}

// killWhenReceipted waits until n ballots are receipted (or ctx ends), then kills the leader.
func (d *demo) killWhenReceipted(ctx context.Context, vs *demoVotes, n int) error {
	for ctx.Err() == nil {
		vs.mu.Lock()
		got := vs.receipted
		vs.mu.Unlock()
		if got >= n {
			return d.killLeader(got)
		}
		time.Sleep(time.Millisecond)
	}
	close(d.cluster.killDone)
	return nil
}

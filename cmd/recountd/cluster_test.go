package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/node"
)

// recountdMember is a recountd of a cluster, run in this process by run().
type recountdMember struct {
	id, dir, grpcAddr, raftAddr string
	cancel                      context.CancelFunc
	exit                        chan int
	logs                        *syncBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// args are the member's flags; extra are added.
func (m *recountdMember) args(peers, tokenFile string, extra ...string) []string {
	return append([]string{"--data-dir", m.dir, "--plaintext", "--listen", m.grpcAddr, "--origin", "test.recount.local/board",
		"--admin-token-file", tokenFile, "--node-id", m.id, "--raft-listen", m.raftAddr, "--peers", peers, "--raft-heartbeat", "1s"}, extra...)
}

// start runs the member until stop; it returns once it listens (or fails the test if it exits first).
func (m *recountdMember) start(t *testing.T, args []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.exit, m.logs = cancel, make(chan int, 1), &syncBuffer{}
	up := make(chan struct{}, 1)
	go func() {
		m.exit <- run(ctx, args, func(string) (string, bool) { return "", false }, m.logs, func(string, string) { up <- struct{}{} })
	}()
	select {
	case <-up:
	case code := <-m.exit:
		t.Fatalf("recountd %s exited with %d: %s", m.id, code, m.logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("recountd %s did not start", m.id)
	}
}

func (m *recountdMember) stop(t *testing.T) {
	t.Helper()
	if m.cancel == nil {
		return
	}
	m.cancel()
	if code := <-m.exit; code != 0 {
		t.Errorf("recountd %s exited with %d: %s", m.id, code, m.logs.String())
	}
	m.cancel = nil
}

// TestRecountdCluster runs three recountd members on loopback: the first forms the cluster, the others join with
// a copy of its key; a follower refuses the commission's change naming the leader, the leader takes it, every
// member's board holds it; the leader stops and the other two elect a leader; a restart with peers that disagree
// is refused, writing nothing, and so is a second recountd on a member's data directory.
func TestRecountdCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three recountd members")
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte("an-admin-token-for-the-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ms []*recountdMember
	var peers []string
	for i := range 3 {
		m := &recountdMember{id: fmt.Sprintf("n%d", i+1), dir: filepath.Join(dir, fmt.Sprintf("d%d", i+1)), grpcAddr: freeAddr(t), raftAddr: freeAddr(t)}
		ms = append(ms, m)
		peers = append(peers, m.id+"="+m.raftAddr+"="+m.grpcAddr)
	}
	peerList := strings.Join(peers, ",")
	ms[0].start(t, ms[0].args(peerList, tokenFile, "--bootstrap"))
	defer ms[0].stop(t)
	// The first member made the board's key: the others get a copy.
	keyFile := filepath.Join(dir, "cluster.key")
	deadline := time.Now().Add(20 * time.Second)
	for {
		key, err := os.ReadFile(filepath.Join(ms[0].dir, ledger.KeyFileName))
		if err == nil {
			if err := os.WriteFile(keyFile, key, 0o600); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first member made no key")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range ms[1:] {
		m.start(t, m.args(peerList, tokenFile, "--cluster-key-file", keyFile))
		defer m.stop(t)
	}
	tok, err := node.ReadTokenFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	admins := map[string]*grpcnode.Client{}
	for _, m := range ms {
		c, err := grpcnode.Dial(m.grpcAddr, grpcnode.DialOptions{Plaintext: true, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		admins[m.id] = c
	}
	leader := func(among []*recountdMember) *recountdMember {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			for _, m := range among {
				st, err := admins[m.id].Admin.GetStatus(context.Background(), &recountv1.GetStatusRequest{})
				if err == nil && st.Cluster != nil && st.Cluster.State == "Leader" {
					return m
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no leader")
		return nil
	}
	l := leader(ms)
	var f *recountdMember
	for _, m := range ms {
		if m != l {
			f = m
			break
		}
	}
	e, err := electiontest.Prepare(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := e.Manifest
	_, err = admins[f.id].Admin.CreateElection(context.Background(), &recountv1.CreateElectionRequest{Manifest: m.Bytes()})
	if reason, _ := grpcnode.Reason(err); reason != node.ReasonNotLeader || !strings.Contains(err.Error(), l.grpcAddr) {
		t.Fatalf("CreateElection on a follower: %v, want NOT_LEADER naming %s", err, l.grpcAddr)
	}
	// The leader may still be making itself ready: retry NOT_LEADER for a moment.
	for try := 0; ; try++ {
		_, err = admins[l.id].Admin.CreateElection(context.Background(), &recountv1.CreateElectionRequest{Manifest: m.Bytes()})
		if reason, _ := grpcnode.Reason(err); err == nil || reason != node.ReasonNotLeader || try == 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitSize := func(among []*recountdMember, size uint64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for _, m := range among {
			for {
				st, err := admins[m.id].Admin.GetStatus(context.Background(), &recountv1.GetStatusRequest{})
				if err == nil && st.BoardSize >= size && st.Phase == recountv1.Phase_PHASE_SETUP {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("member %s did not reach size %d: %v %v", m.id, size, st, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	waitSize(ms, 1)

	// The leader stops; the other two elect a leader, which shows in the status with the members.
	l.stop(t)
	var rest []*recountdMember
	for _, m := range ms {
		if m != l {
			rest = append(rest, m)
		}
	}
	nl := leader(rest)
	st, err := admins[nl.id].Admin.GetStatus(context.Background(), &recountv1.GetStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Cluster.LeaderId != nl.id || len(st.Cluster.Members) != 3 || st.Cluster.CommitIndex == 0 {
		t.Fatalf("the new leader's status: %v", st.Cluster)
	}

	// Restarts refused, writing nothing: peers that disagree with the stored configuration; a second recountd on
	// a running member's data directory.
	var logs syncBuffer
	bad := strings.Join(peers[:2], ",")
	if code := run(context.Background(), l.args(bad, tokenFile), func(string) (string, bool) { return "", false }, &logs, nil); code != 1 || !strings.Contains(logs.String(), "disagree") {
		t.Fatalf("a restart with peers that disagree: exit %d: %s", code, logs.String())
	}
	// A buffer of its own: a connection the refused run's Raft transport accepted may still log into the first
	// one after run returned (its handler goroutine ends when the connection fails).
	var twinLogs syncBuffer
	twin := &recountdMember{id: nl.id, dir: nl.dir, grpcAddr: "127.0.0.1:0", raftAddr: freeAddr(t)}
	if code := run(context.Background(), twin.args(peerList, tokenFile), func(string) (string, bool) { return "", false }, &twinLogs, nil); code != 1 || !strings.Contains(twinLogs.String(), "locked") {
		t.Fatalf("a second recountd on a member's data directory: exit %d: %s", code, twinLogs.String())
	}
	// The stopped member comes back and catches up.
	l.start(t, l.args(peerList, tokenFile, "--bootstrap"))
	waitSize(ms, 1)
}

// TestRecountdClusterFlags: cluster flags without --node-id, or malformed, are refused before anything starts.
func TestRecountdClusterFlags(t *testing.T) {
	dir := t.TempDir()
	none := func(string) (string, bool) { return "", false }
	base := []string{"--data-dir", filepath.Join(dir, "d"), "--plaintext", "--listen", "127.0.0.1:0", "--origin", "x.test/b"}
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, []byte("PRIVATE+KEY+x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--peers", "a=127.0.0.1:1"}, 2, "need --node-id"},
		{[]string{"--node-id", "a"}, 2, "--node-id needs --raft-listen"},
		{[]string{"--node-id", "a", "--raft-listen", "127.0.0.1:0", "--bootstrap"}, 2, "--bootstrap needs --peers"},
		{[]string{"--node-id", "a", "--raft-listen", "127.0.0.1:0", "--peers", "a"}, 2, "not ID=RAFT-ADDR"},
		{[]string{"--node-id", "a", "--raft-listen", "127.0.0.1:0", "--peers", "a=127.0.0.1:1,a=127.0.0.1:2"}, 2, "named twice"},
		{[]string{"--node-id", "a", "--raft-listen", "127.0.0.1:0", "--peers", "b=127.0.0.1:1", "--bootstrap"}, 1, "not among the members"},
		{[]string{"--node-id", "a", "--raft-listen", "127.0.0.1:0", "--cluster-key-file", loose}, 1, "chmod 600"},
		{[]string{"--node-id", "a", "--raft-listen", "0.0.0.0:7401"}, 2, "--insecure-raft-plaintext"},
		{[]string{"--node-id", "a", "--raft-listen", "127.0.0.1:0", "--raft-ca", loose}, 2, "go together"},
	} {
		var logs syncBuffer
		code := run(context.Background(), append(append([]string{}, base...), tc.args...), none, &logs, nil)
		if code != tc.code || !strings.Contains(logs.String(), tc.want) {
			t.Errorf("%v: exit %d, want %d with %q in: %s", tc.args, code, tc.code, tc.want, logs.String())
		}
	}
}

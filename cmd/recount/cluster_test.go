package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/recount-vote/recount/ledger/replica"
	"github.com/recount-vote/recount/node"
)

// TestAdminStatusCluster: `recount admin status` of a cluster member shows the cluster (member, state, leader,
// members, commit index and lag), and with several --node addresses each member's line.
func TestAdminStatusCluster(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := l.Addr().String()
	l.Close()
	adv, _ := net.ResolveTCPAddr("tcp", raftAddr)
	trans, err := raft.NewTCPTransport(raftAddr, adv, 3, time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	n, err := node.Open(filepath.Join(dir, "board"), node.Options{Origin: "cli.recount.local/board", Cluster: &node.ClusterOptions{
		ID: "a", Transport: trans, Members: []replica.Member{{ID: "a", Addr: raftAddr}}, Bootstrap: true, HeartbeatTimeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte("cli-test-admin-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := node.ReadTokenFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: tok}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		n.Close()
	}()
	addr := lis.Addr().String()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, _, _ := n.ClusterStatus(); st.State == "Leader" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	code, out, errs := runCmd(t, "admin", "status", "--node", addr+","+addr, "--plaintext", "--token-file", tokenFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"cluster:      member a, Leader; leader a (" + raftAddr + ")", "members:      a=" + raftAddr, "raft:         commit index", "member a:    Leader at " + addr} {
		if !strings.Contains(out, want) {
			t.Errorf("the status does not say %q:\n%s", want, out)
		}
	}
}

package trustee

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/node"
)

var fast = &KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

func TestStoreSealsSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trustee.db")
	s, keys, err := Create(path, []byte("passphrase"), "Trustee A", fast)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Create(path, []byte("passphrase"), "Trustee A", fast); err == nil {
		t.Fatal("Create overwrote a store")
	}
	one := group.NewScalar().SetUint64(7)
	if err := s.SaveCommitment([]byte("commitment entry"), election.DealtShares{1: one, 2: one}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveVerdict([]byte("verdict entry"), map[int]*group.Scalar{1: one}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("store mode %v", fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, keys.Bytes()[:32]) || bytes.Contains(raw, keys.Bytes()[32:]) || bytes.Contains(raw, one.Bytes()) {
		t.Fatal("a secret is in the file in the clear")
	}

	if _, err := Open(path, []byte("wrong")); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	s, err = Open(path, []byte("passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Keys()
	if err != nil || !bytes.Equal(got.Bytes(), keys.Bytes()) {
		t.Fatalf("keys read back: %v", err)
	}
	payload, dealt, err := s.Commitment()
	if err != nil || string(payload) != "commitment entry" || len(dealt) != 2 || dealt[2].Equal(one) != 1 {
		t.Fatalf("commitment read back: %q %v %v", payload, dealt, err)
	}
	if s.Name() != "Trustee A" {
		t.Errorf("name %q", s.Name())
	}

	// A sealed value moved to another name does not open.
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		return b.Put([]byte("received"), bytes.Clone(b.Get([]byte("dealt"))))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Verdict(); err == nil {
		t.Fatal("a sealed value opened under another name")
	}

	var a, b election.ID
	a[0], b[0] = 1, 2
	if err := s.Bind(a, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(a, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(b, 1); err == nil {
		t.Fatal("a store took part in a second election")
	}
	s.Close()
}

// TestRunPostsTheStoredCommitment: a trustee that stored its commitment but crashed before posting it posts
// that same commitment when it runs again, never a new one, and the ceremony ends with its key share.
func TestRunPostsTheStoredCommitment(t *testing.T) {
	n, err := node.Open(t.TempDir(), node.Options{Origin: "trustee.test/board"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	tok := []byte("trustee-test-admin-token")
	srv := node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: tok}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Shutdown(context.Background())
	c, err := grpcnode.Dial(lis.Addr().String(), grpcnode.DialOptions{Plaintext: true, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	s, keys, err := Create(filepath.Join(t.TempDir(), "t.db"), []byte("pass"), "Trustee 1", fast)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pb := electiontest.Mixed()
	pb.Threshold = 1
	pb.Trustees = []*recordv1.Trustee{keys.Public(1, "Trustee 1")}
	m, err := election.NewManifest(pb)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Admin.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: m.Bytes()}); err != nil {
		t.Fatal(err)
	}
	// The crash: committed and stored, never posted.
	t1, err := election.NewTrustee(m, keys)
	if err != nil {
		t.Fatal(err)
	}
	d, dealt, err := t1.DraftCommitment(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCommitment(d.Payload, dealt); err != nil {
		t.Fatal(err)
	}

	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The trustee is stopped once its key share is stored.
	errCeremonyDone := errors.New("the ceremony is done")
	rctx, stop := context.WithCancelCause(tctx)
	defer stop(nil)
	steps := make(chan Step, 16)
	done := make(chan error, 1)
	go func() {
		done <- Run(rctx, Config{Store: s, Client: c, Events: func(e Event) {
			steps <- e.Step
			if e.Step == StepKeyShare {
				stop(errCeremonyDone)
			}
		}})
	}()
	for st := Step(0); st != StepVerdict; {
		select {
		case st = <-steps:
		case err := <-done:
			t.Fatalf("the trustee stopped: %v", err)
		}
	}
	if _, err := c.Admin.FinishKeyCeremony(ctx, &recountv1.FinishKeyCeremonyRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) || context.Cause(rctx) != errCeremonyDone {
		t.Fatalf("the trustee stopped with %v before its key share was stored", err)
	}
	e, err := n.Log().Entry(1)
	if err != nil {
		t.Fatal(err)
	}
	if election.Kind(e.Kind) != election.KindKeyCommitment || !bytes.Equal(e.Payload, d.Payload) {
		t.Fatal("the trustee posted another commitment than the one it stored")
	}
	if ks, err := s.KeyShare(); err != nil || ks == nil {
		t.Fatalf("key share: %v %v", ks, err)
	}
}

// TestStepNames: the steps print as they did when they were strings (`recount trustee run` and the logs show
// them).
func TestStepNames(t *testing.T) {
	want := map[Step]string{StepJoined: "joined", StepCommitted: "committed", StepVerdict: "verdict", StepRevealed: "revealed",
		StepKeyShare: "key share", StepDecrypted: "decrypted", StepDone: "done", 0: "Step(0)", StepDone + 1: "Step(8)"}
	for s, name := range want {
		if s.String() != name {
			t.Errorf("step %d prints as %q, want %q", int(s), s.String(), name)
		}
	}
}

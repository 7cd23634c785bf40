package node_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
	"github.com/recount-vote/recount/trustee"
)

// testToken is the admin token of the test nodes.
var testToken = []byte("test-admin-token-0123456789")

// fastKDF keeps the trustee stores quick to open in tests.
var fastKDF = &trustee.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}

// testNode is a node served over gRPC on a loopback TCP port.
type testNode struct {
	t     testing.TB
	dir   string
	n     *node.Node
	srv   *node.Server
	addr  string
	admin *grpcnode.Client // with the admin token
	anon  *grpcnode.Client // without
	done  chan error
}

// startNode opens (or creates) the node in dir and serves it on 127.0.0.1 (on addr if set, else any port).
func startNode(t testing.TB, dir, addr string) *testNode {
	t.Helper()
	return startNodeWith(t, dir, addr, node.ServerOptions{})
}

// startNodeWith is startNode with server options (the admin token is set).
func startNodeWith(t testing.TB, dir, addr string, opts node.ServerOptions) *testNode {
	t.Helper()
	return startNodeOpts(t, dir, addr, node.Options{Origin: "test.recount.local/board"}, opts)
}

// startNodeOpts is startNodeWith with the node's options.
func startNodeOpts(t testing.TB, dir, addr string, nopts node.Options, opts node.ServerOptions) *testNode {
	t.Helper()
	n, err := node.Open(dir, nopts)
	if err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	for try := 0; ; try++ {
		if lis, err = net.Listen("tcp", addr); err == nil || try == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the port of a node just stopped may take a moment
	}
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	tn := &testNode{t: t, dir: dir, n: n, addr: lis.Addr().String(), done: make(chan error, 1)}
	opts.Admin = node.AdminAuth{Token: testToken}
	tn.srv = node.NewServer(n, opts)
	go func() { tn.done <- tn.srv.Serve(lis) }()
	if tn.admin, err = grpcnode.Dial(tn.addr, grpcnode.DialOptions{Plaintext: true, Token: testToken}); err != nil {
		t.Fatal(err)
	}
	if tn.anon, err = grpcnode.Dial(tn.addr, grpcnode.DialOptions{Plaintext: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.stop)
	return tn
}

// stop shuts the server down gracefully and closes the node; it may be called more than once.
func (tn *testNode) stop() {
	if tn.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tn.srv.Shutdown(ctx)
	<-tn.done
	tn.admin.Close()
	tn.anon.Close()
	if err := tn.n.Close(); err != nil {
		tn.t.Error(err)
	}
	tn.srv = nil
}

func (tn *testNode) size() uint64 { return tn.n.Log().Size() }

// target is a node to set an election up on: its address and clients with and without the admin token.
type target struct {
	addr        string
	admin, anon *grpcnode.Client
}

func (tn *testNode) target() target { return target{addr: tn.addr, admin: tn.admin, anon: tn.anon} }

// fixture is an election set up on a node: trustees running in goroutines, each with its own store and
// connection, credentials, the key ceremony done, and (unless told otherwise) the polls open.
type fixture struct {
	tn       target
	manifest *election.Manifest
	info     *client.ElectionInfo
	creds    []*election.Credential
	stores   []*trustee.Store
	keys     []*election.TrusteeKeys
	cancel   []context.CancelFunc
	errs     []chan error
}

type setup struct {
	trustees, threshold, voters int
	noOpen                      bool
	pb                          *recordv1.Manifest // electiontest.Mixed() when nil
	absent                      []int              // trustees who stop after the ceremony
	trustShapes                 bool               // the trustees check ballots' shapes only
	// beforeTrustees, if set, runs once the election is created, before the trustees start.
	beforeTrustees func(f *fixture)
}

func newFixture(t testing.TB, tn target, cfg setup) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{tn: tn}
	pb := cfg.pb
	if pb == nil {
		pb = electiontest.Mixed()
	}
	pb.Threshold = uint32(cfg.threshold)
	for i := 1; i <= cfg.trustees; i++ {
		st, keys, err := trustee.Create(filepath.Join(t.TempDir(), "trustee.db"), []byte(fmt.Sprintf("passphrase %d", i)), fmt.Sprintf("Trustee %d", i), fastKDF)
		if err != nil {
			t.Fatal(err)
		}
		f.stores = append(f.stores, st)
		f.keys = append(f.keys, keys)
		pb.Trustees = append(pb.Trustees, keys.Public(i, fmt.Sprintf("Trustee %d", i)))
	}
	m, err := election.NewManifest(pb)
	if err != nil {
		t.Fatal(err)
	}
	f.manifest = m
	if _, err := tn.admin.Admin.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: m.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if cfg.beforeTrustees != nil {
		cfg.beforeTrustees(f)
	}
	f.startTrustees(t, cfg.absent, !cfg.trustShapes)
	creds, drafts, err := election.GenerateCredentials(m.ID(), cfg.voters, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.creds = creds
	for _, d := range drafts {
		var list recordv1.CredentialList
		if err := proto.Unmarshal(d.Payload, &list); err != nil {
			t.Fatal(err)
		}
		if _, err := tn.admin.Admin.PublishCredentials(ctx, &recountv1.PublishCredentialsRequest{PublicKeys: list.PublicKeys}); err != nil {
			t.Fatal(err)
		}
	}
	f.finishCeremony(t, cfg.trustees)
	if !cfg.noOpen {
		if _, err := tn.admin.Admin.OpenPolls(ctx, &recountv1.OpenPollsRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if f.info, err = tn.anon.Election(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// errAway stops an absent trustee once its key share is stored: it stays away from the decryption.
var errAway = errors.New("the trustee stays away from the decryption")

// startTrustees runs each trustee's node in a goroutine, with its own store; they reconnect by themselves.
func (f *fixture) startTrustees(t testing.TB, absent []int, checkBallots bool) {
	for i, st := range f.stores {
		ctx, cancel := context.WithCancelCause(context.Background())
		errc := make(chan error, 1)
		away := slices.Contains(absent, i+1)
		// A cluster's target names every member, separated by commas: the trustee follows any and posts to the
		// leader.
		cl, err := grpcnode.DialCluster(strings.Split(f.tn.addr, ","), grpcnode.DialOptions{Plaintext: true})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer cl.Close()
			err := trustee.Run(ctx, trustee.Config{Store: st, Client: cl, ShapeOnly: !checkBallots,
				Events: func(e trustee.Event) {
					if away && e.Step == trustee.StepKeyShare {
						cancel(errAway)
					}
				}})
			if errors.Is(err, context.Canceled) && context.Cause(ctx) == errAway {
				err = nil // stopped as the test wanted
			}
			errc <- err
		}()
		f.cancel = append(f.cancel, func() { cancel(nil) })
		f.errs = append(f.errs, errc)
	}
	t.Cleanup(func() {
		for i := range f.cancel {
			f.cancel[i]()
			if err := <-f.errs[i]; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("trustee %d: %v", i+1, err)
			}
			f.stores[i].Close()
		}
	})
}

// finishCeremony waits for every trustee's verdict, and for every complaint to be answered, and posts the
// election key.
func (f *fixture) finishCeremony(t testing.TB, n int) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := f.tn.admin.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Verdicts) == n {
			_, err := f.tn.admin.Admin.FinishKeyCeremony(ctx, &recountv1.FinishKeyCeremonyRequest{})
			if err == nil {
				return
			}
			if status.Code(err) != codes.FailedPrecondition {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key ceremony did not finish: %v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ballot encrypts random choices with voter v's credential.
func (f *fixture) ballot(t testing.TB, v int) *election.PreparedBallot {
	t.Helper()
	b, err := election.EncryptBallot(f.manifest, f.info.Key, f.creds[v], election.RandomChoices(f.manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// castAll has voters cast in parallel (and challenge or revote as told) and returns each voter's last receipt
// and choices, and the receipts of the challenged ballots.
type votes struct {
	mu       sync.Mutex
	last     map[int]*client.Receipt
	choices  map[int]election.Choices
	replaced []*client.Receipt
	spoiled  []*client.Receipt
}

func (f *fixture) vote(t *testing.T, c *grpcnode.Client, voters []int, challenge, revote func(v int) bool) *votes {
	t.Helper()
	out := &votes{last: map[int]*client.Receipt{}, choices: map[int]election.Choices{}}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, v := range voters {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx := context.Background()
			if challenge(v) {
				r, err := c.Submit(ctx, f.info, f.ballot(t, v), client.SubmitOptions{Challenge: true})
				if err != nil {
					t.Errorf("voter %d challenge: %v", v, err)
					return
				}
				out.mu.Lock()
				out.spoiled = append(out.spoiled, r)
				out.mu.Unlock()
			}
			times := 1
			if revote(v) {
				times = 2
			}
			for range times {
				b := f.ballot(t, v)
				r, err := c.Submit(ctx, f.info, b, client.SubmitOptions{})
				if err != nil {
					t.Errorf("voter %d: %v", v, err)
					return
				}
				out.mu.Lock()
				if old := out.last[v]; old != nil {
					out.replaced = append(out.replaced, old)
				}
				out.last[v], out.choices[v] = r, b.Choices()
				out.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func never(int) bool { return false }

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

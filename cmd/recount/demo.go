package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/trustee"
	"github.com/recount-vote/recount/web"
)

// `recount demo`: a whole election in one command, every party talking real gRPC over loopback: the node on a
// bbolt board in a temporary directory, three trustee nodes (any two decrypt) each with its own encrypted
// store, the commission, and the voters, who cast concurrently; some challenge a ballot first, some vote
// twice. One trustee stays away from the decryption. The record is exported and verified as a stranger would.

func init() {
	register(&command{
		name:    "demo",
		summary: "run a whole election end to end: a node, three trustees, voters, the tally and its verification",
		setup:   demoSetup,
	})
}

type demoConfig struct {
	voters            int
	challenge, revote float64
	clients           int
	replicas          int // demo_cluster.go: 0 for one node
	out               string
	progress          string
	seed              uint64
	cpuprofile        string
	webListen         string // demo_web.go
	keepServing       bool
	browserVoters     int                             // demo_web.go
	stdin             io.Reader                       // where the person voting in a browser presses Enter
	webWrap           func(http.Handler) http.Handler // tests: a lying server changes the web API's answers
	stdout            io.Writer
	stderr            io.Writer
}

func demoSetup(fs *flag.FlagSet) func(context.Context, []string) error {
	c := &demoConfig{}
	fs.IntVar(&c.voters, "voters", 1000, "number of voters")
	fs.Float64Var(&c.challenge, "challenge", 0.05, "share of voters who challenge a ballot before casting")
	fs.Float64Var(&c.revote, "revote", 0.05, "share of voters who vote a second time")
	fs.IntVar(&c.clients, "clients", 64, "voting clients at once")
	fs.IntVar(&c.replicas, "replicas", 0, "run the board on a cluster of N members (3 or 5) replicating it with Raft over loopback, and kill the leader a third of the way through the vote; the witnesses, observers and web pages are then left out (0: one node)")
	fs.StringVar(&c.out, "out", "", "keep DIR/election.record (the export), DIR/receipts/ and DIR/credentials/")
	fs.StringVar(&c.progress, "progress", "auto", "progress bars: auto (on a terminal), always or never")
	fs.Uint64Var(&c.seed, "seed", 0, "seed of the voters' choices (0: random); cryptographic randomness is always fresh")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	fs.StringVar(&c.webListen, "web-listen", "127.0.0.1:0", "address of the voters' web pages while the demo runs (empty: none)")
	fs.BoolVar(&c.keepServing, "keep-serving", false, "keep the node and its web pages up after the demo, until interrupted (Ctrl-C)")
	fs.IntVar(&c.browserVoters, "browser-voters", 0, "make N more credentials for people to vote with in a browser, and keep the polls open for them until Enter is pressed")
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 || c.browserVoters < 0 || (c.browserVoters > 0 && c.webListen == "") || c.voters < 1 || c.challenge < 0 || c.challenge > 1 || c.revote < 0 || c.revote > 1 || c.clients < 1 {
			return errUsage
		}
		if c.replicas != 0 && c.replicas != 3 && c.replicas != 5 {
			return fmt.Errorf("--replicas %d: want 3 or 5 (or 0 for one node)", c.replicas)
		}
		if c.replicas > 0 && (c.browserVoters > 0 || c.keepServing) {
			return fmt.Errorf("--replicas: the web pages are left out of the cluster's demo: --browser-voters and --keep-serving need one node")
		}
		if c.replicas > 0 {
			c.webListen = ""
		}
		c.stdout, c.stderr = outputs(ctx)
		c.stdin = os.Stdin
		return runDemo(ctx, c)
	}
}

// runDemo runs the demo's stages in order, each on what the ones before it made:
//
//   - set-up: the node serves its board, the three trustees create their stores, the commission posts the
//     manifest;
//   - ceremony: the trustees' nodes run the key ceremony while the commission makes the voters' credentials;
//     the election key is posted and the polls open (the third trustee stops there: it stays away);
//   - voting: the voters encrypt and cast, some challenge a ballot first, some vote twice;
//   - tally: the polls close, the encrypted tally is posted, two trustees decrypt it, the result is posted and
//     compared with the choices the voters made;
//   - audit: anyone exports the record and verifies it, every voter checks their receipts, and the summary says
//     what each party could check.
func runDemo(ctx context.Context, cfg *demoConfig) error {
	if cfg.cpuprofile != "" {
		stop, err := startCPUProfile(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer stop()
	}
	d, err := newDemo(cfg)
	if err != nil {
		return err
	}
	defer d.close()

	m, err := d.setUp(ctx)
	if err != nil {
		return err
	}
	el, err := d.ceremony(ctx, m)
	if err != nil {
		return err
	}
	vs, err := d.vote(ctx, el)
	if err != nil {
		return err
	}
	if err := d.waitForBrowserVoters(ctx, el, vs); err != nil {
		return err
	}
	electionTook, err := d.tally(ctx, m, vs)
	if err != nil {
		return err
	}
	if err := d.reportObservers(d.closedAt); err != nil {
		return err
	}
	if err := d.audit(ctx, el, vs, electionTook); err != nil {
		return err
	}
	return d.keepServing(ctx)
}

// demo is what runs for the whole demo: its output, its directories, the node with the commission's and the
// voters' connections, and the trustees' stores and nodes; close releases them. What each stage makes for the
// next (the manifest, the open election, the votes) is passed along, not kept here.
type demo struct {
	cfg   *demoConfig
	start time.Time
	dir   string // temporary: the board and the trustees' stores
	out   string // kept files, or under dir
	bars  bool
	logMu sync.Mutex

	node    *node.Node
	server  *node.Server
	cluster *demoCluster // with --replicas (demo_cluster.go), instead of node and server
	addr    string
	web     *demoWeb         // demo_web.go
	admin   *grpcnode.Client // the commission's connection, with the admin token
	voters  *grpcnode.Client // the voters' (and anyone's) connection, anonymous

	stores   []*trustee.Store
	trustees *demoTrustees

	witnesses *demoWitnesses  // demo_observers.go
	observers []*demoObserver // demo_observers.go
	closedAt  time.Time       // when the polls closed
}

// openElection is what the ceremony hands to the voting: the manifest, the election as the voters' client sees
// it (its key, the board's key), and the voters' credentials.
type openElection struct {
	m     *election.Manifest
	info  *client.ElectionInfo
	creds []*election.Credential
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// newDemo checks the options and makes the demo's directories: a temporary one, and the kept files' (--out),
// which must not hold an earlier run's.
func newDemo(cfg *demoConfig) (*demo, error) {
	d := &demo{cfg: cfg, start: time.Now()}
	switch cfg.progress {
	case "always":
		d.bars = true
	case "auto":
		f, ok := cfg.stderr.(*os.File)
		d.bars = ok && term.IsTerminal(int(f.Fd()))
	case "never":
	default:
		return nil, fmt.Errorf("--progress %q: want auto, always or never", cfg.progress)
	}
	var err error
	if d.dir, err = os.MkdirTemp("", "recount-demo-"); err != nil {
		return nil, err
	}
	d.out = cfg.out
	if d.out == "" {
		d.out = filepath.Join(d.dir, "out")
	}
	for _, sub := range []string{"receipts", "credentials"} {
		if err := emptyDir(filepath.Join(d.out, sub)); err != nil {
			os.RemoveAll(d.dir)
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(d.out, "election.record")); err == nil {
		os.RemoveAll(d.dir)
		return nil, fmt.Errorf("%s already exists", filepath.Join(d.out, "election.record"))
	}
	return d, nil
}

// close stops the trustees' nodes and then the node, and removes the temporary directory.
func (d *demo) close() {
	if d.trustees != nil {
		d.trustees.stop()
	}
	for _, s := range d.stores {
		s.Close()
	}
	d.stopObservers()
	d.stopNode()
	d.stopWitnesses()
	os.RemoveAll(d.dir)
}

// step prints one line of the demo's story, with the time since it started.
func (d *demo) step(format string, args ...any) {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	fmt.Fprintf(d.cfg.stdout, "%7.2fs  %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) bar(max int, what string) *progressbar.ProgressBar {
	return progressbar.NewOptions(max, progressbar.OptionSetWriter(d.cfg.stderr), progressbar.OptionSetDescription("         "+what),
		progressbar.OptionSetVisibility(d.bars), progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("ballots"),
		progressbar.OptionSetWidth(30), progressbar.OptionThrottle(80*time.Millisecond), progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(false))
}

// Stage 1, set-up.

// setUp starts the node, creates the trustees' stores, and posts the manifest naming the trustees' keys. It
// returns the manifest.
func (d *demo) setUp(ctx context.Context) (*election.Manifest, error) {
	if d.cfg.replicas > 0 {
		fmt.Fprintf(d.cfg.stdout, "Recount demo: %d voters, %d cores. Every party talks gRPC over loopback to a cluster of %d nodes; the leader dies mid-vote.\n"+
			"(The witnesses, observers and web pages follow a single node: they are left out of this run.)\n\n", d.cfg.voters, runtime.GOMAXPROCS(0), d.cfg.replicas)
		if err := d.startCluster(); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(d.cfg.stdout, "Recount demo: %d voters, %d cores. Every party talks gRPC over loopback to one node.\n\n", d.cfg.voters, runtime.GOMAXPROCS(0))
		if err := d.setUpWitnesses(); err != nil {
			return nil, err
		}
		if err := d.startNode(); err != nil {
			return nil, err
		}
		if err := d.startObservers(ctx); err != nil {
			return nil, err
		}
	}
	pubs, err := d.makeTrustees()
	if err != nil {
		return nil, err
	}
	pb := demoManifest()
	pb.Trustees = pubs
	// The commission pins the voters' web pages this binary serves, as it would the reviewed build's.
	if pb.BoothFiles, err = web.BoothFiles(); err != nil {
		return nil, err
	}
	m, err := election.NewManifest(pb)
	if err != nil {
		return nil, err
	}
	if _, err := d.admin.Admin.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: m.Bytes()}); err != nil {
		return nil, err
	}
	d.step("commission: election %s… posted: %q, 3 contests, 3 trustees, any 2 decrypt", m.ID().String()[:16], pb.Title)
	return m, nil
}

// demoManifest is the demo's election: three contests, one of each rule.
func demoManifest() *recordv1.Manifest {
	opts := func(ids ...string) []*recordv1.Option {
		var o []*recordv1.Option
		for i := 0; i < len(ids); i += 2 {
			o = append(o, &recordv1.Option{Id: ids[i], Title: ids[i+1]})
		}
		return o
	}
	now := time.Now().Unix()
	return &recordv1.Manifest{
		Version: election.ManifestVersion, ElectionRef: fmt.Sprintf("demo-%d", now), Title: "Recount demo: Springfield 2026",
		OpensAt: now - 60, ClosesAt: now + 3600, Threshold: 2,
		Contests: []*recordv1.Contest{
			{Id: "mayor", Title: "Mayor", Rule: &recordv1.Contest_Exactly{Exactly: &recordv1.ExactlyRule{K: 1}},
				Options: opts("ada", "Ada Lovelace", "alan", "Alan Turing", "grace", "Grace Hopper", "claude", "Claude Shannon")},
			{Id: "council", Title: "City council", Rule: &recordv1.Contest_Approval{Approval: &recordv1.ApprovalRule{Min: 0, Max: 3}},
				Options: opts("barbara", "Barbara Liskov", "edsger", "Edsger Dijkstra", "donald", "Donald Knuth",
					"frances", "Frances Allen", "ken", "Ken Thompson", "radia", "Radia Perlman")},
			{Id: "budget", Title: "Participatory budget", Rule: &recordv1.Contest_Score{Score: &recordv1.ScoreRule{MaxScore: 5, MaxTotal: 12}},
				Options: opts("park", "A new park", "library", "Library hours", "bikes", "Bike lanes", "wifi", "Public wifi")},
		},
	}
}

// startNode opens the board in the temporary directory, serves it on a loopback port, and dials the
// commission's and the voters' connections.
func (d *demo) startNode() error {
	n, err := node.Open(filepath.Join(d.dir, "board"), node.Options{Origin: demoOrigin, Witnesses: d.nodeWitnessOptions(),
		Logger: slog.New(slog.NewTextHandler(d.cfg.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	token := make([]byte, 24)
	rand.Read(token)
	tok := []byte(hex.EncodeToString(token))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.Close()
		return err
	}
	d.node, d.addr = n, lis.Addr().String()
	d.server = node.NewServer(n, node.ServerOptions{Admin: node.AdminAuth{Token: tok}})
	go d.server.Serve(lis)
	if d.admin, err = grpcnode.Dial(d.addr, grpcnode.DialOptions{Plaintext: true, Token: tok}); err != nil {
		return err
	}
	if d.voters, err = grpcnode.Dial(d.addr, grpcnode.DialOptions{Plaintext: true}); err != nil {
		return err
	}
	d.step("node: serving gRPC on %s, board in %s (bbolt), board key %s", d.addr, filepath.Join(d.dir, "board"), tlog.KeyFingerprint(n.Log().VerifierKey()))
	return d.startWeb()
}

// stopNode closes the connections, shuts the server down and closes the board, as far as startNode got.
func (d *demo) stopNode() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.waitKill()
	if d.admin != nil {
		d.admin.Close()
	}
	if d.voters != nil {
		d.voters.Close()
	}
	d.stopWeb(ctx)
	if d.server != nil {
		d.server.Shutdown(ctx)
	}
	if d.node != nil {
		d.node.Close()
	}
	d.stopCluster(ctx)
}

// demoKDF is the key derivation of the demo's trustee stores (trustee.DefaultKDF when nil; tests make it
// cheaper).
var demoKDF *trustee.KDFParams

// makeTrustees creates the three trustees' stores (d.stores), each sealed under its own passphrase (in
// parallel: the key derivation is meant to be slow), and returns their public keys for the manifest.
func (d *demo) makeTrustees() ([]*recordv1.Trustee, error) {
	names := []string{"Trustee 1 (the university)", "Trustee 2 (the bar association)", "Trustee 3 (the press club)"}
	stores := make([]*trustee.Store, len(names))
	pubs := make([]*recordv1.Trustee, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			pass := make([]byte, 16)
			rand.Read(pass)
			s, keys, err := trustee.Create(filepath.Join(d.dir, fmt.Sprintf("trustee-%d", i+1), "trustee.db"), []byte(hex.EncodeToString(pass)), name, demoKDF)
			if err != nil {
				errs[i] = err
				return
			}
			stores[i], pubs[i] = s, keys.Public(i+1, name)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range stores {
			if s != nil {
				s.Close()
			}
		}
		return nil, err
	}
	d.stores = stores
	d.step("trustees: 3 stores created, keys sealed under each trustee's passphrase (Argon2id, XChaCha20-Poly1305)")
	return pubs, nil
}

// Stage 2, ceremony.

// ceremony starts the trustees' nodes, which run the key ceremony by themselves, while the commission makes
// the voters' credentials; once every trustee has given its verdict the commission has the node post the
// election key, and opens the polls. It returns the open election.
func (d *demo) ceremony(ctx context.Context, m *election.Manifest) (*openElection, error) {
	if err := d.startTrustees(ctx); err != nil {
		return nil, err
	}
	creds, err := d.credentials(ctx, m)
	if err != nil {
		return nil, err
	}
	if err := waitStatus(ctx, d.admin, time.Minute, func(st *recountv1.GetStatusResponse) bool { return len(st.Verdicts) == 3 }); err != nil {
		return nil, fmt.Errorf("key ceremony: %w", err)
	}
	key, err := d.admin.Admin.FinishKeyCeremony(ctx, &recountv1.FinishKeyCeremonyRequest{})
	if err != nil {
		return nil, err
	}
	d.step("node: election key %x… posted, recomputable by anyone from the ceremony (qualified: %v)", key.JointKey[:8], key.Qualified)
	d.trustees.sayWhenAwayStops(d)
	if _, err := d.admin.Admin.OpenPolls(ctx, &recountv1.OpenPollsRequest{}); err != nil {
		return nil, err
	}
	info, err := d.voters.Election(ctx)
	if err != nil {
		return nil, err
	}
	d.step("commission: the polls are open")
	return &openElection{m: m, info: info, creds: creds}, nil
}

// errAway stops the absent trustee's node once its key share is stored: it stays away from the decryption.
var errAway = errors.New("the trustee stays away from the decryption")

// demoTrustees are the trustees' nodes at work, each following the board on its own connection with its own
// store. The last one is absent: its node stops once its key share is stored.
type demoTrustees struct {
	cancel  context.CancelFunc
	awayCtx context.Context // the absent trustee's, cancelled with errAway once its key share is stored
	errs    []chan error    // each node's outcome, once it has stopped
	wg      sync.WaitGroup
}

// startTrustees runs the trustees' nodes (d.trustees) on d.stores.
func (d *demo) startTrustees(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	awayCtx, stayAway := context.WithCancelCause(ctx)
	ts := &demoTrustees{cancel: func() { stayAway(nil); cancel() }, awayCtx: awayCtx}
	d.trustees = ts
	away := len(d.stores) - 1
	for i, s := range d.stores {
		var c *grpcnode.Client
		var err error
		if d.cluster != nil {
			c, err = grpcnode.DialCluster(d.cluster.grpcAddrs(), grpcnode.DialOptions{Plaintext: true})
		} else {
			c, err = grpcnode.Dial(d.addr, grpcnode.DialOptions{Plaintext: true})
		}
		if err != nil {
			return err
		}
		rctx := ctx
		if i == away {
			rctx = awayCtx
		}
		errc := make(chan error, 1)
		ts.errs = append(ts.errs, errc)
		ts.wg.Go(func() {
			defer c.Close()
			errc <- trustee.Run(rctx, trustee.Config{Store: s, Client: c, Events: func(e trustee.Event) {
				d.trusteeEvent(e)
				if i == away && e.Step == trustee.StepKeyShare {
					stayAway(errAway)
				}
			}})
		})
	}
	return nil
}

// trusteeEvent tells the steps of the trustees' nodes.
func (d *demo) trusteeEvent(e trustee.Event) {
	switch e.Step {
	case trustee.StepCommitted:
		d.step("trustee %d: posted its commitment and encrypted shares (entry %d)", e.Trustee, e.Index)
	case trustee.StepVerdict:
		d.step("trustee %d: checked the shares it received: no complaint (entry %d)", e.Trustee, e.Index)
	case trustee.StepKeyShare:
		d.step("trustee %d: key share computed, checked against its verification key, sealed in its store", e.Trustee)
	case trustee.StepDecrypted:
		d.step("trustee %d: checked every ballot, then posted its partial decryption with proofs (entry %d)", e.Trustee, e.Index)
	}
}

// sayWhenAwayStops tells, once the absent trustee's node has stopped, that it stays away (or why it stopped).
func (ts *demoTrustees) sayWhenAwayStops(d *demo) {
	away := len(ts.errs) - 1
	ts.wg.Go(func() {
		if err := <-ts.errs[away]; err != nil && !(errors.Is(err, context.Canceled) && context.Cause(ts.awayCtx) == errAway) {
			d.step("trustee %d: %v", away+1, err)
		} else {
			d.step("trustee %d: stays away from now on (its share is not needed: any 2 of 3 decrypt)", away+1)
		}
	})
}

// waitDecrypting waits for the nodes of the trustees who decrypt (all but the absent one) to finish, once the
// result is on the board.
func (ts *demoTrustees) waitDecrypting() error {
	for i, errc := range ts.errs[:len(ts.errs)-1] {
		if err := <-errc; err != nil {
			return fmt.Errorf("trustee %d: %w", i+1, err)
		}
	}
	return nil
}

// stop stops the trustees' nodes and waits for them.
func (ts *demoTrustees) stop() {
	ts.cancel()
	ts.wg.Wait()
}

// credentials generates the voters' credentials, writes their files, and publishes the public keys.
func (d *demo) credentials(ctx context.Context, m *election.Manifest) ([]*election.Credential, error) {
	creds, _, err := election.GenerateCredentials(m.ID(), d.cfg.voters+d.cfg.browserVoters, 0, nil)
	if err != nil {
		return nil, err
	}
	if err := writeCredentials(filepath.Join(d.out, "credentials"), creds); err != nil {
		return nil, err
	}
	if _, err := publishCredentials(ctx, d.admin, creds, 0); err != nil {
		return nil, err
	}
	d.step("commission: %d credentials made; secrets to the voters' files, only the public keys to the board", len(creds))
	return creds, nil
}

// Stage 3, voting.

// demoVotes is what the voters did.
type demoVotes struct {
	mu         sync.Mutex
	last       map[int]*client.Receipt
	superseded map[int]*client.Receipt
	spoiled    map[int]*client.Receipt
	choices    map[int]election.Choices
	ballots    int
	receipted  int // ballots receipted so far
	took       time.Duration
	browser    int // voters who voted in a browser (demo_web.go), whose choices the demo does not know
}

// voterPlan is what a voter will do besides casting a ballot.
type voterPlan struct{ challenge, revote bool }

// vote has every voter encrypt on the client side and cast through VoterService, cfg.clients at a time. It
// returns what they did.
func (d *demo) vote(ctx context.Context, el *openElection) (*demoVotes, error) {
	cfg := d.cfg
	seed := cfg.seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	rng := mrand.New(mrand.NewPCG(seed, 1))
	plans := make([]voterPlan, cfg.voters)
	challenges, revotes := 0, 0
	for v := range plans {
		plans[v] = voterPlan{challenge: rng.Float64() < cfg.challenge, revote: rng.Float64() < cfg.revote}
		challenges += btoi(plans[v].challenge)
		revotes += btoi(plans[v].revote)
	}
	total := cfg.voters + challenges + revotes
	vs := &demoVotes{last: map[int]*client.Receipt{}, superseded: map[int]*client.Receipt{}, spoiled: map[int]*client.Receipt{}, choices: map[int]election.Choices{}, ballots: total}
	d.step("voters: %d voters cast %d ballots (%d challenges, %d second votes), %d clients at a time", cfg.voters, total, challenges, revotes, cfg.clients)
	bar := d.bar(total, "casting")
	start := time.Now()
	next := make(chan int)
	var firstErr error
	var errOnce sync.Once
	vctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := range cfg.clients {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(seed, uint64(w)+2))
			for v := range next {
				if err := d.voter(vctx, el, v, plans[v], rng, vs, bar); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("voter %d: %w", v+1, err); cancel() })
				}
			}
		})
	}
	killVoter := -1 // with --replicas, the leader dies before this voter is handed out, once half as many ballots are receipted
	if d.cluster != nil {
		killVoter = cfg.voters / 3
	}
	var killErr error
	for v := range cfg.voters {
		if vctx.Err() != nil {
			break
		}
		if v == killVoter {
			if killErr = d.killWhenReceipted(vctx, vs, v/2); killErr != nil {
				break
			}
		}
		next <- v
	}
	close(next)
	wg.Wait()
	bar.Finish()
	if firstErr != nil {
		return nil, firstErr
	}
	if killErr != nil {
		return nil, killErr
	}
	vs.took = time.Since(start)
	d.step("voters: %d ballots on the board in %.1fs (%.0f ballots/s through gRPC, each encrypted by its voter, checked by the node, on disk before its receipt)",
		total, vs.took.Seconds(), float64(total)/vs.took.Seconds())
	if d.cluster != nil {
		if err := d.reportKill(); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// voter is one voter, v: perhaps a challenge first, then a ballot, perhaps a second one. Their receipts go to
// files and to vs.
func (d *demo) voter(ctx context.Context, el *openElection, v int, plan voterPlan, rng *mrand.Rand, vs *demoVotes, bar *progressbar.ProgressBar) error {
	save := func(r *client.Receipt, suffix string) error {
		return os.WriteFile(filepath.Join(d.out, "receipts", fmt.Sprintf("voter-%06d%s.json", v+1, suffix)), r.Marshal(), 0o644)
	}
	submit := func(ch election.Choices, chal bool) (*client.Receipt, error) {
		b, err := el.info.Encrypt(el.creds[v], ch)
		if err != nil {
			return nil, err
		}
		opts := client.SubmitOptions{Challenge: chal}
		if d.cluster != nil {
			opts.InDoubtWait, opts.InDoubt = 20*time.Second, d.cluster.answerLost
		}
		r, err := d.voters.Submit(ctx, el.info, b, opts)
		bar.Add(1)
		if err == nil {
			if d.cluster != nil {
				d.cluster.accepted(time.Now())
			}
			vs.mu.Lock()
			vs.receipted++
			vs.mu.Unlock()
		}
		return r, err
	}
	if plan.challenge {
		r, err := submit(election.RandomChoices(el.m, rng), true)
		if err != nil {
			return fmt.Errorf("challenge: %w", err)
		}
		vs.mu.Lock()
		vs.spoiled[v] = r
		vs.mu.Unlock()
		if err := save(r, "-challenged"); err != nil {
			return err
		}
	}
	for i := range 1 + btoi(plan.revote) {
		ch := election.RandomChoices(el.m, rng)
		r, err := submit(ch, false)
		if err != nil {
			return err
		}
		vs.mu.Lock()
		if old := vs.last[v]; old != nil {
			vs.superseded[v] = old
		}
		vs.last[v], vs.choices[v] = r, ch
		vs.mu.Unlock()
		if i > 0 {
			if err := os.Rename(filepath.Join(d.out, "receipts", fmt.Sprintf("voter-%06d.json", v+1)),
				filepath.Join(d.out, "receipts", fmt.Sprintf("voter-%06d-superseded.json", v+1))); err != nil {
				return err
			}
		}
		if err := save(r, ""); err != nil {
			return err
		}
	}
	return nil
}

// Stage 4, tally.

// tally closes the polls and has the node post the encrypted tally; once two trustees have posted their
// partial decryptions it has the node combine them into the result, prints the result and compares it with the
// voters' choices. It returns the time the election took, from the start of the demo to the result.
func (d *demo) tally(ctx context.Context, m *election.Manifest, vs *demoVotes) (time.Duration, error) {
	d.closedAt = time.Now()
	if _, err := d.admin.Admin.ClosePolls(ctx, &recountv1.ClosePollsRequest{}); err != nil {
		return 0, err
	}
	tally, err := d.admin.Admin.Tally(ctx, &recountv1.TallyRequest{})
	if err != nil {
		return 0, err
	}
	d.step("commission: polls closed; encrypted tally posted (entry %d): the sums of %d ballots, one per voter", tally.Index, tally.Counted)
	if err := waitStatus(ctx, d.admin, 5*time.Minute, func(st *recountv1.GetStatusResponse) bool { return len(st.PartialDecryptions) >= 2 }); err != nil {
		return 0, fmt.Errorf("waiting for the trustees: %w", err)
	}
	res, err := d.admin.Admin.PublishResult(ctx, &recountv1.PublishResultRequest{})
	if err != nil {
		return 0, err
	}
	d.step("node: result posted (entry %d), combined from trustees %v", res.Index, res.Trustees)
	if err := d.trustees.waitDecrypting(); err != nil {
		return 0, err
	}
	took := time.Since(d.start)

	t, counted, err := readResult(ctx, d.admin, m)
	if err != nil {
		return 0, err
	}
	fmt.Fprintln(d.cfg.stdout)
	printTally(d.cfg.stdout, m, t, counted)
	fmt.Fprintln(d.cfg.stdout)
	if vs.browser > 0 {
		d.step("the result holds the ballots of %d voters who voted in a browser, whose choices only they know: the demo does not compare it with its voters' choices", vs.browser)
	} else {
		if err := vs.matches(t); err != nil {
			return 0, err
		}
		d.step("the result equals the sums of the choices the voters made (which only this demo knows)")
	}
	return took, nil
}

// matches compares the result with the plaintext sums of the voters' last choices.
func (vs *demoVotes) matches(t *election.Result) error {
	for c, cc := range t.Contests {
		for o, oc := range cc.Options {
			var want uint64
			for _, ch := range vs.choices {
				want += ch[c][o]
			}
			if oc.Count != want {
				return fmt.Errorf("contest %s option %s: the result says %d, the voters chose %d", cc.ID, oc.ID, oc.Count, want)
			}
		}
	}
	return nil
}

// Stage 5, audit.

// audit has anyone export the record and verify it, and every voter check their receipts; then it prints what
// each party could check, the record's fingerprint and the times (electionTook: the election's, up to the
// result).
func (d *demo) audit(ctx context.Context, el *openElection, vs *demoVotes, electionTook time.Duration) error {
	record := filepath.Join(d.out, "election.record")
	if err := d.export(ctx, record); err != nil {
		return err
	}
	rep, cp, verifyTook, err := d.verify(ctx, record, el.info.BoardKey)
	if err != nil {
		return err
	}
	receiptStats, err := d.checkReceipts(ctx, vs)
	if err != nil {
		return err
	}
	if err := d.checkWitnessedReceipts(ctx, vs); err != nil {
		return err
	}
	if d.cluster != nil {
		if err := d.checkOnMembers(ctx, vs); err != nil {
			return err
		}
	}
	d.summary(vs, rep, cp, receiptStats, record, electionTook, verifyTook)
	return nil
}

// export streams the board's export from BoardService into path.
func (d *demo) export(ctx context.Context, path string) error {
	board, addr := d.exportVia()
	r, err := openNodeExport(ctx, board, addr)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(f, r)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	d.step("anyone: exported the record through BoardService: %s (%.1f MiB)", path, float64(n)/(1<<20))
	return f.Close()
}

// verify checks the exported record as a stranger would, with checkRecord as `recount verify` does: the board
// (every entry hashes to the signed checkpoint) and every numbered check of docs/verification.md, on all cores.
func (d *demo) verify(ctx context.Context, path, boardKey string) (*election.Report, tlog.Checkpoint, time.Duration, error) {
	start := time.Now()
	var progress io.Writer
	if d.bars {
		progress = d.cfg.stderr
	}
	rc, err := checkRecord(ctx, fileSource(path), checkOptions{boardKey: boardKey, progress: progress, progressAlways: true})
	if err != nil {
		return nil, tlog.Checkpoint{}, 0, err
	}
	if rc.BoardErr != nil {
		return nil, rc.Checkpoint, 0, rc.BoardErr
	}
	rep, cp, took := rc.ElectionReport, rc.Checkpoint, time.Since(start)
	if !rep.OK() {
		for _, l := range failureLines(rep) {
			fmt.Fprintf(d.cfg.stdout, "  FAIL %s\n", l)
		}
		return rep, cp, took, fmt.Errorf("the record fails %d checks", len(rep.FailureCounts))
	}
	d.step("anyone: verified the record in %.1fs: the board's signed checkpoint and all %d numbered checks pass", took.Seconds(), len(election.Checks))
	return rep, cp, took, nil
}

type receiptStats struct{ counted, superseded, spoiled int }

// checkReceipts has every voter check their receipts against the node: inclusion in the final checkpoint,
// consistency with the receipt's checkpoint, and the ballot's status.
func (d *demo) checkReceipts(ctx context.Context, vs *demoVotes) (receiptStats, error) {
	type job struct {
		r    *client.Receipt
		want election.Status
	}
	var jobs []job
	for _, r := range vs.last {
		jobs = append(jobs, job{r, election.StatusCounted})
	}
	for _, r := range vs.superseded {
		jobs = append(jobs, job{r, election.StatusSuperseded})
	}
	for _, r := range vs.spoiled {
		jobs = append(jobs, job{r, election.StatusSpoiled})
	}
	var st receiptStats
	var mu sync.Mutex
	var firstErr error
	next := make(chan job)
	var wg sync.WaitGroup
	for range d.cfg.clients {
		wg.Go(func() {
			for j := range next {
				resp, _, err := d.voters.CheckReceipt(ctx, j.r)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
				case err == nil && resp.Status != j.want && firstErr == nil:
					firstErr = fmt.Errorf("the ballot at entry %d is %v, expected %v", j.r.Index, resp.Status, j.want)
				case err == nil:
					switch resp.Status {
					case election.StatusCounted:
						st.counted++
					case election.StatusSuperseded:
						st.superseded++
					case election.StatusSpoiled:
						st.spoiled++
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return st, firstErr
	}
	d.step("voters: %d receipts checked against the final board: %d counted, %d superseded, %d spoiled", len(jobs), st.counted, st.superseded, st.spoiled)
	return st, nil
}

func (d *demo) summary(vs *demoVotes, rep *election.Report, cp tlog.Checkpoint, rs receiptStats, record string, voting, verifyTime time.Duration) {
	w := d.cfg.stdout
	fmt.Fprintf(w, "\nWhat each party could check, without trusting the node:\n")
	fmt.Fprintf(w, "  Each voter      their receipt: the ballot sits at its entry in a checkpoint signed by the board, every later\n"+
		"                  checkpoint extends that one (nothing removed or changed), and it counts (%d), was superseded by\n"+
		"                  their later ballot (%d), or was challenged (%d). `recount receipt` re-checks a receipt file.\n", rs.counted, rs.superseded, rs.spoiled)
	fmt.Fprintf(w, "  Challengers     their device did not cheat: the %d challenged ballots are on the board with their nonces,\n"+
		"                  and open to the very choices shown (check 15).\n", rep.Spoiled)
	fmt.Fprintf(w, "  Trustees        the shares dealt to them against the dealers' commitments; their key share against the\n"+
		"                  published verification key; every ballot's proofs before decrypting (trustee 3 was away: 1 and 2 sufficed).\n")
	fmt.Fprintf(w, "  Anyone          the whole record: %d entries, all %d numbered checks (%s): the ceremony, every\n"+
		"                  ballot's signature and proofs, which ballot counts, the encrypted sums, each decryption proof, the result.\n",
		rep.Entries, len(election.Checks), "docs/verification.md")
	fmt.Fprintf(w, "\nFingerprint of the record (compare with the one the commission publishes):\n  %s  size %d  root %s\n",
		cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Root[:]))
	fmt.Fprintf(w, "\nTimes: election %.1fs (voting %.1fs: %.0f ballots/s), verification %.1fs, total %.1fs.\n",
		voting.Seconds(), vs.took.Seconds(), float64(vs.ballots)/vs.took.Seconds(), verifyTime.Seconds(), time.Since(d.start).Seconds())
	if d.cfg.out != "" {
		fmt.Fprintf(w, "\nKept in %s:\n  election.record  the export: run `recount verify %s`\n  receipts/        one file per ballot\n  credentials/     the voters' secret credentials\n",
			d.cfg.out, record)
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/trustee"
	"github.com/recount-vote/recount/verify"
)

// `recount bench`: capacity planning. It runs a synthetic election of N voters through the code an election
// runs: the demo's node (an in-process node.Node on a bbolt board, served over loopback gRPC), the demo's three
// trustees (their own stores, the key ceremony over gRPC), the voters' ballots encrypted on every core, cast
// through VoterService by many clients at once, then the close, the tally, the trustees' decryption, the export,
// and `recount verify` in a process of its own, whose peak memory is measured alone. It reports each stage's
// time and rate, the board's and the record's size per ballot and per option, the Merkle proofs' time and size at
// that size, a receipt check, and peak memory.
//
// The ballots are cast over gRPC, not handed to the node's core (node.Node.SubmitBallot) directly: a node serves
// its voters over gRPC, and the decoding, the message limits and the receipt it sends back are part of what a
// ballot costs it. The ballots are all encrypted before the first is cast (kept in a spool file in DIR, not in
// memory), so that the admission rate is the node's alone and not shared with the voters' encryption; and the
// trustees are stopped during the voting (they resume for the tally, as trustee machines that come back online),
// so that their checking of every ballot does not take the node's cores.

func init() {
	register(&command{
		name:    "bench",
		summary: "capacity planning: run a synthetic election of N voters on this machine and report each stage's rate, sizes and memory",
		help: `The election runs in DIR (which must be empty or absent): DIR/board (the node's board), DIR/trustee-*,
DIR/election.record (the export, kept: check it again with recount verify). It takes about as long as encrypting
and checking every ballot three or four times over (the voters, the node, the two trustees who decrypt, the
verifier): on 2 cores, a few milliseconds per ballot for the demo's ballot. --shape demo is the demo's ballot
(three contests, 14 options: a 1-of-4, an approval of up to 3 of 6, a score 0..5 over 4); --shape 1of5 one
contest, one choice of 5.`,
		setup: benchSetup,
	})
}

type benchConfig struct {
	voters   int
	dir      string
	shape    string
	workers  int
	clients  int
	json     bool
	progress string
	// trusteeShapeOnly has the trustees who decrypt check only the ballots' shape (trustee.Config.ShapeOnly).
	trusteeShapeOnly bool
	stdout           io.Writer
	stderr           io.Writer
}

func benchSetup(fs *flag.FlagSet) func(context.Context, []string) error {
	c := &benchConfig{}
	fs.IntVar(&c.voters, "voters", 10000, "number of voters (one ballot each)")
	fs.StringVar(&c.dir, "dir", "", "`DIR` for the board, the trustees' stores and the record (empty or absent; required)")
	fs.StringVar(&c.shape, "shape", "demo", "the ballot: demo (the demo's three contests) or 1of5 (one contest, one choice of 5)")
	fs.IntVar(&c.workers, "workers", 0, "goroutines encrypting ballots, and recount verify's --workers (0: one per core)")
	fs.IntVar(&c.clients, "clients", 64, "voting clients casting at once")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON (for programs)")
	fs.BoolVar(&c.trusteeShapeOnly, "trustee-shape-only", false, "the trustees who decrypt check only each ballot's shape, not its proofs (a shorter run; the decrypt stage then measures less than a trustee's work)")
	fs.StringVar(&c.progress, "progress", "auto", "progress bars: auto (on a terminal), always or never")
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 || c.voters < 1 || c.voters > election.MaxCredentials || c.dir == "" || c.workers < 0 || c.clients < 1 {
			return errUsage
		}
		if c.shape != "demo" && c.shape != "1of5" {
			return fmt.Errorf("--shape %q: want demo or 1of5", c.shape)
		}
		if c.workers == 0 {
			c.workers = runtime.GOMAXPROCS(0)
		}
		c.stdout, c.stderr = outputs(ctx)
		rep, err := runBench(ctx, c)
		if err != nil {
			return err
		}
		if c.json {
			b, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Fprintf(c.stdout, "%s\n", b)
		} else {
			printBench(c.stdout, rep)
		}
		return nil
	}
}

// BenchReport is what `recount bench` measured; --json prints it. Rates are per second of wall time; sizes in
// bytes; memory figures are high-water marks.
type BenchReport struct {
	Voters   int    `json:"voters"`
	Ballots  int    `json:"ballots"` // cast and on the board: one per voter
	Shape    string `json:"shape"`
	Contests int    `json:"contests"`
	Options  int    `json:"options"` // in all contests: each ballot holds one ciphertext per option
	Cores    int    `json:"cores"`   // GOMAXPROCS
	Workers  int    `json:"workers"`
	Clients  int    `json:"clients"`

	// Stages, in order: ceremony, credentials, encrypt, admit, close, tally, decrypt, export, verify.
	Stages []BenchStage `json:"stages"`

	Board  BenchSize `json:"board"`  // the node's data directory on disk
	Record BenchSize `json:"record"` // the export

	Verify  BenchVerify  `json:"verify"`
	Proofs  BenchProofs  `json:"proofs"`
	Receipt BenchReceipt `json:"receipt"`
	// PeakRSSBytes is this process's resident memory high-water mark (the node, trustees and voters together,
	// with the spool's ballots going through); recount verify's own is Verify.PeakRSSBytes.
	PeakRSSBytes uint64 `json:"peak_rss_bytes"`
	// PeakHeapBytes is the largest Go heap (live and unswept objects) sampled in this process.
	PeakHeapBytes uint64  `json:"peak_heap_bytes"`
	Seconds       float64 `json:"seconds"` // the whole run
	// TrusteeShapeOnly is set when the trustees who decrypt checked only the ballots' shape (--trustee-shape-only).
	TrusteeShapeOnly bool `json:"trustee_shape_only"`
}

// BenchStage is one stage's time: Items (ballots, credentials or entries, as Unit says) in Seconds.
type BenchStage struct {
	Name          string  `json:"name"`
	Seconds       float64 `json:"seconds"`
	Items         int     `json:"items,omitempty"`
	Unit          string  `json:"unit,omitempty"`
	PerSecond     float64 `json:"per_second,omitempty"`
	PeakHeapBytes uint64  `json:"peak_heap_bytes"` // sampled in this process during the stage
	// Bytes is what the stage wrote, when it streams bytes (the export).
	Bytes int64 `json:"bytes,omitempty"`
}

// BenchSize is a size on disk, per ballot and per option of a ballot (bytes divided by ballots × options).
type BenchSize struct {
	Path           string  `json:"path"`
	Bytes          int64   `json:"bytes"`
	Entries        uint64  `json:"entries"`
	BytesPerBallot float64 `json:"bytes_per_ballot"`
	BytesPerOption float64 `json:"bytes_per_option"`
}

// BenchVerify is `recount verify --json RECORD`, run as a process of its own.
type BenchVerify struct {
	Seconds          float64 `json:"seconds"`
	BallotsPerSecond float64 `json:"ballots_per_second"`
	PeakRSSBytes     uint64  `json:"peak_rss_bytes"` // the verify process's, from getrusage
	OK               bool    `json:"ok"`
	Counted          int     `json:"counted"`
}

// BenchProofs are the board's Merkle proofs at the final size: an inclusion proof of a ballot (made by the node's
// board from its stored nodes, then checked as a voter checks it) and a consistency proof from the middle of the
// voting to the end, each the mean over Samples.
//
// The inclusion proofs are made twice for the same Samples entries. The first pass finds the page cache as the
// export left it: on a board larger than what the machine caches, some tree nodes come from disk
// (InclusionMakeFirstMicros). The second pass finds them in memory, as a node serving receipts keeps the pages
// it uses (InclusionMakeMicros).
type BenchProofs struct {
	TreeSize                 uint64  `json:"tree_size"`
	Samples                  int     `json:"samples"`
	InclusionMakeMicros      float64 `json:"inclusion_make_us"`
	InclusionMakeFirstMicros float64 `json:"inclusion_make_first_pass_us"`
	InclusionCheckMicros     float64 `json:"inclusion_check_us"`
	InclusionHashes          int     `json:"inclusion_hashes"`
	InclusionBytes           int     `json:"inclusion_bytes"`
	ConsistencyFrom          uint64  `json:"consistency_from"`
	ConsistencyMakeMicros    float64 `json:"consistency_make_us"`
	ConsistencyCheckMicros   float64 `json:"consistency_check_us"`
	ConsistencyHashes        int     `json:"consistency_hashes"`
	ConsistencyBytes         int     `json:"consistency_bytes"`
}

// BenchReceipt is a voter's receipt check against the node after the result (client.Client.CheckReceipt over
// gRPC: the ballot's inclusion in the latest checkpoint, that checkpoint's consistency with the receipt's, the
// entry read back), over Samples receipts taken early in the voting.
type BenchReceipt struct {
	Samples      int     `json:"samples"`
	MedianMillis float64 `json:"median_ms"`
	MaxMillis    float64 `json:"max_ms"`
}

// benchReceipts is how many voters cast through client.Client.Submit, keeping a receipt for the receipt check.
const benchReceipts = 32

// bench is one run: the demo's node and trustees (demo.go), and what the run measures.
type bench struct {
	*demo
	cfg     *benchConfig
	rep     *BenchReport
	heap    heapSampler
	stageAt time.Time
}

func runBench(ctx context.Context, cfg *benchConfig) (*BenchReport, error) {
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	}
	if des, err := os.ReadDir(cfg.dir); err != nil || len(des) > 0 {
		return nil, fmt.Errorf("--dir %s is not empty (or cannot be read: %v): the bench makes a new election there", cfg.dir, err)
	}
	dcfg := &demoConfig{voters: cfg.voters, clients: cfg.clients, progress: cfg.progress, stdout: io.Discard, stderr: cfg.stderr}
	d, err := newBenchDemo(dcfg, cfg.dir)
	if err != nil {
		return nil, err
	}
	b := &bench{demo: d, cfg: cfg, rep: &BenchReport{Voters: cfg.voters, Shape: cfg.shape, Cores: runtime.GOMAXPROCS(0),
		Workers: cfg.workers, Clients: cfg.clients, TrusteeShapeOnly: cfg.trusteeShapeOnly}}
	defer b.close()
	stopSampling := b.heap.start()
	defer stopSampling()
	start := time.Now()
	if !cfg.json {
		fmt.Fprintf(cfg.stderr, "recount bench: %d voters, ballot %s, %d cores, in %s\n", cfg.voters, cfg.shape, runtime.GOMAXPROCS(0), cfg.dir)
	}

	el, err := b.ceremony(ctx)
	if err != nil {
		return nil, fmt.Errorf("ceremony: %w", err)
	}
	receipts, err := b.vote(ctx, el)
	if err != nil {
		return nil, err
	}
	if err := b.tally(ctx); err != nil {
		return nil, err
	}
	record := filepath.Join(cfg.dir, "election.record")
	if err := b.export(ctx, record); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := b.measureBoard(ctx, receipts); err != nil {
		return nil, err
	}
	if err := b.verify(ctx, record); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	b.rep.PeakRSSBytes = selfPeakRSS()
	b.rep.PeakHeapBytes = b.heap.peakEver()
	b.rep.Seconds = time.Since(start).Seconds()
	return b.rep, nil
}

// newBenchDemo is newDemo with the board and the trustees' stores in dir, which is kept.
func newBenchDemo(cfg *demoConfig, dir string) (*demo, error) {
	d := &demo{cfg: cfg, start: time.Now(), dir: dir, out: dir}
	switch cfg.progress {
	case "always":
		d.bars = true
	case "auto":
		d.bars = isTerminal(cfg.stderr)
	case "never":
	default:
		return nil, fmt.Errorf("--progress %q: want auto, always or never", cfg.progress)
	}
	return d, nil
}

// close closes the trustees' stores and stops the node, keeping the directory.
func (b *bench) close() {
	for _, s := range b.stores {
		s.Close()
	}
	b.stopNode()
}

// beginStage starts timing a stage.
func (b *bench) beginStage() {
	b.stageAt = time.Now()
	b.heap.resetStage()
}

// endStage records the stage begun last.
func (b *bench) endStage(name string, items int, unit string) *BenchStage {
	s := BenchStage{Name: name, Seconds: time.Since(b.stageAt).Seconds(), Items: items, Unit: unit, PeakHeapBytes: b.heap.peakStage()}
	if items > 0 && s.Seconds > 0 {
		s.PerSecond = float64(items) / s.Seconds
	}
	b.rep.Stages = append(b.rep.Stages, s)
	if !b.cfg.json {
		fmt.Fprintf(b.cfg.stderr, "  %-12s %8.2fs", name, s.Seconds)
		if s.PerSecond > 0 {
			fmt.Fprintf(b.cfg.stderr, "  %10.0f %s/s", s.PerSecond, unit)
		}
		fmt.Fprintln(b.cfg.stderr)
	}
	return &b.rep.Stages[len(b.rep.Stages)-1]
}

// benchManifest is the manifest of the chosen shape, open for a week from a minute ago (a large election takes
// hours on a small machine).
func benchManifest(shape string) *recordv1.Manifest {
	pb := demoManifest()
	pb.ElectionRef = fmt.Sprintf("bench-%d", time.Now().Unix())
	pb.Title = "Recount bench: " + shape
	pb.ClosesAt = pb.OpensAt + 7*24*3600
	if shape == "1of5" {
		var opts []*recordv1.Option
		for i, id := range []string{"a", "b", "c", "d", "e"} {
			opts = append(opts, &recordv1.Option{Id: id, Title: fmt.Sprintf("Candidate %d", i+1)})
		}
		pb.Contests = []*recordv1.Contest{{Id: "mayor", Title: "Mayor", Rule: &recordv1.Contest_Exactly{Exactly: &recordv1.ExactlyRule{K: 1}}, Options: opts}}
	}
	return pb
}

// ceremony starts the node, makes the trustees' stores, posts the manifest, runs the key ceremony with the three
// trustees over gRPC (as the demo does), makes and publishes the credentials, posts the election key and opens
// the polls. The trustees stop once their key shares are sealed.
func (b *bench) ceremony(ctx context.Context) (*openElection, error) {
	b.beginStage()
	if err := b.startNode(); err != nil {
		return nil, err
	}
	pubs, err := b.makeTrustees()
	if err != nil {
		return nil, err
	}
	pb := benchManifest(b.cfg.shape)
	pb.Trustees = pubs
	m, err := election.NewManifest(pb)
	if err != nil {
		return nil, err
	}
	for _, c := range pb.Contests {
		b.rep.Contests++
		b.rep.Options += len(c.Options)
	}
	if _, err := b.admin.Admin.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: m.Bytes()}); err != nil {
		return nil, err
	}
	shared := make(chan int, len(b.stores))
	ts, err := b.runTrustees(ctx, []int{0, 1, 2}, false, func(e trustee.Event) {
		if e.Step == trustee.StepKeyShare {
			shared <- e.Trustee
		}
	})
	if err != nil {
		return nil, err
	}
	if err := waitStatus(ctx, b.admin, 10*time.Minute, func(st *recountv1.GetStatusResponse) bool { return len(st.Verdicts) == 3 }); err != nil {
		ts.stop()
		return nil, err
	}
	if _, err := b.admin.Admin.FinishKeyCeremony(ctx, &recountv1.FinishKeyCeremonyRequest{}); err != nil {
		ts.stop()
		return nil, err
	}
	for range b.stores {
		select {
		case <-shared:
		case err := <-ts.failed:
			ts.stop()
			return nil, err
		case <-ctx.Done():
			ts.stop()
			return nil, ctx.Err()
		}
	}
	ts.stop() // each key share is sealed in its store: the trustees come back for the tally
	b.endStage("ceremony", 0, "")

	b.beginStage()
	creds, _, err := election.GenerateCredentials(m.ID(), b.cfg.voters, 0, nil)
	if err != nil {
		return nil, err
	}
	bar := b.bar(len(creds), "credentials")
	bar.ChangeMax(len(creds))
	const batch = 10000
	for lo := 0; lo < len(creds); lo += batch {
		if _, err := publishCredentials(ctx, b.admin, creds[lo:min(lo+batch, len(creds))], 0); err != nil {
			return nil, err
		}
		bar.Add(min(batch, len(creds)-lo))
	}
	bar.Finish()
	b.endStage("credentials", len(creds), "credentials")
	if _, err := b.admin.Admin.OpenPolls(ctx, &recountv1.OpenPollsRequest{}); err != nil {
		return nil, err
	}
	info, err := b.voters.Election(ctx)
	if err != nil {
		return nil, err
	}
	return &openElection{m: m, info: info, creds: creds}, nil
}

// benchTrustees are trustees' nodes running.
type benchTrustees struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	failed chan error // the first trustee that stopped with an error
	done   chan int   // trustees that returned nil (the result is on the board)
}

func (ts *benchTrustees) stop() {
	ts.cancel()
	ts.wg.Wait()
}

// runTrustees runs the trustees of which (0-based) on their stores, each on its own connection.
func (b *bench) runTrustees(ctx context.Context, which []int, shapeOnly bool, events func(trustee.Event)) (*benchTrustees, error) {
	ctx, cancel := context.WithCancel(ctx)
	ts := &benchTrustees{cancel: cancel, failed: make(chan error, len(which)), done: make(chan int, len(which))}
	for _, i := range which {
		c, err := grpcnode.Dial(b.addr, grpcnode.DialOptions{Plaintext: true})
		if err != nil {
			ts.stop()
			return nil, err
		}
		ts.wg.Go(func() {
			defer c.Close()
			err := trustee.Run(ctx, trustee.Config{Store: b.stores[i], Client: c, Workers: b.cfg.workers, ShapeOnly: shapeOnly, Events: events})
			switch {
			case err == nil:
				ts.done <- i
			case ctx.Err() == nil:
				ts.failed <- fmt.Errorf("trustee %d: %w", i+1, err)
			}
		})
	}
	return ts, nil
}

// vote encrypts every voter's ballot on cfg.workers goroutines into a spool file, then casts them through
// VoterService, cfg.clients at a time. The first benchReceipts voters cast with the voter's client
// (client.Client.Submit, which checks the receipt) and their receipts are returned; the others' ballots are
// posted as they are (the node's answer is its receipt, unchecked: a voter's check costs the voter, not the node).
func (b *bench) vote(ctx context.Context, el *openElection) ([]*client.Receipt, error) {
	n := len(el.creds)
	spoolPath := filepath.Join(b.cfg.dir, "ballots.spool")
	spool, err := os.OpenFile(spoolPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(spoolPath)
	defer spool.Close()

	// Encrypt.
	b.beginStage()
	kept := make([]*election.PreparedBallot, min(benchReceipts, n))
	bar := b.bar(n, "encrypting")
	w := bufio.NewWriterSize(spool, 1<<20)
	var wmu sync.Mutex
	var werr error
	next := make(chan int, 256)
	var wg sync.WaitGroup
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	for k := range b.cfg.workers {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(mrand.Uint64(), uint64(k)))
			var hdr [4]byte
			for v := range next {
				pb, err := el.info.Encrypt(el.creds[v], election.RandomChoices(el.m, rng))
				wmu.Lock()
				if err == nil && v < len(kept) {
					kept[v] = pb
				} else if err == nil {
					payload := pb.DraftCast().Payload
					binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
					if _, err = w.Write(hdr[:]); err == nil {
						_, err = w.Write(payload)
					}
				}
				if err != nil && werr == nil {
					werr = fmt.Errorf("voter %d: %w", v+1, err)
					cancel()
				}
				wmu.Unlock()
				bar.Add(1)
			}
		})
	}
	for v := range n {
		if ectx.Err() != nil {
			break
		}
		next <- v
	}
	close(next)
	wg.Wait()
	bar.Finish()
	if werr == nil {
		werr = w.Flush()
	}
	if werr == nil {
		werr = ctx.Err()
	}
	if werr != nil {
		return nil, fmt.Errorf("encrypting: %w", werr)
	}
	b.endStage("encrypt", n, "ballots")
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	el.creds = nil // the ballots are signed: the credentials' secrets are no longer needed

	// Admit.
	b.beginStage()
	bar = b.bar(n, "casting")
	receipts := make([]*client.Receipt, len(kept))
	post := grpcnode.Node{Voter: b.voters.Voter, Board: b.voters.Board}
	payloads := make(chan []byte, 4*b.cfg.clients)
	var readErr error
	go func() {
		defer close(payloads)
		r := bufio.NewReaderSize(spool, 1<<20)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				if err != io.EOF {
					readErr = err
				}
				return
			}
			p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(r, p); err != nil {
				readErr = err
				return
			}
			select {
			case payloads <- p:
			case <-ectx.Done():
				return
			}
		}
	}()
	var postErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { postErr = err; cancel() }) }
	var admitted atomic.Int64
	for c := range b.cfg.clients {
		wg.Go(func() {
			for i := c; i < len(kept); i += b.cfg.clients {
				r, err := b.voters.Submit(ectx, el.info, kept[i], client.SubmitOptions{})
				if err != nil {
					fail(fmt.Errorf("voter %d: %w", i+1, err))
					return
				}
				receipts[i] = r
				admitted.Add(1)
				bar.Add(1)
			}
			for p := range payloads {
				if _, err := post.Post(ectx, election.KindBallot, p, 0); err != nil {
					fail(err)
					return
				}
				admitted.Add(1)
				bar.Add(1)
			}
		})
	}
	wg.Wait()
	bar.Finish()
	if postErr == nil {
		postErr = readErr
	}
	if postErr == nil {
		postErr = ctx.Err()
	}
	if postErr != nil {
		return nil, fmt.Errorf("casting: %w", postErr)
	}
	if int(admitted.Load()) != n {
		return nil, fmt.Errorf("casting: %d ballots cast of %d", admitted.Load(), n)
	}
	b.rep.Ballots = n
	b.endStage("admit", n, "ballots")
	return receipts, nil
}

// tally closes the polls, has the node post the encrypted tally, brings trustees 1 and 2 back (each replays the
// board, checking every ballot, then posts its partial decryption; trustee 3 stays away, as in the demo) and has
// the node post the result.
func (b *bench) tally(ctx context.Context) error {
	b.beginStage()
	if _, err := b.admin.Admin.ClosePolls(ctx, &recountv1.ClosePollsRequest{}); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	b.endStage("close", 0, "")
	b.beginStage()
	if _, err := b.admin.Admin.Tally(ctx, &recountv1.TallyRequest{}); err != nil {
		return fmt.Errorf("tally: %w", err)
	}
	b.endStage("tally", 0, "")

	b.beginStage()
	ts, err := b.runTrustees(ctx, []int{0, 1}, b.cfg.trusteeShapeOnly, nil)
	if err != nil {
		return err
	}
	defer ts.stop()
	what := "trustees 1 and 2 check every ballot and decrypt"
	if b.cfg.trusteeShapeOnly {
		what = "trustees 1 and 2 check every ballot's shape and decrypt"
	}
	bar := b.spinner(what)
	err = waitStatusOr(ctx, b.admin, ts.failed, bar, func(st *recountv1.GetStatusResponse) bool { return len(st.PartialDecryptions) >= 2 })
	bar.Finish()
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	if _, err := b.admin.Admin.PublishResult(ctx, &recountv1.PublishResultRequest{}); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	for range 2 {
		select {
		case <-ts.done:
		case err := <-ts.failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.endStage("decrypt", b.rep.Ballots, "ballots")
	return nil
}

// waitStatusOr is waitStatus, ending early with a trustee's failure, and ticking bar at each look.
func waitStatusOr(ctx context.Context, c *grpcnode.Client, failed <-chan error, bar *progressbar.ProgressBar, done func(*recountv1.GetStatusResponse) bool) error {
	for {
		st, err := c.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		if done(st) {
			return nil
		}
		bar.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// spinner is a progress indicator for a stage whose progress cannot be counted.
func (d *demo) spinner(what string) *progressbar.ProgressBar {
	return progressbar.NewOptions(-1, progressbar.OptionSetWriter(d.cfg.stderr), progressbar.OptionSetDescription("         "+what),
		progressbar.OptionSetVisibility(d.bars), progressbar.OptionSpinnerType(14), progressbar.OptionThrottle(80*time.Millisecond),
		progressbar.OptionClearOnFinish(), progressbar.OptionSetElapsedTime(true))
}

// export streams the node's export through BoardService into path, as `recount export` does.
func (b *bench) export(ctx context.Context, path string) error {
	b.beginStage()
	r, err := openNodeExport(ctx, b.voters.Board, b.addr)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(b.cfg.stderr), progressbar.OptionSetDescription("         exporting"),
		progressbar.OptionSetVisibility(b.bars), progressbar.OptionShowBytes(true), progressbar.OptionThrottle(80*time.Millisecond),
		progressbar.OptionClearOnFinish())
	n, err := io.Copy(io.MultiWriter(f, bar), r)
	bar.Finish()
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	entries := b.node.Log().Size()
	s := b.endStage("export", int(entries), "entries")
	s.Bytes = n
	b.rep.Record = b.size(path, n, entries)
	return nil
}

// size describes a size on disk for the report.
func (b *bench) size(path string, n int64, entries uint64) BenchSize {
	s := BenchSize{Path: path, Bytes: n, Entries: entries}
	if b.rep.Ballots > 0 {
		s.BytesPerBallot = float64(n) / float64(b.rep.Ballots)
		s.BytesPerOption = s.BytesPerBallot / float64(b.rep.Options)
	}
	return s
}

// measureBoard measures the board's size on disk, its proofs at the final size, and the voters' receipt checks.
func (b *bench) measureBoard(ctx context.Context, receipts []*client.Receipt) error {
	boardDir := filepath.Join(b.cfg.dir, "board")
	var bytes int64
	err := filepath.WalkDir(boardDir, func(_ string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		fi, err := de.Info()
		if err == nil {
			bytes += fi.Size()
		}
		return err
	})
	if err != nil {
		return err
	}
	l := b.node.Log()
	b.rep.Board = b.size(boardDir, bytes, l.Size())

	// Proofs at the final size.
	latest := l.Latest()
	p := &b.rep.Proofs
	p.TreeSize = latest.Size
	p.Samples = 1000
	rng := mrand.New(mrand.NewPCG(1, 2))
	sample := make([]tlog.Entry, p.Samples)
	for k := range sample {
		e, err := l.Entry(rng.Uint64N(latest.Size))
		if err != nil {
			return err
		}
		sample[k] = e
	}
	var makeT, checkT time.Duration
	for pass := range 2 {
		makeT, checkT = 0, 0
		for _, e := range sample {
			t0 := time.Now()
			proof, err := l.InclusionProof(e.Index, latest.Size)
			t1 := time.Now()
			if err != nil {
				return err
			}
			if err := tlog.VerifyInclusion(latest, e.Kind, e.Payload, e.Index, proof); err != nil {
				return fmt.Errorf("inclusion proof of entry %d: %w", e.Index, err)
			}
			makeT, checkT = makeT+t1.Sub(t0), checkT+time.Since(t1)
			p.InclusionHashes = max(p.InclusionHashes, len(proof))
		}
		if pass == 0 {
			p.InclusionMakeFirstMicros = float64(makeT.Microseconds()) / float64(p.Samples)
		}
	}
	p.InclusionMakeMicros = float64(makeT.Microseconds()) / float64(p.Samples)
	p.InclusionCheckMicros = float64(checkT.Microseconds()) / float64(p.Samples)
	p.InclusionBytes = p.InclusionHashes * tlog.HashSize

	// Consistency from the checkpoint of the middle receipt (the first voters', early in the voting) to the end.
	if len(receipts) > 0 {
		r := receipts[len(receipts)/2]
		old, err := tlog.ParseCheckpoint(r.Checkpoint, l.VerifierKey())
		if err != nil {
			return err
		}
		p.ConsistencyFrom = old.Size
		makeT, checkT = 0, 0
		for range p.Samples {
			t0 := time.Now()
			proof, err := l.ConsistencyProof(old.Size, latest.Size)
			t1 := time.Now()
			if err != nil {
				return err
			}
			if err := tlog.VerifyConsistency(old, latest, proof); err != nil {
				return fmt.Errorf("consistency proof: %w", err)
			}
			makeT, checkT = makeT+t1.Sub(t0), checkT+time.Since(t1)
			p.ConsistencyHashes = len(proof)
		}
		p.ConsistencyMakeMicros = float64(makeT.Microseconds()) / float64(p.Samples)
		p.ConsistencyCheckMicros = float64(checkT.Microseconds()) / float64(p.Samples)
		p.ConsistencyBytes = p.ConsistencyHashes * tlog.HashSize
	}

	// Receipt checks, one at a time, after the result.
	var times []time.Duration
	for _, r := range receipts {
		t0 := time.Now()
		l, _, err := b.voters.CheckReceipt(ctx, r)
		if err != nil {
			return fmt.Errorf("receipt of entry %d: %w", r.Index, err)
		}
		if l.Status != election.StatusCounted {
			return fmt.Errorf("receipt of entry %d: the ballot is %v, not counted", r.Index, l.Status)
		}
		times = append(times, time.Since(t0))
	}
	if len(times) > 0 {
		slices.Sort(times)
		b.rep.Receipt = BenchReceipt{Samples: len(times), MedianMillis: ms(times[len(times)/2]), MaxMillis: ms(times[len(times)-1])}
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchVerifyCommand returns the command that runs `recount verify` with args: this executable (tests replace
// it).
var benchVerifyCommand = func(args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return exec.Command(exe, args...), nil
}

// verify runs `recount verify --json` on the record in a process of its own, so that its peak memory is its
// own, and reads its report.
func (b *bench) verify(ctx context.Context, record string) error {
	b.beginStage()
	args := []string{"verify", "--json", "--workers", fmt.Sprint(b.cfg.workers), "--require-result"}
	if b.bars {
		args = append(args, "--progress")
	}
	cmd, err := benchVerifyCommand(append(args, record)...)
	if err != nil {
		return err
	}
	var out, errb bytes.Buffer // each written by one goroutine of cmd's, read once it has exited
	cmd.Stdout = &out
	cmd.Stderr = &errb
	if b.bars {
		cmd.Stderr = io.MultiWriter(&errb, b.cfg.stderr)
	}
	peak, err := runContext(ctx, cmd)
	if err != nil {
		return fmt.Errorf("recount verify: %w: %s", err, lastLine(errb.String()))
	}
	var vr verify.Report
	if err := json.Unmarshal(out.Bytes(), &vr); err != nil {
		return fmt.Errorf("recount verify --json: %w", err)
	}
	s := b.endStage("verify", b.rep.Ballots, "ballots")
	s.PeakHeapBytes = 0 // another process's
	v := &b.rep.Verify
	v.Seconds, v.BallotsPerSecond = s.Seconds, s.PerSecond
	v.PeakRSSBytes = peak
	v.OK = vr.OK && vr.Complete
	if vr.Ballots != nil {
		v.Counted = vr.Ballots.Counted
	}
	if !v.OK || v.Counted != b.rep.Ballots {
		return fmt.Errorf("recount verify: ok %v, complete %v, %d counted of %d ballots", vr.OK, vr.Complete, v.Counted, b.rep.Ballots)
	}
	return nil
}

// runContext runs cmd, killing it if ctx is done first, and returns its peak resident memory (watchPeakRSS).
func runContext(ctx context.Context, cmd *exec.Cmd) (uint64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	peak := watchPeakRSS(cmd.Process.Pid)
	stop := context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	defer stop()
	err := cmd.Wait()
	rss := peak(cmd.ProcessState)
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return rss, err
}

func lastLine(s string) string {
	for len(s) > 0 && s[len(s)-1] == '\n' {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' || s[i] == '\r' {
			return s[i+1:]
		}
	}
	return s
}

// heapSampler samples the Go heap (runtime/metrics, which stops nothing) every 20 ms, keeping the peak of the
// current stage and of the whole run.
type heapSampler struct {
	stage, ever atomic.Uint64
}

func (h *heapSampler) start() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			v := s[0].Value.Uint64()
			for old := h.stage.Load(); v > old && !h.stage.CompareAndSwap(old, v); old = h.stage.Load() {
			}
			for old := h.ever.Load(); v > old && !h.ever.CompareAndSwap(old, v); old = h.ever.Load() {
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (h *heapSampler) resetStage()       { h.stage.Store(0) }
func (h *heapSampler) peakStage() uint64 { return h.stage.Load() }
func (h *heapSampler) peakEver() uint64  { return h.ever.Load() }

// printBench writes the report for people.
func printBench(w io.Writer, r *BenchReport) {
	mib := func(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	fmt.Fprintf(w, "Recount bench: %d voters, ballot %s (%s, %d options), %d cores, %d workers, %d clients\n\n",
		r.Voters, r.Shape, plural(r.Contests, "contest"), r.Options, r.Cores, r.Workers, r.Clients)
	if r.TrusteeShapeOnly {
		fmt.Fprintf(w, "(--trustee-shape-only: the trustees who decrypt checked each ballot's shape, not its proofs.)\n\n")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "stage\tseconds\trate\t\tpeak Go heap\t\n")
	for _, s := range r.Stages {
		rate, unit := "", ""
		if s.PerSecond > 0 {
			rate, unit = fmt.Sprintf("%.0f", s.PerSecond), s.Unit+"/s"
		}
		if s.Bytes > 0 {
			unit += fmt.Sprintf(" (%.1f MiB/s)", float64(s.Bytes)/(1<<20)/s.Seconds)
		}
		heap := "-"
		if s.PeakHeapBytes > 0 {
			heap = mib(s.PeakHeapBytes)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%s\t\n", s.Name, s.Seconds, rate, unit, heap)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range []struct {
		name string
		s    BenchSize
	}{{"Board on disk", r.Board}, {"Record (export)", r.Record}} {
		fmt.Fprintf(tw, "%s\t%s, %d entries: %.0f bytes per ballot, %.0f per option\t%s\n", s.name, mib(uint64(s.s.Bytes)), s.s.Entries,
			s.s.BytesPerBallot, s.s.BytesPerOption, s.s.Path)
	}
	tw.Flush()
	p := r.Proofs
	fmt.Fprintf(w, "\nMerkle proofs at size %d (mean of %d):\n", p.TreeSize, p.Samples)
	fmt.Fprintf(w, "  inclusion    %d hashes, %d bytes: made by the board in %.1f µs (first pass, as the export left the page cache: %.1f µs), checked in %.1f µs\n",
		p.InclusionHashes, p.InclusionBytes, p.InclusionMakeMicros, p.InclusionMakeFirstMicros, p.InclusionCheckMicros)
	if p.ConsistencyFrom > 0 {
		fmt.Fprintf(w, "  consistency  from size %d: %d hashes, %d bytes: made in %.1f µs, checked in %.1f µs\n",
			p.ConsistencyFrom, p.ConsistencyHashes, p.ConsistencyBytes, p.ConsistencyMakeMicros, p.ConsistencyCheckMicros)
	}
	if r.Receipt.Samples > 0 {
		fmt.Fprintf(w, "Receipt check against the node (%d receipts): median %.1f ms, max %.1f ms\n", r.Receipt.Samples, r.Receipt.MedianMillis, r.Receipt.MaxMillis)
	}
	fmt.Fprintf(w, "\nrecount verify: %.2fs, %.0f ballots/s, peak RSS %s (a process of its own); %d ballots counted\n",
		r.Verify.Seconds, r.Verify.BallotsPerSecond, mib(r.Verify.PeakRSSBytes), r.Verify.Counted)
	fmt.Fprintf(w, "This process (node, trustees, voters): peak RSS %s, peak Go heap %s. Total %.1fs.\n", mib(r.PeakRSSBytes), mib(r.PeakHeapBytes), r.Seconds)
}

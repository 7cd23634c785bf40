package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/schollz/progressbar/v3"
	"google.golang.org/grpc"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/observer"
	"github.com/recount-vote/recount/web"
	"github.com/recount-vote/recount/witness"
)

func init() {
	register(&command{
		name:    "observe",
		summary: "follow a node's board as an observer: keep a verified copy, check every entry as it arrives, raise an alarm if the node forks",
		usage:   "--node ADDR --dir DIR [--listen ADDR] [--web-listen ADDR] [--metrics ADDR] [--witness-key FILE --witness-listen ADDR] | --check ALARM-FILE | --new-witness-key FILE --witness-name NAME",
		help: `The observer copies the node's board into DIR (its mirror: each entry is kept only once it hashes to a
checkpoint the node signed), replays every entry through every check as it arrives, and prints what fails,
naming the entry. Restarted, it goes on from its mirror without checking again what it checked.

If the node shows a checkpoint that does not extend the one the observer holds (a rollback, or a second history),
the observer writes the two signed checkpoints and the evidence to DIR/alarm-*.json and keeps its copy; anyone
checks such a file with 'recount observe --check FILE'.

With --listen it serves its copy read-only over the node's BoardService and the receipt lookups of VoterService:
voters check receipts against it with 'recount receipt --node ADDR'. With --web-listen it serves the voters' web
pages over its copy, read-only (receipt checks in the browser, results: docs/web.md). With --metrics it serves Prometheus metrics
on http://ADDR/metrics.

With --witness-key and --witness-listen the observer is also a witness (c2sp.org/tlog-witness, served over HTTP
on ADDR; its state in DIR/witness.db): it cosigns a checkpoint of the node's board only if it extends the last
one it cosigned and the observer has mirrored every entry up to it, under that root, and every one passed every
check; otherwise it answers 503 (not verified yet, or never: a failed check) or 409/422 (another history). Make
its key once with 'recount observe --new-witness-key FILE --witness-name NAME', which prints the line to put in
the election's witness policy.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			c := &observeCmd{}
			c.node = addConnFlags(fs, connBoard)
			fs.StringVar(&c.dir, "dir", "", "the observer's directory `DIR` (its mirror, its state, its alarms); created on first start")
			fs.StringVar(&c.listen, "listen", "", "serve the mirror read-only over gRPC on `ADDR` (host:port, plaintext)")
			fs.StringVar(&c.webListen, "web-listen", "", "serve the voters' web pages (receipt checks, results: docs/web.md) over the mirror on `ADDR` (host:port, plain HTTP)")
			fs.StringVar(&c.metrics, "metrics", "", "serve Prometheus metrics on http://`ADDR`/metrics")
			fs.StringVar(&c.boardKey, "board-key", "", "require the node's board verifier `KEY` (origin+hash+base64, or its sha256: fingerprint), from the election's published documents")
			fs.StringVar(&c.check, "check", "", "check the alarm `FILE` an observer wrote, and exit")
			fs.BoolVar(&c.untilDone, "until-done", false, "exit once the result is on the board and verified (print how long after the close)")
			fs.BoolVar(&c.progress, "progress", false, "show a progress bar on stderr even when it is not a terminal")
			fs.StringVar(&c.witnessKey, "witness-key", "", "also act as a witness, cosigning with the witness signer key in `FILE` (made by --new-witness-key)")
			fs.StringVar(&c.witnessListen, "witness-listen", "", "serve the witness (tlog-witness over HTTP, plaintext) on `ADDR` (host:port)")
			fs.StringVar(&c.newWitnessKey, "new-witness-key", "", "make a new witness key, write its signer key to `FILE` (which must not exist), print its verifier key and policy line, and exit")
			fs.StringVar(&c.witnessName, "witness-name", "", "with --new-witness-key: the witness key's `NAME`, a schema-less URL such as observer.example/witness")
			return c.run
		},
	})
}

type observeCmd struct {
	node                           *connFlags
	dir, listen, metrics, boardKey string
	webListen                      string
	check                          string
	untilDone, progress            bool
	witnessKey, witnessListen      string
	newWitnessKey, witnessName     string
}

func (c *observeCmd) run(ctx context.Context, args []string) error {
	stdout, stderr := outputs(ctx)
	progress := progressWriter(stderr, c.progress)
	if len(args) != 0 {
		return errUsage
	}
	if c.check != "" {
		return checkAlarmFile(stdout, c.check)
	}
	if c.newWitnessKey != "" {
		return newWitnessKeyFile(stdout, c.newWitnessKey, c.witnessName)
	}
	if c.node.addr == "" || c.dir == "" || (c.witnessKey == "") != (c.witnessListen == "") {
		return errUsage
	}
	var witnessSkey string
	if c.witnessKey != "" {
		data, err := os.ReadFile(c.witnessKey)
		if err != nil {
			return err
		}
		witnessSkey = strings.TrimSpace(string(data))
		if _, err := witness.NewSigner(witnessSkey); err != nil {
			return fmt.Errorf("%s: %w", c.witnessKey, err)
		}
	}
	nc, err := c.node.dial()
	if err != nil {
		return err
	}
	defer nc.Close()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var openBar *progressbar.ProgressBar
	openProgress := func(done, total uint64) {
		if total < longRecord {
			return
		}
		if openBar == nil {
			openBar = newBar(progress, total)
			openBar.Describe("replaying the mirror")
		}
		openBar.Set64(int64(done))
		if done == total {
			openBar.Finish()
		}
	}
	if progress == nil {
		openProgress = nil
	}
	o, err := observer.Open(ctx, observer.Config{Dir: c.dir, Board: nc.Board, BoardKey: c.boardKey, Logger: logger, OpenProgress: openProgress,
		OnAlarm: func(a *observer.Alarm, path string) {
			fmt.Fprintf(stdout, "%s\n  proof: %s (check it with 'recount observe --check %s')\n", a, path, path)
		}})
	if err != nil {
		return friendly(err)
	}
	defer o.Close()
	st := o.Status()
	fmt.Fprintf(stdout, "Observing the node at %s into %s\n", c.node.addr, c.dir)
	fmt.Fprintf(stdout, "  board %s, key %s\n", st.Checkpoint.Origin, tlog.KeyFingerprint(o.Mirror().VerifierKey()))
	fmt.Fprintf(stdout, "  mirror: %d entries verified (%d ballots restored without checking again, in %s)\n", st.Verified, st.BallotsRestored, st.Restored.Round(time.Millisecond))

	ctx, cancel := c.node.withTimeout(ctx) // --timeout: observe for that long, then stop
	defer cancel()
	if c.listen != "" {
		lis, err := net.Listen("tcp", c.listen)
		if err != nil {
			return err
		}
		srv := grpc.NewServer(grpc.MaxConcurrentStreams(256), grpc.MaxRecvMsgSize(client.MaxMessageBytes))
		o.Register(srv)
		go srv.Serve(lis)
		defer srv.Stop()
		fmt.Fprintf(stdout, "  serving the mirror read-only on %s\n", lis.Addr())
	}
	if c.webListen != "" {
		voter, board := o.Services()
		h, err := web.New(web.Options{Services: web.Services{Voter: voter, Board: board, ReadOnly: true}, Logger: logger})
		if err != nil {
			return err
		}
		lis, err := net.Listen("tcp", c.webListen)
		if err != nil {
			return err
		}
		hs := web.NewServer(c.webListen, h)
		go hs.Serve(lis)
		defer hs.Close()
		fmt.Fprintf(stdout, "  voters' pages (receipts, results) on http://%s/\n", lis.Addr())
	}
	if c.metrics != "" {
		lis, err := net.Listen("tcp", c.metrics)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(o.Registry(), promhttp.HandlerOpts{Registry: o.Registry()}))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go hs.Serve(lis)
		defer hs.Close()
		fmt.Fprintf(stdout, "  metrics on http://%s/metrics\n", lis.Addr())
	}

	if witnessSkey != "" {
		w, err := o.OpenWitness(witnessSkey)
		if err != nil {
			return err
		}
		defer w.Close()
		lis, err := net.Listen("tcp", c.witnessListen)
		if err != nil {
			return err
		}
		hs := witness.NewServer("", witness.NewHandler(w, logger))
		go hs.Serve(lis)
		defer hs.Close()
		fmt.Fprintf(stdout, "  witnessing as %s on http://%s (cosigning only what this observer verified)\n", w.Name(), lis.Addr())
		fmt.Fprintf(stdout, "  witness key: %s\n", w.VerifierKey())
	}

	runErr := make(chan error, 1)
	go func() { runErr <- o.Run(ctx) }()
	err = c.watch(ctx, o, stdout, progress)
	cancel()
	<-runErr
	final := o.Status()
	fmt.Fprintf(stdout, "Stopped: %d entries verified (node at %d), phase %s, %d cast, %d superseded, %d spoiled, %d failed checks, %d alarms\n",
		final.Verified, final.NodeSize, final.Phase, final.Cast, final.Superseded, final.Spoiled, final.FailureCount, len(final.Alarms))
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if err == nil && (final.FailureCount > 0 || len(final.Alarms) > 0) {
		return &exitError{code: 1, err: errors.New("the board fails checks or the node showed two histories: see above")}
	}
	return err
}

// watch prints what the observer finds as it goes (new failures, phase changes) and draws its progress, until
// ctx ends or, with --until-done, the result is verified.
func (c *observeCmd) watch(ctx context.Context, o *observer.Observer, stdout, progress io.Writer) error {
	var bar *progressbar.ProgressBar
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var phase client.Phase
	var closedAt time.Time
	printed := 0
	for {
		st := o.Status()
		if st.Phase != phase {
			phase = st.Phase
			fmt.Fprintf(stdout, "phase %s at entry %d\n", phase, st.Verified)
			if phase == client.PhaseClosed || phase == client.PhaseTallying && closedAt.IsZero() {
				closedAt = time.Now()
			}
		}
		for ; printed < len(st.Failures); printed++ {
			fmt.Fprintf(stdout, "FAILED %v\n", st.Failures[printed])
		}
		if progress != nil && st.NodeSize > 0 {
			if bar == nil {
				bar = progressbar.NewOptions64(int64(st.NodeSize), progressbar.OptionSetWriter(progress), progressbar.OptionSetDescription("verified"),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("entries"),
					progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetPredictTime(false))
			}
			bar.ChangeMax64(int64(st.NodeSize))
			bar.Describe(fmt.Sprintf("verified (lag %d, %s; %d cast, %d failed)", st.LagEntries, st.Lag.Round(100*time.Millisecond), st.Cast, st.FailureCount))
			bar.Set64(int64(min(st.Verified, st.NodeSize)))
		}
		if c.untilDone && st.Phase == client.PhaseDone && st.LagEntries == 0 && st.NodeSize > 0 {
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(progress)
			}
			if !closedAt.IsZero() {
				fmt.Fprintf(stdout, "result verified %s after this observer saw the polls close\n", time.Since(closedAt).Round(time.Millisecond))
			} else {
				fmt.Fprintln(stdout, "result verified")
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// newWitnessKeyFile makes a witness key named name, writes its signer key to path (created, never replaced:
// the key is the witness's identity) and prints the verifier key and the witness policy line that names it.
func newWitnessKeyFile(stdout io.Writer, path, name string) error {
	if name == "" {
		return errors.New("--new-witness-key needs --witness-name NAME (a schema-less URL such as observer.example/witness)")
	}
	skey, vkey, err := witness.GenerateKey(name, rand.Reader)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	fmt.Fprintf(stdout, "Wrote the witness signer key %s to %s (keep it secret; the observer cosigns with it)\n", name, path)
	fmt.Fprintf(stdout, "Verifier key: %s\n", vkey)
	fmt.Fprintf(stdout, "Witness policy line (name it as you like; add the URL the witness is served at):\n  witness %s %s http://HOST:PORT\n", policyName(name), vkey)
	return nil
}

// policyName suggests a witness policy name for a witness key name: its last path element.
func policyName(keyName string) string {
	if i := strings.LastIndexAny(keyName, "/"); i >= 0 && i+1 < len(keyName) {
		return keyName[i+1:]
	}
	return keyName
}

// checkAlarmFile checks an observer's alarm file and says what it proves.
func checkAlarmFile(stdout io.Writer, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	a, err := observer.CheckAlarm(data)
	if err != nil {
		fmt.Fprintf(stdout, "%s: the alarm does NOT hold: %v\n", path, err)
		return &exitError{code: 1, err: errors.New("")}
	}
	fmt.Fprintf(stdout, "%s: the alarm holds: the board %s (key %s) signed two checkpoints that are not of one history\n", path, a.Origin, tlog.KeyFingerprint(a.VerifierKey))
	fmt.Fprintf(stdout, "  %s\n", a)
	if a.Kind == observer.AlarmNotExtending {
		fmt.Fprintln(stdout, "  (kind not-extending: the node's own consistency proof between them fails; two checkpoints of one size, or a rollback, are proven outright)")
	}
	return nil
}

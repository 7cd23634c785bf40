package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/booth"
	"github.com/recount-vote/recount/client/webnode"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/trustee"
)

// webElection is a demo election with the polls open and its web pages served: the tests' voters vote through
// the pages (or the booth's Go, natively), and tally closes it.
type webElection struct {
	d   *demo
	m   *election.Manifest
	el  *openElection
	url string // the pages' base URL, ending in "/"
	vs  *demoVotes
}

// startWebElection runs the demo's set-up and ceremony with voters credentials and serves the web pages, wrapped
// by wrap if it is not nil; the polls are open.
func startWebElection(t testing.TB, voters int, wrap func(http.Handler) http.Handler) *webElection {
	t.Helper()
	demoKDF = &trustee.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	t.Cleanup(func() { demoKDF = nil })
	var out bytes.Buffer
	// One writer for both: the demo's steps and the node's log lines land in the same buffer.
	both := &lockedWriter{w: &out}
	cfg := &demoConfig{voters: voters, clients: 1, progress: "never", out: t.TempDir(), webListen: "127.0.0.1:0", webWrap: wrap,
		stdout: both, stderr: both}
	d, err := newDemo(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.close()
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	})
	ctx := context.Background()
	m, err := d.setUp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	el, err := d.ceremony(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return &webElection{d: d, m: m, el: el, url: d.web.url,
		vs: &demoVotes{last: map[int]*client.Receipt{}, superseded: map[int]*client.Receipt{}, spoiled: map[int]*client.Receipt{}, choices: map[int]election.Choices{}}}
}

// tally closes the polls, has the trustees decrypt and the result posted, and checks it against the choices
// recorded in we.vs (the tests' voters').
func (we *webElection) tally(t *testing.T) {
	t.Helper()
	if _, err := we.d.tally(context.Background(), we.m, we.vs); err != nil {
		t.Fatal(err)
	}
}

// lockedWriter serializes the demo's writes to a buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// lyingInclusion is a server that lies about where a cast ballot is: it changes one byte of the inclusion
// proof in the answers to /api/v1/cast (when cast is set) and /api/v1/receipt (when receipt is set).
func lyingInclusion(cast, receipt bool) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !(cast && r.URL.Path == "/api/v1/cast") && !(receipt && r.URL.Path == "/api/v1/receipt") {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if rec.Code == http.StatusOK {
				body = tamperInclusion(body)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
}

// tamperInclusion flips a bit of the first hash of the receipt's inclusion proof in a protojson answer.
func tamperInclusion(body []byte) []byte {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	rc, _ := m["receipt"].(map[string]any)
	proof, _ := rc["inclusionProof"].([]any)
	if len(proof) == 0 {
		return body
	}
	h, _ := base64.StdEncoding.DecodeString(proof[0].(string))
	if len(h) == 0 {
		return body
	}
	h[0] ^= 1
	proof[0] = base64.StdEncoding.EncodeToString(h)
	out, _ := json.Marshal(m)
	return out
}

// demoChoices are a valid ballot of the demo's manifest: Grace Hopper for mayor, Liskov and Thompson for the
// council, and budget scores 5, 4, 2, 1.
var demoChoices = election.Choices{{0, 0, 1, 0}, {1, 0, 0, 0, 1, 0}, {5, 4, 2, 1}}

// TestWebBoothNative runs the voting page's Go (client/booth, which the WebAssembly wraps) natively against the
// node's JSON API: a credential loaded by its code, a ballot prepared, challenged and opened, a fresh one cast
// and its receipt checked, a second ballot that supersedes the first, the receipts after the tally (counted,
// superseded by the later entry, challenged) and the result found on the board.
func TestWebBoothNative(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election with its trustees: TestWebBoothNative runs without -short")
	}
	we := startWebElection(t, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := booth.New(strings.TrimSuffix(we.url, "/"))
	e, err := b.Election(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.Phase != "open" || len(e.Contests) != 3 || e.ID != we.m.ID().String() {
		t.Fatalf("election: %+v", e)
	}
	// Bad credentials are refused in plain words.
	var p *booth.Problem
	if _, err := b.LoadCredential(ctx, "not a code"); !errors.As(err, &p) || !strings.Contains(p.Message, "not a credential code") {
		t.Fatalf("a bad code: %v", err)
	}
	if _, err := b.LoadCredential(ctx, `{"format":"recount-credential/v1","election":"00","code":"x"}`); !errors.As(err, &p) || !strings.Contains(p.Message, "damaged") {
		t.Fatalf("a corrupt credential file: %v", err)
	}
	if _, err := b.LoadCredential(ctx, string(we.el.creds[0].MarshalFile())); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Prepare(ctx, [][]uint64{{1, 1, 0, 0}, {0, 0, 0, 0, 0, 0}, {0, 0, 0, 0}}); !errors.As(err, &p) || !strings.Contains(p.Message, "rule") {
		t.Fatalf("two mayors: %v", err)
	}
	if _, err := b.Cast(ctx); !errors.As(err, &p) || !strings.Contains(p.Message, "Prepare a ballot first") {
		t.Fatalf("cast before prepare: %v", err)
	}
	first, err := b.Prepare(ctx, demoChoices)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := b.Challenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Matches || ch.TrackingCode != first.TrackingCode || len(ch.Opened) != 3 || ch.Opened[2][0] != 5 {
		t.Fatalf("challenge: %+v", ch)
	}
	second, err := b.Prepare(ctx, demoChoices)
	if err != nil {
		t.Fatal(err)
	}
	if second.TrackingCode == first.TrackingCode {
		t.Fatal("the fresh encryption has the challenged ballot's tracking code")
	}
	cast1, err := b.Cast(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cast1.TrackingCode != second.TrackingCode || cast1.TreeSize <= cast1.Index {
		t.Fatalf("cast: %+v", cast1)
	}
	if cast1.Cosigned && (!strings.Contains(cast1.Witnessed, ": met") || cast1.PolicyFingerprint == "") {
		t.Fatalf("a witnessed receipt not checked against the policy: %+v", cast1)
	}
	// The receipt checks, by file and by tracking code.
	for _, in := range []string{cast1.Receipt, cast1.TrackingCode} {
		rc, err := b.CheckReceipt(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Status != "cast" || rc.Index != cast1.Index {
			t.Fatalf("receipt check: %+v", rc)
		}
	}
	// The checkpoint seen is taken back on a later visit: the next checks must extend it; a damaged one is refused.
	seen := b.Seen()
	if seen == nil || seen.BoardKey != e.BoardKey {
		t.Fatalf("seen: %+v", seen)
	}
	later := booth.New(strings.TrimSuffix(we.url, "/"))
	if ok, err := later.Restore(ctx, *seen); !ok || err != nil {
		t.Fatalf("restore: %v, %v", ok, err)
	}
	if _, err := later.CheckReceipt(ctx, cast1.TrackingCode); err != nil {
		t.Fatalf("a receipt check after a restore: %v", err)
	}
	if ok, err := booth.New(strings.TrimSuffix(we.url, "/")).Restore(ctx, booth.Seen{Checkpoint: seen.Checkpoint + "x", BoardKey: seen.BoardKey}); ok || err == nil {
		t.Fatalf("a damaged checkpoint restored: %v, %v", ok, err)
	}
	if ok, err := booth.New(strings.TrimSuffix(we.url, "/")).Restore(ctx, booth.Seen{Checkpoint: seen.Checkpoint, BoardKey: "other+1234+AAAA"}); ok || err != nil {
		t.Fatalf("another board's checkpoint: %v, %v (want ignored)", ok, err)
	}
	// A receipt of another election, and a server that does not answer, are said in plain words.
	other := strings.Replace(cast1.Receipt, we.m.ID().String(), strings.Repeat("0", 64), 1)
	if _, err := b.CheckReceipt(ctx, other); !errors.As(err, &p) || !strings.Contains(p.Message, "from another election") {
		t.Fatalf("a receipt of another election: %v", err)
	}
	if _, err := booth.New("http://127.0.0.1:1").Election(ctx); !errors.As(err, &p) || !strings.Contains(p.Message, "did not answer") {
		t.Fatalf("an unreachable server: %v", err)
	}
	// A credential that is not on the election's list is refused by the node, in plain words.
	stranger, _, err := election.GenerateCredentials(we.m.ID(), 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	b2 := booth.New(strings.TrimSuffix(we.url, "/"))
	if _, err := b2.LoadCredential(ctx, stranger[0].Code()); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Prepare(ctx, demoChoices); err != nil {
		t.Fatal(err)
	}
	if _, err := b2.Cast(ctx); !errors.As(err, &p) || !strings.Contains(p.Message, "not one of this election's") {
		t.Fatalf("an unknown credential: %v", err)
	}
	// An unknown tracking code is said in plain words.
	if _, err := b.CheckReceipt(ctx, election.HumanTrackingCode(election.ID{1, 2, 3})); !errors.As(err, &p) || !strings.Contains(p.Message, "no ballot with this tracking code") {
		t.Fatalf("an unknown tracking code: %v", err)
	}
	// A second vote supersedes the first.
	final := election.Choices{{1, 0, 0, 0}, {0, 0, 0, 0, 0, 0}, {0, 0, 0, 0}}
	if _, err := b.Prepare(ctx, final); err != nil {
		t.Fatal(err)
	}
	cast2, err := b.Cast(ctx)
	if err != nil {
		t.Fatal(err)
	}
	we.vs.choices[0] = final
	// Results before the tally: not published.
	if res, err := b.Results(ctx); err != nil || res.Published {
		t.Fatalf("results before the tally: %+v, %v", res, err)
	}
	we.tally(t)
	for _, c := range []struct {
		in, status string
		by         uint64
	}{{cast2.Receipt, "counted", 0}, {cast1.Receipt, "superseded", cast2.Index}, {ch.Receipt, "challenged", 0}} {
		rc, err := b.CheckReceipt(ctx, c.in)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Status != c.status || rc.SupersededBy != c.by || !rc.Extends {
			t.Errorf("receipt check: %+v, want %s (by %d)", rc, c.status, c.by)
		}
	}
	res, err := b.Results(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Published || res.Counted != 1 || res.Contests[0].Options[0].Count != 1 || res.Contests[0].Options[2].Count != 0 {
		t.Fatalf("results: %+v", res)
	}
	// The demo's witnesses cosign the board holding the result (2 of 3, soon all three), their signatures checked
	// against the election's witness policy.
	for deadline := time.Now().Add(20 * time.Second); len(res.CosignedBy) < 2 || !strings.Contains(res.Witnessed, ": met"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no witnesses named on the result's board: %+v", res)
		}
		if res, err = b.Results(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The record downloaded from the results page verifies, to the board's latest checkpoint.
	resp, err := http.Get(we.url + "api/v1/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") == "" {
		t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
	}
	end, err := tlog.VerifyExport(resp.Body, e.BoardKey)
	if err != nil || end.Size != we.d.node.Log().Size() {
		t.Fatalf("the exported record: %v, size %d of %d", err, end.Size, we.d.node.Log().Size())
	}
	if _, err := b.Prepare(ctx, demoChoices); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Cast(ctx); !errors.As(err, &p) || !strings.Contains(p.Message, "polls are closed") {
		t.Fatalf("a cast after the close: %v", err)
	}
}

// TestWebBoothLyingServer: a server that answers a cast with a wrong inclusion proof is caught: the booth never
// says recorded, and says what to do.
func TestWebBoothLyingServer(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election with its trustees: TestWebBoothLyingServer runs without -short")
	}
	we := startWebElection(t, 1, lyingInclusion(true, true))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := booth.NewWithNode(&webnode.Node{Base: strings.TrimSuffix(we.url, "/")})
	if _, err := b.LoadCredential(ctx, we.el.creds[0].Code()); err != nil {
		t.Fatal(err)
	}
	pr, err := b.Prepare(ctx, demoChoices)
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Cast(ctx)
	var p *booth.Problem
	if err == nil || !errors.As(err, &p) || !strings.Contains(p.Message, "NOT shown as recorded") {
		t.Fatalf("a wrong inclusion proof: %+v, %v", c, err)
	}
	if _, err := b.CheckReceipt(ctx, pr.TrackingCode); !errors.As(err, &p) || !strings.Contains(p.Message, "does NOT check out") {
		t.Fatalf("a wrong inclusion proof in a receipt check: %v", err)
	}
}

// TestDemoBrowserVoters: `recount demo --browser-voters 1 --keep-serving` keeps the polls open for a person,
// prints the booth's address and the credential kept for them; a ballot cast through the pages (here the booth's
// Go, natively) is counted after Enter, the audit passes, and the pages stay up until the demo is stopped.
func TestDemoBrowserVoters(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election with its trustees: TestDemoBrowserVoters runs without -short")
	}
	demoKDF = &trustee.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	defer func() { demoKDF = nil }()
	var out bytes.Buffer
	stdout := &lockedWriter{w: &out}
	enter, pressEnter := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := &demoConfig{voters: 3, clients: 2, progress: "never", out: t.TempDir(), webListen: "127.0.0.1:0", keepServing: true, browserVoters: 1,
		stdin: enter, stdout: stdout, stderr: stdout}
	done := make(chan error, 1)
	go func() { done <- runDemo(ctx, cfg) }()
	printed := func(re *regexp.Regexp) []string {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			stdout.mu.Lock()
			m := re.FindStringSubmatch(out.String())
			stdout.mu.Unlock()
			if m != nil {
				return m
			}
			select {
			case err := <-done:
				t.Fatalf("the demo ended (%v) before printing %s:\n%s", err, re, out.String())
			default:
			}
		}
		t.Fatalf("the demo did not print %s:\n%s", re, out.String())
		return nil
	}
	m := printed(regexp.MustCompile(`vote at (http://127\.0\.0\.1:[0-9]+/)vote with one of these credential codes.*\n  credential-000004\.json  ([A-Z2-7-]+)\n`))
	b := booth.New(strings.TrimSuffix(m[1], "/"))
	if _, err := b.LoadCredential(ctx, m[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Prepare(ctx, demoChoices); err != nil {
		t.Fatal(err)
	}
	cast, err := b.Cast(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pressEnter.Write([]byte("\n"))
	printed(regexp.MustCompile(`Press Ctrl-C to stop`))
	for _, want := range []string{"1 of the 1 people's credentials voted in a browser", "the result holds the ballots of 1 voters who voted in a browser",
		"4 ballots counted"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo did not print %q:\n%s", want, out.String())
		}
	}
	// The pages are still up: the receipt counts.
	rc, err := b.CheckReceipt(ctx, cast.Receipt)
	if err != nil || rc.Status != "counted" {
		t.Fatalf("the browser voter's receipt after the demo: %+v, %v", rc, err)
	}
	// The newspaper observer's copy serves the same pages, read-only: the receipt counts there too.
	obs := printed(regexp.MustCompile(`observer newspaper: its copy's pages at (http://127\.0\.0\.1:[0-9]+/)`))[1]
	ob := booth.New(strings.TrimSuffix(obs, "/"))
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rc, err := ob.CheckReceipt(ctx, cast.Receipt)
		if err == nil && rc.Status == "counted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receipt against the observer's copy: %+v, %v", rc, err)
		}
	}
	resp, err := http.Get(obs + "vote")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "takes no ballots") || strings.Contains(string(page), "vote.js") {
		t.Errorf("the observer's booth page does not say it is read-only:\n%s", page)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("the demo: %v", err)
	}
}

// BenchmarkBoothPrepareDemoBallot is the booth's encryption and proofs of the demo's ballot (3 contests, 14
// options), natively: the same Go that the page runs as WebAssembly (TestBrowserVoteChallengeCheck logs the
// browser's time).
func BenchmarkBoothPrepareDemoBallot(b *testing.B) {
	we := startWebElection(b, 1, nil)
	ctx := context.Background()
	bo := booth.New(strings.TrimSuffix(we.url, "/"))
	if _, err := bo.LoadCredential(ctx, we.el.creds[0].Code()); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := bo.Prepare(ctx, demoChoices); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWebBoothOwnKey: a server that hands out an election key of its own (to read the ballots) is caught when
// the credential is loaded, before anything is encrypted: the key is not the one the trustees' ceremony on the
// board yields.
func TestWebBoothOwnKey(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election with its trustees: TestWebBoothOwnKey runs without -short")
	}
	_, own, err := elgamal.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ownKey := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/v1/election" {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Error(err)
			}
			m["jointKey"] = base64.StdEncoding.EncodeToString(own.Bytes())
			json.NewEncoder(w).Encode(m)
		})
	}
	we := startWebElection(t, 1, ownKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := booth.New(strings.TrimSuffix(we.url, "/"))
	var p *booth.Problem
	if _, err := b.LoadCredential(ctx, we.el.creds[0].Code()); !errors.As(err, &p) || !strings.Contains(p.Message, "not the one the trustees made") {
		t.Fatalf("a key of the server's own: %v", err)
	}
	if _, err := b.Prepare(ctx, demoChoices); !errors.As(err, &p) || !strings.Contains(p.Message, "Load your credential first") {
		t.Fatalf("a ballot prepared after the key was refused: %v", err)
	}
}

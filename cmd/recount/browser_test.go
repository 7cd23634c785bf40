package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The browser tests drive the voters' pages in a real headless Chromium (Debian's chromium package; .ci/run
// installs it), with the WebAssembly booth doing the cryptography. Without a browser they fail, unless
// RECOUNT_BROWSER_OPTIONAL=1 says a browser is optional here: then they skip, saying so.

var updateScreenshots = flag.Bool("update-screenshots", false, "write the browser tests' screenshots into docs/images/ for the README")

// browserTimeout bounds one browser test, the election's set-up and tally included.
const browserTimeout = 90 * time.Second

// findBrowser returns the path of a Chromium, or fails (skips with RECOUNT_BROWSER_OPTIONAL=1).
func findBrowser(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found on PATH (chromium, chromium-browser, google-chrome): install Debian's chromium (apt-get install chromium; .ci/run does)"
	if os.Getenv("RECOUNT_BROWSER_OPTIONAL") == "1" {
		t.Skip(msg + "; skipped because RECOUNT_BROWSER_OPTIONAL=1")
	}
	t.Fatal(msg + ", or set RECOUNT_BROWSER_OPTIONAL=1 to skip the browser tests")
	return ""
}

// newBrowser starts a headless Chromium for one test and returns its tab's context, bounded by browserTimeout.
// The page's console errors are logged to the test.
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("a headless Chromium and a whole election: the browser tests run without -short")
	}
	path := findBrowser(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1000, 1200),
		chromedp.UserDataDir(t.TempDir()))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	msgs := chromedp.Console(bctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == "error" || m.Type == chromedp.ConsoleException {
				t.Logf("browser console: %s %s", m.Type, m.Text)
			}
		}
	}()
	return bctx
}

func do(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func value[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// shownOrProblem waits until the element with id or the page's problem box is shown, and returns the problem's
// text ("" if the element was shown).
func shownOrProblem(t testing.TB, ctx context.Context, id string) string {
	t.Helper()
	return value(t, ctx, "waiting for #"+id, chromedp.Poll[string](fmt.Sprintf(`(function(){
		const e = document.getElementById(%q), p = document.getElementById("problem");
		if (e && !e.hidden) return "shown";
		if (p && !p.hidden) return "problem: " + p.textContent;
		return false; })()`, id), chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
}

func text(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	return strings.TrimSpace(value(t, ctx, "reading #"+id, chromedp.TextContent(chromedp.CSS("#"+id))))
}

// screenshot saves the page to the test's folder, and to docs/images/ with -update-screenshots.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := value(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	dirs := []string{t.TempDir()}
	if *updateScreenshots {
		dirs = append(dirs, filepath.Join("..", "..", "docs", "images"))
	}
	for _, dir := range dirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// noHorizontalScroll checks the page reflows into width CSS pixels (a phone, or 200% zoom of a small window)
// without scrolling sideways (WCAG's reflow: 320 pixels).
func noHorizontalScroll(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	do(t, ctx, "phone width", chromedp.EmulateViewport(320, 800))
	over := value(t, ctx, "measuring "+page, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
	if over > 0 {
		t.Errorf("%s scrolls sideways by %d pixels at 320 pixels wide", page, over)
	}
	do(t, ctx, "desktop width", chromedp.EmulateViewport(1000, 1200))
}

// loadCredential opens the booth and loads the credential by its code.
func loadCredential(t testing.TB, ctx context.Context, url, code string) time.Duration {
	t.Helper()
	start := time.Now()
	do(t, ctx, "opening the booth", chromedp.Navigate(url+"vote"))
	if p := shownOrProblem(t, ctx, "step-credential"); p != "shown" {
		t.Fatalf("the booth did not start: %s", p)
	}
	ready := time.Since(start)
	do(t, ctx, "typing the credential", chromedp.SendKeys(chromedp.CSS("#cred-code"), code), chromedp.Click(chromedp.CSS("#cred-use")))
	if p := shownOrProblem(t, ctx, "step-choose"); p != "shown" {
		t.Fatalf("the credential was not taken: %s", p)
	}
	return ready
}

// chooseDemoChoices makes demoChoices with the mouse.
func chooseDemoChoices(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, "choosing", chromedp.Click(chromedp.CSS("#c0o2")), chromedp.Click(chromedp.CSS("#c1o0")), chromedp.Click(chromedp.CSS("#c1o4")))
	for o, v := range demoChoices[2] {
		do(t, ctx, "scoring", chromedp.SetValue(chromedp.CSS(fmt.Sprintf("#c2o%d", o)), fmt.Sprint(v)))
	}
}

// TestBrowserVoteChallengeCheck: a voter loads their credential, chooses, challenges the ballot (the page opens
// it and shows their choices), casts the fresh encryption, sees "recorded" once the page checked the proofs, and
// after the tally the receipt page says "Counted", by tracking code and by receipt file; the results page shows
// the result. Each page is photographed, and checked to reflow at phone width.
func TestBrowserVoteChallengeCheck(t *testing.T) {
	ctx := newBrowser(t)
	we := startWebElection(t, 2, nil)

	do(t, ctx, "election page", chromedp.Navigate(we.url))
	value(t, ctx, "election status", chromedp.Poll[bool](`document.getElementById("phase").textContent.startsWith("Open")`))
	loaded := value(t, ctx, "the election page's load time", chromedp.Evaluate[float64](`performance.getEntriesByType("navigation")[0].loadEventEnd`))
	t.Logf("the election page loaded in %.0f ms", loaded)
	screenshot(t, ctx, "web-election")
	noHorizontalScroll(t, ctx, "the election page")

	ready := loadCredential(t, ctx, we.url, we.el.creds[0].Code())
	wasmMillis := value(t, ctx, "WebAssembly load time", chromedp.Evaluate[float64](`window.recountTimings.wasmLoadMillis`))
	t.Logf("the booth was ready %v after the page was asked for (the WebAssembly fetched, compiled and started in %.0f ms)",
		ready.Round(time.Millisecond), wasmMillis)
	chooseDemoChoices(t, ctx)
	screenshot(t, ctx, "web-booth-choices")
	do(t, ctx, "phone width", chromedp.EmulateViewport(360, 780))
	screenshot(t, ctx, "web-booth-phone")
	do(t, ctx, "desktop width", chromedp.EmulateViewport(1000, 1200))
	noHorizontalScroll(t, ctx, "the booth")

	// A rule broken is said, and nothing is encrypted.
	do(t, ctx, "a second mayor", chromedp.Click(chromedp.CSS("#c1o1")), chromedp.Click(chromedp.CSS("#c1o2")), chromedp.Click(chromedp.CSS("#prepare")))
	if p := shownOrProblem(t, ctx, "step-decide"); !strings.Contains(p, "City council: you chose 4") {
		t.Fatalf("four council members: %s", p)
	}
	do(t, ctx, "back to two", chromedp.Click(chromedp.CSS("#c1o1")), chromedp.Click(chromedp.CSS("#c1o2")))

	do(t, ctx, "encrypting", chromedp.Click(chromedp.CSS("#prepare")))
	if p := shownOrProblem(t, ctx, "step-decide"); p != "shown" {
		t.Fatal(p)
	}
	first := text(t, ctx, "tracking")
	encryptMillis := value(t, ctx, "encrypt time", chromedp.Evaluate[string](`document.body.dataset.encryptMillis`))
	t.Logf("the demo ballot was encrypted and proved in the browser in %s ms", encryptMillis)
	screenshot(t, ctx, "web-booth-tracking")

	do(t, ctx, "challenging", chromedp.Click(chromedp.CSS("#challenge")))
	if p := shownOrProblem(t, ctx, "step-challenged"); p != "shown" {
		t.Fatal(p)
	}
	value(t, ctx, "fresh encryption", chromedp.Poll[bool](`document.getElementById("decide-status").textContent.includes("fresh encryption")`))
	if v := text(t, ctx, "challenged-verdict"); !strings.Contains(v, "opens to exactly your choices") || !strings.Contains(v, first) {
		t.Fatalf("challenge verdict: %s", v)
	}
	second := text(t, ctx, "tracking")
	if second == first || second == "" {
		t.Fatalf("after the challenge the tracking code is %q (was %q): want a fresh encryption", second, first)
	}
	screenshot(t, ctx, "web-booth-challenged")

	do(t, ctx, "casting", chromedp.Click(chromedp.CSS("#cast")))
	if p := shownOrProblem(t, ctx, "step-recorded"); p != "shown" {
		t.Fatal(p)
	}
	if got := text(t, ctx, "rec-tracking"); got != second {
		t.Fatalf("recorded %q, cast %q", got, second)
	}
	castMillis := value(t, ctx, "cast time", chromedp.Evaluate[string](`document.body.dataset.castMillis`))
	t.Logf("cast to recorded (receipt's proofs checked in the page): %s ms", castMillis)
	screenshot(t, ctx, "web-booth-recorded")
	receipt := value(t, ctx, "the receipt file", chromedp.Evaluate[string](`document.getElementById("rec-receipt-text").textContent`))
	if !strings.Contains(receipt, `"format": "recount-receipt/v1"`) {
		t.Fatalf("receipt file:\n%s", receipt)
	}
	do(t, ctx, "vote again", chromedp.Click(chromedp.CSS("#vote-again")))
	if p := shownOrProblem(t, ctx, "step-choose"); p != "shown" {
		t.Fatalf("vote again: %s", p)
	}
	receiptPath := filepath.Join(t.TempDir(), "receipt.json")
	if err := os.WriteFile(receiptPath, []byte(receipt), 0o644); err != nil {
		t.Fatal(err)
	}

	// The election page, left open through the tally, updates itself.
	do(t, ctx, "election page", chromedp.Navigate(we.url))
	value(t, ctx, "ballots on the board", chromedp.Poll[bool](`document.getElementById("ballots").textContent === "1" && document.getElementById("spoiled").textContent === "1"`))
	we.vs.choices[0] = demoChoices
	we.tally(t)
	value(t, ctx, "the election page after the tally", chromedp.Poll[bool](`document.getElementById("phase").textContent.startsWith("Tallied")`,
		chromedp.WithPollingTimeout(20*time.Second)))

	// The booth says the polls are closed.
	do(t, ctx, "the booth after the close", chromedp.Navigate(we.url+"vote"))
	if p := shownOrProblem(t, ctx, "step-credential"); !strings.Contains(p, "The polls are closed") {
		t.Fatalf("the booth after the close: %s", p)
	}

	do(t, ctx, "receipt page", chromedp.Navigate(we.url+"receipt"))
	if p := shownOrProblem(t, ctx, "form"); p != "shown" {
		t.Fatal(p)
	}
	do(t, ctx, "checking by tracking code", chromedp.SendKeys(chromedp.CSS("#code"), second), chromedp.Click(chromedp.CSS("#check")))
	if p := shownOrProblem(t, ctx, "verdict"); p != "shown" {
		t.Fatal(p)
	}
	if h := text(t, ctx, "verdict-h"); h != "Counted" {
		t.Fatalf("the receipt page says %q, want Counted", h)
	}
	screenshot(t, ctx, "web-receipt-counted")
	// The browser keeps the largest checkpoint it saw, which the receipt page took back and extended.
	kept := value(t, ctx, "the checkpoint kept", chromedp.Evaluate[string](`Object.values(JSON.parse(localStorage.getItem("recount.seen"))).map(s => s.checkpoint.split("\n")[1]).join(",")`))
	if kept == "" || kept == "0" {
		t.Fatalf("the browser kept no checkpoint: %q", kept)
	}
	noHorizontalScroll(t, ctx, "the receipt page")
	do(t, ctx, "checking by receipt file", chromedp.Navigate(we.url+"receipt"))
	if p := shownOrProblem(t, ctx, "form"); p != "shown" {
		t.Fatal(p)
	}
	do(t, ctx, "loading the receipt", chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{receiptPath}), chromedp.Click(chromedp.CSS("#check")))
	if p := shownOrProblem(t, ctx, "verdict"); p != "shown" {
		t.Fatal(p)
	}
	if h, ext := text(t, ctx, "verdict-h"), text(t, ctx, "v-extends"); h != "Counted" || ext != "yes, proved" {
		t.Fatalf("the receipt file: %q, board not rewritten: %q", h, ext)
	}

	do(t, ctx, "results page", chromedp.Navigate(we.url+"results"))
	if p := shownOrProblem(t, ctx, "results"); p != "shown" {
		t.Fatal(p)
	}
	// The summary names the witnesses, their cosignatures checked against the policy (they may take a moment).
	value(t, ctx, "the results' witnesses", chromedp.Poll[bool](`document.getElementById("summary").textContent.includes(": met")`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if s := text(t, ctx, "summary"); !strings.HasPrefix(s, "1 ballot counted") {
		t.Fatalf("results summary: %s", s)
	}
	cells := value(t, ctx, "result table", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#contests td.num")).map(e => e.textContent)`))
	if strings.Join(cells, ",") != "0,0,1,0,1,0,0,0,1,0,5,4,2,1" {
		t.Fatalf("result counts %v, want the one ballot's choices", cells)
	}
	screenshot(t, ctx, "web-results")
	noHorizontalScroll(t, ctx, "the results page")
}

// TestBrowserLyingServer: a server that answers the cast, and the receipt lookups, with a wrong inclusion proof is
// caught by the pages, which never say recorded or counted and tell the voter what to do.
func TestBrowserLyingServer(t *testing.T) {
	ctx := newBrowser(t)
	we := startWebElection(t, 1, lyingInclusion(true, true))
	loadCredential(t, ctx, we.url, we.el.creds[0].Code())
	chooseDemoChoices(t, ctx)
	do(t, ctx, "encrypting", chromedp.Click(chromedp.CSS("#prepare")))
	if p := shownOrProblem(t, ctx, "step-decide"); p != "shown" {
		t.Fatal(p)
	}
	do(t, ctx, "casting", chromedp.Click(chromedp.CSS("#cast")))
	p := shownOrProblem(t, ctx, "step-recorded")
	if !strings.Contains(p, "does NOT check out, so it is NOT shown as recorded") {
		t.Fatalf("a wrong inclusion proof: %s", p)
	}
	if hidden := value(t, ctx, "recorded hidden", chromedp.Evaluate[bool](`document.getElementById("step-recorded").hidden`)); !hidden {
		t.Fatal("the page shows recorded")
	}
	screenshot(t, ctx, "web-booth-lying-server")
	code := text(t, ctx, "tracking")

	do(t, ctx, "receipt page", chromedp.Navigate(we.url+"receipt"))
	if p := shownOrProblem(t, ctx, "form"); p != "shown" {
		t.Fatal(p)
	}
	do(t, ctx, "checking the tracking code", chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#check")))
	if p := shownOrProblem(t, ctx, "verdict"); !strings.Contains(p, "proof does NOT check out") {
		t.Fatalf("a wrong inclusion proof on the receipt page: %s", p)
	}
}

// TestBrowserKeyboardOnly: a voter completes the vote with the keyboard alone: Tab to each control, typing,
// arrows and space to choose, Enter to press the buttons.
func TestBrowserKeyboardOnly(t *testing.T) {
	ctx := newBrowser(t)
	we := startWebElection(t, 1, nil)
	do(t, ctx, "opening the booth", chromedp.Navigate(we.url+"vote"))
	if p := shownOrProblem(t, ctx, "step-credential"); p != "shown" {
		t.Fatal(p)
	}
	tabTo(t, ctx, "cred-code")
	do(t, ctx, "typing the code", chromedp.KeyEvent(we.el.creds[0].Code()))
	tabTo(t, ctx, "cred-use")
	do(t, ctx, "pressing Enter", chromedp.KeyEvent(kb.Enter))
	if p := shownOrProblem(t, ctx, "step-choose"); p != "shown" {
		t.Fatal(p)
	}
	// The page moved the focus to the first choice: the mayor's radio buttons.
	if id := activeID(t, ctx); id != "c0o0" {
		t.Fatalf("after the credential the focus is on %q, want the first choice", id)
	}
	do(t, ctx, "the second mayor", chromedp.KeyEvent(kb.ArrowDown)) // selects Alan Turing
	tabTo(t, ctx, "c1o3")
	do(t, ctx, "a council member", chromedp.KeyEvent(" "))
	tabTo(t, ctx, "c2o1")
	do(t, ctx, "a score", chromedp.KeyEvent(kb.Backspace+"3"))
	tabTo(t, ctx, "prepare")
	do(t, ctx, "encrypting", chromedp.KeyEvent(kb.Enter))
	if p := shownOrProblem(t, ctx, "step-decide"); p != "shown" {
		t.Fatal(p)
	}
	tabTo(t, ctx, "cast")
	do(t, ctx, "casting", chromedp.KeyEvent(kb.Enter))
	if p := shownOrProblem(t, ctx, "step-recorded"); p != "shown" {
		t.Fatal(p)
	}
	we.vs.choices[0] = [][]uint64{{0, 1, 0, 0}, {0, 0, 0, 1, 0, 0}, {0, 3, 0, 0}}
	we.tally(t) // the result is the ballot chosen with the keyboard
}

// activeID is the id of the element with the keyboard focus.
func activeID(t *testing.T, ctx context.Context) string {
	t.Helper()
	return value(t, ctx, "focus", chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`))
}

// tabTo presses Tab until the element with id has the focus (at most 40 times).
func tabTo(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	for range 40 {
		if activeID(t, ctx) == id {
			return
		}
		do(t, ctx, "Tab", chromedp.KeyEvent(kb.Tab))
	}
	t.Fatalf("40 presses of Tab did not reach #%s", id)
}

// BenchmarkBrowserPrepareDemoBallot is BenchmarkBoothPrepareDemoBallot in headless Chromium: the same Go, compiled
// to WebAssembly, encrypting and proving the demo's ballot in the page (plus a DevTools round trip per ballot).
func BenchmarkBrowserPrepareDemoBallot(b *testing.B) {
	ctx := newBrowser(b)
	we := startWebElection(b, 1, nil)
	loadCredential(b, ctx, we.url, we.el.creds[0].Code())
	expr := `recountBooth.prepare("[[0,0,1,0],[1,0,0,0,1,0],[5,4,2,1]]")` // demoChoices
	for b.Loop() {
		value(b, ctx, "prepare", chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	}
}

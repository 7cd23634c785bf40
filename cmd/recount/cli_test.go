package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/trustee"
)

// recount runs the command line in-process and returns its exit status and what it printed on stdout.
func recount(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	if code != 0 {
		t.Logf("recount %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	return code, stdout.String()
}

// must runs the command line and fails the test unless it succeeds.
func must(t *testing.T, args ...string) string {
	t.Helper()
	code, out := recount(t, args...)
	if code != 0 {
		t.Fatalf("recount %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

// startTestNode serves a node on loopback with an admin token file; it returns the address and the file.
func startTestNode(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	n, err := node.Open(filepath.Join(dir, "board"), node.Options{Origin: "cli.recount.local/board"})
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
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		n.Close()
	})
	return lis.Addr().String(), tokenFile
}

const testManifest = `{
  "version": "recount/v1",
  "electionRef": "cli-test",
  "title": "CLI test election",
  "opensAt": "%d",
  "closesAt": "%d",
  "threshold": 2,
  "contests": [
    {"id": "mayor", "title": "Mayor", "exactly": {"k": 1},
     "options": [{"id": "ada", "title": "Ada"}, {"id": "alan", "title": "Alan"}, {"id": "grace", "title": "Grace"}]},
    {"id": "budget", "title": "Budget", "score": {"maxScore": 3},
     "options": [{"id": "park", "title": "Park"}, {"id": "bikes", "title": "Bikes"}]}
  ]
}`

// TestCLIElection runs an election with the commands an operator, two trustees and three voters type:
// trustee init, admin create with the trustees' files, trustee run, admin credentials, key, open, vote (with a
// challenge), close, tally, status.
func TestCLIElection(t *testing.T) {
	if testing.Short() {
		// The short run has TestDemo's whole election; the full run (README, CI) also has this one, by the commands.
		t.Skip("a whole election over gRPC through every command")
	}
	addr, tokenFile := startTestNode(t)
	dir := t.TempDir()
	conn := []string{"--node", addr, "--plaintext"}
	admin := append([]string{"--token-file", tokenFile}, conn...)
	passFile, manifest := setUpCLITrustees(t, dir)
	// Without the token: refused.
	trustees := []string{"--trustee", filepath.Join(dir, "t1.json"), "--trustee", filepath.Join(dir, "t2.json")}
	if code, _ := recount(t, append(append([]string{"admin", "create", "--manifest", manifest}, trustees...), conn...)...); code == 0 {
		t.Fatal("admin create without a token succeeded")
	}
	out := must(t, append(append([]string{"admin", "create", "--manifest", manifest, "--pin-web"}, trustees...), admin...)...)
	if !strings.Contains(out, "CLI test election") || !strings.Contains(out, "pins the voters' web pages") {
		t.Errorf("admin create printed: %s", out)
	}

	var wg sync.WaitGroup
	trusteeCodes := make([]int, 2)
	for i := range 2 {
		wg.Go(func() {
			var stderr bytes.Buffer
			trusteeCodes[i] = run(append([]string{"trustee", "run", "--store", filepath.Join(dir, fmt.Sprintf("t%d.db", i+1)), "--passphrase-file", passFile}, conn...), io.Discard, &stderr)
			if trusteeCodes[i] != 0 {
				t.Logf("trustee %d: %s", i+1, stderr.String())
			}
		})
	}
	creds := filepath.Join(dir, "creds")
	must(t, append([]string{"admin", "credentials", "--count", "3", "--out", creds}, admin...)...)
	must(t, append([]string{"admin", "key", "--wait", "30s"}, admin...)...)
	must(t, append([]string{"admin", "open"}, admin...)...)

	cred := func(i int) string { return filepath.Join(creds, fmt.Sprintf("credential-%06d.json", i)) }
	out = must(t, append([]string{"vote", "--credential", cred(1), "--choice", "mayor=grace", "--choice", "budget=park:3,bikes:1", "--receipt", filepath.Join(dir, "r1.json")}, conn...)...)
	if !strings.Contains(out, "tracking code:") || !strings.Contains(out, "mayor=grace") {
		t.Errorf("vote printed: %s", out)
	}
	must(t, append([]string{"vote", "--credential", cred(2), "--choice", "mayor=grace", "--receipt", filepath.Join(dir, "r2.json")}, conn...)...)
	must(t, append([]string{"vote", "--credential", cred(3), "--random", "--challenge", "--receipt", filepath.Join(dir, "r3c.json")}, conn...)...)
	must(t, append([]string{"vote", "--credential", cred(3), "--choice", "mayor=ada", "--receipt", filepath.Join(dir, "r3.json")}, conn...)...)
	// A voter who holds the commission's published board key refuses a node signing with another one.
	if code, _ := recount(t, append([]string{"vote", "--credential", cred(2), "--choice", "mayor=ada", "--board-key", "sha256:0000"}, conn...)...); code == 0 {
		t.Error("a vote went through a node whose board key is not the one required")
	}
	// A bad choice is refused before anything is sent.
	if code, _ := recount(t, append([]string{"vote", "--credential", cred(1), "--choice", "mayor=ada,alan"}, conn...)...); code == 0 {
		t.Error("a ballot with two mayors was accepted")
	}
	for _, r := range []string{"r1.json", "r2.json", "r3c.json", "r3.json"} {
		data, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.ParseReceipt(data); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}

	must(t, append([]string{"admin", "close"}, admin...)...)
	out = must(t, append([]string{"admin", "tally", "--wait", "1m"}, admin...)...)
	for _, want := range []string{"3 ballots counted", "Grace", "      2", "Ada", "      1"} {
		if !strings.Contains(out, want) {
			t.Errorf("tally output lacks %q:\n%s", want, out)
		}
	}
	out = must(t, append([]string{"admin", "status"}, admin...)...)
	if !strings.Contains(out, "done (result posted)") || !strings.Contains(out, "3 cast by 3 voters, 1 challenged") {
		t.Errorf("status:\n%s", out)
	}
	wg.Wait()
	for i, code := range trusteeCodes {
		if code != 0 {
			t.Errorf("trustee %d exited with %d", i+1, code)
		}
	}
	out = must(t, "trustee", "show", "--store", filepath.Join(dir, "t1.db"), "--passphrase-file", passFile)
	if !strings.Contains(out, "as trustee 1") || !strings.Contains(out, "key share: true") {
		t.Errorf("trustee show:\n%s", out)
	}
	if err := os.WriteFile(passFile, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _ := recount(t, "trustee", "show", "--store", filepath.Join(dir, "t1.db"), "--passphrase-file", passFile); code == 0 {
		t.Error("the store opened with a wrong passphrase")
	}
}

// TestDemo runs the demo with a few voters and checks what it keeps: a record that verifies, one receipt per
// ballot, one credential per voter.
func TestDemo(t *testing.T) {
	demoKDF = &trustee.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	defer func() { demoKDF = nil }()
	out := t.TempDir()
	text := must(t, "demo", "--voters", "12", "--challenge", "0.25", "--revote", "0.25", "--seed", "3", "--out", out, "--progress", "never")
	for _, want := range []string{"12 ballots counted", fmt.Sprintf("all %d numbered checks pass", len(election.Checks)), "the result equals the sums", "Fingerprint",
		"observer newspaper: verified the result", "observer university: verified the result", "all checks pass, 12 ballots counted",
		"12 receipts checked against the witness policy (2 of 3): witnessed by 2 of 3"} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo did not print %q:\n%s", want, text)
		}
	}
	f, err := os.Open(filepath.Join(out, "election.record"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := tlog.NewExportReader(f)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := election.Verify(context.Background(), election.FromBoardSeq(x.Entries()), election.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Finish(); err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || !rep.Complete || rep.Count != 12 {
		t.Fatalf("record: ok %v complete %v counted %d: %v", rep.OK(), rep.Complete, rep.Count, rep.Failures)
	}
	receipts, _ := os.ReadDir(filepath.Join(out, "receipts"))
	if len(receipts) != rep.Cast+rep.Spoiled {
		t.Errorf("%d receipts for %d ballots", len(receipts), rep.Cast+rep.Spoiled)
	}
	creds, _ := os.ReadDir(filepath.Join(out, "credentials"))
	if len(creds) != 12 {
		t.Errorf("%d credential files", len(creds))
	}
	for _, r := range receipts {
		data, err := os.ReadFile(filepath.Join(out, "receipts", r.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.ParseReceipt(data); err != nil {
			t.Errorf("%s: %v", r.Name(), err)
		}
	}
}

// setUpCLITrustees writes a passphrase file, makes two trustees' stores and public files (DIR/t1.json, t2.json)
// with `recount trustee init`, and writes a manifest whose polls opened a minute ago; it returns the passphrase
// file and the manifest.
func setUpCLITrustees(t *testing.T, dir string) (passFile, manifest string) {
	t.Helper()
	passFile = filepath.Join(dir, "pass")
	if err := os.WriteFile(passFile, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		must(t, "trustee", "init", "--store", filepath.Join(dir, fmt.Sprintf("t%d.db", i)), "--name", fmt.Sprintf("Trustee %d", i),
			"--passphrase-file", passFile, "--out", filepath.Join(dir, fmt.Sprintf("t%d.json", i)))
	}
	manifest = filepath.Join(dir, "manifest.json")
	now := time.Now().Unix()
	if err := os.WriteFile(manifest, fmt.Appendf(nil, testManifest, now-60, now+3600), 0o644); err != nil {
		t.Fatal(err)
	}
	return passFile, manifest
}

// TestDemoReplicas runs the demo on a 3-member cluster with a few voters: the leader is killed mid-vote, the
// voters see no error, every receipted ballot is on the members' board exactly once, and the record verifies.
func TestDemoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-member cluster whose leader dies: a Raft election (a second or two)")
	}
	demoKDF = &trustee.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	defer func() { demoKDF = nil }()
	out := t.TempDir()
	text := must(t, "demo", "--voters", "12", "--replicas", "3", "--challenge", "0.25", "--revote", "0.25", "--seed", "3", "--out", out, "--progress", "never")
	killed := regexp.MustCompile(`node (n[123]) \(leader\) killed at ballot [1-9][0-9]*; (n[123]) leads after [0-9.]+ s`).FindStringSubmatch(text)
	if killed == nil || killed[1] == killed[2] {
		t.Fatalf("the demo did not say the leader was killed and another leads:\n%s", text)
	}
	var live []string
	for _, id := range []string{"n1", "n2", "n3"} {
		if id != killed[1] {
			live = append(live, id)
		}
	}
	for _, want := range []string{"cluster of 3 nodes", "12 ballots counted", "the first ballot accepted after " + killed[1] + " died came",
		"no voter saw an error", fmt.Sprintf("all %d numbered checks pass", len(election.Checks)), "the result equals the sums",
		strings.Join(live, " and ") + " hold the same board; each of the", "receipted ballots is on it exactly once"} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo did not print %q:\n%s", want, text)
		}
	}
	// Every ballot the voters made has its receipt kept, and the receipts' count is the board's.
	m := regexp.MustCompile(`(\d+) receipts checked against the final board: 12 counted, (\d+) superseded, (\d+) spoiled`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the demo did not check every receipt:\n%s", text)
	}
	files, err := os.ReadDir(filepath.Join(out, "receipts"))
	if err != nil {
		t.Fatal(err)
	}
	if strconv.Itoa(len(files)) != m[1] || !strings.Contains(text, "each of the "+m[1]+" receipted ballots") {
		t.Fatalf("%d receipt files, %s receipts checked:\n%s", len(files), m[1], text)
	}
}

package main

import (
	"encoding/json"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/recount-vote/recount/trustee"
)

// runMainEnv, set to 1, makes the test binary run as recount itself (TestMain): `recount bench` starts
// `recount verify` as a process of its own from its own executable, which in tests is the test binary.
const runMainEnv = "RECOUNT_TEST_RUN_MAIN"

// benchStages are the stages recount bench reports, in order.
var benchStages = []string{"ceremony", "credentials", "encrypt", "admit", "close", "tally", "decrypt", "export", "verify"}

// TestBench runs `recount bench` on a small election and checks that its report describes it: every stage, the
// sizes, the proofs and the memory, consistent with each other and with the election's shape. No figure is
// held to a speed.
func TestBench(t *testing.T) {
	demoKDF = &trustee.KDFParams{Time: 1, MemoryKiB: 1024, Threads: 1}
	defer func() { demoKDF = nil }()
	t.Setenv(runMainEnv, "1")

	voters, shape, options := 40, "demo", 14
	if testing.Short() {
		voters, shape, options = 10, "1of5", 5 // the demo's ballot is five times the work
	}
	dir := filepath.Join(t.TempDir(), "bench")
	out := must(t, "bench", "--voters", strconv.Itoa(voters), "--dir", dir, "--shape", shape, "--workers", "2", "--clients", "8", "--json", "--progress", "never")
	var r BenchReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if r.Voters != voters || r.Ballots != voters || r.Shape != shape || r.Options != options || r.Workers != 2 || r.Clients != 8 || r.Cores != runtime.GOMAXPROCS(0) {
		t.Errorf("report's election: %+v", r)
	}
	var names []string
	for _, s := range r.Stages {
		names = append(names, s.Name)
		if s.Seconds <= 0 {
			t.Errorf("stage %s took %v s", s.Name, s.Seconds)
		}
	}
	if !slices.Equal(names, benchStages) {
		t.Errorf("stages %v, want %v", names, benchStages)
	}
	for _, s := range r.Stages {
		switch s.Name {
		case "credentials", "encrypt", "admit", "decrypt", "verify", "export":
			want := voters
			if s.Name == "export" {
				want = int(r.Record.Entries)
			}
			if s.Items != want || s.PerSecond <= 0 || s.PerSecond != float64(s.Items)/s.Seconds {
				t.Errorf("stage %s: %d items at %v/s, want %d", s.Name, s.Items, s.PerSecond, want)
			}
		}
		if s.Name == "export" && s.Bytes != r.Record.Bytes {
			t.Errorf("export stage wrote %d bytes, the record has %d", s.Bytes, r.Record.Bytes)
		}
	}

	// The record: every voter's ballot and the election's other entries (manifest, ceremony, credentials, open,
	// close, tally, decryptions, result), in a file of the size reported.
	st, err := os.Stat(filepath.Join(dir, "election.record"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Record.Path != filepath.Join(dir, "election.record") || r.Record.Bytes != st.Size() {
		t.Errorf("record %s of %d bytes, the file has %d", r.Record.Path, r.Record.Bytes, st.Size())
	}
	if r.Record.Entries != r.Board.Entries || r.Record.Entries <= uint64(voters) || r.Record.Entries > uint64(voters)+20 {
		t.Errorf("record of %d entries, board of %d, for %d ballots", r.Record.Entries, r.Board.Entries, voters)
	}
	// A ballot holds at least a ciphertext (two 32-byte points) per option.
	for _, s := range []BenchSize{r.Record, r.Board} {
		if s.Bytes <= 0 || s.BytesPerBallot != float64(s.Bytes)/float64(voters) || s.BytesPerOption != s.BytesPerBallot/float64(options) || s.BytesPerOption < 64 {
			t.Errorf("%s: %+v", s.Path, s)
		}
	}
	if r.Board.Bytes < r.Record.Bytes {
		t.Errorf("the board (%d bytes) is smaller than its export (%d)", r.Board.Bytes, r.Record.Bytes)
	}

	// Proofs at the final size: an inclusion proof has about log2(size) hashes.
	p := r.Proofs
	if p.TreeSize != r.Board.Entries || p.Samples == 0 || p.InclusionMakeMicros <= 0 || p.InclusionMakeFirstMicros <= 0 || p.InclusionCheckMicros <= 0 {
		t.Errorf("proofs: %+v", p)
	}
	if lg := bits.Len64(p.TreeSize - 1); p.InclusionHashes != lg || p.InclusionBytes != 32*lg {
		t.Errorf("inclusion proof of %d hashes (%d bytes) in a tree of %d", p.InclusionHashes, p.InclusionBytes, p.TreeSize)
	}
	if p.ConsistencyFrom == 0 || p.ConsistencyFrom >= p.TreeSize || p.ConsistencyHashes == 0 || p.ConsistencyBytes != 32*p.ConsistencyHashes || p.ConsistencyCheckMicros <= 0 {
		t.Errorf("consistency proof: %+v", p)
	}
	if rc := r.Receipt; rc.Samples != min(voters, benchReceipts) || rc.MedianMillis <= 0 || rc.MaxMillis < rc.MedianMillis {
		t.Errorf("receipts: %+v", rc)
	}

	// recount verify ran as a process of its own, counted every ballot, and its memory was measured.
	if v := r.Verify; !v.OK || v.Counted != voters || v.Seconds <= 0 || v.BallotsPerSecond <= 0 {
		t.Errorf("verify: %+v", v)
	}
	if runtime.GOOS == "linux" {
		// Its own peak, not this process's (which holds the node and three trustees' stores).
		if r.Verify.PeakRSSBytes < 1<<20 || r.Verify.PeakRSSBytes >= r.PeakRSSBytes {
			t.Errorf("recount verify's peak RSS %d bytes, this process's %d", r.Verify.PeakRSSBytes, r.PeakRSSBytes)
		}
	}
	if r.PeakHeapBytes == 0 || runtime.GOOS == "linux" && r.PeakRSSBytes == 0 || r.Seconds <= 0 {
		t.Errorf("this process: peak heap %d, peak RSS %d, %v s", r.PeakHeapBytes, r.PeakRSSBytes, r.Seconds)
	}
	if _, err := os.Stat(filepath.Join(dir, "ballots.spool")); !os.IsNotExist(err) {
		t.Errorf("the spool of encrypted ballots was left behind: %v", err)
	}

	// The same report for people: every stage and figure, named.
	if testing.Short() {
		return
	}
	text := must(t, "bench", "--voters", "5", "--dir", filepath.Join(t.TempDir(), "text"), "--shape", "1of5", "--progress", "never")
	for _, want := range append(benchStages, "Recount bench: 5 voters, ballot 1of5 (1 contest, 5 options)", "Board on disk", "Record (export)",
		"bytes per ballot", "per option", "inclusion", "consistency", "Receipt check against the node (5 receipts)",
		"recount verify:", "ballots/s, peak RSS", "5 ballots counted", "This process") {
		if !strings.Contains(text, want) {
			t.Errorf("recount bench did not print %q:\n%s", want, text)
		}
	}
}

// TestBenchUsage: recount bench refuses a directory in use and a shape it does not know, before it starts.
func TestBenchUsage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, "bench", "--voters", "3", "--dir", dir); code != 1 || !strings.Contains(stderr, "--dir") || !strings.Contains(stderr, "not empty") {
		t.Errorf("a non-empty --dir: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCmd(t, "bench", "--voters", "3", "--dir", t.TempDir(), "--shape", "2of7"); code != 1 || !strings.Contains(stderr, `--shape "2of7"`) {
		t.Errorf("an unknown shape: exit %d, %s", code, stderr)
	}
	for _, args := range [][]string{{"--voters", "3"}, {"--voters", "0", "--dir", t.TempDir()}, {"--voters", "3", "--dir", t.TempDir(), "--clients", "0"}} {
		if code, _, _ := runCmd(t, append([]string{"bench"}, args...)...); code != 2 {
			t.Errorf("bench %v: exit %d, want 2 (usage)", args, code)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
)

func TestVerifyReport(t *testing.T) {
	code, out, errs := runCmd(t, "verify", smallRecord)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	cp, err := tlog.VerifyExport(strings.NewReader(string(readFile(t, smallRecord))), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Small example election",
		"size 20, root " + hex.EncodeToString(cp.Root[:]),
		"sha256:",
		"Adopt the proposal?",
		" 1 board-integrity     20 passed",
		"22 result              1 passed",
		"OK: the record passes all 23 checks.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if errs != "" {
		t.Errorf("stderr: %q", errs)
	}
}

func TestVerifyJSON(t *testing.T) {
	code, out, _ := runCmd(t, "verify", "--json", smallRecord)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var vr verify.Report
	if err := json.Unmarshal([]byte(out), &vr); err != nil {
		t.Fatal(err)
	}
	if !vr.OK || !vr.Complete || vr.Board.Size != 20 || len(vr.Checks) != len(election.Checks) || len(vr.Failures) != 0 {
		t.Fatalf("report: %+v", vr)
	}
	for _, c := range vr.Checks {
		if c.Status != "pass" {
			t.Errorf("check %d %s: %s", c.Number, c.Name, c.Status)
		}
	}
	if vr.Result == nil || vr.Result.Contests[0].Options[0].ID != "yes" || len(vr.Result.Trustees) != 2 {
		t.Errorf("result: %+v", vr.Result)
	}
	if vr.Ballots.Counted != 3 || vr.Ballots.Spoiled != 1 || vr.Ballots.Cast != 4 {
		t.Errorf("ballots: %+v", vr.Ballots)
	}
}

func TestVerifyBoardKey(t *testing.T) {
	x, err := tlog.NewExportReader(strings.NewReader(string(readFile(t, smallRecord))))
	if err != nil {
		t.Fatal(err)
	}
	vkey := x.VerifierKey()
	for _, key := range []string{vkey, tlog.KeyFingerprint(vkey)} {
		if code, out, _ := runCmd(t, "verify", "--board-key", key, smallRecord); code != 0 {
			t.Errorf("--board-key %s: exit %d\n%s", key, code, out)
		}
	}
	other := "recount.example/small+6f51eba4+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"
	code, out, errs := runCmd(t, "verify", "--board-key", other, smallRecord)
	if code != 1 || !strings.HasPrefix(checkLine(out, "board-integrity"), "FAIL ") || !strings.Contains(out, "not the expected "+other) {
		t.Errorf("another board key: exit %d\n%s%s", code, out, errs)
	}
}

func TestVerifyUsage(t *testing.T) {
	for _, args := range [][]string{
		{"verify"},
		{"verify", smallRecord, smallRecord},
		{"verify", "--node", "127.0.0.1:1", smallRecord},
		{"verify", "--no-such-flag", smallRecord},
		{"receipt", smallRecord},
		{"export", "--out", "x"},
	} {
		if code, _, _ := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	// Flags may follow the record.
	if code, out, _ := runCmd(t, "verify", smallRecord, "--json", "--workers", "1"); code != 0 || !strings.HasPrefix(out, "{") {
		t.Errorf("verify RECORD --json: exit %d\n%s", code, out)
	}
	if code, _, _ := runCmd(t, "verify", smallRecord, "--no-such-flag"); code != 2 {
		t.Errorf("verify RECORD --no-such-flag: exit %d, want 2", code)
	}
	if code, _, _ := runCmd(t, "verify", "--help"); code != 0 {
		t.Errorf("verify --help: exit %d", code)
	}
}

func TestVerifyIOError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such.record")
	code, _, errs := runCmd(t, "verify", missing)
	if code != 1 || !strings.Contains(errs, missing) {
		t.Errorf("missing file: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runCmd(t, "verify", t.TempDir()) // a directory
	if code != 1 || errs == "" {
		t.Errorf("a directory: exit %d, stderr %q", code, errs)
	}
}

// TestVerifySemanticFailure: an operator holding the board's key changes the result and signs the board again;
// check 1 passes, check 22 fails, and the report names the check, the entry and the reason.
func TestVerifySemanticFailure(t *testing.T) {
	entries := readEntries(t, readFile(t, smallRecord))
	last := len(entries) - 1
	var res recordv1.Result
	if err := proto.Unmarshal(entries[last].Payload, &res); err != nil {
		t.Fatal(err)
	}
	res.Contests[0].Counts[0]--
	res.Contests[0].Counts[1]++
	entries[last].Payload, _ = proto.MarshalOptions{Deterministic: true}.Marshal(&res)
	path := writeTemp(t, "changed.record", resigned(t, entries))

	code, out, errs := runCmd(t, "verify", path)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.HasPrefix(checkLine(out, "board-integrity"), "ok ") || !strings.HasPrefix(checkLine(out, "22 result"), "FAIL ") {
		t.Errorf("check lines:\n%s", out)
	}
	for _, want := range []string{"check 22 result, entry 19: contest 0 option 0: the count", "FAILED: the record fails 1 of 23 checks."} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "fails 1 of 23 checks") {
		t.Errorf("stderr: %q", errs)
	}
	code, out, _ = runCmd(t, "verify", "--json", path)
	var vr verify.Report
	if err := json.Unmarshal([]byte(out), &vr); err != nil || code != 1 {
		t.Fatalf("--json: exit %d, %v", code, err)
	}
	if vr.OK || len(vr.Failures) == 0 || vr.Failures[0].Check != 22 || vr.Failures[0].Entry == nil || *vr.Failures[0].Entry != 19 {
		t.Errorf("--json failures: %+v", vr.Failures)
	}
}

// TestVerifyHostileRecordBounded: a validly signed record of 20,000 ballots that do not decode (an operator
// holding the board key made 2 million such entries, and the verifier kept and printed every failure) gets a
// report of bounded length: the first election.DefaultFailuresKept failures, then one line with the exact count
// of the others; --json lists as many, with the exact counts per check.
func TestVerifyHostileRecordBounded(t *testing.T) {
	const bad = 20000
	entries := readEntries(t, readFile(t, smallRecord))
	i := 0
	for entries[i].Kind != election.KindClose {
		i++
	}
	l := newBoard(t, t.TempDir(), entries[:i])
	recs := make([]ledger.Record, bad)
	for j := range recs {
		recs[j] = ledger.Record{Kind: tlog.Kind(election.KindBallot), Payload: []byte{0xff, byte(j)}}
	}
	if _, err := l.AppendMany(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "hostile.record", exportOf(t, l))

	code, out, errs := runCmd(t, "verify", path)
	if code != 1 || !strings.Contains(errs, "fails 1 of 23 checks") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	lines := strings.Count(out, "\n")
	if limit := 60 + election.DefaultFailuresKept; lines > limit {
		t.Errorf("the report has %d lines, more than %d", lines, limit)
	}
	if got := strings.Count(out, "check 8 ballot-shape, entry "); got != election.DefaultFailuresKept {
		t.Errorf("%d failures listed, want %d", got, election.DefaultFailuresKept)
	}
	for _, want := range []string{
		fmt.Sprintf("check 8 ballot-shape, entry %d: ", i),
		fmt.Sprintf("check 8 ballot-shape: and %d more failures, not listed", bad-election.DefaultFailuresKept),
		fmt.Sprintf("%d FAILED", bad),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCmd(t, "verify", "--json", path)
	var vr verify.Report
	if err := json.Unmarshal([]byte(out), &vr); err != nil || code != 1 {
		t.Fatalf("--json: exit %d, %v", code, err)
	}
	shape := vr.Checks[election.CheckBallotShape-1]
	if len(vr.Failures) != election.DefaultFailuresKept || shape.Status != "fail" || shape.Failed != bad || shape.NotListed != bad-election.DefaultFailuresKept {
		t.Errorf("--json: %d failures listed; check 8: %+v", len(vr.Failures), shape)
	}
	if f := vr.Failures[0]; f.Check != 8 || f.Entry == nil || *f.Entry != uint64(i) {
		t.Errorf("--json: first failure %+v, want check 8 at entry %d", f, i)
	}
}

// TestVerifyIncomplete: a record that stops before the result is reported as an election in progress.
func TestVerifyIncomplete(t *testing.T) {
	entries := readEntries(t, readFile(t, smallRecord))
	i := 0
	for entries[i].Kind != election.KindClose {
		i++
	}
	path := writeTemp(t, "open.record", resigned(t, entries[:i]))
	code, out, _ := runCmd(t, "verify", path)
	if code != 0 || !strings.Contains(out, "election is in progress") || !strings.Contains(out, "OK so far") {
		t.Errorf("exit %d\n%s", code, out)
	}
	// With --require-result the same record fails, and the complete one passes.
	if code, _, errs := runCmd(t, "verify", "--require-result", path); code != 1 || !strings.Contains(errs, "no result yet") {
		t.Errorf("--require-result on an open election: exit %d, stderr %q", code, errs)
	}
	if code, _, _ := runCmd(t, "verify", "--require-result", smallRecord); code != 0 {
		t.Errorf("--require-result on the complete record: exit %d", code)
	}
}

func TestVerifyProgress(t *testing.T) {
	code, _, errs := runCmd(t, "verify", "--progress", smallRecord)
	if code != 0 || !strings.Contains(errs, "verifying") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// TestVerifyEveryByte: changing any single byte of the small record, cutting it short anywhere or adding a byte
// makes the verification fail, with check 1. Every change goes through the command's pipeline (checkRecord, on
// the bytes in memory); a random sample of them goes through the whole command, on a file, for the exit status.
func TestVerifyEveryByte(t *testing.T) {
	orig := readFile(t, smallRecord)
	b := make([]byte, len(orig))
	var changed [][]byte // a sample for the whole command
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(what string, b []byte) {
		t.Helper()
		rc, err := checkRecord(context.Background(), memSource(b), checkOptions{workers: 1})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if rc.BoardErr == nil || rc.OK {
			t.Fatalf("%s: check 1 passes", what)
		}
		if rng.IntN(100) == 0 {
			changed = append(changed, bytes.Clone(b))
		}
	}
	// The full run changes every byte two ways and cuts at every length; under the race detector (CI) every
	// byte still changes once, with a cut every 16 bytes; -short, for editing, changes every 16th byte once
	// and cuts every 64 bytes.
	masks, stride, step := []byte{0x01, 0x80}, 1, 1
	switch {
	case testing.Short():
		masks, stride, step = masks[:1], 16, 64
	case raceEnabled:
		masks, step = masks[:1], 16
	}
	for i := 0; i < len(orig); i += stride {
		for _, mask := range masks {
			copy(b, orig)
			b[i] ^= mask
			check("byte "+strconv.Itoa(i)+" ^ "+strconv.Itoa(int(mask)), b)
		}
	}
	for n := 0; n < len(orig); n += step {
		check("cut at "+strconv.Itoa(n), orig[:n])
	}
	check("a byte added", append(bytes.Clone(orig), 0))

	path := filepath.Join(t.TempDir(), "changed.record")
	for _, b := range changed {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, _ := runCmd(t, "verify", "--json", path)
		var vr verify.Report
		if err := json.Unmarshal([]byte(out), &vr); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if code != 1 || vr.OK || vr.Checks[0].Status != "fail" {
			t.Fatalf("exit %d, check 1 %s", code, vr.Checks[0].Status)
		}
	}
	t.Logf("%d of %d bytes changed %d ways, %d cuts: %d of these records checked through the command", (len(orig)+stride-1)/stride, len(orig), len(masks), len(orig)/step, len(changed))
}

// memSource is a record in memory. Like a file, and unlike a node's export stream, it can be read twice:
// verify.Verify then runs check 1 alone first and does not check the rest of a record that fails it.
func memSource(b []byte) *source {
	return &source{name: "memory", open: func(context.Context) (io.ReadCloser, error) {
		return memRecord{bytes.NewReader(b)}, nil
	}}
}

// memRecord is a record in memory that can seek, as a file can.
type memRecord struct{ *bytes.Reader }

func (memRecord) Close() error { return nil }

// checkLine returns the report's line for a check, without its indentation.
func checkLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, name) && (strings.HasPrefix(strings.TrimSpace(l), "ok") || strings.HasPrefix(strings.TrimSpace(l), "FAIL")) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// TestVerifyReencodedReplay: issue 9's replay as a dishonest operator would post it. A ballot already on the board
// is cast again before the close under a wrapper encoded anew (new bytes, the same valid signature and proofs), and
// the board signed again. Before the fix every check passed; now check 8 fails at the replay.
func TestVerifyReencodedReplay(t *testing.T) {
	entries := readEntries(t, readFile(t, smallRecord))
	first, closeAt := -1, -1
	for i, e := range entries {
		switch {
		case e.Kind == election.KindBallot && first < 0:
			first = i
		case e.Kind == election.KindClose:
			closeAt = i
		}
	}
	encodings, err := electiontest.ReencodedSignedBallots(entries[first].Payload)
	if err != nil {
		t.Fatal(err)
	}
	replay := election.Entry{Kind: election.KindBallot, Payload: encodings["fields swapped"]}
	entries = slices.Insert(entries, closeAt, replay)
	for i := range entries {
		entries[i].Index = uint64(i)
	}
	path := writeTemp(t, "replay.record", resigned(t, entries))

	code, out, _ := runCmd(t, "verify", path)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.HasPrefix(checkLine(out, "8 ballot-shape"), "FAIL ") {
		t.Errorf("check 8 line %q:\n%s", checkLine(out, "8 ballot-shape"), out)
	}
	if want := fmt.Sprintf("check 8 ballot-shape, entry %d: signed ballot: SignedBallot: not the canonical encoding", closeAt); !strings.Contains(out, want) {
		t.Errorf("the report lacks %q:\n%s", want, out)
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// The --node modes, against a BoardService served on a loopback port by the test (testBoard), backed by the
// small record imported into a board. Once the node's own BoardService (package node) is merged, the same tests
// should run against it too.

func smallNode(t *testing.T) (addr string, export []byte) {
	t.Helper()
	export = readFile(t, smallRecord)
	return serveBoard(t, &testBoard{log: importBoard(t, export), export: export}), export
}

// TestVerifyNode: the report from a node is the file's; the node's export, copied to a temporary file as it is
// read (so that superseded ballots are read back, not kept in memory), is gone afterwards.
func TestVerifyNode(t *testing.T) {
	addr, _ := smallNode(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	code, out, errs := runCmd(t, "verify", "--node", addr, "--timeout", "1m")
	if code != 0 || !strings.Contains(out, "OK: the record passes all 23 checks.") || !strings.Contains(out, "node "+addr) {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("verify --node left %v in TMPDIR", left)
	}
	_, fileOut, _ := runCmd(t, "verify", smallRecord)
	if strings.ReplaceAll(out, "node "+addr, smallRecord) != fileOut {
		t.Errorf("the report from the node differs from the report from the file:\n%s\n%s", out, fileOut)
	}
}

// TestNodeAltered: a node serving an altered export fails check 1, and export writes nothing.
func TestNodeAltered(t *testing.T) {
	export := readFile(t, smallRecord)
	altered := bytes.Clone(export)
	altered[len(altered)/2] ^= 1
	addr := serveBoard(t, &testBoard{log: importBoard(t, export), export: altered})
	code, out, _ := runCmd(t, "verify", "--node", addr)
	if code != 1 || !strings.HasPrefix(checkLine(out, "board-integrity"), "FAIL") || checkLine(out, "ballot-proofs") != "" || !regexp.MustCompile(`12 ballot-proofs +not run`).MatchString(out) {
		t.Errorf("verify: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	out1 := filepath.Join(dir, "election.record")
	code, _, errs := runCmd(t, "export", "--node", addr, "--out", out1)
	if code != 1 || !strings.Contains(errs, "does not verify") {
		t.Errorf("export: exit %d, stderr %q", code, errs)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("export left %v behind", left)
	}
}

func TestExport(t *testing.T) {
	addr, export := smallNode(t)
	out := filepath.Join(t.TempDir(), "election.record")
	code, stdout, errs := runCmd(t, "export", "--node", addr, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, errs)
	}
	if !bytes.Equal(readFile(t, out), export) {
		t.Error("the saved export differs from the node's")
	}
	if !strings.Contains(stdout, "20 entries") {
		t.Errorf("stdout: %s", stdout)
	}
	// With the wrong board key, nothing is written.
	other := filepath.Join(t.TempDir(), "other.record")
	code, _, _ = runCmd(t, "export", "--node", addr, "--out", other, "--board-key", "sha256:00")
	if _, err := os.Stat(other); code != 1 || err == nil {
		t.Errorf("wrong board key: exit %d, file written: %v", code, err == nil)
	}
	// An unwritable destination names the file.
	bad := filepath.Join(t.TempDir(), "no-such-dir", "x.record")
	if code, _, errs := runCmd(t, "export", "--node", addr, "--out", bad); code != 1 || !strings.Contains(errs, "no-such-dir") {
		t.Errorf("unwritable: exit %d, stderr %q", code, errs)
	}
	// No node there.
	if code, _, _ := runCmd(t, "export", "--node", "127.0.0.1:1", "--out", out, "--timeout", "5s"); code != 1 {
		t.Errorf("no node: exit %d", code)
	}
}

func TestReceipt(t *testing.T) {
	addr, _ := smallNode(t)
	for name, want := range map[string]string{
		"counted":    "is COUNTED",
		"superseded": "is SUPERSEDED by entry 14",
		"spoiled":    "is SPOILED",
	} {
		for _, src := range [][]string{{smallRecord}, {"--node", addr}} {
			args := append([]string{"receipt"}, src[:len(src)-1]...)
			args = append(args, smallReceipts[name], src[len(src)-1])
			if src[0] == "--node" {
				args = []string{"receipt", "--node", addr, smallReceipts[name]}
			}
			code, out, errs := runCmd(t, args...)
			if code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "is consistent with the final checkpoint") {
				t.Errorf("%s %v: exit %d\n%s%s", name, src, code, out, errs)
			}
		}
	}
	// The spoiled ballot's choices are shown.
	_, out, _ := runCmd(t, "receipt", smallReceipts["spoiled"], smallRecord)
	if !strings.Contains(out, "Adopt the proposal?") || !strings.Contains(out, "Brook") {
		t.Errorf("spoiled ballot's choices not shown:\n%s", out)
	}
	// A tracking code typed in, in either form.
	r := parseReceipt(t, smallReceipts["counted"])
	for _, code := range []string{election.HumanTrackingCode(r.TrackingCode), strings.ToLower(strings.ReplaceAll(election.HumanTrackingCode(r.TrackingCode), "-", " ")), r.TrackingCode.String()} {
		if st, out, _ := runCmd(t, "receipt", code, smallRecord); st != 0 || !strings.Contains(out, "is COUNTED") {
			t.Errorf("code %q: exit %d\n%s", code, st, out)
		}
	}
	// A code that is not on the board.
	if st, out, _ := runCmd(t, "receipt", strings.Repeat("ab", 32), smallRecord); st != 1 || !strings.Contains(out, "no ballot with this tracking code") {
		t.Errorf("unknown code: exit %d\n%s", st, out)
	}
}

func parseReceipt(t *testing.T, path string) *client.Receipt {
	t.Helper()
	r, err := client.ParseReceipt(readFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReceiptFails: receipts that do not check out exit 1 and say why.
func TestReceiptFails(t *testing.T) {
	rcpt := func(f func(r *client.Receipt)) string {
		r := parseReceipt(t, smallReceipts["counted"])
		f(r)
		return writeTemp(t, "receipt.json", r.Marshal())
	}
	for name, c := range map[string]struct {
		path, want string
	}{
		"proof altered":     {rcpt(func(r *client.Receipt) { r.Inclusion[0][0] ^= 1 }), "inclusion proof"},
		"index moved":       {rcpt(func(r *client.Receipt) { r.Index-- }), "does not hold the ballot of the receipt"},
		"other election":    {rcpt(func(r *client.Receipt) { r.Election[0] ^= 1 }), "the receipt is for election"},
		"other code":        {rcpt(func(r *client.Receipt) { r.TrackingCode[0] ^= 1 }), "does not hold the ballot"},
		"checkpoint forged": {rcpt(func(r *client.Receipt) { r.Checkpoint[len(r.Checkpoint)-5] ^= 1 }), "checkpoint"},
		"other board key": {rcpt(func(r *client.Receipt) {
			r.BoardKey = "recount.example/small+6f51eba4+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c"
		}), "board key"},
	} {
		code, out, _ := runCmd(t, "receipt", c.path, smallRecord)
		if code != 1 || !strings.Contains(out, c.want) || !strings.Contains(out, "FAILED") {
			t.Errorf("%s: exit %d, want a failure mentioning %q\n%s", name, code, c.want, out)
		}
	}
}

// TestReceiptFork: the board forked after the voter's receipt: the receipt's checkpoint, validly signed, is of a
// history that the final record does not extend. The inclusion proof verifies, the consistency proof cannot.
func TestReceiptFork(t *testing.T) {
	entries := readEntries(t, readFile(t, smallRecord))
	// The honest history B, and a fork A sharing B's key and first 12 entries, whose entry 12 differs.
	dirB := t.TempDir()
	b := newBoard(t, dirB, entries[:12])
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	dirA := t.TempDir()
	for _, f := range []string{ledger.DBFileName, ledger.KeyFileName} {
		data := readFile(t, filepath.Join(dirB, f))
		if err := os.WriteFile(filepath.Join(dirA, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := ledger.Open(dirA, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	res, err := a.Append(context.Background(), tlog.Kind(entries[13].Kind), entries[13].Payload)
	if err != nil {
		t.Fatal(err)
	}
	// The voter of entry 11 got a receipt from the fork, at size 13.
	proof, err := a.InclusionProof(11, res.Checkpoint.Size)
	if err != nil {
		t.Fatal(err)
	}
	code, err := election.TrackingCodeOf(entries[11].Kind, entries[11].Payload)
	if err != nil {
		t.Fatal(err)
	}
	m, err := election.ParseManifest(entries[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	r := &client.Receipt{Election: m.ID(), TrackingCode: code, Index: 11, Kind: entries[11].Kind, Checkpoint: res.Checkpoint.Signed, Inclusion: proof, BoardKey: a.VerifierKey()}
	path := writeTemp(t, "receipt.json", r.Marshal())

	b, err = ledger.Open(dirB, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, e := range entries[12:] {
		if _, err := b.Append(context.Background(), tlog.Kind(e.Kind), e.Payload); err != nil {
			t.Fatal(err)
		}
	}
	record := writeTemp(t, "b.record", exportOf(t, b))
	st, out, _ := runCmd(t, "receipt", path, record)
	if st != 1 || !strings.Contains(out, "inclusion proof puts the ballot at entry 11") || !strings.Contains(out, "is not consistent with the record's final checkpoint") {
		t.Errorf("exit %d\n%s", st, out)
	}
}

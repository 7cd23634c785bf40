package verify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/internal/drbg"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
)

// The conformance vectors of docs/vectors.md: small records, each with the report `recount verify --json` prints
// for it. `go test ./verify -run TestVectors` makes them again and checks them byte for byte, and checks each
// record's report; `go test ./verify -run TestVectors -args -update-vectors` rewrites them.

var updateVectors = flag.Bool("update-vectors", false, "rewrite the conformance vectors in testdata/vectors/records")

const (
	vectorsDir    = "../testdata/vectors/records"
	vectorsOrigin = "recount.example/vectors"
	// vectorsSeed prefixes the seeds of every deterministic stream (crypto/kat's DRBG) the vectors are made with.
	vectorsSeed = "recount/vectors/v1/"
	// The manifest's voting window (2026-01-01 00:00 to 24:00 UTC), and when the polls open and close in it.
	vectorsOpensAt  = 1767225600
	vectorsClosesAt = vectorsOpensAt + 24*3600
)

// vectorsManifest is the vectors' election: one 1-of-2 contest.
func vectorsManifest() *recordv1.Manifest {
	return &recordv1.Manifest{
		Version: election.ManifestVersion, ElectionRef: "vectors-2026", Title: "Conformance vectors",
		OpensAt: vectorsOpensAt, ClosesAt: vectorsClosesAt,
		Contests: []*recordv1.Contest{
			{Id: "question", Title: "Adopt the proposal?", Options: []*recordv1.Option{{Id: "yes", Title: "Yes"}, {Id: "no", Title: "No"}},
				Rule: &recordv1.Contest_Exactly{Exactly: &recordv1.ExactlyRule{K: 1}}},
		},
	}
}

// vectorsConfig is the vectors' election, its secrets and nonces drawn from the stream of seed
// "recount/vectors/v1/" + seed: 3 trustees with t = 2; 4 voters, voter 0 challenging a ballot, casting, and
// casting again.
func vectorsConfig(seed string) electiontest.Config {
	return electiontest.Config{Trustees: 3, Threshold: 2, Voters: 4, Revotes: 1, Challenges: 1,
		Manifest: vectorsManifest(), Seed: 11, Rand: drbg.New(vectorsSeed + seed),
		OpenAt: vectorsOpensAt + 3600, CloseAt: vectorsClosesAt - 3600}
}

// complaintElection runs the vectors' election with a complaint in its key ceremony: trustee 2's share for
// trustee 3 does not decrypt, and trustee 2 reveals it when answer is set.
func complaintElection(t *testing.T, seed string, answer bool) *electiontest.Election {
	t.Helper()
	e, err := electiontest.Prepare(vectorsConfig(seed))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.CommitWithBadShare(2, 3); err != nil {
		t.Fatal(err)
	}
	if answer {
		for _, d := range e.Trustees[1].Trustee.DraftReveals(e.Trustees[1].Dealt, e.State) {
			if _, err := e.Append(d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.OpenPolls(); err != nil {
		t.Fatal(err)
	}
	if err := e.Voting(); err != nil {
		t.Fatal(err)
	}
	if err := e.Finish(); err != nil {
		t.Fatal(err)
	}
	want := []int{1, 2, 3}
	if !answer {
		want = []int{1, 3}
	}
	if got := e.State.Key().Qualified; !slices.Equal(got, want) {
		t.Fatalf("qualified %v, want %v", got, want)
	}
	return e
}

// vector is one record of the suite, before it is written.
type vector struct {
	name   string // file name without extension
	check  election.Check
	doc    string
	record []byte
}

// vectorIndex is one line of records/index.json.
type vectorIndex struct {
	Name        string `json:"name"`
	Check       int    `json:"check"`
	CheckName   string `json:"check_name"`
	Description string `json:"description"`
}

// boardSigner returns the vectors' board key: an Ed25519 key drawn from the stream of seed "recount/vectors/v1/board".
func boardSigner(t *testing.T) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(drbg.New(vectorsSeed+"board"), vectorsOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// exportOf writes entries as a board export signed by s: the record the board-key holder publishes.
func exportOf(t *testing.T, s note.Signer, vkey string, entries []election.Entry) []byte {
	t.Helper()
	hs := make([][tlog.HashSize]byte, len(entries))
	b := tlog.AppendExportHeader(nil, s.Name(), vkey, uint64(len(entries)))
	for i, e := range entries {
		if e.Index != uint64(i) {
			t.Fatalf("entry %d has index %d", i, e.Index)
		}
		hs[i] = tlog.LeafHash(tlog.Kind(e.Kind), e.Payload)
		b = tlog.AppendExportEntry(b, tlog.Kind(e.Kind), e.Payload)
	}
	cp, err := tlog.SignCheckpoint(s, s.Name(), uint64(len(entries)), tlog.RootHash(hs))
	if err != nil {
		t.Fatal(err)
	}
	return tlog.AppendExportTrailer(b, cp.Signed)
}

// makeVectors builds the suite: the honest election (3 trustees with t = 2, all decrypting; 4 voters, voter 0
// challenging a ballot, casting, and casting again), its record whole and in progress, the records changed after
// the board signed them (check 1), and the record changed by each electiontest tampering and signed again.
func makeVectors(t *testing.T) []vector {
	t.Helper()
	s, vkey := boardSigner(t)
	e, err := electiontest.Run(vectorsConfig("election"))
	if err != nil {
		t.Fatal(err)
	}
	honest := exportOf(t, s, vkey, e.Entries)
	vs := []vector{
		{"00-honest", 0, "the honest election's whole record: every check passes", honest},
		{"00-honest-in-progress", 0, "the honest record up to its last ballot, before the close: every check that applies passes, and the record is not complete",
			exportOf(t, s, vkey, e.Entries[:electiontest.Find(e.Entries, election.KindClose, 0)])},
	}
	// One byte of the result's payload changed after the board signed: the entries no longer hash to the
	// checkpoint's root.
	changed := slices.Clone(honest)
	changed[len(changed)-len("RCNTEND\n")-2-len(exportCheckpoint(t, honest))-1] ^= 1
	vs = append(vs, vector{fmt.Sprintf("%02d-%s-payload-changed", election.CheckBoard, election.CheckBoard.Name()), election.CheckBoard,
		"the last byte of the result's payload changed after the board signed the record, which is not signed again", changed})
	for _, answer := range []bool{true, false} {
		name, doc := "answered", "trustee 2 sent trustee 3 a share that does not decrypt; trustee 3 complained and trustee 2 revealed the share: every trustee is qualified"
		if !answer {
			name, doc = "silent", "trustee 2 sent trustee 3 a share that does not decrypt; trustee 3 complained and trustee 2 did not answer: the qualified set is trustees 1 and 3, and trustee 2 still decrypts"
		}
		vs = append(vs, vector{"00-honest-complaint-" + name, 0, doc, exportOf(t, s, vkey, complaintElection(t, "complaint-"+name, answer).Entries)})
	}
	vs = append(vs, cornerVectors(t, s, vkey, e)...)
	vs = append(vs, boardVectors(t, s, vkey, e.Entries)...)
	for _, tm := range electiontest.Tamperings() {
		entries, err := tm.Apply(e, drbg.New(vectorsSeed+tm.Name))
		if err != nil {
			t.Fatalf("tampering %s: %v", tm.Name, err)
		}
		vs = append(vs, vector{fmt.Sprintf("%02d-%s-%s", tm.Check, tm.Check.Name(), tm.Name), tm.Check, tm.Doc, exportOf(t, s, vkey, entries)})
	}
	return vs
}

// cornerVectors returns honest records at the edges that docs/verification.md (Corner cases) settles, where two
// readings of a check would disagree: each passes every check.
func cornerVectors(t *testing.T, s note.Signer, vkey string, e *electiontest.Election) []vector {
	t.Helper()
	var vs []vector
	withResultTrustees := func(trustees ...uint32) []election.Entry {
		entries := electiontest.Clone(e.Entries)
		i := electiontest.Find(entries, election.KindResult, 0)
		var pb recordv1.Result
		if err := proto.Unmarshal(entries[i].Payload, &pb); err != nil {
			t.Fatal(err)
		}
		pb.Trustees = trustees
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb)
		if err != nil {
			t.Fatal(err)
		}
		entries[i].Payload = b
		return entries
	}
	vs = append(vs,
		vector{"00-honest-result-trustees-1-3", 0, "the result combines trustees 1 and 3, not the 2 smallest: any t or more trustees with valid partial decryptions may be combined",
			exportOf(t, s, vkey, withResultTrustees(1, 3))},
		vector{"00-honest-result-trustees-1-2-3", 0, "the result combines all 3 trustees, more than the threshold",
			exportOf(t, s, vkey, withResultTrustees(1, 2, 3))})

	closedAtOpen := electiontest.Clone(e.Entries)
	var open recordv1.PollsOpen
	if err := proto.Unmarshal(closedAtOpen[electiontest.Find(closedAtOpen, election.KindOpen, 0)].Payload, &open); err != nil {
		t.Fatal(err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&recordv1.PollsClosed{Time: open.Time})
	if err != nil {
		t.Fatal(err)
	}
	closedAtOpen[electiontest.Find(closedAtOpen, election.KindClose, 0)].Payload = b
	vs = append(vs, vector{"00-honest-closed-at-open-time", 0, "the polls close at the very time they opened: check 23 asks PollsClosed.time >= PollsOpen.time",
		exportOf(t, s, vkey, closedAtOpen)})

	noVerdict := electiontest.Clone(e.Entries)
	i := electiontest.Find(noVerdict, election.KindKeyVerdict, 2)
	noVerdict = slices.Delete(noVerdict, i, i+1)
	for j := range noVerdict {
		noVerdict[j].Index = uint64(j)
	}
	noVerdict, err = e.RetallyRand(noVerdict, nil, nil, drbg.New(vectorsSeed+"no-verdict"))
	if err != nil {
		t.Fatal(err)
	}
	vs = append(vs, vector{"00-honest-no-verdict", 0, "trustee 3 posts no verdict: at most one verdict per trustee, and none means no complaint",
		exportOf(t, s, vkey, noVerdict)})
	return vs
}

// boardVectors returns the vectors of check 1 besides the changed payload: records that are not what the board
// signed, each in another part of the export (board.md, section 7).
func boardVectors(t *testing.T, s note.Signer, vkey string, entries []election.Entry) []vector {
	t.Helper()
	honest := exportOf(t, s, vkey, entries)
	signed := exportCheckpoint(t, honest)
	trailer := len(signed) + 2 + len("RCNTEND\n")
	body := honest[:len(honest)-trailer] // header and entries
	name := func(variant string) string {
		return fmt.Sprintf("%02d-%s-%s", election.CheckBoard, election.CheckBoard.Name(), variant)
	}
	var vs []vector
	add := func(variant, doc string, record []byte) {
		vs = append(vs, vector{name(variant), election.CheckBoard, doc, record})
	}

	// The last entry left out and the header's count lowered with it, the signed checkpoint as it was.
	last := tlog.AppendExportEntry(nil, tlog.Kind(entries[len(entries)-1].Kind), entries[len(entries)-1].Payload)
	short := tlog.AppendExportHeader(nil, vectorsOrigin, vkey, uint64(len(entries)-1))
	for _, e := range entries[:len(entries)-1] {
		short = tlog.AppendExportEntry(short, tlog.Kind(e.Kind), e.Payload)
	}
	add("entry-removed", "the last entry left out and the header's count lowered by one, the signed checkpoint unchanged",
		tlog.AppendExportTrailer(short, signed))

	// One bit of the checkpoint's Ed25519 signature changed (its base64 form kept canonical).
	text, sigLine, _ := strings.Cut(string(signed), "\n\n")
	prefix := "— " + vectorsOrigin + " "
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(sigLine, prefix), "\n"))
	if err != nil {
		t.Fatal(err)
	}
	raw[4+10] ^= 1 // a byte of the signature, after the 4-byte key hash
	forged := text + "\n\n" + prefix + base64.StdEncoding.EncodeToString(raw) + "\n"
	add("signature-changed", "a bit of the final checkpoint's Ed25519 signature changed",
		tlog.AppendExportTrailer(slices.Clone(body), []byte(forged)))

	// The checkpoint signed by another key with the same origin, not the one the header names.
	other, _, err := note.GenerateKey(drbg.New(vectorsSeed+"other-board"), vectorsOrigin)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := note.NewSigner(other)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.ParseCheckpoint(signed, vkey)
	if err != nil {
		t.Fatal(err)
	}
	otherCp, err := tlog.SignCheckpoint(otherSigner, vectorsOrigin, cp.Size, cp.Root)
	if err != nil {
		t.Fatal(err)
	}
	add("other-key", "the final checkpoint signed by another key with the same origin, not the verifier key the header names",
		tlog.AppendExportTrailer(slices.Clone(body), otherCp.Signed))

	add("trailing-byte", "a byte after the end marker", append(slices.Clone(honest), '\n'))
	add("truncated", "the export cut in the middle of its last entry", slices.Clone(body[:len(body)-len(last)/2]))
	return vs
}

// exportCheckpoint returns the signed checkpoint of an export.
func exportCheckpoint(t *testing.T, export []byte) []byte {
	t.Helper()
	cp, err := tlog.VerifyExport(bytes.NewReader(export), "")
	if err != nil {
		t.Fatal(err)
	}
	return cp.Signed
}

// reportJSON is what `recount verify --json NAME.record` prints for the record, run in its directory.
func reportJSON(t *testing.T, name string, record []byte) ([]byte, *verify.Report) {
	t.Helper()
	rep, err := verify.Verify(context.Background(), bytes.NewReader(record), verify.Options{Source: name + ".record", Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(normalizeReasons(b), '\n'), rep
}

// normalizeReasons replaces the no-break spaces of a report by spaces. The protobuf runtime's error messages,
// which some failure reasons quote, put a no-break space in place of a space in some builds and not others (on
// purpose, so that programs do not match them), and a vector must be the same bytes whichever binary made it.
func normalizeReasons(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\u00a0"), []byte(" ")) }

func indexJSON(t *testing.T, vs []vector) []byte {
	var idx []vectorIndex
	for _, v := range vs {
		vi := vectorIndex{Name: v.name, Check: int(v.check), Description: v.doc}
		if v.check != 0 {
			vi.CheckName = v.check.Name()
		}
		idx = append(idx, vi)
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestVectors: every vector is made again byte for byte (the same seeds give the same record), its report is the
// .json beside it, and it fails exactly the check it is named after (the honest ones: none); every numbered
// check has a vector; the directory holds nothing else. With -update-vectors it rewrites the directory.
func TestVectors(t *testing.T) {
	vs := makeVectors(t)
	want := map[string][]byte{"index.json": indexJSON(t, vs)}
	for _, v := range vs {
		js, rep := reportJSON(t, v.name, v.record)
		want[v.name+".record"], want[v.name+".json"] = v.record, js
		checkVerdict(t, v, rep)
		// Read as a node's stream (one pass, check 1 found at its end), the report is the same.
		srep, err := verify.Verify(context.Background(), stream{bytes.NewReader(v.record)}, verify.Options{Source: v.name + ".record", Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if sjs, _ := json.MarshalIndent(srep, "", "  "); !bytes.Equal(append(normalizeReasons(sjs), '\n'), js) {
			t.Errorf("%s: read as a stream, the report differs", v.name)
		}
		if v.name == "00-honest" {
			checkHonestDoc(t, rep)
		}
	}
	checkVectorsDoc(t, vs)
	covered := map[election.Check]bool{}
	for _, v := range vs {
		covered[v.check] = true
	}
	for _, c := range election.Checks {
		if !covered[c] {
			t.Errorf("check %v has no vector", c)
		}
	}
	if *updateVectors {
		if err := os.RemoveAll(vectorsDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(vectorsDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range want {
			if err := os.WriteFile(filepath.Join(vectorsDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	files, err := os.ReadDir(vectorsDir)
	if err != nil {
		t.Fatalf("%v (go test ./verify -run TestVectors -args -update-vectors writes the vectors)", err)
	}
	for _, f := range files {
		if _, ok := want[f.Name()]; !ok {
			t.Errorf("%s: not a vector the suite makes (run with -args -update-vectors)", f.Name())
		}
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(vectorsDir, name))
		if err != nil {
			t.Errorf("%v (run with -args -update-vectors)", err)
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s differs from the vector made now (run with -args -update-vectors if the change is meant)", name)
		}
		if strings.HasSuffix(name, ".record") {
			// The committed record's report, as an independent verifier would compute it, is the .json beside it.
			stem := strings.TrimSuffix(name, ".record")
			js, _ := reportJSON(t, stem, got)
			if wantJS, err := os.ReadFile(filepath.Join(vectorsDir, stem+".json")); err != nil || !bytes.Equal(js, wantJS) {
				t.Errorf("%s: the report of the committed record is not %s.json (%v)", name, stem, err)
			}
		}
	}
}

// checkVerdict checks that the record of v fails exactly v.check (none for an honest record).
func checkVerdict(t *testing.T, v vector, rep *verify.Report) {
	t.Helper()
	if v.check == 0 {
		if !rep.OK || len(rep.Failures) != 0 {
			t.Errorf("%s: OK %v, failures %+v", v.name, rep.OK, rep.Failures)
		}
		return
	}
	if rep.OK {
		t.Errorf("%s: the record passes", v.name)
	}
	for _, c := range rep.Checks {
		if failed := c.Status == verify.StatusFail; failed != (c.Number == int(v.check)) {
			t.Errorf("%s: check %d %s: %s (%d failed)", v.name, c.Number, c.Name, c.Status, c.Failed)
		}
	}
	for _, f := range rep.Failures {
		if f.Check != int(v.check) {
			t.Errorf("%s: unexpected failure of check %d: %s", v.name, f.Check, f.Reason)
		}
	}
}

// checkVectorsDoc checks that the table of docs/vectors.md lists exactly the vectors, each with its check and
// description.
func checkVectorsDoc(t *testing.T, vs []vector) {
	t.Helper()
	doc, err := os.ReadFile("../docs/vectors.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for line := range strings.Lines(string(doc)) {
		if strings.HasPrefix(line, "| `") {
			rows[strings.TrimSuffix(line, "\n")] = true
		}
	}
	for _, v := range vs {
		fails := "none"
		if v.check != 0 {
			fails = fmt.Sprintf("%d %s", v.check, v.check.Name())
		}
		row := fmt.Sprintf("| `%s` | %s | %s |", v.name, fails, v.doc)
		if !rows[row] {
			t.Errorf("docs/vectors.md lacks the row\n%s", row)
		}
		delete(rows, row)
	}
	for row := range rows {
		t.Errorf("docs/vectors.md lists a record the suite does not make:\n%s", row)
	}
}

// checkHonestDoc checks that docs/vectors.md quotes the honest record's election identity, board key and entry
// count.
func checkHonestDoc(t *testing.T, rep *verify.Report) {
	t.Helper()
	doc, err := os.ReadFile("../docs/vectors.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{rep.Election.ID, rep.Board.VerifierKey, rep.Board.KeyFingerprint, fmt.Sprintf("the honest record's %d entries", rep.Board.Size)} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("docs/vectors.md does not say %q", want)
		}
	}
}

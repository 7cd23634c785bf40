package election_test

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// The rules docs/verification.md states for the corner cases the checks' one-line descriptions leave open
// (section "Undecodable entries and corner cases"), one test each.

// notDecodable is no message of the record: 0xff begins a field of wire type 7, which protobuf does not define.
var notDecodable = []byte{0xff, 0x01}

// kindName is a kind as the documents name it: BALLOT, KEY_VERDICT.
func kindName(k election.Kind) string { return strings.TrimPrefix(k.String(), "ENTRY_KIND_") }

// failedChecks returns the checks that failed, ascending.
func failedChecks(rep *election.Report) []election.Check {
	var out []election.Check
	for c := range rep.FailureCounts {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// TestPayloadCheckDocumented: the table of docs/verification.md naming, per kind, the check an undecodable
// payload fails is election.PayloadCheck, row for row.
func TestPayloadCheckDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/verification.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)`(?:, `([A-Z_]+)`)? \\| (\\d+) ([a-z-]+) \\|")
	documented := map[string]election.Check{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		n, _ := strconv.Atoi(m[3])
		if election.Check(n).Name() != m[4] {
			t.Errorf("row %q: check %d is %s", m[0], n, election.Check(n).Name())
		}
		for _, k := range m[1:3] {
			if k != "" {
				documented[k] = election.Check(n)
			}
		}
	}
	for v := range recordv1.EntryKind_name {
		k := election.Kind(v)
		if k == 0 {
			continue // ENTRY_KIND_UNSPECIFIED: an unknown kind, check 2
		}
		got, ok := documented[kindName(k)]
		if !ok {
			t.Errorf("docs/verification.md names no check for an undecodable %s", kindName(k))
			continue
		}
		if want := election.PayloadCheck(k); got != want {
			t.Errorf("%s: docs/verification.md says check %v, PayloadCheck %v", kindName(k), got, want)
		}
	}
	if len(documented) != len(recordv1.EntryKind_name)-1 {
		t.Errorf("docs/verification.md's table has %d kinds, the record format %d", len(documented), len(recordv1.EntryKind_name)-1)
	}
}

// TestUndecodablePayload: an entry of each kind whose payload does not decode fails its kind's PayloadCheck,
// once, and no other check; the checks it, or an entry that depends on it, could not run count as not run, never
// as passed; and a record whose tally or result does not decode is not complete.
func TestUndecodablePayload(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	cases := []struct {
		kind election.Kind
		nth  func([]election.Entry) int
		// notRun lists checks that must show no pass and some entry not run.
		notRun []election.Check
		// complete says whether the report must be complete.
		complete bool
	}{
		{election.KindManifest, nil, []election.Check{election.CheckCredentials, election.CheckBallotShape, election.CheckResult}, false},
		{election.KindCredentials, nil, []election.Check{election.CheckBallotCredential}, true},
		{election.KindKeyCommitment, nil, []election.Check{election.CheckElectionKey}, true},
		{election.KindKeyVerdict, nil, []election.Check{election.CheckElectionKey}, true},
		{election.KindElectionKey, nil, nil, true},
		{election.KindOpen, nil, nil, true},
		// Voter 0's first ballot, superseded: nothing counts it.
		{election.KindBallot, nil, nil, true},
		{election.KindSpoiledBallot, nil, nil, true},
		{election.KindClose, nil, nil, true},
		{election.KindEncryptedTally, nil, []election.Check{election.CheckCountedValid, election.CheckCountedUnique,
			election.CheckCountedLatest, election.CheckCountedComplete, election.CheckPartialDecryption, election.CheckResult}, false},
		// The last trustee's partial decryption, which the result does not combine.
		{election.KindPartialDecryption, func(en []election.Entry) int { return electiontest.Find(en, election.KindResult, 0) - 1 }, nil, true},
		{election.KindResult, nil, nil, false},
	}
	for _, tc := range cases {
		t.Run(kindName(tc.kind), func(t *testing.T) {
			t.Parallel()
			entries := electiontest.Clone(e.Entries)
			i := electiontest.Find(entries, tc.kind, 0)
			if tc.nth != nil {
				i = tc.nth(entries)
			}
			if entries[i].Kind != tc.kind {
				t.Fatalf("entry %d is a %s", i, entries[i].Kind)
			}
			entries[i].Payload = notDecodable
			rep := verify(t, entries)
			want := election.PayloadCheck(tc.kind)
			if got := failedChecks(rep); !slices.Equal(got, []election.Check{want}) || rep.FailureCounts[want] != 1 {
				t.Errorf("failed checks %v (%v), want check %v once", got, rep.Failures, want)
			}
			if f := rep.Failed(want); len(f) != 1 || f[0].Entry != uint64(i) {
				t.Errorf("failures %v, want one at entry %d", f, i)
			}
			if rep.Passed[want] != 0 && (tc.kind == election.KindManifest || tc.kind == election.KindEncryptedTally || tc.kind == election.KindResult) {
				t.Errorf("check %v passed %d entries", want, rep.Passed[want])
			}
			for _, c := range tc.notRun {
				if rep.Passed[c] != 0 || rep.NotRun[c] == 0 {
					t.Errorf("check %v: passed %d, not run %d; want 0 and at least 1", c, rep.Passed[c], rep.NotRun[c])
				}
			}
			if rep.Complete != tc.complete {
				t.Errorf("complete %v, want %v", rep.Complete, tc.complete)
			}
			if !rep.Complete && rep.Result != nil {
				t.Error("an incomplete report states a result")
			}
		})
	}
}

func keyBytes(k *election.ElectionKey) []byte {
	if k == nil {
		return nil
	}
	b := k.PublicKey.Bytes()
	for _, vk := range k.VerificationKeys {
		b = append(b, vk.Bytes()...)
	}
	return b
}

// TestKeyWhenCheck7Fails: the later checks use the key recomputed from the ceremony when there is one (the
// published key altered: only check 7 fails), the published key when the ceremony yields none (a verdict that
// does not decode), and no key when neither decodes: then checks 12, 15, 21 and 22 do not run.
func TestKeyWhenCheck7Fails(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	honestKey := keyBytes(e.State.Key())
	keyAt := electiontest.Find(e.Entries, election.KindElectionKey, 0)

	altered := electiontest.Clone(e.Entries)
	var pb recordv1.ElectionKey
	if err := proto.Unmarshal(altered[keyAt].Payload, &pb); err != nil {
		t.Fatal(err)
	}
	pb.JointKey = group.Generator().Bytes() // the operator's own joint key
	altered[keyAt].Payload = mustMarshal(t, &pb)
	rep := verify(t, altered)
	if got := failedChecks(rep); !slices.Equal(got, []election.Check{election.CheckElectionKey}) {
		t.Errorf("published joint key altered: failed %v, want only check 7", rep.Failures)
	}
	if !bytes.Equal(keyBytes(rep.State.Key()), honestKey) {
		t.Error("published joint key altered: the state's key is not the recomputed one")
	}

	noCeremony := electiontest.Clone(e.Entries)
	noCeremony[electiontest.Find(noCeremony, election.KindKeyVerdict, 0)].Payload = notDecodable
	rep = verify(t, noCeremony)
	if !bytes.Equal(keyBytes(rep.State.Key()), honestKey) {
		t.Error("a verdict not decodable: the state's key is not the published one")
	}
	if rep.Passed[election.CheckElectionKey] != 0 || rep.NotRun[election.CheckElectionKey] != 1 {
		t.Errorf("a verdict not decodable: check 7 passed %d, not run %d", rep.Passed[election.CheckElectionKey], rep.NotRun[election.CheckElectionKey])
	}

	noKey := electiontest.Clone(noCeremony)
	noKey[keyAt].Payload = notDecodable
	rep = verify(t, noKey)
	if rep.State.Key() != nil {
		t.Error("no key decodes, yet the state has one")
	}
	if got := failedChecks(rep); !slices.Equal(got, []election.Check{election.CheckKeyComplaints, election.CheckElectionKey}) {
		t.Errorf("no key: failed %v, want checks 6 and 7 only", rep.Failures)
	}
	for _, c := range []election.Check{election.CheckBallotProofs, election.CheckSpoiledOpening, election.CheckPartialDecryption, election.CheckResult} {
		if rep.Passed[c] != 0 || rep.NotRun[c] == 0 {
			t.Errorf("no key: check %v passed %d, not run %d", c, rep.Passed[c], rep.NotRun[c])
		}
	}
	for _, c := range []election.Check{election.CheckBallotSignature, election.CheckCountedComplete, election.CheckEncryptedTally} {
		if rep.Passed[c] == 0 {
			t.Errorf("no key: check %v, which needs no key, passed nothing", c)
		}
	}
	if rep.Complete {
		t.Error("no key: the result could not be checked, yet the report is complete")
	}
}

// TestVerdictAtMostOne: a trustee may post no verdict (it complains against no one); a second verdict fails
// check 6 (the tampering second-verdict).
func TestVerdictAtMostOne(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := electiontest.Clone(e.Entries)
	i := electiontest.Find(entries, election.KindKeyVerdict, 2)
	entries = renumber(slices.Delete(entries, i, i+1))
	entries = retally(t, e, entries, nil)
	if rep := verify(t, entries); !rep.OK() || !rep.Complete {
		t.Errorf("trustee 3's verdict left out: %v", rep.Failures)
	}
}

// TestResultTrustees: a result may combine any set of at least t trustees with a valid partial decryption,
// ascending, not only the t smallest: [1 3], [2 3] and [1 2 3] pass check 22; [3 1] and [1 1 2] fail it.
func TestResultTrustees(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	for _, tc := range []struct {
		trustees []uint32
		ok       bool
	}{{[]uint32{1, 2}, true}, {[]uint32{1, 3}, true}, {[]uint32{2, 3}, true}, {[]uint32{1, 2, 3}, true},
		{[]uint32{3, 1}, false}, {[]uint32{1, 1, 2}, false}, {[]uint32{2}, false}} {
		entries := electiontest.Clone(e.Entries)
		i := electiontest.Find(entries, election.KindResult, 0)
		var pb recordv1.Result
		if err := proto.Unmarshal(entries[i].Payload, &pb); err != nil {
			t.Fatal(err)
		}
		pb.Trustees = tc.trustees
		entries[i].Payload = mustMarshal(t, &pb)
		rep := verify(t, entries)
		if got := failedChecks(rep); tc.ok && len(got) > 0 || !tc.ok && !slices.Equal(got, []election.Check{election.CheckResult}) {
			t.Errorf("trustees %v: failures %v, want ok %v", tc.trustees, rep.Failures, tc.ok)
		}
	}
}

// TestCountBoundNotInCheck22: check 22 asks only count·K = B − M. A count above |counted|·R passes it when
// the encrypted sum holds that much (check 20 then fails, the one fault): the bound is not part of check 22.
func TestCountBoundNotInCheck22(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	const extra = 1000
	tallyAt := electiontest.Find(e.Entries, election.KindEncryptedTally, 0)
	entries := electiontest.Clone(e.Entries[:tallyAt])
	s := election.NewState()
	for _, en := range entries {
		s.Apply(en)
	}
	add := func(d election.Draft) {
		en := d.At(uint64(len(entries)))
		s.Apply(en)
		entries = append(entries, en)
	}
	d, err := s.DraftEncryptedTally()
	if err != nil {
		t.Fatal(err)
	}
	var tally recordv1.EncryptedTally
	if err := proto.Unmarshal(d.Payload, &tally); err != nil {
		t.Fatal(err)
	}
	sum, err := election.ParseSum(tally.Contests[0].Ciphertexts[0])
	if err != nil {
		t.Fatal(err)
	}
	sum.Add(sum, e.State.Key().PublicKey.Encrypt(extra, group.NewScalar().SetUint64(99)))
	tally.Contests[0].Ciphertexts[0] = sum.Bytes()
	d.Payload = mustMarshal(t, &tally)
	add(d)
	for _, tr := range e.Trustees {
		pd, err := tr.Trustee.DraftPartialDecryption(tr.Share, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		add(pd)
	}
	var res recordv1.Result
	if err := proto.Unmarshal(e.Entries[electiontest.Find(e.Entries, election.KindResult, 0)].Payload, &res); err != nil {
		t.Fatal(err)
	}
	res.Contests[0].Counts[0] += extra
	if bound := uint64(len(tally.Counted)); res.Contests[0].Counts[0] <= bound {
		t.Fatalf("count %d within the bound %d", res.Contests[0].Counts[0], bound)
	}
	add(election.Draft{Kind: election.KindResult, Payload: mustMarshal(t, &res)})
	rep := verify(t, entries)
	if got := failedChecks(rep); !slices.Equal(got, []election.Check{election.CheckEncryptedTally}) {
		t.Errorf("failures %v, want check 20 only", rep.Failures)
	}
	if rep.Passed[election.CheckResult] != 1 {
		t.Error("check 22 did not pass a result whose count exceeds |counted|·R")
	}
}

// TestCheck20SumsTheListAsWritten: check 20 compares each sum with the sum over `counted` as written, each
// index as often as it is listed, a ballot entry (cast or spoiled) adding its ciphertexts and any other entry
// nothing. So a list naming a ballot twice with sums counting it twice fails check 17 alone (the tampering
// counted-twice), and the same list with the honest sums fails 17 and 20: two faults.
func TestCheck20SumsTheListAsWritten(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := electiontest.Clone(e.Entries)
	i := electiontest.Find(entries, election.KindEncryptedTally, 0)
	var pb recordv1.EncryptedTally
	if err := proto.Unmarshal(entries[i].Payload, &pb); err != nil {
		t.Fatal(err)
	}
	pb.Counted = slices.Insert(pb.Counted, 1, pb.Counted[1])
	entries = retally(t, e, entries, func(*election.State) (election.Draft, error) {
		return election.Draft{Kind: election.KindEncryptedTally, Payload: mustMarshal(t, &pb)}, nil
	})
	rep := verify(t, entries)
	if got := failedChecks(rep); !slices.Equal(got, []election.Check{election.CheckCountedUnique, election.CheckEncryptedTally}) {
		t.Errorf("a ballot listed twice, summed once: failures %v, want checks 17 and 20", rep.Failures)
	}
}

// TestPollsWindowBoundaries: PollsOpen.time may equal opens_at but not closes_at; PollsClosed.time may equal
// PollsOpen.time (and exceed closes_at), not be below it.
func TestPollsWindowBoundaries(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	m := e.Manifest.Proto()
	openAt, closeAt := electiontest.Find(e.Entries, election.KindOpen, 0), electiontest.Find(e.Entries, election.KindClose, 0)
	for _, tc := range []struct {
		open, close int64
		ok          bool
	}{
		{m.OpensAt, m.OpensAt, true},
		{m.OpensAt, m.ClosesAt + 3600, true},
		{m.ClosesAt - 1, m.ClosesAt - 1, true},
		{m.OpensAt + 10, m.OpensAt + 9, false},
		{m.ClosesAt, m.ClosesAt, false},
		{m.OpensAt - 1, m.OpensAt, false},
	} {
		entries := electiontest.Clone(e.Entries)
		entries[openAt].Payload = mustMarshal(t, &recordv1.PollsOpen{Time: tc.open})
		entries[closeAt].Payload = mustMarshal(t, &recordv1.PollsClosed{Time: tc.close})
		rep := verify(t, entries)
		if got := failedChecks(rep); tc.ok && len(got) > 0 || !tc.ok && !slices.Equal(got, []election.Check{election.CheckPollsWindow}) {
			t.Errorf("open %d close %d (window [%d, %d)): failures %v, want ok %v", tc.open, tc.close, m.OpensAt, m.ClosesAt, rep.Failures, tc.ok)
		}
	}
}

package election_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// The tamper tests: one honest election, then for each numbered check a record changed in exactly the way that
// check exists to catch, as a dishonest operator would change it (recomputing the tally, partial decryptions and
// result after the change where that is possible). Each must fail that check and no other.

var (
	honestOnce   sync.Once
	honest       *electiontest.Election
	honestDigest [32]byte
	honestErr    error
)

// honestElection: 3 trustees (t = 2), all decrypt; 12 voters, 3 revote, 2 challenge.
//
// The election is built once and shared by tests that run in parallel, so it is read-only: a test changes a
// copy (clone, insert, retally), never its entries nor its state. Each test using it checks at its end that
// its entries are still the ones built.
func honestElection(t *testing.T) *electiontest.Election {
	t.Helper()
	honestOnce.Do(func() {
		honest, honestErr = electiontest.Run(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 12, Revotes: 3, Challenges: 2, Seed: 7})
		if honestErr == nil {
			honestDigest = entriesDigest(honest.Entries)
		}
	})
	if honestErr != nil {
		t.Fatal(honestErr)
	}
	t.Cleanup(func() {
		if entriesDigest(honest.Entries) != honestDigest {
			t.Error("the shared honest election's entries were changed: a test must change a clone")
		}
	})
	return honest
}

// entriesDigest is SHA-256 over the entries' indices, kinds and payloads.
func entriesDigest(entries []election.Entry) [32]byte {
	h := sha256.New()
	for _, e := range entries {
		h.Write(binary.BigEndian.AppendUint64(nil, e.Index))
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(e.Kind)))
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(e.Payload))))
		h.Write(e.Payload)
	}
	return [32]byte(h.Sum(nil))
}

func verify(t *testing.T, entries []election.Entry) *election.Report {
	t.Helper()
	rep, err := election.Verify(context.Background(), electiontest.Seq(entries), election.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// expectOnly asserts that the record fails check want and nothing else.
func expectOnly(t *testing.T, entries []election.Entry, want election.Check) {
	t.Helper()
	rep := verify(t, entries)
	if len(rep.Failed(want)) == 0 {
		t.Errorf("check %v did not fail", want)
	}
	for _, f := range rep.Failures {
		if f.Check != want {
			t.Errorf("unexpected failure: %v", f)
		}
	}
}

func clone(entries []election.Entry) []election.Entry {
	out := make([]election.Entry, len(entries))
	for i, e := range entries {
		out[i] = election.Entry{Index: e.Index, Kind: e.Kind, Payload: slices.Clone(e.Payload)}
	}
	return out
}

// insert puts d at position i and renumbers.
func insert(entries []election.Entry, i int, d election.Draft) []election.Entry {
	out := slices.Insert(clone(entries), i, election.Entry{Kind: d.Kind, Payload: d.Payload})
	return renumber(out)
}

func renumber(entries []election.Entry) []election.Entry {
	for i := range entries {
		entries[i].Index = uint64(i)
	}
	return entries
}

func find(entries []election.Entry, kind election.Kind, nth int) int {
	for i, e := range entries {
		if e.Kind == kind {
			if nth == 0 {
				return i
			}
			nth--
		}
	}
	return -1
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func retally(t *testing.T, e *electiontest.Election, entries []election.Entry, tally func(*election.State) (election.Draft, error)) []election.Entry {
	t.Helper()
	out, err := e.Retally(entries, nil, tally)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// counted returns the honest record's counted list.
func counted(t *testing.T, entries []election.Entry) []uint64 {
	var pb recordv1.EncryptedTally
	if err := proto.Unmarshal(entries[find(entries, election.KindEncryptedTally, 0)].Payload, &pb); err != nil {
		t.Fatal(err)
	}
	return pb.Counted
}

// resign returns voter v's ballot entry payload with its Ballot changed by f and signed again.
func resign(t *testing.T, e *electiontest.Election, payload []byte, v int, f func(*recordv1.Ballot)) []byte {
	var sb recordv1.SignedBallot
	var b recordv1.Ballot
	if err := proto.Unmarshal(payload, &sb); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(sb.Ballot, &b); err != nil {
		t.Fatal(err)
	}
	f(&b)
	return election.SignBallot(e.Credentials[v], &b)
}

// voterOf returns the voter whose credential cast the ballot at entry i.
func voterOf(t *testing.T, e *electiontest.Election, entries []election.Entry, i int) int {
	b, err := election.ParseBallot(e.Manifest, entries[i].Payload)
	if err != nil {
		t.Fatal(err)
	}
	for v, c := range e.Credentials {
		if c.PublicKey() == b.Credential {
			return v
		}
	}
	t.Fatal("no voter for the ballot")
	return -1
}

func TestHonestRecordPasses(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	rep := verify(t, e.Entries)
	if !rep.OK() || !rep.Complete {
		t.Fatalf("honest record: ok %v complete %v failures %v", rep.OK(), rep.Complete, rep.Failures)
	}
	for _, c := range election.Checks[1:] {
		if rep.Passed[c] == 0 {
			t.Errorf("check %v was never exercised by the honest record", c)
		}
	}
}

func TestTamperRecordStructure(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	// A credential list slipped in after the polls opened.
	_, drafts, err := election.GenerateCredentials(e.Manifest.ID(), 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindOpen, 0)+1, drafts[0]), nil), election.CheckRecord)
}

func TestTamperManifest(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	var m recordv1.Manifest
	if err := proto.Unmarshal(entries[0].Payload, &m); err != nil {
		t.Fatal(err)
	}
	m.Threshold = 0
	entries[0].Payload = mustMarshal(t, &m)
	expectOnly(t, entries, election.CheckManifest)
}

func TestTamperCredentials(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	// A second list repeating a credential of the first.
	pk := e.Credentials[0].PublicKey()
	d := election.Draft{Kind: election.KindCredentials, Payload: mustMarshal(t, &recordv1.CredentialList{PublicKeys: [][]byte{pk[:]}})}
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindCredentials, 0)+1, d), nil), election.CheckCredentials)

	// A list naming a new key twice (found by review: it passed).
	extra, _, err := election.GenerateCredentials(e.Manifest.ID(), 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	pk = extra[0].PublicKey()
	d = election.Draft{Kind: election.KindCredentials, Payload: mustMarshal(t, &recordv1.CredentialList{PublicKeys: [][]byte{pk[:], pk[:]}})}
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindCredentials, 0)+1, d), nil), election.CheckCredentials)
}

func TestTamperKeyCommitment(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	i := find(e.Entries, election.KindKeyCommitment, 0)
	// Trustee 1's commitment posted a second time.
	expectOnly(t, retally(t, e, insert(e.Entries, i+1, election.Draft{Kind: e.Entries[i].Kind, Payload: e.Entries[i].Payload}), nil), election.CheckKeyCommitment)
}

func TestTamperKeyComplaints(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	// A second verdict by trustee 1, complaining against trustee 2.
	body := mustMarshal(t, &recordv1.KeyVerdict{Complaints: []uint32{2}})
	d := e.Trustees[0].Keys.DraftSigned(e.Manifest, election.KindKeyVerdict, 1, body)
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindElectionKey, 0), d), nil), election.CheckKeyComplaints)
}

func TestTamperElectionKey(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindElectionKey, 0)
	var pb recordv1.ElectionKey
	if err := proto.Unmarshal(entries[i].Payload, &pb); err != nil {
		t.Fatal(err)
	}
	pb.VerificationKeys[1] = group.Generator().Bytes() // the operator's own verification key for trustee 2
	entries[i].Payload = mustMarshal(t, &pb)
	expectOnly(t, entries, election.CheckElectionKey)
}

func TestTamperBallotShape(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	d := election.Draft{Kind: election.KindBallot, Payload: []byte("not a ballot")}
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindClose, 0), d), nil), election.CheckBallotShape)
}

func TestTamperBallotElection(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindBallot, 0)
	entries[i].Payload = resign(t, e, entries[i].Payload, voterOf(t, e, entries, i), func(b *recordv1.Ballot) { b.Election[0] ^= 1 })
	expectOnly(t, retally(t, e, entries, nil), election.CheckBallotElection)
}

func TestTamperBallotSignature(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindBallot, 0)
	var sb recordv1.SignedBallot
	if err := proto.Unmarshal(entries[i].Payload, &sb); err != nil {
		t.Fatal(err)
	}
	sb.Signature[5] ^= 1
	entries[i].Payload = mustMarshal(t, &sb)
	expectOnly(t, entries, election.CheckBallotSignature)
}

func TestTamperBallotCredential(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	// A well-made ballot from a credential the registrar never published.
	creds, _, err := election.GenerateCredentials(e.Manifest.ID(), 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, creds[0], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	entries := insert(e.Entries, find(e.Entries, election.KindClose, 0), b.DraftCast())
	expectOnly(t, retally(t, e, entries, nil), election.CheckBallotCredential)
}

func TestTamperBallotProofs(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindBallot, 0)
	entries[i].Payload = resign(t, e, entries[i].Payload, voterOf(t, e, entries, i), func(b *recordv1.Ballot) {
		b.Contests[0].Proofs[0][0] ^= 1 // a challenge of the first option's proof
	})
	expectOnly(t, retally(t, e, entries, nil), election.CheckBallotProofs)
}

func TestTamperBallotWindow(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	// A valid ballot of voter 5 slipped in after the close (it does not count, so the tally stands).
	b, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[5], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	expectOnly(t, insert(e.Entries, find(e.Entries, election.KindClose, 0)+1, b.DraftCast()), election.CheckBallotWindow)
}

func TestTamperBallotUnique(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	// A replay: voter 0 revoted, and the operator posts voter 0's first ballot again to make it count.
	i := find(e.Entries, election.KindBallot, 0)
	entries := insert(e.Entries, find(e.Entries, election.KindClose, 0), election.Draft{Kind: election.KindBallot, Payload: e.Entries[i].Payload})
	expectOnly(t, retally(t, e, entries, nil), election.CheckBallotUnique)
}

func TestTamperSpoiledOpening(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindSpoiledBallot, 0)
	var sp recordv1.SpoiledBallot
	if err := proto.Unmarshal(entries[i].Payload, &sp); err != nil {
		t.Fatal(err)
	}
	sp.Openings[0].Nonces[0][0] ^= 1 // a wrong nonce
	entries[i].Payload = mustMarshal(t, &sp)
	expectOnly(t, entries, election.CheckSpoiledOpening)
}

// withTally replaces the honest tally by one counting list, and recomputes partials and result.
func withTally(t *testing.T, e *electiontest.Election, list []uint64) []election.Entry {
	return retally(t, e, e.Entries, func(*election.State) (election.Draft, error) {
		return electiontest.TallyOf(e.Manifest, e.Entries, list)
	})
}

func TestTamperCountedValid(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	// A spoiled ballot counted.
	list := append(counted(t, e.Entries), uint64(find(e.Entries, election.KindSpoiledBallot, 0)))
	slices.Sort(list)
	expectOnly(t, withTally(t, e, list), election.CheckCountedValid)
}

func TestTamperCountedUnique(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	list := counted(t, e.Entries)
	list = slices.Insert(list, 1, list[1]) // the second counted ballot counted twice
	expectOnly(t, withTally(t, e, list), election.CheckCountedUnique)
}

func TestTamperCountedLatest(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	// Voter 0's superseded first ballot counted as well as the last one.
	list := append(counted(t, e.Entries), uint64(find(e.Entries, election.KindBallot, 0)))
	slices.Sort(list)
	expectOnly(t, withTally(t, e, list), election.CheckCountedLatest)
}

func TestTamperCountedComplete(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	list := counted(t, e.Entries)
	list = slices.Delete(list, 3, 4) // a ballot dropped from the count
	expectOnly(t, withTally(t, e, list), election.CheckCountedComplete)
}

func TestTamperEncryptedTally(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := retally(t, e, e.Entries, func(s *election.State) (election.Draft, error) {
		d, err := s.DraftEncryptedTally()
		if err != nil {
			return d, err
		}
		var pb recordv1.EncryptedTally
		if err := proto.Unmarshal(d.Payload, &pb); err != nil {
			return d, err
		}
		// One more vote for the first candidate: add an encryption of 1 to its sum.
		one := e.State.Key().PublicKey.Encrypt(1, group.NewScalar().SetUint64(12345))
		sum, err := election.ParseSum(pb.Contests[0].Ciphertexts[0])
		if err != nil {
			return d, err
		}
		pb.Contests[0].Ciphertexts[0] = sum.Add(sum, one).Bytes()
		d.Payload = mustMarshal(t, &pb)
		return d, nil
	})
	expectOnly(t, entries, election.CheckEncryptedTally)
}

func TestTamperPartialDecryption(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	// Trustee 3's partial decryption (not among the two combined) with one share altered, signed again.
	i := find(entries, election.KindPartialDecryption, 2)
	var ts recordv1.TrusteeSigned
	var pd recordv1.PartialDecryption
	if err := proto.Unmarshal(entries[i].Payload, &ts); err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(ts.Body, &pd); err != nil {
		t.Fatal(err)
	}
	pd.Contests[1].Shares[2] = group.Generator().Bytes()
	d := e.Trustees[2].Keys.DraftSigned(e.Manifest, election.KindPartialDecryption, 3, mustMarshal(t, &pd))
	entries[i].Payload = d.Payload
	expectOnly(t, entries, election.CheckPartialDecryption)
}

func TestTamperResult(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindResult, 0)
	var pb recordv1.Result
	if err := proto.Unmarshal(entries[i].Payload, &pb); err != nil {
		t.Fatal(err)
	}
	pb.Contests[0].Counts[0]++
	pb.Contests[0].Counts[1]--
	entries[i].Payload = mustMarshal(t, &pb)
	expectOnly(t, entries, election.CheckResult)
}

func TestTamperPollsWindow(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindOpen, 0)
	// The polls opened before the manifest's window.
	entries[i].Payload = mustMarshal(t, &recordv1.PollsOpen{Time: e.Manifest.Proto().OpensAt - 3600})
	expectOnly(t, entries, election.CheckPollsWindow)

	entries = clone(e.Entries)
	i = find(entries, election.KindClose, 0)
	entries[i].Payload = mustMarshal(t, &recordv1.PollsClosed{Time: 5})
	expectOnly(t, entries, election.CheckPollsWindow)
}

package election_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
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

// verify verifies entries twice, with a state that keeps the ballots' ciphertexts and with one that reads them
// back from the record (election.NewStateReading), and fails the test if the two reports differ.
func verify(t *testing.T, entries []election.Entry) *election.Report {
	t.Helper()
	rep, err := election.Verify(context.Background(), electiontest.Seq(entries), election.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := election.Verify(context.Background(), electiontest.Seq(entries), election.VerifyOptions{Record: entriesReader(entries)})
	if err != nil {
		t.Fatalf("reading the ballots back: %v", err)
	}
	if d := reportDiff(rep, back); d != "" {
		t.Errorf("the report reading the ballots back differs from the one keeping them: %s", d)
	}
	return rep
}

// entriesReader reads back entries by their index.
func entriesReader(entries []election.Entry) election.EntryReader {
	return election.EntryReaderFunc(func(i uint64) (election.Entry, error) {
		for _, e := range entries {
			if e.Index == i {
				return e, nil
			}
		}
		return election.Entry{}, fmt.Errorf("no entry %d", i)
	})
}

// reportDiff says where two reports of one record differ, but for the states they point to.
func reportDiff(a, b *election.Report) string {
	failures := func(r *election.Report) []string {
		var out []string
		for _, f := range r.Failures {
			out = append(out, f.Error())
		}
		return out
	}
	ca, cb := *a, *b
	ca.State, cb.State, ca.Failures, cb.Failures = nil, nil, nil, nil
	if d := stateDiff(&ca, &cb); d != "" {
		return d
	}
	if fa, fb := failures(a), failures(b); !slices.Equal(fa, fb) {
		return fmt.Sprintf("failures %q and %q", fa, fb)
	}
	return ""
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
	if err := proto.Unmarshal(entries[electiontest.Find(entries, election.KindEncryptedTally, 0)].Payload, &pb); err != nil {
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

// TestTamperings: each tampering of electiontest.Tamperings, applied to the honest election, fails the check it
// targets and no other. The conformance vectors (testdata/vectors, docs/vectors.md) apply the same tamperings to a
// smaller election.
func TestTamperings(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	for _, tm := range electiontest.Tamperings() {
		t.Run(fmt.Sprintf("%02d-%s", tm.Check, tm.Name), func(t *testing.T) {
			t.Parallel()
			entries, err := tm.Apply(e, nil)
			if err != nil {
				t.Fatal(err)
			}
			expectOnly(t, entries, tm.Check)
		})
	}
}

func renumber(entries []election.Entry) []election.Entry {
	for i := range entries {
		entries[i].Index = uint64(i)
	}
	return entries
}

// TestVerifyReadingBack: a state that reads ballots back (VerifyOptions.Record) reads the superseded ballots and
// nothing else of an honest record, and a record that gives back something else than it gave ends Verify with an
// error, not a report.
func TestVerifyReadingBack(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	var reads []uint64
	rd := entriesReader(e.Entries)
	counting := election.EntryReaderFunc(func(i uint64) (election.Entry, error) {
		reads = append(reads, i)
		return rd.ReadEntry(i)
	})
	rep, err := election.Verify(context.Background(), electiontest.Seq(e.Entries), election.VerifyOptions{Record: counting})
	if err != nil || !rep.OK() || !rep.Complete {
		t.Fatalf("honest record read back: err %v, failures %v", err, rep.Failures)
	}
	if len(reads) != 3 { // the Config's Revotes: each supersedes one ballot
		t.Errorf("read back entries %v, want the 3 superseded ballots", reads)
	}
	ballots := []int{}
	for i, en := range e.Entries {
		if en.Kind == election.KindBallot {
			ballots = append(ballots, i)
		}
	}
	for _, tc := range []struct {
		name, want string
		read       func(i uint64) (election.Entry, error)
	}{
		{"fails", "disk on fire", func(uint64) (election.Entry, error) { return election.Entry{}, errors.New("disk on fire") }},
		{"another ballot", "tracking code", func(i uint64) (election.Entry, error) {
			other := e.Entries[ballots[0]]
			if other.Index == i {
				other = e.Entries[ballots[1]]
			}
			other.Index = i
			return other, nil
		}},
		{"another index", "got entry", func(i uint64) (election.Entry, error) { return e.Entries[i+1], nil }},
		{"another kind", "now a", func(i uint64) (election.Entry, error) {
			en := e.Entries[i]
			en.Kind = election.KindSpoiledBallot
			return en, nil
		}},
		{"garbled", "read back is not the one applied", func(i uint64) (election.Entry, error) {
			en := e.Entries[i]
			en.Payload = append([]byte{}, en.Payload...)
			en.Payload[len(en.Payload)/2] ^= 1
			return en, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := election.Verify(context.Background(), electiontest.Seq(e.Entries), election.VerifyOptions{Record: election.EntryReaderFunc(tc.read)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v, %v; want an error containing %q", rep, err, tc.want)
			}
		})
	}
}

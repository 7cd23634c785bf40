package election_test

import (
	"bytes"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// The decoders of everything a voter, a trustee or a record can hand the node or a verifier: no input may make
// them panic, and what they accept must be what it claims to be.

var (
	fuzzOnce sync.Once
	fuzzElec *electiontest.Election
)

func fuzzElection(f testing.TB) *electiontest.Election {
	fuzzOnce.Do(func() {
		e, err := electiontest.Run(electiontest.Config{Trustees: 2, Threshold: 2, Voters: 3, Revotes: 1, Challenges: 1, Seed: 9})
		if err != nil {
			f.Fatal(err)
		}
		fuzzElec = e
	})
	return fuzzElec
}

func FuzzParseManifest(f *testing.F) {
	e := fuzzElection(f)
	f.Add(e.Entries[0].Payload)
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := election.ParseManifest(payload)
		if err != nil {
			return
		}
		again, err := election.ParseManifest(m.Bytes())
		if err != nil || again.ID() != m.ID() {
			t.Fatalf("an accepted manifest does not parse again to itself: %v", err)
		}
		if len(m.Rules()) != len(m.Proto().Contests) {
			t.Fatal("rules and contests disagree")
		}
	})
}

// FuzzCheckBallot runs the stateless checks of a ballot or spoiled ballot entry on arbitrary payloads.
func FuzzCheckBallot(f *testing.F) {
	e := fuzzElection(f)
	for _, en := range e.Entries {
		if en.Kind == election.KindBallot || en.Kind == election.KindSpoiledBallot {
			f.Add(uint8(en.Kind), en.Payload)
		}
		if en.Kind == election.KindBallot {
			encodings, err := electiontest.ReencodedSignedBallots(en.Payload)
			if err != nil {
				f.Fatal(err)
			}
			for _, p := range encodings {
				f.Add(uint8(en.Kind), p)
			}
		}
	}
	pk := e.State.Key().PublicKey
	f.Fuzz(func(t *testing.T, kind uint8, payload []byte) {
		k := election.KindBallot
		if kind%2 == 1 {
			k = election.KindSpoiledBallot
		}
		bc := election.CheckBallot(e.Manifest, pk, election.Entry{Index: 1, Kind: k, Payload: payload})
		if bc.Err() == nil && bc.Ballot() == nil {
			t.Fatal("a ballot passed its checks without decoding")
		}
		if bc.Ballot() != nil {
			requireCanonical(t, k, payload)
		}
	})
}

// entryMessages gives the message of each kind's payload.
var entryMessages = map[election.Kind]func() proto.Message{
	election.KindManifest:          func() proto.Message { return &recordv1.Manifest{} },
	election.KindCredentials:       func() proto.Message { return &recordv1.CredentialList{} },
	election.KindKeyCommitment:     func() proto.Message { return &recordv1.TrusteeSigned{} },
	election.KindKeyVerdict:        func() proto.Message { return &recordv1.TrusteeSigned{} },
	election.KindKeyReveal:         func() proto.Message { return &recordv1.TrusteeSigned{} },
	election.KindElectionKey:       func() proto.Message { return &recordv1.ElectionKey{} },
	election.KindOpen:              func() proto.Message { return &recordv1.PollsOpen{} },
	election.KindBallot:            func() proto.Message { return &recordv1.SignedBallot{} },
	election.KindSpoiledBallot:     func() proto.Message { return &recordv1.SpoiledBallot{} },
	election.KindClose:             func() proto.Message { return &recordv1.PollsClosed{} },
	election.KindEncryptedTally:    func() proto.Message { return &recordv1.EncryptedTally{} },
	election.KindPartialDecryption: func() proto.Message { return &recordv1.TrusteeSigned{} },
	election.KindResult:            func() proto.Message { return &recordv1.Result{} },
}

// requireCanonical fails unless payload, accepted as an entry of kind, is the canonical encoding of what it
// holds: whatever decodes and re-encodes to other bytes must have been refused (issue 9's replays).
func requireCanonical(t *testing.T, kind election.Kind, payload []byte) {
	t.Helper()
	newMsg, ok := entryMessages[kind]
	if !ok {
		t.Fatalf("an entry of unknown kind %d was accepted", kind)
	}
	m := newMsg()
	if err := proto.Unmarshal(payload, m); err != nil {
		t.Fatalf("an accepted %s entry does not decode: %v", kind, err)
	}
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil || !bytes.Equal(again, payload) {
		t.Fatalf("an accepted %s entry is not in its canonical encoding: %x re-encodes to %x", kind, payload, again)
	}
}

// FuzzApply applies an arbitrary entry of any kind after the prefix of a real record (up to its election key),
// to a fresh state each time: the state must report faults, never panic.
func FuzzApply(f *testing.F) {
	e := fuzzElection(f)
	key := 0
	for i, en := range e.Entries {
		f.Add(uint32(en.Kind), en.Payload)
		if en.Kind == election.KindElectionKey {
			key = i
		}
	}
	prefix := e.Entries[:key+1]
	f.Fuzz(func(t *testing.T, kind uint32, payload []byte) {
		s := election.NewState()
		for _, en := range prefix {
			if errs := s.Apply(en); len(errs) > 0 {
				t.Fatal(errs[0])
			}
		}
		if errs := s.Apply(election.Entry{Index: uint64(len(prefix)), Kind: election.Kind(kind), Payload: payload}); len(errs) == 0 {
			requireCanonical(t, election.Kind(kind), payload)
		}
	})
}

func FuzzParseCredentialFile(f *testing.F) {
	e := fuzzElection(f)
	f.Add(e.Credentials[0].MarshalFile())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := election.ParseCredentialFile(data)
		if err != nil {
			return
		}
		again, err := election.ParseCredentialFile(c.MarshalFile())
		if err != nil || again.PublicKey() != c.PublicKey() {
			t.Fatalf("an accepted credential does not round-trip: %v", err)
		}
	})
}

func FuzzParseTrackingCode(f *testing.F) {
	f.Add(election.HumanTrackingCode(election.ID{1, 2, 3}))
	f.Add("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := election.ParseTrackingCode(s)
		if err != nil {
			return
		}
		if again, err := election.ParseTrackingCode(election.HumanTrackingCode(id)); err != nil || again != id {
			t.Fatalf("tracking code %q does not round-trip", s)
		}
	})
}

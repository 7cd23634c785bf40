package election_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// The replay attacks of issue 9: a ballot taken from the board and cast again with new bytes (then a new tracking
// code, when it hashed the whole SignedBallot) but the credential's valid signature and valid proofs. Before the fix each was accepted and became its
// credential's latest ballot (overriding the voter's real last vote, or counting a challenged ballot), and the
// record passed every check.

// castBeforeClose puts a BALLOT with payload just before the close, and has the operator recount the tally,
// partial decryptions and result so that the replay counts.
func castBeforeClose(t *testing.T, e *electiontest.Election, payload []byte) []election.Entry {
	t.Helper()
	d := election.Draft{Kind: election.KindBallot, Payload: payload}
	return retally(t, e, electiontest.Insert(e.Entries, electiontest.Find(e.Entries, election.KindClose, 0), d), nil)
}

func reencodings(t *testing.T, payload []byte) map[string][]byte {
	t.Helper()
	out, err := electiontest.ReencodedSignedBallots(payload)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A voter's superseded ballot, its SignedBallot wrapper re-encoded and cast again to override the voter's later
// ballot: refused by the node's checks and failing check 8 in the record, whatever the encoding.
func TestReplayReencodedSupersededBallot(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	first := e.Entries[electiontest.Find(e.Entries, election.KindBallot, 0)] // voter 0's first ballot: superseded
	pk := e.State.Key().PublicKey
	for name, payload := range reencodings(t, first.Payload) {
		t.Run(name, func(t *testing.T) {
			bc := election.CheckBallot(e.Manifest, pk, election.Entry{Index: uint64(len(e.Entries)), Kind: election.KindBallot, Payload: payload})
			ce := bc.Err()
			if ce == nil || ce.Check != election.CheckBallotShape || !strings.Contains(ce.Reason, "canonical") {
				t.Fatalf("CheckBallot = %v, want a failure of check 8 for a non-canonical encoding", ce)
			}
			expectOnly(t, castBeforeClose(t, e, payload), election.CheckBallotShape)
		})
	}
}

// A challenged ballot, whose choices and nonces are public, re-encoded and cast to count in place of the voter's
// real vote.
func TestReplayReencodedChallengedBallot(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	signed, err := electiontest.SignedBallotOf(e.Entries[electiontest.Find(e.Entries, election.KindSpoiledBallot, 0)].Payload)
	if err != nil {
		t.Fatal(err)
	}
	for name, payload := range reencodings(t, signed) {
		t.Run(name, func(t *testing.T) {
			expectOnly(t, castBeforeClose(t, e, payload), election.CheckBallotShape)
		})
	}
}

// Uniqueness does not rest on the encoding alone: the same Ballot under a second valid signature (new canonical
// bytes) has the same tracking code, and is a replay all the same, for a superseded and for a challenged ballot.
func TestReplaySameContentSignedAgain(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	signAgain := func(t *testing.T, payload []byte, v int) []byte {
		t.Helper()
		out, err := electiontest.SignAgain(e.Credentials[v], payload)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Run("superseded", func(t *testing.T) {
		i := electiontest.Find(e.Entries, election.KindBallot, 0)
		payload := signAgain(t, e.Entries[i].Payload, voterOf(t, e, e.Entries, i))
		entries := castBeforeClose(t, e, payload)
		expectOnly(t, entries, election.CheckBallotUnique)
		if f := verify(t, entries).Failed(election.CheckBallotUnique); len(f) != 1 || !strings.Contains(f[0].Reason, "replay") {
			t.Errorf("check 14 failures %v, want one naming the replay", f)
		}
	})
	t.Run("challenged", func(t *testing.T) {
		i := electiontest.Find(e.Entries, election.KindSpoiledBallot, 0)
		signed, err := electiontest.SignedBallotOf(e.Entries[i].Payload)
		if err != nil {
			t.Fatal(err)
		}
		v := -1
		b, err := election.ParseBallot(e.Manifest, signed)
		if err != nil {
			t.Fatal(err)
		}
		for k, c := range e.Credentials {
			if c.PublicKey() == b.Credential {
				v = k
			}
		}
		expectOnly(t, castBeforeClose(t, e, signAgain(t, signed, v)), election.CheckBallotUnique)
	})
	t.Run("admission", func(t *testing.T) {
		// The node's admission refuses it before it reaches the board.
		s := election.NewState()
		for _, en := range e.Entries[:electiontest.Find(e.Entries, election.KindClose, 0)] {
			if errs := s.Apply(en); len(errs) > 0 {
				t.Fatal(errs[0])
			}
		}
		i := electiontest.Find(e.Entries, election.KindBallot, 0)
		replay, err := election.ParseBallot(e.Manifest, signAgain(t, e.Entries[i].Payload, voterOf(t, e, e.Entries, i)))
		if err != nil {
			t.Fatal(err)
		}
		if ce := s.CheckBallotAdmission(replay); ce == nil || ce.Check != election.CheckBallotUnique {
			t.Fatalf("CheckBallotAdmission = %v, want a failure of check 14", ce)
		}
	})
}

// TestAdmitBallotCheapChecksFirst: the node's admission runs the state's checks before the proofs, so that anyone
// resubmitting a ballot copied from the board (or one for an unknown credential) costs it no proof verification,
// and it stops verifying proofs when its client goes (found by review: each resubmission of a large public ballot
// cost the node a full verification, which went on after the client had gone).
func TestAdmitBallotCheapChecksFirst(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	pk := e.State.Key().PublicKey
	i := electiontest.Find(e.Entries, election.KindBallot, 0)
	// Voter 0's first ballot with a proof broken and signed again: the proofs would fail, but the state refuses
	// it first.
	broken := resign(t, e, e.Entries[i].Payload, voterOf(t, e, e.Entries, i), func(b *recordv1.Ballot) {
		b.Contests[0].Proofs[0][40] ^= 1
	})
	entry := election.Entry{Index: uint64(len(e.Entries)), Kind: election.KindBallot, Payload: broken}
	called := false
	refuse := func(*election.Ballot) *election.CheckError {
		called = true
		return &election.CheckError{Check: election.CheckBallotCredential, Reason: "refused by the state"}
	}
	bc, err := election.AdmitBallot(context.Background(), e.Manifest, pk, entry, refuse)
	if err != nil || !called || bc.Err() == nil || bc.Err().Check != election.CheckBallotCredential {
		t.Fatalf("AdmitBallot = %v, %v (state check called: %v), want the state's refusal first", bc.Err(), err, called)
	}
	if ce := election.CheckBallot(e.Manifest, pk, entry).Err(); ce == nil || ce.Check != election.CheckBallotProofs {
		t.Fatalf("the verifier's CheckBallot = %v, want check 12", ce)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := election.AdmitBallot(ctx, e.Manifest, pk, e.Entries[i], nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("AdmitBallot with its client gone = %v, want context.Canceled", err)
	}
}

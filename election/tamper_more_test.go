package election_test

import (
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// More tamperings, on the honest record of tamper_test.go, each as a dishonest operator would make it (with the
// tally, partial decryptions and result made again after the change where the change moves entries), and each
// caught by the check it targets and no other. With the 21 of tamper_test.go, they make the tamper suite of
// docs/verification.md.

func unmarshalT(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
}

// trusteeBody returns the body of a trustee-signed entry.
func trusteeBody(t *testing.T, payload []byte) []byte {
	var ts recordv1.TrusteeSigned
	unmarshalT(t, payload, &ts)
	return ts.Body
}

// A valid ballot posted between the election key and the opening of the polls.
func TestTamperBallotBeforeOpen(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	b, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[5], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindOpen, 0), b.DraftCast()), nil), election.CheckBallotWindow)
}

// The polls opened a second time.
func TestTamperTwoOpens(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	d := election.Draft{Kind: election.KindOpen, Payload: mustMarshal(t, &recordv1.PollsOpen{Time: 1})}
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindOpen, 0)+1, d), nil), election.CheckRecord)
}

// A second election key after the first.
func TestTamperSecondElectionKey(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	i := find(e.Entries, election.KindElectionKey, 0)
	expectOnly(t, retally(t, e, insert(e.Entries, i+1, election.Draft{Kind: election.KindElectionKey, Payload: e.Entries[i].Payload}), nil), election.CheckRecord)
}

// An entry of a kind the record format does not define.
func TestTamperUnknownKind(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	d := election.Draft{Kind: election.Kind(99), Payload: []byte("hidden")}
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindClose, 0), d), nil), election.CheckRecord)
}

// An entry after the result: the polls closed once more.
func TestTamperEntryAfterResult(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	i := find(e.Entries, election.KindClose, 0)
	entries := insert(e.Entries, len(e.Entries), election.Draft{Kind: election.KindClose, Payload: e.Entries[i].Payload})
	expectOnly(t, entries, election.CheckRecord)
}

// A credential list holding a small-order key (y = 0, of order 4), for which signatures can be forged.
func TestTamperSmallOrderCredential(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	d := election.Draft{Kind: election.KindCredentials, Payload: mustMarshal(t, &recordv1.CredentialList{PublicKeys: [][]byte{make([]byte, 32)}})}
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindCredentials, 0)+1, d), nil), election.CheckCredentials)
}

// A key commitment in the name of a trustee the manifest does not have.
func TestTamperCommitmentUnknownTrustee(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	body := trusteeBody(t, e.Entries[find(e.Entries, election.KindKeyCommitment, 0)].Payload)
	d := e.Trustees[0].Keys.DraftSigned(e.Manifest, election.KindKeyCommitment, 4, body)
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindElectionKey, 0), d), nil), election.CheckKeyCommitment)
}

// A dealer reveals a share that nobody complained about.
func TestTamperRevealWithoutComplaint(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	body := mustMarshal(t, &recordv1.KeyReveal{Recipient: 2, Share: e.Trustees[0].Dealt[2].Bytes()})
	d := e.Trustees[0].Keys.DraftSigned(e.Manifest, election.KindKeyReveal, 1, body)
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindElectionKey, 0), d), nil), election.CheckKeyComplaints)
}

// The election key names a qualified set without trustee 3, keeping the keys.
func TestTamperQualifiedSet(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindElectionKey, 0)
	var pb recordv1.ElectionKey
	unmarshalT(t, entries[i].Payload, &pb)
	pb.Qualified = []uint32{1, 2}
	entries[i].Payload = mustMarshal(t, &pb)
	expectOnly(t, entries, election.CheckElectionKey)
}

// A field the format does not define, inside a ballot its voter signed.
func TestTamperBallotUnknownField(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindBallot, 0) // voter 0's first ballot, superseded: the tally stands
	entries[i].Payload = resign(t, e, entries[i].Payload, voterOf(t, e, entries, i), func(b *recordv1.Ballot) {
		unknown := protowire.AppendTag(nil, 15, protowire.VarintType)
		b.ProtoReflect().SetUnknown(protowire.AppendVarint(unknown, 1))
	})
	expectOnly(t, entries, election.CheckBallotShape)
}

// A ballot whose option proofs were swapped: each proof is valid, but for the other option's position.
func TestTamperProofMovedToOtherOption(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindBallot, 4)
	entries[i].Payload = resign(t, e, entries[i].Payload, voterOf(t, e, entries, i), func(b *recordv1.Ballot) {
		p := b.Contests[0].Proofs
		p[0], p[1] = p[1], p[0]
	})
	expectOnly(t, entries, election.CheckBallotProofs)
}

// A challenged ballot cast afterwards: the spoiled ballot's signed ballot posted again as a cast ballot. Its
// signature is for a challenge (check 10) and its tracking code is on the board (check 14).
func TestTamperChallengedBallotCast(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	var sp recordv1.SpoiledBallot
	unmarshalT(t, e.Entries[find(e.Entries, election.KindSpoiledBallot, 0)].Payload, &sp)
	d := election.Draft{Kind: election.KindBallot, Payload: sp.SignedBallot}
	rep := verify(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindClose, 0), d), nil))
	for _, f := range rep.Failures {
		if f.Check != election.CheckBallotSignature && f.Check != election.CheckBallotUnique {
			t.Errorf("unexpected failure: %v", f)
		}
	}
	if len(rep.Failed(election.CheckBallotSignature)) != 1 || len(rep.Failed(election.CheckBallotUnique)) != 1 {
		t.Errorf("failures %v, want one of check 10 and one of check 14", rep.Failures)
	}
}

// A challenge the node kept off the board, its ballot cast after the voter's last ballot (found by review: it
// counted in place of the voter's vote, and the record passed every check). The challenge carries the ballot
// signed for a challenge only, so the cast fails check 10, and the voter's last ballot still counts.
func TestTamperWithheldChallengeCast(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	v := 0
	withheld, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[v], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	// What the node received in the ChallengeBallot call: the spoiled ballot, with the signed ballot inside.
	var sp recordv1.SpoiledBallot
	unmarshalT(t, withheld.DraftChallenge().Payload, &sp)
	d := election.Draft{Kind: election.KindBallot, Payload: sp.SignedBallot}
	if ce := election.CheckBallot(e.Manifest, e.State.Key().PublicKey, election.Entry{Kind: d.Kind, Payload: d.Payload}).Err(); ce == nil || ce.Check != election.CheckBallotSignature {
		t.Fatalf("the node's admission of the withheld challenge: %v, want a failure of check 10", ce)
	}
	expectOnly(t, retally(t, e, insert(e.Entries, find(e.Entries, election.KindClose, 0), d), nil), election.CheckBallotSignature)
}

// A spoiled ballot whose openings claim other choices than those it encrypted (a cheating device's story).
func TestTamperSpoiledOtherChoices(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindSpoiledBallot, 0)
	var sp recordv1.SpoiledBallot
	unmarshalT(t, entries[i].Payload, &sp)
	v := sp.Openings[0].Values // 1-of-5: move the choice to the next candidate, a valid choice
	o := slices.Index(v, 1)
	v[o], v[(o+1)%len(v)] = 0, 1
	entries[i].Payload = mustMarshal(t, &sp)
	expectOnly(t, entries, election.CheckSpoiledOpening)
}

// The encrypted tally counts the polls' opening entry as a ballot.
func TestTamperCountedNotABallot(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	list := counted(t, e.Entries)
	entries := retally(t, e, e.Entries, func(*election.State) (election.Draft, error) {
		d, err := electiontest.TallyOf(e.Manifest, e.Entries, list)
		if err != nil {
			return d, err
		}
		var pb recordv1.EncryptedTally
		unmarshalT(t, d.Payload, &pb)
		pb.Counted = append(pb.Counted, uint64(find(e.Entries, election.KindOpen, 0)))
		slices.Sort(pb.Counted)
		d.Payload = mustMarshal(t, &pb)
		return d, nil
	})
	expectOnly(t, entries, election.CheckCountedValid)
}

// The counted list out of order (every ballot once, the sums right).
func TestTamperCountedNotAscending(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	list := counted(t, e.Entries)
	list[1], list[2] = list[2], list[1]
	expectOnly(t, withTally(t, e, list), election.CheckCountedUnique)
}

// A partial decryption in the name of a trustee the manifest does not have.
func TestTamperPartialUnknownTrustee(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	i := find(e.Entries, election.KindPartialDecryption, 2)
	d := e.Trustees[2].Keys.DraftSigned(e.Manifest, election.KindPartialDecryption, 4, trusteeBody(t, e.Entries[i].Payload))
	expectOnly(t, insert(e.Entries, i+1, d), election.CheckPartialDecryption)
}

// Trustee 3's partial decryption, signed by trustee 1.
func TestTamperPartialWrongSigner(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindPartialDecryption, 2)
	entries[i].Payload = e.Trustees[0].Keys.DraftSigned(e.Manifest, election.KindPartialDecryption, 3, trusteeBody(t, entries[i].Payload)).Payload
	expectOnly(t, entries, election.CheckPartialDecryption)
}

// A trustee's partial decryption posted twice.
func TestTamperPartialTwice(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	i := find(e.Entries, election.KindPartialDecryption, 2)
	expectOnly(t, insert(e.Entries, i+1, election.Draft{Kind: election.KindPartialDecryption, Payload: e.Entries[i].Payload}), election.CheckPartialDecryption)
}

// A result that combines fewer partial decryptions than the threshold.
func TestTamperResultTooFewTrustees(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindResult, 0)
	var pb recordv1.Result
	unmarshalT(t, entries[i].Payload, &pb)
	pb.Trustees = pb.Trustees[:1]
	entries[i].Payload = mustMarshal(t, &pb)
	expectOnly(t, entries, election.CheckResult)
}

// One count off by one in the last contest (the score contest).
func TestTamperResultOtherContest(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	entries := clone(e.Entries)
	i := find(entries, election.KindResult, 0)
	var pb recordv1.Result
	unmarshalT(t, entries[i].Payload, &pb)
	pb.Contests[2].Counts[1]++
	entries[i].Payload = mustMarshal(t, &pb)
	expectOnly(t, entries, election.CheckResult)
}

package node_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/node"
)

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// refused asserts that err is a refusal with code and reason (and check number, if not 0), and that the board
// did not grow.
func refused(t *testing.T, tn *testNode, size uint64, err error, code codes.Code, reason string, check election.Check) {
	t.Helper()
	if status.Code(err) != code {
		t.Errorf("got %v, want %v", err, code)
		return
	}
	gotReason, gotCheck := node.Reason(err)
	if gotReason != reason || gotCheck != int(check) {
		t.Errorf("%v: reason %q check %d, want %q check %d", err, gotReason, gotCheck, reason, check)
	}
	if tn.size() != size {
		t.Errorf("a refused request appended: %d entries, was %d", tn.size(), size)
	}
}

// TestBallotRefusals sends the node every kind of bad ballot and checks that each is refused with its own
// status code and reason, and appends nothing.
func TestBallotRefusals(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 4, noOpen: true})
	ctx := context.Background()
	cast := func(payload []byte) error {
		_, err := tn.anon.Voter.CastBallot(ctx, &recountv1.CastBallotRequest{SignedBallot: payload})
		return err
	}
	challenge := func(payload []byte) error {
		_, err := tn.anon.Voter.ChallengeBallot(ctx, &recountv1.ChallengeBallotRequest{SpoiledBallot: payload})
		return err
	}

	// Polls not open yet.
	size := tn.size()
	refused(t, tn, size, cast(f.ballot(t, 0).DraftCast().Payload), codes.FailedPrecondition, node.ReasonPollsNotOpen, 0)
	if _, err := tn.admin.Admin.OpenPolls(ctx, &recountv1.OpenPollsRequest{}); err != nil {
		t.Fatal(err)
	}
	size = tn.size()

	// Too large for the node's message limit.
	refused(t, tn, size, cast(make([]byte, node.DefaultMaxMessageBytes+1)), codes.ResourceExhausted, "", 0)

	// Bad shape: not a ballot at all, and a ballot with a contest missing.
	refused(t, tn, size, cast([]byte{0xff, 0xff, 0xff}), codes.InvalidArgument, "BALLOT_SHAPE", election.CheckBallotShape)
	var sb recordv1.SignedBallot
	var b recordv1.Ballot
	parse := func(payload []byte) {
		t.Helper()
		if err := proto.Unmarshal(payload, &sb); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(sb.Ballot, &b); err != nil {
			t.Fatal(err)
		}
	}
	parse(f.ballot(t, 0).DraftCast().Payload)
	b.Contests = b.Contests[1:]
	refused(t, tn, size, cast(election.SignBallot(f.creds[0], &b)), codes.InvalidArgument, "BALLOT_SHAPE", election.CheckBallotShape)

	// Wrong election: a ballot made for another election with the same contests.
	other := electiontest.Mixed()
	other.ElectionRef = "another-election"
	other.Trustees, other.Threshold = f.manifest.Proto().Trustees, f.manifest.Proto().Threshold
	m2, err := election.NewManifest(other)
	if err != nil {
		t.Fatal(err)
	}
	creds2, _, err := election.GenerateCredentials(m2.ID(), 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := election.EncryptBallot(m2, f.info.Key, creds2[0], election.RandomChoices(m2, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	refused(t, tn, size, cast(b2.DraftCast().Payload), codes.InvalidArgument, "BALLOT_ELECTION", election.CheckBallotElection)

	// Bad signature.
	parse(f.ballot(t, 0).DraftCast().Payload)
	sb.Signature[5] ^= 1
	refused(t, tn, size, cast(mustMarshal(t, &sb)), codes.InvalidArgument, "BALLOT_SIGNATURE", election.CheckBallotSignature)

	// Unknown credential: made for this election, never published.
	unknown, _, err := election.GenerateCredentials(f.manifest.ID(), 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	bu, err := election.EncryptBallot(f.manifest, f.info.Key, unknown[0], election.RandomChoices(f.manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	refused(t, tn, size, cast(bu.DraftCast().Payload), codes.InvalidArgument, "BALLOT_CREDENTIAL", election.CheckBallotCredential)

	// Bad proof, signed anew by the credential.
	parse(f.ballot(t, 0).DraftCast().Payload)
	b.Contests[0].Proofs[0][40] ^= 1
	refused(t, tn, size, cast(election.SignBallot(f.creds[0], &b)), codes.InvalidArgument, "BALLOT_PROOFS", election.CheckBallotProofs)

	// A challenge whose nonces do not open the ciphertexts.
	var sp recordv1.SpoiledBallot
	if err := proto.Unmarshal(f.ballot(t, 1).DraftChallenge().Payload, &sp); err != nil {
		t.Fatal(err)
	}
	sp.Openings[0].Nonces[0], sp.Openings[0].Nonces[1] = sp.Openings[0].Nonces[1], sp.Openings[0].Nonces[0]
	refused(t, tn, size, challenge(mustMarshal(t, &sp)), codes.InvalidArgument, "SPOILED_OPENING", election.CheckSpoiledOpening)

	// Duplicates: the same ballot cast twice; a challenged ballot cast afterwards.
	good := f.ballot(t, 0)
	if err := cast(good.DraftCast().Payload); err != nil {
		t.Fatal(err)
	}
	size = tn.size()
	refused(t, tn, size, cast(good.DraftCast().Payload), codes.AlreadyExists, "BALLOT_UNIQUE", election.CheckBallotUnique)
	ch := f.ballot(t, 1)
	if err := challenge(ch.DraftChallenge().Payload); err != nil {
		t.Fatal(err)
	}
	size = tn.size()
	refused(t, tn, size, cast(ch.DraftCast().Payload), codes.AlreadyExists, "BALLOT_UNIQUE", election.CheckBallotUnique)
	refused(t, tn, size, challenge(ch.DraftChallenge().Payload), codes.AlreadyExists, "BALLOT_UNIQUE", election.CheckBallotUnique)

	// The same ballot cast by many clients at once: one receipt, the others AlreadyExists.
	same := f.ballot(t, 2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codesSeen := map[codes.Code]int{}
	for range 8 {
		wg.Go(func() {
			err := cast(same.DraftCast().Payload)
			mu.Lock()
			codesSeen[status.Code(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codesSeen[codes.OK] != 1 || codesSeen[codes.AlreadyExists] != 7 {
		t.Errorf("concurrent duplicates: %v, want one OK and 7 AlreadyExists", codesSeen)
	}
	size = tn.size()

	// Trustee entries: a forged signature, and a ceremony entry after the key.
	var ts recordv1.TrusteeSigned
	ts.Trustee, ts.Body, ts.Signature = 1, []byte{}, make([]byte, 64)
	_, err = tn.anon.Trustee.PostPartialDecryption(ctx, &recountv1.PostPartialDecryptionRequest{Payload: mustMarshal(t, &ts)})
	refused(t, tn, size, err, codes.FailedPrecondition, node.ReasonWrongPhase, 0)
	_, err = tn.anon.Trustee.PostCeremony(ctx, &recountv1.PostCeremonyRequest{Kind: election.KindKeyReveal, Payload: mustMarshal(t, &ts)})
	refused(t, tn, size, err, codes.FailedPrecondition, node.ReasonWrongPhase, 0)
	_, err = tn.anon.Trustee.PostCeremony(ctx, &recountv1.PostCeremonyRequest{Kind: election.KindBallot, Payload: mustMarshal(t, &ts)})
	refused(t, tn, size, err, codes.InvalidArgument, node.ReasonBadRequest, 0)

	// Admin calls out of phase.
	_, err = tn.admin.Admin.Tally(ctx, &recountv1.TallyRequest{})
	refused(t, tn, size, err, codes.FailedPrecondition, node.ReasonWrongPhase, 0)
	_, err = tn.admin.Admin.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: m2.Bytes()})
	refused(t, tn, size, err, codes.AlreadyExists, node.ReasonElectionExists, 0)
	pk := unknown[0].PublicKey()
	_, err = tn.admin.Admin.PublishCredentials(ctx, &recountv1.PublishCredentialsRequest{PublicKeys: [][]byte{pk[:]}})
	refused(t, tn, size, err, codes.FailedPrecondition, node.ReasonWrongPhase, 0)

	// Polls closed.
	if _, err := tn.admin.Admin.ClosePolls(ctx, &recountv1.ClosePollsRequest{}); err != nil {
		t.Fatal(err)
	}
	size = tn.size()
	refused(t, tn, size, cast(f.ballot(t, 3).DraftCast().Payload), codes.FailedPrecondition, node.ReasonPollsClosed, 0)
	refused(t, tn, size, challenge(f.ballot(t, 3).DraftChallenge().Payload), codes.FailedPrecondition, node.ReasonPollsClosed, 0)

	// Unknown tracking code.
	_, err = tn.anon.Voter.GetReceipt(ctx, &recountv1.GetReceiptRequest{TrackingCode: make([]byte, 32)})
	refused(t, tn, size, err, codes.NotFound, node.ReasonNotFound, 0)
}

// TestCredentialsRefused: a credential list with an invalid key or one already published is refused with the
// credentials check, and nothing is appended.
func TestCredentialsRefused(t *testing.T) {
	tn := startNode(t, t.TempDir(), "")
	f := newFixture(t, tn.target(), setup{trustees: 1, threshold: 1, voters: 2, noOpen: true})
	ctx := context.Background()
	size := tn.size()
	pk := f.creds[0].PublicKey()
	_, err := tn.admin.Admin.PublishCredentials(ctx, &recountv1.PublishCredentialsRequest{PublicKeys: [][]byte{pk[:]}})
	refused(t, tn, size, err, codes.InvalidArgument, "CREDENTIALS", election.CheckCredentials)
	_, err = tn.admin.Admin.PublishCredentials(ctx, &recountv1.PublishCredentialsRequest{PublicKeys: [][]byte{make([]byte, 31)}})
	refused(t, tn, size, err, codes.InvalidArgument, "CREDENTIALS", election.CheckCredentials)
}

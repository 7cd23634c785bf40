package electiontest

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"

	"filippo.io/edwards25519"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/election"
)

// A Tampering changes an honest election's record in exactly the way one numbered check exists to catch, as a
// dishonest operator (who holds the board's key, so the changed record is signed again) would change it: after a
// change that moves or adds ballots, the encrypted tally, partial decryptions and result are made again
// (Retally), so that only the targeted check fails. The election tests (tamper_test.go) run each on their honest
// election, and the conformance vectors (testdata/vectors, docs/vectors.md) keep each applied to a small one.
type Tampering struct {
	// Name is short, in lowercase words joined by '-': the vector's file name after the check's number.
	Name string
	// Check is the only check the changed record fails.
	Check election.Check
	// Doc says what is changed, in one sentence.
	Doc string
	// Apply returns the changed entries, renumbered, leaving e as it is. Its randomness (new credentials,
	// ballots, proofs) comes from r (crypto/rand when nil). e must have at least 3 trustees with threshold 2, all
	// decrypting, at least 4 voters, voter 0 revoting and challenging.
	Apply func(e *Election, r io.Reader) ([]election.Entry, error)
}

// Tamperings returns the tamperings, ordered by the check they target. Every check but check 1 (the board's
// integrity, which concerns the export's bytes, not the entries) has at least one.
func Tamperings() []Tampering {
	ts := []Tampering{
		{"credentials-after-open", election.CheckRecord, "a credential list slipped in after the polls opened", tamperCredentialsAfterOpen},
		{"two-opens", election.CheckRecord, "the polls opened a second time", tamperTwoOpens},
		{"second-election-key", election.CheckRecord, "a second election key after the first", tamperSecondElectionKey},
		{"unknown-kind", election.CheckRecord, "an entry of a kind the record format does not define", tamperUnknownKind},
		{"entry-after-result", election.CheckRecord, "an entry after the result: the polls closed once more", tamperEntryAfterResult},
		{"threshold-zero", election.CheckManifest, "the manifest's threshold set to 0", tamperManifest},
		{"mixed-order-trustee-key", election.CheckManifest, "trustee 3's signing key in the manifest plus a point of order 8 (a key with a torsion component)", tamperTrusteeKeyMixedOrder},
		{"repeated-credential", election.CheckCredentials, "a second credential list repeating a credential of the first", tamperRepeatedCredential},
		{"credential-twice-in-list", election.CheckCredentials, "a credential list naming a new key twice", tamperCredentialTwiceInList},
		{"small-order-credential", election.CheckCredentials, "a credential list holding a small-order key (y = 0, of order 4)", tamperSmallOrderCredential},
		{"mixed-order-credential", election.CheckCredentials, "a credential list holding a new key plus a point of order 8 (a key with a torsion component)", tamperMixedOrderCredential},
		{"commitment-twice", election.CheckKeyCommitment, "trustee 1's key commitment posted a second time", tamperCommitmentTwice},
		{"commitment-unknown-trustee", election.CheckKeyCommitment, "a key commitment in the name of a trustee the manifest does not have", tamperCommitmentUnknownTrustee},
		{"second-verdict", election.CheckKeyComplaints, "a second verdict by trustee 1, complaining against trustee 2", tamperSecondVerdict},
		{"reveal-without-complaint", election.CheckKeyComplaints, "a dealer reveals a share that nobody complained about", tamperRevealWithoutComplaint},
		{"verification-key", election.CheckElectionKey, "the election key's verification key of trustee 2 replaced by the operator's own", tamperVerificationKey},
		{"key-not-decodable", election.CheckElectionKey, "the election key's payload replaced by bytes that are no ElectionKey: the later checks use the key recomputed from the ceremony, and pass", tamperKeyUndecodable},
		{"qualified-set", election.CheckElectionKey, "the election key names a qualified set without the last trustee, keeping the keys", tamperQualifiedSet},
		{"not-a-ballot", election.CheckBallotShape, "a ballot entry whose payload is not a ballot", tamperNotABallot},
		{"unknown-field", election.CheckBallotShape, "a field the format does not define, inside a superseded ballot its voter signed", tamperBallotUnknownField},
		{"other-election", election.CheckBallotElection, "a ballot naming another election, signed by its voter", tamperBallotElection},
		{"bad-signature", election.CheckBallotSignature, "a byte of a ballot's signature changed", tamperBallotSignature},
		{"withheld-challenge-cast", election.CheckBallotSignature, "a challenge kept off the board, its ballot (signed for a challenge) cast after the voter's last ballot", tamperWithheldChallengeCast},
		{"unpublished-credential", election.CheckBallotCredential, "a well-made ballot from a credential never published", tamperUnpublishedCredential},
		{"bad-proof", election.CheckBallotProofs, "a byte of a ballot's first range proof changed, signed again by its voter", tamperBallotProofs},
		{"proofs-swapped", election.CheckBallotProofs, "a ballot's first two option proofs swapped, signed again by its voter", tamperProofsSwapped},
		{"after-close", election.CheckBallotWindow, "a valid ballot of the last voter posted after the close", tamperBallotAfterClose},
		{"before-open", election.CheckBallotWindow, "a valid ballot of the last voter posted before the polls opened", tamperBallotBeforeOpen},
		{"replayed", election.CheckBallotUnique, "voter 0's superseded first ballot posted again before the close", tamperBallotReplayed},
		{"bad-nonce", election.CheckSpoiledOpening, "a byte of a spoiled ballot's nonce changed", tamperSpoiledNonce},
		{"other-choices", election.CheckSpoiledOpening, "a spoiled ballot's opening claims another valid choice than the one encrypted", tamperSpoiledOtherChoices},
		{"spoiled-counted", election.CheckCountedValid, "the encrypted tally counts a spoiled ballot", tamperSpoiledCounted},
		{"open-counted", election.CheckCountedValid, "the encrypted tally's counted list names the polls' opening entry", tamperOpenCounted},
		{"counted-twice", election.CheckCountedUnique, "the encrypted tally counts the second counted ballot twice", tamperCountedTwice},
		{"not-ascending", election.CheckCountedUnique, "the counted list out of order, every ballot once and the sums right", tamperCountedNotAscending},
		{"superseded-counted", election.CheckCountedLatest, "voter 0's superseded ballot counted as well as the last one", tamperSupersededCounted},
		{"ballot-dropped", election.CheckCountedComplete, "the last counted ballot dropped from the count", tamperBallotDropped},
		{"extra-vote", election.CheckEncryptedTally, "an encryption of 1 added to the first option's encrypted sum", tamperExtraVote},
		{"tally-not-decodable", election.CheckEncryptedTally, "the encrypted tally's payload replaced by bytes that are no EncryptedTally: checks 16-19 of it, and 21 and 22, which need its sums, do not run", tamperTallyUndecodable},
		{"bad-share", election.CheckPartialDecryption, "a share of trustee 3's partial decryption (not combined) replaced, signed again by trustee 3", tamperPartialShare},
		{"unknown-trustee", election.CheckPartialDecryption, "a partial decryption in the name of a trustee the manifest does not have", tamperPartialUnknownTrustee},
		{"wrong-signer", election.CheckPartialDecryption, "trustee 3's partial decryption signed by trustee 1", tamperPartialWrongSigner},
		{"posted-twice", election.CheckPartialDecryption, "trustee 3's partial decryption posted twice", tamperPartialTwice},
		{"vote-moved", election.CheckResult, "one vote of the result moved to another option", tamperResultVoteMoved},
		{"count-added-last-contest", election.CheckResult, "one count of the last contest's second option raised by one", tamperResultLastContest},
		{"too-few-trustees", election.CheckResult, "the result names fewer trustees than the threshold", tamperResultTooFewTrustees},
		{"opened-early", election.CheckPollsWindow, "the polls opened an hour before the manifest's window", tamperOpenedEarly},
		{"closed-early", election.CheckPollsWindow, "the polls closed at time 5, before the window", tamperClosedEarly},
		{"open-not-decodable", election.CheckPollsWindow, "the polls' opening entry's payload replaced by bytes that are no PollsOpen: it still opens the polls, and the closing time is not checked against it", tamperOpenUndecodable},
	}
	return append(ts, NonCanonicalTamperings()...)
}

// NonCanonicalTamperings returns, for each way of encoding an entry other than the canonical one (docs/record.md,
// section 2), an entry of the honest record re-encoded that way by the board-key holder, in place and with no
// other change: a lenient protobuf reader decodes each to the same values (or silently drops what differs), and
// no signature covers the bytes changed.
func NonCanonicalTamperings() []Tampering {
	return []Tampering{
		{"noncanonical-field-order", election.CheckBallotShape, "voter 0's superseded ballot with the SignedBallot's two fields in reverse order", reencodedBallot("fields swapped")},
		{"noncanonical-duplicate-field", election.CheckBallotShape, "voter 0's superseded ballot with the SignedBallot's ballot field given twice", reencodedBallot("ballot field twice")},
		{"noncanonical-non-minimal-varint", election.CheckBallotShape, "voter 0's superseded ballot with the ballot's length as an overlong varint (one 0x80-continued zero group more)", reencodedBallot("overlong length prefix")},
		{"noncanonical-unpacked", election.CheckResult, "the result's trustees field written unpacked, one varint field per trustee", tamperResultUnpacked},
		{"noncanonical-uint32-out-of-range", election.CheckResult, "the result's first trustee written as 2^32 + its index, which a uint32 reader truncates to the index", tamperResultOutOfRange},
		{"noncanonical-default-written", election.CheckKeyComplaints, "trustee 1's verdict (no complaints) with its empty body written as an explicit empty field", tamperVerdictDefaultWritten},
		{"noncanonical-two-oneof-members", election.CheckManifest, "the manifest's first contest with an approval rule after its exactly rule (members of one oneof)", tamperManifestTwoRules},
	}
}

// Clone returns a deep copy of entries.
func Clone(entries []election.Entry) []election.Entry {
	out := make([]election.Entry, len(entries))
	for i, e := range entries {
		out[i] = election.Entry{Index: e.Index, Kind: e.Kind, Payload: slices.Clone(e.Payload)}
	}
	return out
}

// Insert returns a copy of entries with d at position i, renumbered.
func Insert(entries []election.Entry, i int, d election.Draft) []election.Entry {
	out := slices.Insert(Clone(entries), i, election.Entry{Kind: d.Kind, Payload: d.Payload})
	for j := range out {
		out[j].Index = uint64(j)
	}
	return out
}

// Find returns the position of the nth (from 0) entry of kind, or -1.
func Find(entries []election.Entry, kind election.Kind, nth int) int {
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

// Count returns the number of entries of kind.
func Count(entries []election.Entry, kind election.Kind) int {
	n := 0
	for _, e := range entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// Counted returns the counted list of the record's encrypted tally.
func Counted(entries []election.Entry) ([]uint64, error) {
	i := Find(entries, election.KindEncryptedTally, 0)
	if i < 0 {
		return nil, fmt.Errorf("the record has no encrypted tally")
	}
	var pb recordv1.EncryptedTally
	if err := proto.Unmarshal(entries[i].Payload, &pb); err != nil {
		return nil, err
	}
	return pb.Counted, nil
}

// VoterOf returns the voter whose credential cast the ballot at entry i.
func (e *Election) VoterOf(entries []election.Entry, i int) (int, error) {
	b, err := election.ParseBallot(e.Manifest, entries[i].Payload)
	if err != nil {
		return 0, err
	}
	for v, c := range e.Credentials {
		if c.PublicKey() == b.Credential {
			return v, nil
		}
	}
	return 0, fmt.Errorf("no voter cast the ballot at entry %d", i)
}

// Resign returns the ballot entry payload at entries[i] with its Ballot changed by f and signed again by its voter.
func (e *Election) Resign(entries []election.Entry, i int, f func(*recordv1.Ballot)) ([]byte, error) {
	v, err := e.VoterOf(entries, i)
	if err != nil {
		return nil, err
	}
	var sb recordv1.SignedBallot
	var b recordv1.Ballot
	if err := proto.Unmarshal(entries[i].Payload, &sb); err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(sb.Ballot, &b); err != nil {
		return nil, err
	}
	f(&b)
	return election.SignBallot(e.Credentials[v], &b), nil
}

// TrusteeBody returns the body of a trustee-signed entry payload.
func TrusteeBody(payload []byte) ([]byte, error) {
	var ts recordv1.TrusteeSigned
	if err := proto.Unmarshal(payload, &ts); err != nil {
		return nil, err
	}
	return ts.Body, nil
}

func marshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic("electiontest: marshal: " + err.Error())
	}
	return b
}

// choiceRand returns a generator of voters' choices seeded from r.
func choiceRand(r io.Reader) (*rand.Rand, error) {
	var seed [16]byte
	if r == nil {
		return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), nil
	}
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, err
	}
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(seed[:8]), binary.BigEndian.Uint64(seed[8:]))), nil
}

// newBallot encrypts a ballot of random choices for cred, with randomness from r.
func (e *Election) newBallot(cred *election.Credential, r io.Reader) (*election.PreparedBallot, error) {
	rng, err := choiceRand(r)
	if err != nil {
		return nil, err
	}
	return election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, cred, election.RandomChoices(e.Manifest, rng), r)
}

// inPlace applies f to a clone of e's entries.
func inPlace(e *Election, f func(entries []election.Entry) error) ([]election.Entry, error) {
	entries := Clone(e.Entries)
	if err := f(entries); err != nil {
		return nil, err
	}
	return entries, nil
}

func tamperCredentialsAfterOpen(e *Election, r io.Reader) ([]election.Entry, error) {
	_, drafts, err := election.GenerateCredentials(e.Manifest.ID(), 1, 0, r)
	if err != nil {
		return nil, err
	}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindOpen, 0)+1, drafts[0]), nil, nil, r)
}

func tamperTwoOpens(e *Election, r io.Reader) ([]election.Entry, error) {
	d := election.Draft{Kind: election.KindOpen, Payload: marshal(&recordv1.PollsOpen{Time: 1})}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindOpen, 0)+1, d), nil, nil, r)
}

func tamperSecondElectionKey(e *Election, r io.Reader) ([]election.Entry, error) {
	i := Find(e.Entries, election.KindElectionKey, 0)
	return e.RetallyRand(Insert(e.Entries, i+1, election.Draft{Kind: election.KindElectionKey, Payload: e.Entries[i].Payload}), nil, nil, r)
}

func tamperUnknownKind(e *Election, r io.Reader) ([]election.Entry, error) {
	d := election.Draft{Kind: election.Kind(99), Payload: []byte("hidden")}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindClose, 0), d), nil, nil, r)
}

func tamperEntryAfterResult(e *Election, _ io.Reader) ([]election.Entry, error) {
	i := Find(e.Entries, election.KindClose, 0)
	return Insert(e.Entries, len(e.Entries), election.Draft{Kind: election.KindClose, Payload: e.Entries[i].Payload}), nil
}

func tamperManifest(e *Election, _ io.Reader) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		var m recordv1.Manifest
		if err := proto.Unmarshal(entries[0].Payload, &m); err != nil {
			return err
		}
		m.Threshold = 0
		entries[0].Payload = marshal(&m)
		return nil
	})
}

// order8 is the encoding of a point of order 8.
var order8 = []byte{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05}

// plusOrder8 returns the Ed25519 point k plus a point of order 8: a key of mixed order, whose signatures verify
// under the cofactored equation and, for one message in 8, the cofactorless one (crypto/signature).
func plusOrder8(k []byte) ([]byte, error) {
	a, err := new(edwards25519.Point).SetBytes(k)
	if err != nil {
		return nil, err
	}
	t, err := new(edwards25519.Point).SetBytes(order8)
	if err != nil {
		return nil, err
	}
	return a.Add(a, t).Bytes(), nil
}

func tamperTrusteeKeyMixedOrder(e *Election, _ io.Reader) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		var m recordv1.Manifest
		if err := proto.Unmarshal(entries[0].Payload, &m); err != nil {
			return err
		}
		k, err := plusOrder8(m.Trustees[2].SigningKey)
		if err != nil {
			return err
		}
		m.Trustees[2].SigningKey = k
		entries[0].Payload = marshal(&m)
		return nil
	})
}

func tamperMixedOrderCredential(e *Election, r io.Reader) ([]election.Entry, error) {
	extra, _, err := election.GenerateCredentials(e.Manifest.ID(), 1, 0, r)
	if err != nil {
		return nil, err
	}
	pk := extra[0].PublicKey()
	k, err := plusOrder8(pk[:])
	if err != nil {
		return nil, err
	}
	d := election.Draft{Kind: election.KindCredentials, Payload: marshal(&recordv1.CredentialList{PublicKeys: [][]byte{k}})}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindCredentials, 0)+1, d), nil, nil, r)
}

func tamperRepeatedCredential(e *Election, r io.Reader) ([]election.Entry, error) {
	pk := e.Credentials[0].PublicKey()
	d := election.Draft{Kind: election.KindCredentials, Payload: marshal(&recordv1.CredentialList{PublicKeys: [][]byte{pk[:]}})}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindCredentials, 0)+1, d), nil, nil, r)
}

func tamperCredentialTwiceInList(e *Election, r io.Reader) ([]election.Entry, error) {
	extra, _, err := election.GenerateCredentials(e.Manifest.ID(), 1, 0, r)
	if err != nil {
		return nil, err
	}
	pk := extra[0].PublicKey()
	d := election.Draft{Kind: election.KindCredentials, Payload: marshal(&recordv1.CredentialList{PublicKeys: [][]byte{pk[:], pk[:]}})}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindCredentials, 0)+1, d), nil, nil, r)
}

func tamperSmallOrderCredential(e *Election, r io.Reader) ([]election.Entry, error) {
	d := election.Draft{Kind: election.KindCredentials, Payload: marshal(&recordv1.CredentialList{PublicKeys: [][]byte{make([]byte, 32)}})}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindCredentials, 0)+1, d), nil, nil, r)
}

func tamperCommitmentTwice(e *Election, r io.Reader) ([]election.Entry, error) {
	i := Find(e.Entries, election.KindKeyCommitment, 0)
	return e.RetallyRand(Insert(e.Entries, i+1, election.Draft{Kind: e.Entries[i].Kind, Payload: e.Entries[i].Payload}), nil, nil, r)
}

func tamperCommitmentUnknownTrustee(e *Election, r io.Reader) ([]election.Entry, error) {
	body, err := TrusteeBody(e.Entries[Find(e.Entries, election.KindKeyCommitment, 0)].Payload)
	if err != nil {
		return nil, err
	}
	d := e.Trustees[0].Keys.DraftSigned(e.Manifest, election.KindKeyCommitment, len(e.Trustees)+1, body)
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindElectionKey, 0), d), nil, nil, r)
}

func tamperSecondVerdict(e *Election, r io.Reader) ([]election.Entry, error) {
	body := marshal(&recordv1.KeyVerdict{Complaints: []uint32{2}})
	d := e.Trustees[0].Keys.DraftSigned(e.Manifest, election.KindKeyVerdict, 1, body)
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindElectionKey, 0), d), nil, nil, r)
}

func tamperRevealWithoutComplaint(e *Election, r io.Reader) ([]election.Entry, error) {
	body := marshal(&recordv1.KeyReveal{Recipient: 2, Share: e.Trustees[0].Dealt[2].Bytes()})
	d := e.Trustees[0].Keys.DraftSigned(e.Manifest, election.KindKeyReveal, 1, body)
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindElectionKey, 0), d), nil, nil, r)
}

// electionKey applies f to the election key entry of a clone of e's entries.
func electionKey(e *Election, f func(*recordv1.ElectionKey)) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		i := Find(entries, election.KindElectionKey, 0)
		var pb recordv1.ElectionKey
		if err := proto.Unmarshal(entries[i].Payload, &pb); err != nil {
			return err
		}
		f(&pb)
		entries[i].Payload = marshal(&pb)
		return nil
	})
}

func tamperVerificationKey(e *Election, _ io.Reader) ([]election.Entry, error) {
	return electionKey(e, func(pb *recordv1.ElectionKey) {
		pb.VerificationKeys[1] = group.Generator().Bytes() // the operator's own verification key for trustee 2
	})
}

func tamperQualifiedSet(e *Election, _ io.Reader) ([]election.Entry, error) {
	return electionKey(e, func(pb *recordv1.ElectionKey) { pb.Qualified = pb.Qualified[:len(pb.Qualified)-1] })
}

func tamperNotABallot(e *Election, r io.Reader) ([]election.Entry, error) {
	d := election.Draft{Kind: election.KindBallot, Payload: []byte("not a ballot")}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindClose, 0), d), nil, nil, r)
}

// resignFirst changes voter 0's first (superseded) ballot by f, signed again by voter 0.
func resignFirst(e *Election, f func(*recordv1.Ballot)) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		i := Find(entries, election.KindBallot, 0)
		p, err := e.Resign(entries, i, f)
		entries[i].Payload = p
		return err
	})
}

func tamperBallotUnknownField(e *Election, _ io.Reader) ([]election.Entry, error) {
	return resignFirst(e, func(b *recordv1.Ballot) {
		unknown := protowire.AppendTag(nil, 15, protowire.VarintType)
		b.ProtoReflect().SetUnknown(protowire.AppendVarint(unknown, 1))
	})
}

func tamperBallotElection(e *Election, r io.Reader) ([]election.Entry, error) {
	entries, err := resignFirst(e, func(b *recordv1.Ballot) { b.Election[0] ^= 1 })
	if err != nil {
		return nil, err
	}
	return e.RetallyRand(entries, nil, nil, r)
}

func tamperBallotSignature(e *Election, _ io.Reader) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		i := Find(entries, election.KindBallot, 0)
		var sb recordv1.SignedBallot
		if err := proto.Unmarshal(entries[i].Payload, &sb); err != nil {
			return err
		}
		sb.Signature[5] ^= 1
		entries[i].Payload = marshal(&sb)
		return nil
	})
}

func tamperWithheldChallengeCast(e *Election, r io.Reader) ([]election.Entry, error) {
	withheld, err := e.newBallot(e.Credentials[0], r)
	if err != nil {
		return nil, err
	}
	// What the node received in the ChallengeBallot call: the spoiled ballot, with the signed ballot inside.
	signed, err := SignedBallotOf(withheld.DraftChallenge().Payload)
	if err != nil {
		return nil, err
	}
	d := election.Draft{Kind: election.KindBallot, Payload: signed}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindClose, 0), d), nil, nil, r)
}

func tamperUnpublishedCredential(e *Election, r io.Reader) ([]election.Entry, error) {
	creds, _, err := election.GenerateCredentials(e.Manifest.ID(), 1, 0, r)
	if err != nil {
		return nil, err
	}
	b, err := e.newBallot(creds[0], r)
	if err != nil {
		return nil, err
	}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindClose, 0), b.DraftCast()), nil, nil, r)
}

func tamperBallotProofs(e *Election, r io.Reader) ([]election.Entry, error) {
	entries, err := resignFirst(e, func(b *recordv1.Ballot) {
		b.Contests[0].Proofs[0][64] ^= 1 // a challenge of the first option's proof (after a_min and b_min)
	})
	if err != nil {
		return nil, err
	}
	return e.RetallyRand(entries, nil, nil, r)
}

func tamperProofsSwapped(e *Election, _ io.Reader) ([]election.Entry, error) {
	return resignFirst(e, func(b *recordv1.Ballot) {
		p := b.Contests[0].Proofs
		p[0], p[1] = p[1], p[0]
	})
}

func tamperBallotAfterClose(e *Election, r io.Reader) ([]election.Entry, error) {
	// It does not count, so the tally stands.
	b, err := e.newBallot(e.Credentials[len(e.Credentials)-1], r)
	if err != nil {
		return nil, err
	}
	return Insert(e.Entries, Find(e.Entries, election.KindClose, 0)+1, b.DraftCast()), nil
}

func tamperBallotBeforeOpen(e *Election, r io.Reader) ([]election.Entry, error) {
	b, err := e.newBallot(e.Credentials[len(e.Credentials)-1], r)
	if err != nil {
		return nil, err
	}
	return e.RetallyRand(Insert(e.Entries, Find(e.Entries, election.KindOpen, 0), b.DraftCast()), nil, nil, r)
}

func tamperBallotReplayed(e *Election, r io.Reader) ([]election.Entry, error) {
	// Voter 0 revoted, and the operator posts voter 0's first ballot again to make it count.
	i := Find(e.Entries, election.KindBallot, 0)
	entries := Insert(e.Entries, Find(e.Entries, election.KindClose, 0), election.Draft{Kind: election.KindBallot, Payload: e.Entries[i].Payload})
	return e.RetallyRand(entries, nil, nil, r)
}

// spoiled applies f to the first spoiled ballot of a clone of e's entries.
func spoiled(e *Election, f func(*recordv1.SpoiledBallot)) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		i := Find(entries, election.KindSpoiledBallot, 0)
		var sp recordv1.SpoiledBallot
		if err := proto.Unmarshal(entries[i].Payload, &sp); err != nil {
			return err
		}
		f(&sp)
		entries[i].Payload = marshal(&sp)
		return nil
	})
}

func tamperSpoiledNonce(e *Election, _ io.Reader) ([]election.Entry, error) {
	return spoiled(e, func(sp *recordv1.SpoiledBallot) { sp.Openings[0].Nonces[0][0] ^= 1 })
}

func tamperSpoiledOtherChoices(e *Election, _ io.Reader) ([]election.Entry, error) {
	return spoiled(e, func(sp *recordv1.SpoiledBallot) {
		v := sp.Openings[0].Values // the first contest is 1-of-n: move the choice to the next option, a valid choice
		o := slices.Index(v, 1)
		v[o], v[(o+1)%len(v)] = 0, 1
	})
}

// withTally returns e's entries with the encrypted tally replaced by one counting list (the sums of those
// entries' ciphertexts), and the partial decryptions and result made again.
func withTally(e *Election, r io.Reader, list []uint64) ([]election.Entry, error) {
	return e.RetallyRand(e.Entries, nil, func(*election.State) (election.Draft, error) {
		return TallyOf(e.Manifest, e.Entries, list)
	}, r)
}

func tamperSpoiledCounted(e *Election, r io.Reader) ([]election.Entry, error) {
	list, err := Counted(e.Entries)
	if err != nil {
		return nil, err
	}
	list = append(slices.Clone(list), uint64(Find(e.Entries, election.KindSpoiledBallot, 0)))
	slices.Sort(list)
	return withTally(e, r, list)
}

func tamperOpenCounted(e *Election, r io.Reader) ([]election.Entry, error) {
	list, err := Counted(e.Entries)
	if err != nil {
		return nil, err
	}
	return e.RetallyRand(e.Entries, nil, func(*election.State) (election.Draft, error) {
		d, err := TallyOf(e.Manifest, e.Entries, list)
		if err != nil {
			return d, err
		}
		var pb recordv1.EncryptedTally
		if err := proto.Unmarshal(d.Payload, &pb); err != nil {
			return d, err
		}
		pb.Counted = append(pb.Counted, uint64(Find(e.Entries, election.KindOpen, 0)))
		slices.Sort(pb.Counted)
		d.Payload = marshal(&pb)
		return d, nil
	}, r)
}

func tamperCountedTwice(e *Election, r io.Reader) ([]election.Entry, error) {
	list, err := Counted(e.Entries)
	if err != nil {
		return nil, err
	}
	return withTally(e, r, slices.Insert(slices.Clone(list), 1, list[1]))
}

func tamperCountedNotAscending(e *Election, r io.Reader) ([]election.Entry, error) {
	list, err := Counted(e.Entries)
	if err != nil {
		return nil, err
	}
	list = slices.Clone(list)
	list[1], list[2] = list[2], list[1]
	return withTally(e, r, list)
}

func tamperSupersededCounted(e *Election, r io.Reader) ([]election.Entry, error) {
	list, err := Counted(e.Entries)
	if err != nil {
		return nil, err
	}
	list = append(slices.Clone(list), uint64(Find(e.Entries, election.KindBallot, 0)))
	slices.Sort(list)
	return withTally(e, r, list)
}

func tamperBallotDropped(e *Election, r io.Reader) ([]election.Entry, error) {
	list, err := Counted(e.Entries)
	if err != nil {
		return nil, err
	}
	return withTally(e, r, list[:len(list)-1])
}

func tamperExtraVote(e *Election, r io.Reader) ([]election.Entry, error) {
	return e.RetallyRand(e.Entries, nil, func(s *election.State) (election.Draft, error) {
		d, err := s.DraftEncryptedTally()
		if err != nil {
			return d, err
		}
		var pb recordv1.EncryptedTally
		if err := proto.Unmarshal(d.Payload, &pb); err != nil {
			return d, err
		}
		// One more vote for the first option: add an encryption of 1 to its sum.
		one := e.State.Key().PublicKey.Encrypt(1, group.NewScalar().SetUint64(12345))
		sum, err := election.ParseSum(pb.Contests[0].Ciphertexts[0])
		if err != nil {
			return d, err
		}
		pb.Contests[0].Ciphertexts[0] = sum.Add(sum, one).Bytes()
		d.Payload = marshal(&pb)
		return d, nil
	}, r)
}

// lastPartial returns the position of the last trustee's partial decryption, which the result does not combine
// (it combines the threshold's smallest indexes).
func lastPartial(e *Election) int {
	return Find(e.Entries, election.KindPartialDecryption, len(e.Trustees)-1)
}

func tamperPartialShare(e *Election, _ io.Reader) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		i := lastPartial(e)
		body, err := TrusteeBody(entries[i].Payload)
		if err != nil {
			return err
		}
		var pd recordv1.PartialDecryption
		if err := proto.Unmarshal(body, &pd); err != nil {
			return err
		}
		c := pd.Contests[len(pd.Contests)-1]
		c.Shares[len(c.Shares)-1] = group.Generator().Bytes()
		t := e.Trustees[len(e.Trustees)-1]
		entries[i].Payload = t.Keys.DraftSigned(e.Manifest, election.KindPartialDecryption, t.Index, marshal(&pd)).Payload
		return nil
	})
}

func tamperPartialUnknownTrustee(e *Election, _ io.Reader) ([]election.Entry, error) {
	i := lastPartial(e)
	body, err := TrusteeBody(e.Entries[i].Payload)
	if err != nil {
		return nil, err
	}
	d := e.Trustees[len(e.Trustees)-1].Keys.DraftSigned(e.Manifest, election.KindPartialDecryption, len(e.Trustees)+1, body)
	return Insert(e.Entries, i+1, d), nil
}

func tamperPartialWrongSigner(e *Election, _ io.Reader) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		i := lastPartial(e)
		body, err := TrusteeBody(entries[i].Payload)
		if err != nil {
			return err
		}
		entries[i].Payload = e.Trustees[0].Keys.DraftSigned(e.Manifest, election.KindPartialDecryption, len(e.Trustees), body).Payload
		return nil
	})
}

func tamperPartialTwice(e *Election, _ io.Reader) ([]election.Entry, error) {
	i := lastPartial(e)
	return Insert(e.Entries, i+1, election.Draft{Kind: election.KindPartialDecryption, Payload: e.Entries[i].Payload}), nil
}

// result applies f to the result of a clone of e's entries.
func result(e *Election, f func(*recordv1.Result)) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		i := Find(entries, election.KindResult, 0)
		var pb recordv1.Result
		if err := proto.Unmarshal(entries[i].Payload, &pb); err != nil {
			return err
		}
		f(&pb)
		entries[i].Payload = marshal(&pb)
		return nil
	})
}

func tamperResultVoteMoved(e *Election, _ io.Reader) ([]election.Entry, error) {
	return result(e, func(pb *recordv1.Result) {
		c := pb.Contests[0].Counts
		o := slices.IndexFunc(c, func(n uint64) bool { return n > 0 })
		c[o]--
		c[(o+1)%len(c)]++
	})
}

func tamperResultLastContest(e *Election, _ io.Reader) ([]election.Entry, error) {
	return result(e, func(pb *recordv1.Result) { pb.Contests[len(pb.Contests)-1].Counts[1]++ })
}

func tamperResultTooFewTrustees(e *Election, _ io.Reader) ([]election.Entry, error) {
	return result(e, func(pb *recordv1.Result) { pb.Trustees = pb.Trustees[:1] })
}

func tamperOpenedEarly(e *Election, _ io.Reader) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		// The polls opened before the manifest's window.
		entries[Find(entries, election.KindOpen, 0)].Payload = marshal(&recordv1.PollsOpen{Time: e.Manifest.Proto().OpensAt - 3600})
		return nil
	})
}

func tamperClosedEarly(e *Election, _ io.Reader) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		entries[Find(entries, election.KindClose, 0)].Payload = marshal(&recordv1.PollsClosed{Time: 5})
		return nil
	})
}

// notDecodable is a payload that no message of the record decodes: its first byte, 0xff, would begin a field
// of wire type 7, which protobuf does not define.
var notDecodable = []byte{0xff, 0x01}

// replacePayload replaces the payload of the first entry of kind by notDecodable, in place.
func replacePayload(e *Election, kind election.Kind) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		entries[Find(entries, kind, 0)].Payload = slices.Clone(notDecodable)
		return nil
	})
}

func tamperKeyUndecodable(e *Election, _ io.Reader) ([]election.Entry, error) {
	return replacePayload(e, election.KindElectionKey)
}

func tamperTallyUndecodable(e *Election, _ io.Reader) ([]election.Entry, error) {
	return replacePayload(e, election.KindEncryptedTally)
}

func tamperOpenUndecodable(e *Election, _ io.Reader) ([]election.Entry, error) {
	return replacePayload(e, election.KindOpen)
}

// reencodedBallot replaces voter 0's first (superseded) ballot by its re-encoding named name (see
// ReencodedSignedBallots).
func reencodedBallot(name string) func(*Election, io.Reader) ([]election.Entry, error) {
	return func(e *Election, _ io.Reader) ([]election.Entry, error) {
		return inPlace(e, func(entries []election.Entry) error {
			i := Find(entries, election.KindBallot, 0)
			re, err := ReencodedSignedBallots(entries[i].Payload)
			if err != nil {
				return err
			}
			if re[name] == nil {
				return fmt.Errorf("no re-encoding %q", name)
			}
			entries[i].Payload = re[name]
			return nil
		})
	}
}

// rawResult replaces the result's payload by its trustees field written by trustees (appending to nil) and its
// contests as they are.
func rawResult(e *Election, trustees func(b []byte, ts []uint32) []byte) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		i := Find(entries, election.KindResult, 0)
		var pb recordv1.Result
		if err := proto.Unmarshal(entries[i].Payload, &pb); err != nil {
			return err
		}
		b := trustees(nil, pb.Trustees)
		for _, c := range pb.Contests {
			b = protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), marshal(c))
		}
		entries[i].Payload = b
		return nil
	})
}

func tamperResultUnpacked(e *Election, _ io.Reader) ([]election.Entry, error) {
	return rawResult(e, func(b []byte, ts []uint32) []byte {
		for _, t := range ts {
			b = protowire.AppendVarint(protowire.AppendTag(b, 1, protowire.VarintType), uint64(t))
		}
		return b
	})
}

func tamperResultOutOfRange(e *Election, _ io.Reader) ([]election.Entry, error) {
	return rawResult(e, func(b []byte, ts []uint32) []byte {
		var packed []byte
		for i, t := range ts {
			v := uint64(t)
			if i == 0 {
				v += 1 << 32
			}
			packed = protowire.AppendVarint(packed, v)
		}
		return protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), packed)
	})
}

func tamperVerdictDefaultWritten(e *Election, _ io.Reader) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		i := Find(entries, election.KindKeyVerdict, 0)
		var ts recordv1.TrusteeSigned
		if err := proto.Unmarshal(entries[i].Payload, &ts); err != nil {
			return err
		}
		if len(ts.Body) != 0 {
			return fmt.Errorf("trustee %d's verdict has complaints", ts.Trustee)
		}
		// Fields in order: trustee, the body as an explicit empty bytes field (a default written), signature.
		b := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), uint64(ts.Trustee))
		b = protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), nil)
		b = protowire.AppendBytes(protowire.AppendTag(b, 3, protowire.BytesType), ts.Signature)
		entries[i].Payload = b
		return nil
	})
}

func tamperManifestTwoRules(e *Election, _ io.Reader) ([]election.Entry, error) {
	return inPlace(e, func(entries []election.Entry) error {
		var m recordv1.Manifest
		if err := proto.Unmarshal(entries[0].Payload, &m); err != nil {
			return err
		}
		// The manifest's fields in order, its first contest's exactly rule (field 4) followed by an approval
		// rule (field 5): both members of the rule oneof, a reader keeping the last.
		head := proto.Clone(&m).(*recordv1.Manifest)
		head.Contests, head.Trustees, head.Threshold = nil, nil, 0
		b := marshal(head)
		for i, c := range m.Contests {
			cb := marshal(c)
			if i == 0 {
				rule := marshal(&recordv1.ApprovalRule{Max: 1})
				cb = protowire.AppendBytes(protowire.AppendTag(cb, 5, protowire.BytesType), rule)
			}
			b = protowire.AppendBytes(protowire.AppendTag(b, 6, protowire.BytesType), cb)
		}
		for _, t := range m.Trustees {
			b = protowire.AppendBytes(protowire.AppendTag(b, 7, protowire.BytesType), marshal(t))
		}
		b = protowire.AppendVarint(protowire.AppendTag(b, 8, protowire.VarintType), uint64(m.Threshold))
		entries[0].Payload = b
		return nil
	})
}

// Package electiontest runs whole elections in memory, for tests and benchmarks: trustees, key ceremony,
// credentials, voters who cast, revote and challenge, the close, the tally and the result, on a board that is
// a slice of entries. It is pure like package election; tests that need a real board copy its entries there.
package electiontest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"google.golang.org/protobuf/proto"

	"github.com/recount-vote/recount/crypto/dkg"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/election"
)

// Config describes an election to simulate.
type Config struct {
	Trustees, Threshold int
	Voters              int
	Revotes             int   // this many voters cast a second ballot
	Challenges          int   // this many voters challenge a ballot before casting
	Absent              []int // trustees who do not decrypt
	// Manifest overrides the default contests (Mixed) when set; its trustees are filled in.
	Manifest *recordv1.Manifest
	// Seed makes the voters' choices repeatable.
	Seed uint64
	// Rand, when set, is the source of every secret and nonce (trustees' keys, credentials, ballots, proofs):
	// a deterministic stream (crypto/kat's DRBG) makes the whole record the same bytes on every run, as the
	// conformance vectors need. Nil: crypto/rand.
	Rand io.Reader
	// OpenAt and CloseAt, when not zero, are the times (Unix seconds) the polls open and close; zero: the time
	// of the step.
	OpenAt, CloseAt int64
}

// Mixed returns a manifest with a 1-of-5 contest, an approval contest of up to 3 of 6, and a score contest 0..5
// over 4 options with a total of at most 12.
func Mixed() *recordv1.Manifest {
	opts := func(prefix string, n int) []*recordv1.Option {
		var o []*recordv1.Option
		for i := 1; i <= n; i++ {
			o = append(o, &recordv1.Option{Id: fmt.Sprintf("%s-%d", prefix, i), Title: fmt.Sprintf("%s %d", prefix, i)})
		}
		return o
	}
	now := time.Now().Unix()
	return &recordv1.Manifest{
		Version: election.ManifestVersion, ElectionRef: "test-election", Title: "Test election",
		OpensAt: now - 60, ClosesAt: now + 3600,
		Contests: []*recordv1.Contest{
			{Id: "mayor", Title: "Mayor", Options: opts("candidate", 5), Rule: &recordv1.Contest_Exactly{Exactly: &recordv1.ExactlyRule{K: 1}}},
			{Id: "council", Title: "Council", Options: opts("member", 6), Rule: &recordv1.Contest_Approval{Approval: &recordv1.ApprovalRule{Min: 0, Max: 3}}},
			{Id: "budget", Title: "Budget", Options: opts("project", 4), Rule: &recordv1.Contest_Score{Score: &recordv1.ScoreRule{MaxScore: 5, MaxTotal: 12}}},
		},
	}
}

// Trustee is a simulated trustee with everything it keeps between steps.
type Trustee struct {
	Index int
	Keys  *election.TrusteeKeys
	// Trustee drafts the trustee's entries: set once the manifest is made.
	Trustee  *election.Trustee
	Dealt    election.DealtShares
	Received map[int]*group.Scalar
	Share    *dkg.KeyShare
}

// Election is a simulated election: its board and its participants.
type Election struct {
	Cfg         Config
	Entries     []election.Entry
	State       *election.State
	Manifest    *election.Manifest
	Trustees    []*Trustee
	Credentials []*election.Credential
	// Cast is each voter's choices in their last cast ballot; Expected the plaintext tally of those.
	Cast     map[int]election.Choices
	Expected [][]uint64
	// Tracking holds the tracking code of every voter's last cast ballot; Spoiled those of the challenged ones.
	Tracking map[int]election.ID
	Spoiled  []election.ID
	rng      *rand.Rand
}

// Append puts a draft on the simulated board, refusing it if the state finds any fault.
func (e *Election) Append(d election.Draft) (election.Entry, error) {
	en := d.At(uint64(len(e.Entries)))
	if errs := e.State.Apply(en); len(errs) > 0 {
		return en, fmt.Errorf("entry %d (%s) refused: %v", en.Index, d.Kind, errs[0])
	}
	e.Entries = append(e.Entries, en)
	return en, nil
}

func (e *Election) must(d election.Draft, err error) error {
	if err != nil {
		return err
	}
	_, err = e.Append(d)
	return err
}

// Setup runs an election up to open polls: trustees' keys, manifest, credentials, key ceremony, open.
func Setup(cfg Config) (*Election, error) {
	e, err := Prepare(cfg)
	if err != nil {
		return nil, err
	}
	if err := e.Ceremony(); err != nil {
		return nil, err
	}
	return e, e.must(e.State.DraftOpen(e.Cfg.time(e.Cfg.OpenAt)))
}

// time returns at, or the time now when at is zero.
func (cfg Config) time(at int64) int64 {
	if at != 0 {
		return at
	}
	return time.Now().Unix()
}

// Prepare runs an election up to the key ceremony: trustees' keys, manifest and credentials.
func Prepare(cfg Config) (*Election, error) {
	e := &Election{Cfg: cfg, State: election.NewState(), Cast: map[int]election.Choices{}, Tracking: map[int]election.ID{},
		rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	pb := cfg.Manifest
	if pb == nil {
		pb = Mixed()
	}
	pb.Trustees = nil
	pb.Threshold = uint32(cfg.Threshold)
	for i := 1; i <= cfg.Trustees; i++ {
		k, err := election.GenerateTrusteeKeys(cfg.Rand)
		if err != nil {
			return nil, err
		}
		e.Trustees = append(e.Trustees, &Trustee{Index: i, Keys: k})
		pb.Trustees = append(pb.Trustees, k.Public(i, fmt.Sprintf("Trustee %d", i)))
	}
	m, err := election.NewManifest(pb)
	if err != nil {
		return nil, err
	}
	e.Manifest = m
	for _, t := range e.Trustees {
		if t.Trustee, err = election.NewTrustee(m, t.Keys); err != nil {
			return nil, err
		}
	}
	if _, err := e.Append(m.DraftManifest()); err != nil {
		return nil, err
	}
	creds, drafts, err := election.GenerateCredentials(m.ID(), cfg.Voters, 100, cfg.Rand)
	if err != nil {
		return nil, err
	}
	e.Credentials = creds
	for _, d := range drafts {
		if _, err := e.Append(d); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// OpenPolls posts the election key and opens the polls, once a ceremony run step by step is over.
func (e *Election) OpenPolls() error {
	if err := e.must(e.State.DraftElectionKey()); err != nil {
		return err
	}
	for _, t := range e.Trustees {
		ks, err := t.Trustee.KeyShare(t.Received, e.State)
		if err != nil {
			return fmt.Errorf("trustee %d: %w", t.Index, err)
		}
		t.Share = ks
	}
	return e.must(e.State.DraftOpen(e.Cfg.time(e.Cfg.OpenAt)))
}

// Ceremony runs the key ceremony with every trustee honest.
func (e *Election) Ceremony() error {
	for _, t := range e.Trustees {
		d, dealt, err := t.Trustee.DraftCommitment(e.Cfg.Rand)
		if err != nil {
			return err
		}
		t.Dealt = dealt
		if _, err := e.Append(d); err != nil {
			return err
		}
	}
	for _, t := range e.Trustees {
		d, received, err := t.Trustee.DraftVerdict(t.Dealt, e.State)
		if err != nil {
			return err
		}
		t.Received = received
		if _, err := e.Append(d); err != nil {
			return err
		}
	}
	for _, t := range e.Trustees {
		for _, d := range t.Trustee.DraftReveals(t.Dealt, e.State) {
			if _, err := e.Append(d); err != nil {
				return err
			}
		}
	}
	if err := e.must(e.State.DraftElectionKey()); err != nil {
		return err
	}
	for _, t := range e.Trustees {
		ks, err := t.Trustee.KeyShare(t.Received, e.State)
		if err != nil {
			return fmt.Errorf("trustee %d: %w", t.Index, err)
		}
		t.Share = ks
	}
	return nil
}

// Vote has voter v cast a ballot with random choices.
func (e *Election) Vote(v int) error {
	ch := election.RandomChoices(e.Manifest, e.rng)
	b, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[v], ch, e.Cfg.Rand)
	if err != nil {
		return err
	}
	if _, err := e.Append(b.DraftCast()); err != nil {
		return err
	}
	e.Cast[v], e.Tracking[v] = ch, b.TrackingCode()
	return nil
}

// Challenge has voter v encrypt a ballot and challenge it.
func (e *Election) Challenge(v int) error {
	b, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[v], election.RandomChoices(e.Manifest, e.rng), e.Cfg.Rand)
	if err != nil {
		return err
	}
	if _, err := e.Append(b.DraftChallenge()); err != nil {
		return err
	}
	e.Spoiled = append(e.Spoiled, b.TrackingCode())
	return nil
}

// Voting has every voter cast, the first Challenges challenge a ballot first, and the first Revotes vote again.
func (e *Election) Voting() error {
	for v := range e.Credentials {
		if v < e.Cfg.Challenges {
			if err := e.Challenge(v); err != nil {
				return err
			}
		}
		if err := e.Vote(v); err != nil {
			return err
		}
	}
	for v := 0; v < e.Cfg.Revotes; v++ {
		if err := e.Vote(v); err != nil {
			return err
		}
	}
	return nil
}

// Finish closes the polls, posts the encrypted tally, the partial decryptions of the trustees not absent, and
// the result, and computes the expected plaintext tally.
func (e *Election) Finish() error {
	if err := e.must(e.State.DraftClose(e.Cfg.time(e.Cfg.CloseAt))); err != nil {
		return err
	}
	if err := e.must(e.State.DraftEncryptedTally()); err != nil {
		return err
	}
	for _, t := range e.Trustees {
		if slices.Contains(e.Cfg.Absent, t.Index) {
			continue
		}
		if err := e.must(t.Trustee.DraftPartialDecryption(t.Share, e.State, e.Cfg.Rand)); err != nil {
			return err
		}
	}
	if err := e.must(e.State.DraftResult()); err != nil {
		return err
	}
	e.Expected = nil
	for _, r := range e.Manifest.Rules() {
		e.Expected = append(e.Expected, make([]uint64, r.Options))
	}
	for _, ch := range e.Cast {
		for c := range ch {
			for o, v := range ch[c] {
				e.Expected[c][o] += v
			}
		}
	}
	return nil
}

// Run simulates a whole election.
func Run(cfg Config) (*Election, error) {
	e, err := Setup(cfg)
	if err != nil {
		return nil, err
	}
	if err := e.Voting(); err != nil {
		return nil, err
	}
	return e, e.Finish()
}

// Retally replays entries up to the encrypted tally into a fresh state ignoring every check, and appends an
// encrypted tally, partial decryptions by the trustees not in absent, and a result, as a dishonest operator who
// changed the entries would. tally, when set, makes the encrypted tally instead of the honest computation.
// Entries are renumbered in order.
//
// A BALLOT entry that is byte for byte one of e's own, under e's manifest and election key, is applied without
// verifying its signature and proofs again: e's board admitted it with every check passed, and these checks
// depend on nothing else, so the state (and the tally) is the same; this spares the tamper tests most of their
// time. Every other ballot is checked in full, so that a changed one that fails is not counted.
func (e *Election) Retally(entries []election.Entry, absent []int, tally func(*election.State) (election.Draft, error)) ([]election.Entry, error) {
	return e.RetallyRand(entries, absent, tally, nil)
}

// RetallyRand is Retally with the partial decryptions' proof nonces drawn from r (crypto/rand when nil), so that
// a deterministic r makes the same entries on every run.
func (e *Election) RetallyRand(entries []election.Entry, absent []int, tally func(*election.State) (election.Draft, error), r io.Reader) ([]election.Entry, error) {
	admitted := map[string]bool{}
	for _, en := range e.Entries {
		if en.Kind == election.KindBallot {
			admitted[string(en.Payload)] = true
		}
	}
	var ownKey []byte
	if k := e.State.Key(); k != nil {
		ownKey = k.PublicKey.Bytes()
	}
	s := election.NewState()
	rp := election.NewReplayer(s, election.ReplayOptions{ShapeOnly: func(en election.Entry) bool {
		k := s.Key()
		return admitted[string(en.Payload)] && k != nil && bytes.Equal(k.PublicKey.Bytes(), ownKey) && s.Manifest().ID() == e.Manifest.ID()
	}})
	var out []election.Entry
	for _, en := range entries {
		if en.Kind == election.KindEncryptedTally {
			break
		}
		out = append(out, election.Draft{Kind: en.Kind, Payload: en.Payload}.At(uint64(len(out))))
	}
	// Every check is ignored: the replayer reports failures only to ReplayOptions.Applied, which is not set.
	if err := rp.Feed(context.Background(), out...); err != nil {
		return nil, err
	}
	add := func(d election.Draft) {
		en := d.At(uint64(len(out)))
		s.Apply(en)
		out = append(out, en)
	}
	if tally == nil {
		tally = (*election.State).DraftEncryptedTally
	}
	d, err := tally(s)
	if err != nil {
		return nil, err
	}
	add(d)
	for _, t := range e.Trustees {
		if slices.Contains(absent, t.Index) {
			continue
		}
		d, err := t.Trustee.DraftPartialDecryption(t.Share, s, r)
		if err != nil {
			return nil, err
		}
		add(d)
	}
	d, err = s.DraftResult()
	if err != nil {
		return nil, err
	}
	add(d)
	return out, nil
}

// Seq returns entries as the iterator Verify reads.
func Seq(entries []election.Entry) func(func(election.Entry, error) bool) {
	return func(yield func(election.Entry, error) bool) {
		for _, en := range entries {
			if !yield(en, nil) {
				return
			}
		}
	}
}

// TallyOf returns an EncryptedTally entry that counts exactly the listed entries (which must be ballots) with
// the sums of their ciphertexts, whatever the counting rule says.
func TallyOf(m *election.Manifest, entries []election.Entry, counted []uint64) (election.Draft, error) {
	var sums [][]*elgamal.Ciphertext
	for _, r := range m.Rules() {
		row := make([]*elgamal.Ciphertext, r.Options)
		for o := range row {
			row[o] = elgamal.NewCiphertext()
		}
		sums = append(sums, row)
	}
	for _, idx := range counted {
		b, err := parseAnyBallot(m, entries[idx])
		if err != nil {
			return election.Draft{}, err
		}
		for c := range b.Ciphertexts {
			for o, ct := range b.Ciphertexts[c] {
				sums[c][o].Add(sums[c][o], ct)
			}
		}
	}
	pb := &recordv1.EncryptedTally{Counted: counted}
	for c := range sums {
		ct := &recordv1.ContestTally{}
		for _, sum := range sums[c] {
			ct.Ciphertexts = append(ct.Ciphertexts, sum.Bytes())
		}
		pb.Contests = append(pb.Contests, ct)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	return election.Draft{Kind: election.KindEncryptedTally, Payload: b}, err
}

// parseAnyBallot returns the ballot of a ballot or spoiled-ballot entry.
func parseAnyBallot(m *election.Manifest, e election.Entry) (*election.Ballot, error) {
	if e.Kind == election.KindSpoiledBallot {
		sp, err := election.ParseSpoiledBallot(m, e.Payload)
		if err != nil {
			return nil, err
		}
		return sp.Ballot, nil
	}
	return election.ParseBallot(m, e.Payload)
}

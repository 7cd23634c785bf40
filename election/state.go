package election

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
)

// State is an election as read from the board: the result of applying its entries in order. The node keeps
// one to decide what it accepts; the verifier builds one from the record and reports every check that fails.
// Both use the same rules, in Apply.
//
// A State is not safe for concurrent use.
type State struct {
	manifest *Manifest
	size     uint64 // index of the next entry
	broken   bool   // entry 0 was not a valid manifest: nothing after it can be checked

	// voters holds an entry per credential, published or named by a ballot: whether it is published, and its
	// latest ballot. With seen and ballots, it is what the state keeps as the record grows (docs/capacity.md).
	voters       map[[32]byte]voter
	ncredentials int // the voters published
	// credentialsRefused is set once a CREDENTIALS entry failed check 4: its keys are not read, so check 11
	// cannot tell whether a ballot's credential was on it, and does not run on a credential on no accepted list.
	credentialsRefused bool

	ceremony *ceremony
	key      *ElectionKey
	// ceremonyUnread is set once a key ceremony entry's payload did not decode: whose entry it was, and what it
	// said, are unknown, so the qualified set cannot be recomputed and check 7 does not run.
	ceremonyUnread bool
	// keyPosted is set once the ELECTION_KEY entry stands, even if no key could be had from it or the ceremony
	// (then key is nil, and the checks that need it do not run).
	keyPosted bool

	opened, closed bool
	openEntry      uint64
	closeEntry     uint64
	openTime       int64
	openTimeKnown  bool // the OPEN entry decoded

	// seen holds every tracking code on the board, cast or spoiled: the first ballot with it, by its index in
	// ballots. What the state keeps per ballot holds no pointer (indices, not *castBallot), so that the garbage
	// collector does not scan it: with pointers, each collection's marking grew with the record, and so did
	// verification's time per ballot.
	seen    map[ID]int
	ballots []castBallot            // every decodable ballot, cast or spoiled, in entry order (ascending)
	raw     []byte                  // the ballots' ciphertexts, in a state that keeps them (castBallot.raw)
	nlatest int                     // the voters with a latest ballot
	sums    [][]*elgamal.Ciphertext // running sums of the latest ballots
	// latestOrder holds the entries of the latest ballots in the order they were applied, hence ascending, with 0
	// (the manifest's entry, never a ballot's) where a ballot was since superseded: the counted list, kept as
	// ballots arrive so that the close does not sort it. A superseded ballot's slot is found by its latestPos.
	latestOrder []uint64
	ncast       int
	spoiled     int

	tally       *encryptedTally
	tallyBroken bool // the ENCRYPTED_TALLY entry stands but did not decode: what depends on it cannot be checked
	partials    map[int]*partialDecryption
	result      *recordv1.Result
	// resultPosted is set once the RESULT entry stands, decoded or not; resultUnchecked when it decoded but
	// check 22 could not run (no election key, or an encrypted tally that did not decode).
	resultPosted, resultUnchecked bool
	resultNext                    bool // an entry came after the result

	// board, if set (NewStateReading), reads applied ballots back: the state then keeps no ciphertexts.
	board EntryReader
	// err is the first failure to read a ballot back from board: the running sums are wrong from then on, and
	// the Replayer stops (Err).
	err error
}

// An EntryReader reads back an entry that a State has applied, from the board or the record it was applied from.
type EntryReader interface {
	ReadEntry(index uint64) (Entry, error)
}

// EntryReaderFunc is a function that is an EntryReader.
type EntryReaderFunc func(index uint64) (Entry, error)

// ReadEntry returns f(index).
func (f EntryReaderFunc) ReadEntry(index uint64) (Entry, error) { return f(index) }

// voter is what the state keeps of a credential.
type voter struct {
	published bool // on an accepted CREDENTIALS entry
	// latest is 1 + the index in State.ballots of its last cast ballot between the open and the close, or 0 if
	// it has none (so that the zero voter has none).
	latest int
}

// latestBallot returns the index in State.ballots of v's latest ballot, if it has one.
func (v voter) latestBallot() (int, bool) { return v.latest - 1, v.latest > 0 }

// castBallot is what the state keeps of a ballot: where it is, whose it is, whether it was spoiled, and, in a
// state that keeps them, where its ciphertexts' bytes are (check 20 sums any ballot a counted list names, as
// written).
type castBallot struct {
	entry      uint64
	code       ID // its tracking code: what a ballot read back from the board must have (ciphertextsOf)
	credential [32]byte
	// raw is where State.raw holds the ballot's ciphertexts, elgamal.CiphertextSize bytes each, contest after
	// contest, option after option, in the manifest's shape (a ballot of another shape does not decode). Unused
	// in a state that reads ballots back (NewStateReading).
	raw       int
	latestPos int // its index in State.latestOrder, once it was its credential's latest ballot
	spoiled   bool
}

// ciphertextsOf returns cb's ciphertexts, [contest][option]: decoded from what the state keeps, or read back from
// the board. A ballot read back must have cb's tracking code (which binds its ciphertexts): a board or record
// file that changed under the state gives an error, not another ballot's ciphertexts.
func (s *State) ciphertextsOf(cb *castBallot) ([][]*elgamal.Ciphertext, error) {
	if s.board == nil {
		var out [][]*elgamal.Ciphertext
		i := cb.raw
		for _, r := range s.manifest.rules {
			row := make([]*elgamal.Ciphertext, r.Options)
			for o := range row {
				ct, err := new(elgamal.Ciphertext).SetCanonicalBytes(s.raw[i : i+elgamal.CiphertextSize])
				if err != nil {
					return nil, fmt.Errorf("election: the ciphertexts kept of entry %d no longer decode: %w", cb.entry, err)
				}
				row[o] = ct
				i += elgamal.CiphertextSize
			}
			out = append(out, row)
		}
		return out, nil
	}
	e, err := s.board.ReadEntry(cb.entry)
	if err != nil {
		return nil, fmt.Errorf("election: reading back the ballot at entry %d: %w", cb.entry, err)
	}
	var b *Ballot
	switch {
	case e.Index != cb.entry:
		err = fmt.Errorf("asked for entry %d, got entry %d", cb.entry, e.Index)
	case e.Kind == KindSpoiledBallot && cb.spoiled:
		var sp *SpoiledBallot
		if sp, err = ParseSpoiledBallot(s.manifest, e.Payload); err == nil {
			b = sp.Ballot
		}
	case e.Kind == KindBallot && !cb.spoiled:
		b, err = ParseBallot(s.manifest, e.Payload)
	default:
		err = fmt.Errorf("it is now a %s entry", e.Kind)
	}
	if err == nil && b.TrackingCode != cb.code {
		err = errors.New("its tracking code is not the one applied")
	}
	if err != nil {
		return nil, fmt.Errorf("election: the ballot at entry %d read back is not the one applied (%v): the board or record changed while it was read", cb.entry, err)
	}
	return b.Ciphertexts, nil
}

// fail records the first failure to read a ballot back (Err).
func (s *State) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// Err returns the first failure to read a ballot back from the board (a state made by NewStateReading), or nil.
// Once it is set the state's running sums are wrong: the Replayer stops with this error, and a caller that
// applies entries by other means must check it after each and stop too.
func (s *State) Err() error { return s.err }

// ballotAt returns the index in s.ballots of the ballot kept for entry, if there is one (not for another kind of
// entry, or an undecodable ballot).
func (s *State) ballotAt(entry uint64) (int, bool) {
	return slices.BinarySearchFunc(s.ballots, entry, func(cb castBallot, e uint64) int { return cmp.Compare(cb.entry, e) })
}

// NewState returns the state of an empty board. It keeps every ballot's ciphertexts in memory (64 bytes per
// option per ballot); NewStateReading keeps none.
func NewState() *State {
	return &State{voters: map[[32]byte]voter{}, seen: map[ID]int{}, partials: map[int]*partialDecryption{}}
}

// NewStateReading returns the state of an empty board that keeps no ballot's ciphertexts in memory: it reads a
// ballot back from board when it needs them, which is when a credential's ballot is superseded (to take it out of
// the running sums) and when a counted list that is not the honest one names ballots (check 20). board must
// return every entry the state has applied, as it was applied. What it keeps per ballot is then independent of the
// ballot's shape (docs/capacity.md). A failure to read back is reported by Err.
func NewStateReading(board EntryReader) *State {
	s := NewState()
	s.board = board
	return s
}

// Manifest returns the election's manifest, or nil before entry 0.
func (s *State) Manifest() *Manifest { return s.manifest }

// Key returns the election key, or nil before the ceremony ends.
func (s *State) Key() *ElectionKey { return s.key }

// Size returns the number of entries applied.
func (s *State) Size() uint64 { return s.size }

// Credentials returns the number of published credentials.
func (s *State) Credentials() int { return s.ncredentials }

// IsOpen reports whether the polls are open: opened and not closed.
func (s *State) IsOpen() bool { return s.opened && !s.closed }

// IsClosed reports whether the polls have closed.
func (s *State) IsClosed() bool { return s.closed }

// Counts returns the number of cast ballots on the board, of credentials with a ballot, and of spoiled ballots.
func (s *State) Counts() (cast, voters, spoiled int) { return s.ncast, s.nlatest, s.spoiled }

// HasEncryptedTally reports whether the encrypted tally is on the board; HasResult whether the result is.
func (s *State) HasEncryptedTally() bool { return s.tally != nil }
func (s *State) HasResult() bool         { return s.result != nil }

// Lookup returns where a tracking code stands on the board, and whether it is a spoiled ballot.
func (s *State) Lookup(code ID) (entry uint64, spoiled, ok bool) {
	i, ok := s.seen[code]
	if !ok {
		return 0, false, false
	}
	return s.ballots[i].entry, s.ballots[i].spoiled, true
}

// Status says what became of the ballot with a tracking code: counted, superseded by a later ballot of the
// same credential (whose entry is given), spoiled, or not on the board.
type Status int

const (
	StatusUnknown Status = iota
	StatusCast           // cast; will be counted if still the latest when the polls close
	StatusCounted        // counted in the encrypted tally
	StatusSuperseded
	StatusSpoiled
	StatusNotCounted // cast but left out of the tally (after the close, or an invalid ballot)
)

func (st Status) String() string {
	return [...]string{"not on the board", "cast (the latest ballot of its credential)", "counted",
		"superseded by a later ballot of the same credential", "spoiled (challenged)", "not counted"}[st]
}

// BallotStatus returns the status of the ballot with a tracking code, and for a superseded ballot the entry of
// the ballot that replaced it.
func (s *State) BallotStatus(code ID) (Status, uint64) {
	i, ok := s.seen[code]
	if !ok {
		return StatusUnknown, 0
	}
	sb := &s.ballots[i]
	if sb.spoiled {
		return StatusSpoiled, 0
	}
	if !s.opened || sb.entry < s.openEntry || (s.closed && sb.entry > s.closeEntry) {
		// Outside the polls: it takes no part in the counting rule (and its credential's latest ballot, if any,
		// did not replace it: for a ballot after the close, that one is earlier).
		return StatusNotCounted, 0
	}
	l, hasLatest := s.voters[sb.credential].latestBallot()
	if hasLatest && l != i {
		return StatusSuperseded, s.ballots[l].entry
	}
	if s.tally != nil {
		// A ballot that is its credential's latest is counted if the tally counts exactly the latest ballots, as
		// an honest one does; otherwise the list says.
		if (s.tally.countsLatest && hasLatest && l == i) || slices.Contains(s.tally.counted, sb.entry) {
			return StatusCounted, 0
		}
		return StatusNotCounted, 0
	}
	return StatusCast, 0
}

// ErrNoManifest is returned when the first entry of a record is not a valid manifest: nothing else can be checked.
var ErrNoManifest = errors.New("the record does not start with a valid manifest")

// Apply applies the next entry of the board and returns every check it fails (none for a valid entry). Entries
// must come in order, from index 0. After a failure the state still moves on, so that a verifier reports every
// fault of a record, not only the first: a ballot that fails a check stays on the board and takes its place
// among its credential's ballots, so that a tampered record fails the check aimed at, not a consequence of it.
func (s *State) Apply(e Entry) []*CheckError { return s.apply(e, nil) }

// ballotCheck is the outcome of the checks on a ballot that do not depend on the state (shape, election,
// signature, proofs), computed ahead, possibly in parallel.
type ballotCheck struct {
	ballot  *Ballot
	spoiled *SpoiledBallot
	errs    []*CheckError
}

func (s *State) apply(e Entry, pre *ballotCheck) []*CheckError {
	errs, commit := s.check(e, pre)
	commit()
	return errs
}

// check runs the checks of the next entry without changing the state, and returns the failures and commit, which
// changes the state as the entry requires. Apply commits every entry, failing or not: the state moves on, so
// that a verifier reports every fault of a record (what commit does may depend on the failures: an invalid key
// commitment is remembered as such). Admit commits only an entry that fails nothing, so that a refused entry
// leaves no trace. Every apply step is written this way: its checks first, changing nothing, then one commit.
func (s *State) check(e Entry, pre *ballotCheck) (errs []*CheckError, commit func()) {
	if e.Index != s.size {
		return []*CheckError{fail(CheckRecord, e.Index, "entry %d arrived where entry %d was expected", e.Index, s.size)}, noChange
	}
	errs, commitEntry := s.checkNext(e, pre)
	return errs, func() {
		s.size++
		commitEntry()
	}
}

// noChange is the commit of an entry that leaves the state as it is (but for its size).
func noChange() {}

// checkNext is check for an entry at the state's next index.
func (s *State) checkNext(e Entry, pre *ballotCheck) (errs []*CheckError, commit func()) {
	if s.broken {
		return []*CheckError{notRun(0, e.Index, "entry 0 is not a valid manifest")}, noChange // its failure is entry 0's alone
	}
	if s.manifest == nil {
		setBroken := func() { s.broken = true }
		if e.Kind != KindManifest {
			return []*CheckError{fail(CheckRecord, e.Index, "%v: the first entry is a %s", ErrNoManifest, e.Kind)}, setBroken
		}
		m, err := ParseManifest(e.Payload)
		if err != nil {
			return []*CheckError{fail(CheckManifest, e.Index, "%v (nothing after it can be checked)", err)}, setBroken
		}
		return nil, func() {
			s.manifest = m
			s.ceremony = newCeremony(m)
		}
	}
	if s.resultPosted {
		return []*CheckError{fail(CheckRecord, e.Index, "a %s entry after the result", e.Kind)}, func() { s.resultNext = true }
	}
	switch e.Kind {
	case KindManifest:
		return []*CheckError{fail(CheckRecord, e.Index, "a second manifest")}, noChange
	case KindCredentials:
		return s.checkCredentials(e)
	case KindKeyCommitment, KindKeyVerdict, KindKeyReveal:
		if s.keyPosted {
			return []*CheckError{fail(CheckRecord, e.Index, "a key ceremony entry (%s) after the election key", e.Kind)}, noChange
		}
		return s.checkCeremony(e)
	case KindElectionKey:
		return s.checkElectionKey(e)
	case KindOpen:
		return s.checkOpen(e)
	case KindBallot, KindSpoiledBallot:
		if !s.keyPosted {
			return []*CheckError{fail(CheckRecord, e.Index, "a ballot before the election key")}, noChange
		}
		if pre == nil {
			var pk *elgamal.PublicKey // none: the proofs and openings are not checked (checkBallotStages)
			if s.key != nil {
				pk = s.key.PublicKey
			}
			pre = checkBallotEntry(s.manifest, pk, e)
		}
		return s.checkBallot(e, pre)
	case KindClose:
		return s.checkClose(e)
	case KindEncryptedTally:
		return s.checkTally(e)
	case KindPartialDecryption:
		return s.checkPartial(e)
	case KindResult:
		return s.checkResult(e)
	default:
		return []*CheckError{fail(CheckRecord, e.Index, "unknown entry kind %d", int32(e.Kind))}, noChange
	}
}

func (s *State) checkCredentials(e Entry) ([]*CheckError, func()) {
	if s.opened {
		return []*CheckError{fail(CheckRecord, e.Index, "a credential list after the polls opened")}, noChange
	}
	refused := func() { s.credentialsRefused = true }
	keys, err := parseCredentialList(e.Payload)
	if err != nil {
		return []*CheckError{fail(CheckCredentials, e.Index, "%v", err)}, refused
	}
	if s.ncredentials+len(keys) > MaxCredentials {
		return []*CheckError{fail(CheckCredentials, e.Index, "more than %d credentials", MaxCredentials)}, refused
	}
	for i, k := range keys {
		if s.voters[k].published {
			return []*CheckError{fail(CheckCredentials, e.Index, "public_keys[%d] is already on the board", i)}, refused
		}
	}
	return nil, func() {
		for _, k := range keys {
			v := s.voters[k]
			v.published = true
			s.voters[k] = v
		}
		s.ncredentials += len(keys)
	}
}

func (s *State) checkCeremony(e Entry) ([]*CheckError, func()) {
	c := s.ceremony
	unread := func(err error) ([]*CheckError, func()) {
		return []*CheckError{failUndecoded(PayloadCheck(e.Kind), e.Index, "%v", err)}, func() { s.ceremonyUnread = true }
	}
	var ts recordv1.TrusteeSigned
	if err := unmarshal(e.Payload, &ts); err != nil {
		return unread(err)
	}
	switch e.Kind {
	case KindKeyCommitment:
		dealer, body, err := openTrusteeSigned(s.manifest, e.Kind, e.Payload)
		if err != nil {
			return []*CheckError{fail(CheckKeyCommitment, e.Index, "%v", err)}, noChange
		}
		if c.commits[dealer] != nil || c.failed[dealer] {
			return []*CheckError{fail(CheckKeyCommitment, e.Index, "trustee %d committed twice", dealer)}, noChange
		}
		kc, err := parseKeyCommitment(s.manifest, dealer, body)
		if err != nil {
			return []*CheckError{fail(CheckKeyCommitment, e.Index, "trustee %d: %v", dealer, err)}, func() { c.failed[dealer] = true }
		}
		kc.entry = e.Index
		return nil, func() { c.commits[dealer] = kc }
	case KindKeyVerdict:
		j, body, err := openTrusteeSigned(s.manifest, e.Kind, e.Payload)
		if err != nil {
			return []*CheckError{fail(CheckKeyComplaints, e.Index, "%v", err)}, noChange
		}
		if _, dup := c.verdict[j]; dup {
			return []*CheckError{fail(CheckKeyComplaints, e.Index, "trustee %d gave two verdicts", j)}, noChange
		}
		var v recordv1.KeyVerdict
		if err := unmarshal(body, &v); err != nil {
			return unread(err)
		}
		var against []int
		for _, i := range v.Complaints {
			if int(i) == j || c.commits[int(i)] == nil || slices.Contains(against, int(i)) {
				return []*CheckError{fail(CheckKeyComplaints, e.Index, "trustee %d complains against %d, who has no valid commitment or is itself or named twice", j, i)}, noChange
			}
			against = append(against, int(i))
		}
		return nil, func() { c.verdict[j] = against }
	case KindKeyReveal:
		dealer, body, err := openTrusteeSigned(s.manifest, e.Kind, e.Payload)
		if err != nil {
			return []*CheckError{fail(CheckKeyComplaints, e.Index, "%v", err)}, noChange
		}
		var r recordv1.KeyReveal
		if err := unmarshal(body, &r); err != nil {
			return unread(err)
		}
		j := int(r.Recipient)
		if !slices.Contains(c.verdict[j], dealer) {
			return []*CheckError{fail(CheckKeyComplaints, e.Index, "trustee %d reveals a share for %d, who did not complain", dealer, j)}, noChange
		}
		if c.reveals[[2]int{dealer, j}] != nil {
			return []*CheckError{fail(CheckKeyComplaints, e.Index, "trustee %d revealed the share for %d twice", dealer, j)}, noChange
		}
		share, err := group.NewScalar().SetCanonicalBytes(r.Share)
		if err != nil {
			return []*CheckError{fail(CheckKeyComplaints, e.Index, "revealed share: %v", err)}, noChange
		}
		return nil, func() { c.reveals[[2]int{dealer, j}] = share }
	}
	return nil, noChange
}

// checkElectionKey is check 7. The key the later checks use (ballot proofs and openings, partial decryptions,
// the result) is the one recomputed from the ceremony whenever the ceremony yields one, even if the published key
// differs or does not decode: the published key is then wrong, and the ballots are checked against the key the
// trustees' commitments define. Only when the ceremony yields no key (fewer than t qualified dealers, or one of
// its entries did not decode) is the published key used, if it decodes; with neither, the checks that need a key
// do not run.
func (s *State) checkElectionKey(e Entry) ([]*CheckError, func()) {
	if s.keyPosted {
		return []*CheckError{fail(CheckRecord, e.Index, "a second election key")}, noChange
	}
	var pb recordv1.ElectionKey
	decErr := unmarshal(e.Payload, &pb)
	want, err := s.ceremony.outcome()
	if s.ceremonyUnread {
		// A ceremony entry did not decode (check 5 or 6 failed): the key cannot be recomputed.
		want, err = nil, errors.New("a key ceremony entry did not decode")
	}
	var errs []*CheckError
	switch {
	case decErr != nil:
		errs = append(errs, failUndecoded(CheckElectionKey, e.Index, "%v", decErr))
	case s.ceremonyUnread:
		errs = append(errs, notRun(CheckElectionKey, e.Index, "%v", err))
	case err != nil:
		errs = append(errs, fail(CheckElectionKey, e.Index, "%v", err))
	case string(marshal(&pb)) != string(marshal(want.proto())):
		errs = append(errs, fail(CheckElectionKey, e.Index, "the published key differs from the one recomputed from the ceremony (qualified %v)", want.Qualified))
	}
	if err != nil && decErr == nil {
		// No key can be recomputed: take the published one so that the ballots can still be checked.
		want, _ = parseElectionKey(s.manifest, &pb)
	}
	return errs, func() { s.keyPosted, s.key = true, want }
}

func parseElectionKey(m *Manifest, pb *recordv1.ElectionKey) (*ElectionKey, error) {
	pk, err := elgamal.ParsePublicKey(pb.JointKey)
	if err != nil {
		return nil, err
	}
	key := &ElectionKey{PublicKey: pk}
	for _, q := range pb.Qualified {
		key.Qualified = append(key.Qualified, int(q))
	}
	n, _ := m.Trustees()
	if len(pb.VerificationKeys) != n {
		return nil, fmt.Errorf("%d verification keys, want %d", len(pb.VerificationKeys), n)
	}
	for _, b := range pb.VerificationKeys {
		vk, err := group.NewElement().SetCanonicalBytesNonIdentity(b)
		if err != nil {
			return nil, err
		}
		key.VerificationKeys = append(key.VerificationKeys, vk)
	}
	return key, nil
}

func (s *State) checkOpen(e Entry) ([]*CheckError, func()) {
	switch {
	case s.opened:
		return []*CheckError{fail(CheckRecord, e.Index, "the polls opened twice")}, noChange
	case !s.keyPosted:
		return []*CheckError{fail(CheckRecord, e.Index, "the polls opened before the election key")}, noChange
	case s.ncredentials == 0 && !s.credentialsRefused:
		return []*CheckError{fail(CheckRecord, e.Index, "the polls opened with no credentials")}, noChange
	}
	// An OPEN in its place opens the polls even if it does not decode: the ballots after it are in the window.
	var pb recordv1.PollsOpen
	if err := unmarshal(e.Payload, &pb); err != nil {
		return []*CheckError{failUndecoded(CheckPollsWindow, e.Index, "%v", err)}, func() { s.opened, s.openEntry = true, e.Index }
	}
	commit := func() { s.opened, s.openEntry, s.openTime, s.openTimeKnown = true, e.Index, pb.Time, true }
	if pb.Time < s.manifest.pb.OpensAt || pb.Time >= s.manifest.pb.ClosesAt {
		return []*CheckError{fail(CheckPollsWindow, e.Index, "the polls opened at %d, outside the voting window [%d, %d)", pb.Time, s.manifest.pb.OpensAt, s.manifest.pb.ClosesAt)}, commit
	}
	return nil, commit
}

func (s *State) checkClose(e Entry) ([]*CheckError, func()) {
	switch {
	case !s.opened:
		return []*CheckError{fail(CheckRecord, e.Index, "the polls closed before they opened")}, noChange
	case s.closed:
		return []*CheckError{fail(CheckRecord, e.Index, "the polls closed twice")}, noChange
	}
	// A CLOSE in its place closes the polls even if it does not decode.
	commit := func() { s.closed, s.closeEntry = true, e.Index }
	var pb recordv1.PollsClosed
	if err := unmarshal(e.Payload, &pb); err != nil {
		return []*CheckError{failUndecoded(CheckPollsWindow, e.Index, "%v", err)}, commit
	}
	if !s.openTimeKnown {
		return []*CheckError{notRun(CheckPollsWindow, e.Index, "the OPEN entry did not decode")}, commit
	}
	if pb.Time < s.openTime {
		return []*CheckError{fail(CheckPollsWindow, e.Index, "the polls closed at %d, before they opened (%d)", pb.Time, s.openTime)}, commit
	}
	return nil, commit
}

// checkBallotEntry runs the checks on a ballot or spoiled ballot entry that need no state, every one of them, as
// the verifier does: a tampered ballot fails each check it breaks.
func checkBallotEntry(m *Manifest, pk *elgamal.PublicKey, e Entry) *ballotCheck {
	bc, _ := checkBallotStages(context.Background(), m, pk, e, nil, false)
	return bc
}

// checkBallotStages runs a ballot entry's stateless checks cheapest first: its shape and election, then before
// (if set: the caller's checks of the decoded ballot, such as the node's against its state), its signature, then
// its proofs and openings, the costly part. With firstFailure it stops at the first failure, so that a ballot
// refused for a cheap reason costs no proof verification. It returns ctx's error, with the checks done so far,
// if ctx ends before the proofs are done.
func checkBallotStages(ctx context.Context, m *Manifest, pk *elgamal.PublicKey, e Entry, before func(*Ballot) *CheckError, firstFailure bool) (*ballotCheck, error) {
	bc := &ballotCheck{}
	var b *Ballot
	if e.Kind == KindSpoiledBallot {
		sp, err := ParseSpoiledBallot(m, e.Payload)
		if err != nil {
			bc.errs = append(bc.errs, failUndecoded(CheckBallotShape, e.Index, "%v", err))
			return bc, nil
		}
		bc.spoiled, b = sp, sp.Ballot
	} else {
		var err error
		if b, err = ParseBallot(m, e.Payload); err != nil {
			bc.errs = append(bc.errs, failUndecoded(CheckBallotShape, e.Index, "%v", err))
			return bc, nil
		}
	}
	bc.ballot = b
	stop := func() bool { return firstFailure && len(bc.errs) > 0 }
	if err := b.CheckElection(m); err != nil {
		bc.errs = append(bc.errs, fail(CheckBallotElection, e.Index, "%v", err))
	}
	if before != nil && !stop() {
		if ce := before(b); ce != nil {
			bc.errs = append(bc.errs, ce)
		}
	}
	if stop() {
		return bc, nil
	}
	if err := b.CheckSignature(); err != nil {
		bc.errs = append(bc.errs, fail(CheckBallotSignature, e.Index, "%v", err))
	}
	if stop() {
		return bc, nil
	}
	if pk == nil {
		// No election key could be had (checkElectionKey): the proofs and openings cannot be checked.
		bc.errs = append(bc.errs, notRun(CheckBallotProofs, e.Index, "no election key"))
		if bc.spoiled != nil {
			bc.errs = append(bc.errs, notRun(CheckSpoiledOpening, e.Index, "no election key"))
		}
		return bc, nil
	}
	if err := b.checkProofs(ctx, m, pk); err != nil {
		if ctx.Err() != nil {
			return bc, ctx.Err()
		}
		bc.errs = append(bc.errs, fail(CheckBallotProofs, e.Index, "%v", err))
	}
	if stop() {
		return bc, nil
	}
	if bc.spoiled != nil {
		if err := bc.spoiled.CheckOpenings(m, pk); err != nil {
			bc.errs = append(bc.errs, fail(CheckSpoiledOpening, e.Index, "%v", err))
		}
	}
	return bc, nil
}

// CheckBallotAdmission returns the check a new ballot (cast or spoiled) would fail against the state
// (credential, window, uniqueness of its tracking code), or nil. The node calls it before
// appending. Once it finds the credential listed it marks b so, and b's CheckSignature skips the key rule's check,
// which the list's own check did.
func (s *State) CheckBallotAdmission(b *Ballot) *CheckError {
	if !s.voters[b.Credential].published {
		return fail(CheckBallotCredential, s.size, "the credential is not on the board")
	}
	b.listedKey = true
	switch {
	case !s.opened:
		return fail(CheckBallotWindow, s.size, "the polls are not open yet")
	case s.closed:
		return fail(CheckBallotWindow, s.size, "the polls are closed")
	}
	if ce := s.checkUnique(s.size, b); ce != nil {
		return ce
	}
	return nil
}

// checkUnique is check 14 for a ballot at entry: its tracking code, SHA-256 of the Ballot bytes its credential
// signed, may not already stand on the board, as a cast or a spoiled ballot. This is what stops a replay: a ballot
// copied from the board and cast again, under a wrapper encoded anew or (by the credential's holder) signed anew,
// must neither override the voter's later ballot nor, copied from a challenge whose choices are public, count.
func (s *State) checkUnique(entry uint64, b *Ballot) *CheckError {
	if i, dup := s.seen[b.TrackingCode]; dup {
		return fail(CheckBallotUnique, entry, "the ballot already stands at entry %d (a replay)", s.ballots[i].entry)
	}
	return nil
}

func (s *State) checkBallot(e Entry, pre *ballotCheck) ([]*CheckError, func()) {
	errs := pre.errs
	b := pre.ballot
	if b == nil {
		return errs, noChange // undecodable: it cannot take part in anything
	}
	if published := s.voters[b.Credential].published; !published && s.credentialsRefused {
		errs = append(errs, notRun(CheckBallotCredential, e.Index, "the credential is on no accepted list, and a list failed check 4"))
	} else if !published {
		errs = append(errs, fail(CheckBallotCredential, e.Index, "the credential %x is not on the board", b.Credential[:8]))
	}
	if !s.opened || s.closed {
		errs = append(errs, fail(CheckBallotWindow, e.Index, "the ballot stands outside the polls (open: %v, closed: %v)", s.opened, s.closed))
	}
	if ce := s.checkUnique(e.Index, b); ce != nil {
		errs = append(errs, ce)
	}
	return errs, func() { s.commitBallot(e, b) }
}

// commitBallot puts ballot b, at entry e, on the state.
func (s *State) commitBallot(e Entry, b *Ballot) {
	n := 0
	for c := range b.Ciphertexts {
		n += len(b.Ciphertexts[c])
	}
	// The ciphertexts as the ballot encodes them: ParseBallot decoded them with SetCanonicalBytes, so these are
	// the bytes that encoding b.Ciphertexts again would give, without an inverse square root per point (issue 15:
	// 60 of them for a 15-option ballot, under the state's lock on the node). Copied into one buffer, so that the
	// state keeps no part of the decoded message.
	cb := castBallot{entry: e.Index, code: b.TrackingCode, credential: b.Credential, spoiled: e.Kind == KindSpoiledBallot}
	if s.board == nil {
		cb.raw = len(s.raw)
		for c := range b.Ciphertexts {
			for _, raw := range b.pb.Contests[c].Ciphertexts {
				s.raw = append(s.raw, raw...)
			}
		}
	}
	i := len(s.ballots)
	if _, dup := s.seen[b.TrackingCode]; !dup {
		s.seen[b.TrackingCode] = i
	}
	s.ballots = append(s.ballots, cb)
	if cb.spoiled {
		s.spoiled++
		return
	}
	s.ncast++
	if s.opened && !s.closed {
		s.supersede(i, b.Ciphertexts)
	}
}

// supersede makes s.ballots[i] its credential's latest ballot and keeps the running sums of the latest ballots.
func (s *State) supersede(i int, cts [][]*elgamal.Ciphertext) {
	cb := &s.ballots[i]
	if s.sums == nil {
		for _, r := range s.manifest.rules {
			row := make([]*elgamal.Ciphertext, r.Options)
			for o := range row {
				row[o] = elgamal.NewCiphertext()
			}
			s.sums = append(s.sums, row)
		}
	}
	v := s.voters[cb.credential]
	if o, ok := v.latestBallot(); ok {
		old := &s.ballots[o]
		cts, err := s.ciphertextsOf(old)
		if err != nil {
			s.fail(err)
		} else {
			for c := range cts {
				for o, ct := range cts[c] {
					s.sums[c][o].A.Subtract(&s.sums[c][o].A, &ct.A)
					s.sums[c][o].B.Subtract(&s.sums[c][o].B, &ct.B)
				}
			}
		}
		s.latestOrder[old.latestPos] = 0
	} else {
		s.nlatest++
	}
	for c := range cts {
		for o, ct := range cts[c] {
			s.sums[c][o].Add(s.sums[c][o], ct)
		}
	}
	v.latest = i + 1
	s.voters[cb.credential] = v
	cb.latestPos = len(s.latestOrder)
	s.latestOrder = append(s.latestOrder, cb.entry)
}

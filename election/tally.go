package election

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/crypto/dkg"
	"github.com/recount-vote/recount/crypto/dlog"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/threshold"
	"github.com/recount-vote/recount/crypto/zkp"
)

// The tally: once the polls close, the node posts the EncryptedTally, which names the counted ballots (for each
// credential its last ballot cast before the close) and their homomorphic sums per option; any t trustees post
// partial decryptions of those sums with Chaum-Pedersen proofs; the node combines t valid ones (Lagrange in the
// exponent), recovers each count by a discrete logarithm, and posts the Result. A trustee who is absent or posts
// a bad share is simply not among the t combined, and the record shows who was.

type encryptedTally struct {
	entry   uint64
	counted []uint64
	sums    [][]*elgamal.Ciphertext
	// countsLatest is set when counted is exactly the latest ballots of the credentials, ascending (State.countedSet):
	// then a ballot is counted if and only if it is its credential's latest in the polls.
	countsLatest bool
}

type partialDecryption struct {
	entry  uint64
	valid  bool
	shares [][]*threshold.PartialDecryption
}

// decryptionContext binds a partial decryption proof to the election and the option whose sum it decrypts.
func decryptionContext(m *Manifest, contest, option int) zkp.Context {
	bind := []byte("tally")
	bind = binary.BigEndian.AppendUint32(bind, uint32(contest))
	bind = binary.BigEndian.AppendUint32(bind, uint32(option))
	return zkp.Context{Election: m.id[:], Bind: bind}
}

// countedSet returns the entries that count, ascending: each credential's latest ballot cast between open and
// close. It costs one pass over the ballots cast, without sorting: latestOrder is kept as they arrive.
func (s *State) countedSet() []uint64 {
	out := make([]uint64, 0, s.nlatest)
	for _, idx := range s.latestOrder {
		if idx != 0 {
			out = append(out, idx)
		}
	}
	return out
}

// isCountedSet reports whether list is countedSet, without making it.
func (s *State) isCountedSet(list []uint64) bool {
	if len(list) != s.nlatest {
		return false
	}
	i := 0
	for _, idx := range s.latestOrder {
		if idx != 0 {
			if list[i] != idx {
				return false
			}
			i++
		}
	}
	return true
}

// DraftEncryptedTally returns the ENCRYPTED_TALLY entry for the closed polls.
func (s *State) DraftEncryptedTally() (Draft, error) {
	switch {
	case !s.closed:
		return Draft{}, errors.New("the polls are not closed")
	case s.tally != nil:
		return Draft{}, errors.New("the encrypted tally is already on the board")
	case s.err != nil:
		return Draft{}, s.err
	}
	pb := &recordv1.EncryptedTally{Counted: s.countedSet()}
	for c, r := range s.manifest.rules {
		ct := &recordv1.ContestTally{}
		for o := 0; o < r.Options; o++ {
			sum := elgamal.NewCiphertext()
			if s.sums != nil {
				sum = s.sums[c][o]
			}
			ct.Ciphertexts = append(ct.Ciphertexts, sum.Bytes())
		}
		pb.Contests = append(pb.Contests, ct)
	}
	return Draft{Kind: KindEncryptedTally, Payload: marshal(pb)}, nil
}

// ParseSum decodes a 64-byte sum of ciphertexts, as in an EncryptedTally: unlike a ballot's ciphertext, either
// part may be the identity (an empty sum, or a sum whose nonces cancel).
func ParseSum(b []byte) (*elgamal.Ciphertext, error) {
	if len(b) != elgamal.CiphertextSize {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), elgamal.CiphertextSize)
	}
	c := &elgamal.Ciphertext{}
	if _, err := c.A.SetCanonicalBytes(b[:32]); err != nil {
		return nil, err
	}
	if _, err := c.B.SetCanonicalBytes(b[32:]); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *State) checkTally(e Entry) ([]*CheckError, func()) {
	if !s.closed || s.tally != nil || s.tallyBroken {
		return []*CheckError{fail(CheckRecord, e.Index, "an encrypted tally before the close, or a second one")}, noChange
	}
	// A tally that does not decode, or has not the manifest's shape, fails check 20 alone: its counted list is
	// not read (checks 16-19 do not run), and the partial decryptions and the result, which decrypt its sums,
	// cannot be checked.
	broken := func() { s.tallyBroken = true }
	var pb recordv1.EncryptedTally
	if err := unmarshal(e.Payload, &pb); err != nil {
		return []*CheckError{failUndecoded(CheckEncryptedTally, e.Index, "%v", err)}, broken
	}
	t := &encryptedTally{entry: e.Index, counted: pb.Counted}
	if len(pb.Contests) != len(s.manifest.rules) {
		return []*CheckError{failUndecoded(CheckEncryptedTally, e.Index, "%d contests, want %d", len(pb.Contests), len(s.manifest.rules))}, broken
	}
	for c, r := range s.manifest.rules {
		if len(pb.Contests[c].Ciphertexts) != r.Options {
			return []*CheckError{failUndecoded(CheckEncryptedTally, e.Index, "contest %d: %d sums, want %d", c, len(pb.Contests[c].Ciphertexts), r.Options)}, broken
		}
		row := make([]*elgamal.Ciphertext, r.Options)
		for o, b := range pb.Contests[c].Ciphertexts {
			ct, err := ParseSum(b)
			if err != nil {
				return []*CheckError{failUndecoded(CheckEncryptedTally, e.Index, "contest %d option %d: %v", c, o, err)}, broken
			}
			row[o] = ct
		}
		t.sums = append(t.sums, row)
	}

	t.countsLatest = s.isCountedSet(t.counted)
	var errs []*CheckError
	if !t.countsLatest {
		errs = s.checkCounted(e, t.counted, s.countedSet())
	}
	// An honest list, the latest ballots ascending, passes checks 16-19 with nothing more to check: its entries
	// are distinct and ascending, each is a cast ballot in the polls and its credential's latest, and every
	// latest ballot is there.

	// The sums must be those of the listed ballots, whatever the list is. Those of an honest list are the running
	// sums, kept as the ballots arrived (supersede): nothing is added up at the close.
	expected := s.sums
	if !t.countsLatest || expected == nil {
		var err error
		if expected, err = s.sumOf(t.counted); err != nil {
			s.fail(err)
		}
	}
	if s.err != nil {
		// A ballot could not be read back (NewStateReading): the sums to compare with are unknown.
		return append(errs, notRun(CheckEncryptedTally, e.Index, "%v", s.err)), func() { s.tally = t }
	}
	for c := range t.sums {
		for o := range t.sums[c] {
			if t.sums[c][o].Equal(expected[c][o]) != 1 {
				errs = append(errs, fail(CheckEncryptedTally, e.Index, "contest %d option %d: the sum is not the sum of the counted ballots", c, o))
			}
		}
	}
	return errs, func() { s.tally = t }
}

// checkCounted runs checks 16-19 on a counted list that is not want, the latest ballots ascending: it names what
// is wrong with it.
func (s *State) checkCounted(e Entry, counted, want []uint64) []*CheckError {
	// The counted list may hold millions of bad indices: their failures are counted, not each described.
	var f entryFailures
	seen := map[uint64]bool{}
	for i, idx := range counted {
		b, isBallot := s.ballotAt(idx)
		var cb *castBallot
		latest, hasLatest := -1, false // the index in s.ballots of cb's credential's latest ballot
		if isBallot {
			cb = &s.ballots[b]
			latest, hasLatest = s.voters[cb.credential].latestBallot()
		}
		switch {
		case seen[idx]:
			f.add(CheckCountedUnique, e.Index, "entry %d is counted twice", idx)
		case i > 0 && idx < counted[i-1]:
			f.add(CheckCountedUnique, e.Index, "the counted entries are not in ascending order at %d", idx)
		case cb == nil || cb.spoiled:
			f.add(CheckCountedValid, e.Index, "entry %d is counted but is not a cast ballot", idx)
		case idx > s.closeEntry || idx < s.openEntry:
			f.add(CheckCountedValid, e.Index, "entry %d is counted but was cast outside the polls", idx)
		case !hasLatest:
			// Not reached: a ballot applied between the open and the close is its credential's latest until
			// another replaces it. Said rather than indexed, so that a broken invariant fails a check, not the
			// process.
			f.add(CheckCountedLatest, e.Index, "entry %d is counted but is not its credential's latest ballot", idx)
		case latest != b:
			f.add(CheckCountedLatest, e.Index, "entry %d is counted but was superseded by entry %d", idx, s.ballots[latest].entry)
		}
		seen[idx] = true
	}
	for _, idx := range want {
		if !seen[idx] {
			f.add(CheckCountedComplete, e.Index, "entry %d, the last ballot of its credential, is not counted", idx)
		}
	}
	return f.errs
}

// sumOf adds up the ciphertexts of the listed ballots, cast or spoiled (other entries have none).
func (s *State) sumOf(entries []uint64) ([][]*elgamal.Ciphertext, error) {
	var sums [][]*elgamal.Ciphertext
	for _, r := range s.manifest.rules {
		row := make([]*elgamal.Ciphertext, r.Options)
		for o := range row {
			row[o] = elgamal.NewCiphertext()
		}
		sums = append(sums, row)
	}
	for _, idx := range entries {
		i, ok := s.ballotAt(idx)
		if !ok {
			continue
		}
		cts, err := s.ciphertextsOf(&s.ballots[i])
		if err != nil {
			return nil, err
		}
		for c := range cts {
			for o, ct := range cts[c] {
				sums[c][o].Add(sums[c][o], ct)
			}
		}
	}
	return sums, nil
}

// draftPartialDecryption returns trustee index's PARTIAL_DECRYPTION entry for the encrypted tally on the board
// (Trustee.DraftPartialDecryption).
func draftPartialDecryption(m *Manifest, keys *TrusteeKeys, ks *dkg.KeyShare, s *State, r io.Reader) (Draft, error) {
	if s.tally == nil {
		return Draft{}, errors.New("the encrypted tally is not on the board")
	}
	pb := &recordv1.PartialDecryption{}
	for c := range s.tally.sums {
		cs := &recordv1.ContestShares{}
		for o, sum := range s.tally.sums[c] {
			pd, err := threshold.PartiallyDecrypt(decryptionContext(m, c, o), ks, sum, r)
			if err != nil {
				return Draft{}, err
			}
			cs.Shares = append(cs.Shares, pd.Share.Bytes())
			cs.Proofs = append(cs.Proofs, pd.Proof.Bytes())
		}
		pb.Contests = append(pb.Contests, cs)
	}
	return keys.signAs(m, KindPartialDecryption, ks.Index, marshal(pb)), nil
}

func (s *State) checkPartial(e Entry) ([]*CheckError, func()) {
	switch {
	case s.tally == nil && !s.tallyBroken:
		return []*CheckError{fail(CheckRecord, e.Index, "a partial decryption before the encrypted tally")}, noChange
	case s.tally == nil:
		return []*CheckError{notRun(CheckPartialDecryption, e.Index, "the encrypted tally did not decode")}, noChange
	case s.key == nil:
		return []*CheckError{notRun(CheckPartialDecryption, e.Index, "no election key")}, noChange
	}
	j, body, err := openTrusteeSigned(s.manifest, e.Kind, e.Payload)
	if err != nil {
		return []*CheckError{fail(CheckPartialDecryption, e.Index, "%v", err)}, noChange
	}
	if s.partials[j] != nil {
		return []*CheckError{fail(CheckPartialDecryption, e.Index, "trustee %d decrypted twice", j)}, noChange
	}
	pd := &partialDecryption{entry: e.Index}
	// A partial decryption that fails a check is kept as invalid: ValidPartials names its trustee.
	commit := func() { s.partials[j] = pd }
	var pb recordv1.PartialDecryption
	if err := unmarshal(body, &pb); err != nil {
		return []*CheckError{fail(CheckPartialDecryption, e.Index, "trustee %d: %v", j, err)}, commit
	}
	if len(pb.Contests) != len(s.tally.sums) {
		return []*CheckError{fail(CheckPartialDecryption, e.Index, "trustee %d: %d contests, want %d", j, len(pb.Contests), len(s.tally.sums))}, commit
	}
	vk := s.key.VerificationKeys[j-1]
	for c, cs := range pb.Contests {
		if len(cs.Shares) != len(s.tally.sums[c]) || len(cs.Proofs) != len(cs.Shares) {
			return []*CheckError{fail(CheckPartialDecryption, e.Index, "trustee %d: contest %d has the wrong number of shares or proofs", j, c)}, commit
		}
		row := make([]*threshold.PartialDecryption, len(cs.Shares))
		for o := range cs.Shares {
			p := &threshold.PartialDecryption{Trustee: j}
			if _, err := p.Share.SetCanonicalBytes(cs.Shares[o]); err != nil {
				return []*CheckError{fail(CheckPartialDecryption, e.Index, "trustee %d: contest %d option %d: %v", j, c, o, err)}, commit
			}
			if _, err := p.Proof.SetBytes(cs.Proofs[o]); err != nil {
				return []*CheckError{fail(CheckPartialDecryption, e.Index, "trustee %d: contest %d option %d: %v", j, c, o, err)}, commit
			}
			if err := p.Verify(decryptionContext(s.manifest, c, o), s.tally.sums[c][o], vk); err != nil {
				return []*CheckError{fail(CheckPartialDecryption, e.Index, "trustee %d: contest %d option %d: %v", j, c, o, err)}, commit
			}
			row[o] = p
		}
		pd.shares = append(pd.shares, row)
	}
	pd.valid = true
	return nil, commit
}

// ValidPartials returns the trustees whose partial decryptions on the board are valid, ascending, and those
// whose are not.
func (s *State) ValidPartials() (valid, invalid []int) {
	for j := 1; j <= len(s.manifest.pb.Trustees); j++ {
		if pd := s.partials[j]; pd != nil {
			if pd.valid {
				valid = append(valid, j)
			} else {
				invalid = append(invalid, j)
			}
		}
	}
	return valid, invalid
}

// combine decrypts every sum with the partial decryptions of trustees: count·K for each option.
func (s *State) combine(trustees []int) ([][]*group.Element, error) {
	_, t := s.manifest.Trustees()
	vks := map[int]*group.Element{}
	for _, j := range trustees {
		vks[j] = s.key.VerificationKeys[j-1]
	}
	var out [][]*group.Element
	for c := range s.tally.sums {
		row := make([]*group.Element, len(s.tally.sums[c]))
		for o, sum := range s.tally.sums[c] {
			var parts []*threshold.PartialDecryption
			for _, j := range trustees {
				parts = append(parts, s.partials[j].shares[c][o])
			}
			mK, err := threshold.Combine(decryptionContext(s.manifest, c, o), t, sum, parts, vks)
			if err != nil {
				return nil, fmt.Errorf("contest %d option %d: %w", c, o, err)
			}
			row[o] = mK
		}
		out = append(out, row)
	}
	return out, nil
}

// DraftResult combines t valid partial decryptions (the first t trustees, ascending), recovers the counts, and returns
// the RESULT entry.
func (s *State) DraftResult() (Draft, error) {
	switch {
	case s.tally == nil:
		return Draft{}, errors.New("the encrypted tally is not on the board")
	case s.result != nil:
		return Draft{}, errors.New("the result is already on the board")
	}
	_, t := s.manifest.Trustees()
	valid, invalid := s.ValidPartials()
	if len(valid) < t {
		return Draft{}, fmt.Errorf("%d valid partial decryptions (trustees %v; invalid: %v), %d needed", len(valid), valid, invalid, t)
	}
	use := valid[:t]
	mK, err := s.combine(use)
	if err != nil {
		return Draft{}, err
	}
	pb := &recordv1.Result{}
	for _, j := range use {
		pb.Trustees = append(pb.Trustees, uint32(j))
	}
	for c, r := range s.manifest.rules {
		max := uint64(len(s.tally.counted)) * r.OptionMax
		table := dlog.Cached(s.key.PublicKey.Element(), max)
		cr := &recordv1.ContestResult{}
		for o := range mK[c] {
			n, err := table.Log(mK[c][o])
			if err != nil {
				return Draft{}, fmt.Errorf("contest %d option %d: %w", c, o, err)
			}
			cr.Counts = append(cr.Counts, n)
		}
		pb.Contests = append(pb.Contests, cr)
	}
	return Draft{Kind: KindResult, Payload: marshal(pb)}, nil
}

func (s *State) checkResult(e Entry) ([]*CheckError, func()) {
	if s.tally == nil && !s.tallyBroken {
		return []*CheckError{fail(CheckRecord, e.Index, "a result before the encrypted tally")}, noChange
	}
	var pb recordv1.Result
	if err := unmarshal(e.Payload, &pb); err != nil {
		return []*CheckError{failUndecoded(CheckResult, e.Index, "%v", err)}, func() { s.resultPosted = true }
	}
	if s.tally == nil || s.key == nil {
		return []*CheckError{notRun(CheckResult, e.Index, "no encrypted tally or no election key to check it against")}, func() {
			s.resultPosted, s.result, s.resultUnchecked = true, &pb, true
		}
	}
	commit := func() { s.resultPosted, s.result = true, &pb }
	_, t := s.manifest.Trustees()
	var use []int
	for i, j := range pb.Trustees {
		if i > 0 && j <= pb.Trustees[i-1] {
			return []*CheckError{fail(CheckResult, e.Index, "the trustees %v are not ascending and distinct", pb.Trustees)}, commit
		}
		if pd := s.partials[int(j)]; pd == nil || !pd.valid {
			return []*CheckError{fail(CheckResult, e.Index, "trustee %d has no valid partial decryption", j)}, commit
		}
		use = append(use, int(j))
	}
	if len(use) < t {
		return []*CheckError{fail(CheckResult, e.Index, "%d trustees combined, the threshold is %d", len(use), t)}, commit
	}
	if len(pb.Contests) != len(s.tally.sums) {
		return []*CheckError{fail(CheckResult, e.Index, "%d contests, want %d", len(pb.Contests), len(s.tally.sums))}, commit
	}
	mK, err := s.combine(use)
	if err != nil {
		return []*CheckError{fail(CheckResult, e.Index, "%v", err)}, commit
	}
	var errs []*CheckError
	for c := range mK {
		if len(pb.Contests[c].Counts) != len(mK[c]) {
			errs = append(errs, fail(CheckResult, e.Index, "contest %d: %d counts, want %d", c, len(pb.Contests[c].Counts), len(mK[c])))
			continue
		}
		for o, n := range pb.Contests[c].Counts {
			want := s.key.PublicKey.Mul(group.NewElement(), group.NewScalar().SetUint64(n))
			if want.Equal(mK[c][o]) != 1 {
				errs = append(errs, fail(CheckResult, e.Index, "contest %d option %d: the count %d is not what the trustees decrypted", c, o, n))
			}
		}
	}
	return errs, commit
}

// Result is a result for people: each contest's options with their counts.
type Result struct {
	Trustees []int
	Contests []ContestCounts
}

// ContestCounts is one contest's counts, in the manifest's order of options.
type ContestCounts struct {
	ID, Title string
	Options   []OptionCount
}

// OptionCount is one option's count.
type OptionCount struct {
	ID, Title string
	Count     uint64
}

// Result returns the result on the board, or nil before it.
func (s *State) Result() *Result {
	if s.result == nil || len(s.result.Contests) != len(s.manifest.pb.Contests) {
		return nil
	}
	return tallyOf(s.manifest, s.result)
}

// ParseResult decodes a RESULT payload as State.Apply does and pairs its counts with m's contests and options.
// It checks no proof: the counts are what the payload says, which State.Apply (and so `recount verify`) checks
// against the trustees' partial decryptions. It fails if the payload does not have one result per contest.
func ParseResult(m *Manifest, payload []byte) (*Result, error) {
	var pb recordv1.Result
	if err := unmarshal(payload, &pb); err != nil {
		return nil, err
	}
	if len(pb.Contests) != len(m.pb.Contests) {
		return nil, fmt.Errorf("the result has %d contests, the manifest %d", len(pb.Contests), len(m.pb.Contests))
	}
	return tallyOf(m, &pb), nil
}

// tallyOf pairs r, which has one result per contest of m, with m's contests and options; a count missing from
// r is 0.
func tallyOf(m *Manifest, r *recordv1.Result) *Result {
	t := &Result{}
	for _, j := range r.Trustees {
		t.Trustees = append(t.Trustees, int(j))
	}
	for c, contest := range m.pb.Contests {
		cc := ContestCounts{ID: contest.Id, Title: contest.Title}
		counts := r.Contests[c].Counts
		for o, opt := range contest.Options {
			var n uint64
			if o < len(counts) {
				n = counts[o]
			}
			cc.Options = append(cc.Options, OptionCount{ID: opt.Id, Title: opt.Title, Count: n})
		}
		t.Contests = append(t.Contests, cc)
	}
	return t
}

// ParseCounted decodes an ENCRYPTED_TALLY payload as State.Apply does and returns the entries it counts. It
// checks neither the list nor the sums (State.Apply does).
func ParseCounted(payload []byte) ([]uint64, error) {
	var pb recordv1.EncryptedTally
	if err := unmarshal(payload, &pb); err != nil {
		return nil, err
	}
	return pb.Counted, nil
}

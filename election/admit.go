package election

import (
	"maps"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
)

// Admit applies the next entry only if it passes every check; when it fails, the state is left exactly as it
// was and the failures are returned. The node calls it for every entry that is not a ballot (the manifest,
// credential lists, the trustees' entries, its own drafts) before it appends the entry, so that a refused entry
// leaves no trace. Ballots go through CheckBallot, CheckBallotAdmission and ApplyChecked instead, so that their
// costly checks run outside the node's locks.
func (s *State) Admit(e Entry) []*CheckError {
	if e.Index != s.size {
		return []*CheckError{fail(CheckRecord, e.Index, "entry %d arrived where entry %d was expected", e.Index, s.size)}
	}
	if s.broken {
		return []*CheckError{fail(CheckRecord, e.Index, "%v", ErrNoManifest)}
	}
	if e.Kind == KindBallot || e.Kind == KindSpoiledBallot {
		return []*CheckError{fail(CheckRecord, e.Index, "a %s goes through CheckBallot and ApplyChecked, not Admit", e.Kind)}
	}
	snap := s.snapshot()
	errs := s.apply(e, nil)
	if len(errs) > 0 {
		s.restore(snap)
	}
	return errs
}

// admitSnapshot holds every part of the state that applying a non-ballot entry may change before it finds a
// fault. The parts changed only after every check passed (credentials, commitments, verdicts, reveals, open,
// close) need no copy.
type admitSnapshot struct {
	size       uint64
	broken     bool
	manifest   *Manifest
	ceremony   *ceremony
	failed     map[int]bool
	key        *ElectionKey
	tally      *encryptedTally
	partials   map[int]*partialDecryption
	result     *recordv1.Result
	resultNext bool
}

func (s *State) snapshot() admitSnapshot {
	snap := admitSnapshot{size: s.size, broken: s.broken, manifest: s.manifest, ceremony: s.ceremony, key: s.key,
		tally: s.tally, partials: maps.Clone(s.partials), result: s.result, resultNext: s.resultNext}
	if s.ceremony != nil {
		snap.failed = maps.Clone(s.ceremony.failed)
	}
	return snap
}

func (s *State) restore(snap admitSnapshot) {
	s.size, s.broken, s.manifest, s.ceremony, s.key = snap.size, snap.broken, snap.manifest, snap.ceremony, snap.key
	s.tally, s.partials, s.result, s.resultNext = snap.tally, snap.partials, snap.result, snap.resultNext
	if s.ceremony != nil {
		s.ceremony.failed = snap.failed
	}
}

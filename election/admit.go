package election

// Admit applies the next entry only if it passes every check; when it fails, the state is left exactly as it
// was and the failures are returned. The node calls it for every entry that is not a ballot (the manifest,
// credential lists, the trustees' entries, its own drafts) before it appends the entry, so that a refused entry
// leaves no trace. Ballots go through CheckBallot, CheckBallotAdmission and ApplyChecked instead, so that their
// costly checks run outside the node's locks.
//
// A refused entry leaves no trace by construction: every apply step runs its checks without changing the state
// and then returns one commit (State.check), which Admit runs only for an entry that fails nothing.
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
	errs, commit := s.check(e, nil)
	if len(errs) == 0 {
		commit()
	}
	return errs
}

package election

// CheckOnly runs the checks of the next entry as Apply and Admit do, without committing it.
func CheckOnly(s *State, e Entry) []*CheckError {
	errs, _ := s.check(e, nil)
	return errs
}

// StrictUnmarshal is the one decoder of every payload and every message carried inside one as bytes: it refuses
// whatever is not the canonical encoding (docs/record.md, section 2).
var StrictUnmarshal = unmarshal

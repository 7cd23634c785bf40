package election

// CheckOnly runs the checks of the next entry as Apply and Admit do, without committing it.
func CheckOnly(s *State, e Entry) []*CheckError {
	errs, _ := s.check(e, nil)
	return errs
}

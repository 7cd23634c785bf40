package node

import "time"

// SetAutoCloseEvery makes the auto-closer look every d, for tests, and returns the function that restores it.
func SetAutoCloseEvery(d time.Duration) (restore func()) {
	old := autoCloseEvery
	autoCloseEvery = d
	return func() { autoCloseEvery = old }
}

// SetBeforeReplay makes Start call fn before it replays each entry, for tests; set it before Start.
func SetBeforeReplay(n *Node, fn func(index uint64)) { n.beforeReplay = fn }

// StreamsInProgress returns the number of streaming calls the server has admitted and that have not ended.
func (s *Server) StreamsInProgress() int { return s.streams.inProgress() }

// StreamsStalled returns the number of streaming calls the server ended because their client read nothing.
func (s *Server) StreamsStalled() int { return s.streams.stalledCount() }

// MaxSendBytes is the largest message the node sends.
const MaxSendBytes = maxSendBytes

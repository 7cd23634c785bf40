//go:build !race

package election_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false

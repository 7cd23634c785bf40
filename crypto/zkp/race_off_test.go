//go:build !race

package zkp

// raceEnabled: see race_on_test.go.
const raceEnabled = false

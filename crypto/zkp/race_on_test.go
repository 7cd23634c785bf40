//go:build race

package zkp

// raceEnabled is true when the tests run under the race detector, which makes the cryptography 10 to 50 times
// slower: the tests that replay many whole records then sample fewer of them (the run without -race tries all).
const raceEnabled = true

//go:build race

package tlog

// raceEnabled is true when the tests run under the race detector, which makes cryptography 10 to 50 times
// slower: the exhaustive byte-changing tests then use fewer ways of changing each byte.
const raceEnabled = true

//go:build race

package node_test

// raceEnabled is true under the race detector, which makes the cryptography 10 to 50 times slower: the cluster
// tests then cast fewer ballots and kill fewer leaders.
const raceEnabled = true

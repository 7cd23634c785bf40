//go:build race

package main

// raceEnabled is set when the tests run with the race detector, which makes them several times slower: the
// longest tests then check a sample.
const raceEnabled = true

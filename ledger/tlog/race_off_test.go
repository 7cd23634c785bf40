//go:build !race

package tlog

const raceEnabled = false

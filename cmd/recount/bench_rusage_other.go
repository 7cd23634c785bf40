//go:build !unix

package main

import "os"

// watchPeakRSS gives 0 where neither /proc nor getrusage is available: the peak is unknown.
func watchPeakRSS(int) func(*os.ProcessState) uint64 {
	return func(*os.ProcessState) uint64 { return 0 }
}

// selfPeakRSS is 0 where getrusage is not available.
func selfPeakRSS() uint64 { return 0 }

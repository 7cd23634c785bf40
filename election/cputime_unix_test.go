//go:build unix

package election_test

import "syscall"

// processCPUTime returns the CPU time (user and system) the process has used, in nanoseconds. With GOMAXPROCS=1
// (go test -cpu 1) it is the benchmark's own work and its garbage collection, whatever else the machine runs:
// on a shared machine, a steadier figure than the wall clock.
func processCPUTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

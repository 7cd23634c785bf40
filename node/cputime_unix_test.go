//go:build unix

package node_test

import "syscall"

// processCPUTime returns the CPU time (user and system) the process has used, in nanoseconds: on a machine shared
// with other work, the cost of what a benchmark did is steadier in CPU time than in wall time.
func processCPUTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

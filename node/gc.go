package node

import (
	"os"
	"runtime/debug"
)

// ServerGCPercent is the GOGC that TuneGC gives a node's process.
const ServerGCPercent = 200

// TuneGC has the garbage collector of a process that serves a node (recountd) collect half as often as Go's
// default does (GOGC=200 rather than 100), unless the user set GOGC or GOMEMLIMIT, which then decide. It returns
// the GOGC in force, or -1 when the user's settings decide.
//
// Why: nearly all a node allocates is the ballot checks' short-lived garbage (about 360 KB per ballot of the
// demo's shape, two thirds of it the multi-scalar multiplication's tables), while what it keeps per ballot is
// small and holds no pointer (election.State): collecting half as often halves the collector's share of the
// node's processor time, which the profile of BenchmarkCastOverGRPC/path=node put at 4-5%, for a heap that may
// grow to 3 times what is live instead of 2 (docs/capacity.md, "Node accept path": at 10^6 ballots about 1.2 GB
// rather than 0.8 GB). A tighter memory budget is GOMEMLIMIT's to set.
func TuneGC() int {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return -1
	}
	debug.SetGCPercent(ServerGCPercent)
	return ServerGCPercent
}

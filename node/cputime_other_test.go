//go:build !unix

package node_test

// processCPUTime is not measured outside Unix: the benchmarks then report no CPU time.
func processCPUTime() int64 { return 0 }

package node_test

import (
	"runtime/debug"
	"testing"

	"github.com/recount-vote/recount/node"
)

// TestTuneGC: GOGC=200 unless the user set GOGC or GOMEMLIMIT, which then decide.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "50")
			debug.SetGCPercent(100)
			if got := node.TuneGC(); got != -1 {
				t.Errorf("TuneGC with %s set = %d, want -1", env, got)
			}
			if p := debug.SetGCPercent(100); p != 100 {
				t.Errorf("TuneGC with %s set changed GOGC to %d", env, p)
			}
		})
	}
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	if got := node.TuneGC(); got != node.ServerGCPercent {
		t.Errorf("TuneGC = %d, want %d", got, node.ServerGCPercent)
	}
	if p := debug.SetGCPercent(100); p != node.ServerGCPercent {
		t.Errorf("GOGC after TuneGC = %d, want %d", p, node.ServerGCPercent)
	}
}

package main

import (
	"strings"
	"testing"
	"time"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
)

// TestWitnessingStatus: the admin status says how long checkpoints have gone unwitnessed, and which witness fails.
func TestWitnessingStatus(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if got := witnessingStatus(nil, 10, now); got != "" {
		t.Errorf("without a policy: %q", got)
	}
	w := &recountv1.WitnessStatus{Quorum: "quorum (2 of 3)", WitnessedSize: 7, UnwitnessedSince: now.Add(-90 * time.Second).Unix(),
		Witnesses: []*recountv1.WitnessState{{Name: "alice", CosignedSize: 7}, {Name: "bob", CosignedSize: 5, LastError: "connection refused"}}}
	got := witnessingStatus(w, 12, now)
	for _, want := range []string{"UNWITNESSED for 1m30s (since 2026-03-01T11:58:30Z)", "7 of 12 entries", "quorum (2 of 3)",
		"witness alice: cosigned size 7\n", "witness bob: cosigned size 5; last error: connection refused"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	w.UnwitnessedSince, w.WitnessedSize = 0, 12
	if got := witnessingStatus(w, 12, now); !strings.Contains(got, "up to date, checkpoint of 12 entries") {
		t.Errorf("witnessed: %q", got)
	}
}

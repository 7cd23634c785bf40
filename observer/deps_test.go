package observer

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNode: the observer talks to a node as anyone does, through its public services; it links no part of
// the node (DEVELOPERS.md: only cmd imports node).
func TestNoNode(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/recount-vote/recount/observer").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		if strings.TrimSpace(line) == "github.com/recount-vote/recount/node" {
			t.Error("package observer depends on package node")
		}
	}
}

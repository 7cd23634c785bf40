package node_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/node"
)

// TestClientProtocol: package client defines for itself what it needs of the node's protocol (refusal reasons,
// phases, message limits), so as not to link the node; this holds its copies to the node's values.
func TestClientProtocol(t *testing.T) {
	reasons := map[string]struct{ client, node string }{
		"ReasonPollsNotOpen":    {client.ReasonPollsNotOpen, node.ReasonPollsNotOpen},
		"ReasonPollsClosed":     {client.ReasonPollsClosed, node.ReasonPollsClosed},
		"ReasonOutsideWindow":   {client.ReasonOutsideWindow, node.ReasonOutsideWindow},
		"ReasonWrongPhase":      {client.ReasonWrongPhase, node.ReasonWrongPhase},
		"ReasonNoElection":      {client.ReasonNoElection, node.ReasonNoElection},
		"ReasonElectionExists":  {client.ReasonElectionExists, node.ReasonElectionExists},
		"ReasonAdminAuth":       {client.ReasonAdminAuth, node.ReasonAdminAuth},
		"ReasonNotFound":        {client.ReasonNotFound, node.ReasonNotFound},
		"ReasonBadRequest":      {client.ReasonBadRequest, node.ReasonBadRequest},
		"ReasonDuplicate":       {client.ReasonDuplicate, node.ReasonDuplicate},
		"ReasonStarting":        {client.ReasonStarting, node.ReasonStarting},
		"ReasonShuttingDown":    {client.ReasonShuttingDown, node.ReasonShuttingDown},
		"ReasonBoardFailed":     {client.ReasonBoardFailed, node.ReasonBoardFailed},
		"ReasonNotEnoughShares": {client.ReasonNotEnoughShares, node.ReasonNotEnoughShares},
		"ReasonTooManyStreams":  {client.ReasonTooManyStreams, node.ReasonTooManyStreams},
		"ReasonNotLeader":       {client.ReasonNotLeader, node.ReasonNotLeader},
		"ReasonInDoubt":         {client.ReasonInDoubt, node.ReasonInDoubt},
	}
	for name, r := range reasons {
		if r.client != r.node {
			t.Errorf("client.%s = %q, node.%s = %q", name, r.client, name, r.node)
		}
	}
	// Every reason the node declares has its copy in package client.
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			for _, id := range spec.(*ast.ValueSpec).Names {
				if strings.HasPrefix(id.Name, "Reason") {
					declared++
					if _, ok := reasons[id.Name]; !ok {
						t.Errorf("node declares %s, which package client does not", id.Name)
					}
				}
			}
		}
	}
	if declared == 0 {
		t.Error("no Reason constant found in errors.go")
	}
	if client.MaxMessageBytes != node.DefaultMaxMessageBytes {
		t.Errorf("client.MaxMessageBytes = %d, the node's DefaultMaxMessageBytes = %d", client.MaxMessageBytes, node.DefaultMaxMessageBytes)
	}
	if client.MaxReceiveBytes != node.MaxSendBytes {
		t.Errorf("client.MaxReceiveBytes = %d, the largest message the node sends = %d", client.MaxReceiveBytes, node.MaxSendBytes)
	}
	// The phases, in the node's order, after the client's PhaseUnknown, and named alike.
	for p := node.PhaseEmpty; p <= node.PhaseDone; p++ {
		if c := client.Phase(int(p) + 1); c.String() != p.String() {
			t.Errorf("the client's phase %d is %q, the node's %d is %q", c, c, p, p)
		}
	}
	if client.DefaultCallTimeout != node.DefaultCallTimeout {
		t.Errorf("client.DefaultCallTimeout = %v, the node's = %v", client.DefaultCallTimeout, node.DefaultCallTimeout)
	}
}

// Package client is a voter's, a trustee's and the commission's connection to a Recount node: Dial, the
// election's manifest and key (checked against the trustees' ceremony on the board before a ballot is
// encrypted under it), casting and challenging a ballot, and the voter's receipt and its checks against the
// node's board.
//
// It links gRPC, because the node speaks it and because the generated service stubs and the service messages
// (api/recount/v1) share one Go package. It links neither the node (package node), nor a database, nor a
// metrics system: what it needs of the node's protocol (the reasons of its refusals, its message limits) it
// defines itself, and a test in package node holds the two to the same values.
package client

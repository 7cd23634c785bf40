// Package client is a voter's client of a Recount node: the election's manifest and key (checked against the
// trustees' ceremony on the board before a ballot is encrypted under it), casting and challenging a ballot (with
// the search, by tracking code, for one whose cast ended without the node's answer), and the voter's receipt and
// its checks against the node's board.
//
// It talks to the node through the Node interface, in domain values, and links no transport: package
// client/grpcnode carries it over gRPC (with the service stubs the commission's CLI and the trustee daemon call),
// and it builds for WebAssembly, for a voting page in a browser that talks to the node over HTTP. It links neither
// the node (package node), nor gRPC, nor a database, nor a metrics system (election/deps_test.go): what it needs
// of the node's protocol (the reasons of its refusals, its phases, its message limits) it defines itself, and a
// test in package node holds the two to the same values.
package client

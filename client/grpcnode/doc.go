// Package grpcnode is a Recount node over gRPC: Dial, with TLS or mutual TLS and the commission's admin token; the
// service stubs (Voter, Trustee, Admin, Board) that the admin CLI and the trustee daemon call; and client.Node,
// so that the voter's client (package client, which links no gRPC) runs over the connection.
//
// It alone of the client side reads gRPC statuses: a status carrying an ErrorInfo becomes a *client.Refusal, and
// one that ended the call without the node's answer (Unavailable, DeadlineExceeded, Canceled) wraps
// client.ErrNoAnswer; both keep the status, so that Status and status.Code still read it.
package grpcnode

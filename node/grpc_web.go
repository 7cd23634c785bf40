package node

import (
	"context"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
)

// BoardService returns n's BoardService, for a server that serves it other than through NewServer (package web's
// JSON API translates HTTP requests into its calls).
func BoardService(n *Node) recountv1.BoardServiceServer { return boardServer{n: n} }

// PublicStatus is GetStatus (AdminService) for anyone: everything in it can be read from the board, which is
// public; package web's election page shows it. It is served only once the node is ready, as the gRPC services are.
func PublicStatus(n *Node) func(ctx context.Context) (*recountv1.GetStatusResponse, error) {
	return func(ctx context.Context) (*recountv1.GetStatusResponse, error) {
		if err := n.notReady(false); err != nil {
			return nil, grpcError(err)
		}
		return adminServer{n: n}.GetStatus(ctx, &recountv1.GetStatusRequest{})
	}
}

// NotReady returns the gRPC status error (reason STARTING) that refuses a call while the node is starting, as the
// gRPC server's interceptor does: for a board read (boardRead) only until the board is open, for any other call
// until the board is replayed; nil once the node serves the call.
func (n *Node) NotReady(boardRead bool) error { return grpcError(n.notReady(boardRead)) }

package node

import (
	"context"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
)

// trusteeServer is TrusteeService: it translates between the service's messages and the node's calls
// (trusteesvc.go).
type trusteeServer struct {
	recountv1.UnimplementedTrusteeServiceServer
	n *Node
}

func (t trusteeServer) PostCeremony(ctx context.Context, req *recountv1.PostCeremonyRequest) (*recountv1.PostCeremonyResponse, error) {
	i, err := t.n.PostCeremony(ctx, req.Kind, req.Payload)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.PostCeremonyResponse{Index: i}, nil
}

func (t trusteeServer) PostPartialDecryption(ctx context.Context, req *recountv1.PostPartialDecryptionRequest) (*recountv1.PostPartialDecryptionResponse, error) {
	i, err := t.n.PostPartialDecryption(ctx, req.Payload)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.PostPartialDecryptionResponse{Index: i}, nil
}

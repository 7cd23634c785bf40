package node

import (
	"context"

	"google.golang.org/grpc/peer"
)

// peerAddr returns the caller's address.
func peerAddr(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "", false
	}
	return p.Addr.String(), true
}

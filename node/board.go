package node

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// boardServer is BoardService: the board, read-only, to anyone.
type boardServer struct {
	recountv1.UnimplementedBoardServiceServer
	n *Node
}

// boardError maps a ledger error to a status.
func boardError(err error) error {
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return refusal(codes.NotFound, ReasonNotFound, nil, "%v", err)
	case errors.Is(err, ledger.ErrInvalid):
		return refusal(codes.InvalidArgument, ReasonBadRequest, nil, "%v", err)
	case errors.Is(err, ledger.ErrClosed):
		return refusal(codes.Unavailable, ReasonShuttingDown, nil, "the node is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ctxStatus(err)
	}
	return refusal(codes.Internal, ReasonBoardFailed, nil, "%v", err)
}

// checkpoint returns the latest checkpoint (size 0) or the one of exactly size.
func (b boardServer) checkpoint(size uint64) (tlog.Checkpoint, error) {
	if size == 0 {
		return b.n.log.Latest(), nil
	}
	cp, err := b.n.log.CheckpointAt(size)
	if err != nil {
		return cp, boardError(err)
	}
	return cp, nil
}

func (b boardServer) GetCheckpoint(ctx context.Context, req *recountv1.GetCheckpointRequest) (*recountv1.GetCheckpointResponse, error) {
	cp, err := b.checkpoint(req.Size)
	if err != nil {
		return nil, err
	}
	return &recountv1.GetCheckpointResponse{Checkpoint: cp.Signed, VerifierKey: b.n.log.VerifierKey()}, nil
}

func (b boardServer) GetInclusionProof(ctx context.Context, req *recountv1.GetInclusionProofRequest) (*recountv1.GetInclusionProofResponse, error) {
	cp, err := b.checkpoint(req.TreeSize)
	if err != nil {
		return nil, err
	}
	p, err := b.n.log.InclusionProof(req.Index, cp.Size)
	if err != nil {
		return nil, boardError(err)
	}
	return &recountv1.GetInclusionProofResponse{TreeSize: cp.Size, Proof: p, Checkpoint: cp.Signed}, nil
}

func (b boardServer) GetConsistencyProof(ctx context.Context, req *recountv1.GetConsistencyProofRequest) (*recountv1.GetConsistencyProofResponse, error) {
	cp, err := b.checkpoint(req.NewSize)
	if err != nil {
		return nil, err
	}
	p, err := b.n.log.ConsistencyProof(req.OldSize, cp.Size)
	if err != nil {
		return nil, boardError(err)
	}
	return &recountv1.GetConsistencyProofResponse{NewSize: cp.Size, Proof: p, Checkpoint: cp.Signed}, nil
}

// StreamEntries sends the entries from req.From on; with req.Follow it then waits for new ones, until the
// client goes away or the node shuts down (Unavailable: reconnect and go on from the next index). A From beyond
// the board's size is refused with OutOfRange, with Follow too: a follower goes on from at most the size it saw.
func (b boardServer) StreamEntries(req *recountv1.StreamEntriesRequest, stream grpc.ServerStreamingServer[recountv1.StreamEntriesResponse]) error {
	ctx := stream.Context()
	next := req.From
	if size := b.n.log.Size(); next > size {
		return refusal(codes.OutOfRange, ReasonNotFound, nil, "from %d: the board has %d entries", next, size)
	}
	for {
		// next is at most the board's size, far below 2^64-1, so next+1 does not wrap.
		for e, err := range b.n.log.Entries(ctx, next) {
			if err != nil {
				return b.streamEnd(err)
			}
			if err := stream.Send(&recountv1.StreamEntriesResponse{Index: e.Index, Kind: recordv1.EntryKind(e.Kind), Payload: e.Payload}); err != nil {
				return err
			}
			next = e.Index + 1
		}
		if !req.Follow {
			return nil
		}
		if err := b.n.log.WaitSize(ctx, next+1); err != nil {
			return b.streamEnd(err)
		}
	}
}

// streamEnd is the status that ends a stream: Unavailable when the node is shutting down.
func (b boardServer) streamEnd(err error) error {
	select {
	case <-b.n.stopping:
		return refusal(codes.Unavailable, ReasonShuttingDown, nil, "the node is shutting down: reconnect and go on from the next index")
	default:
		return boardError(err)
	}
}

// exportChunk bounds one ExportResponse message. Encoded (a 3-byte field header), it fits the 16 KiB buffer
// grpc-go's pool gives it: one byte more and the pool hands out 32 KiB, and at 32 KiB, a 1 MiB buffer. An export
// whose client does not read holds the messages of grpc-go's 64 KiB send quota, besides ledger.Export's buffer
// and read chunk.
const exportChunk = 16<<10 - 3

// streamWriter sends what is written to it as ExportResponse messages of at most exportChunk bytes.
type streamWriter struct {
	stream grpc.ServerStreamingServer[recountv1.ExportResponse]
}

func (w streamWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), exportChunk)
		if err := w.stream.Send(&recountv1.ExportResponse{Data: p[:c]}); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}

func (b boardServer) Export(req *recountv1.ExportRequest, stream grpc.ServerStreamingServer[recountv1.ExportResponse]) error {
	if err := b.n.log.Export(stream.Context(), streamWriter{stream}); err != nil {
		return boardError(err)
	}
	return nil
}

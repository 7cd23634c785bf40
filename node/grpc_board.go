package node

import (
	"context"

	"google.golang.org/grpc"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/ledger/tlog"
)

// boardServer is BoardService, the board read-only to anyone: it translates between the service's messages and
// the node's reads (board.go).
type boardServer struct {
	recountv1.UnimplementedBoardServiceServer
	n *Node
}

func (b boardServer) GetCheckpoint(ctx context.Context, req *recountv1.GetCheckpointRequest) (*recountv1.GetCheckpointResponse, error) {
	cp, err := b.n.Checkpoint(req.Size)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &recountv1.GetCheckpointResponse{Checkpoint: cp.Signed, VerifierKey: b.n.log.VerifierKey()}
	if req.Size == 0 {
		_, resp.CosignedCheckpoint = b.n.Witnessed()
	}
	return resp, nil
}

func (b boardServer) GetInclusionProof(ctx context.Context, req *recountv1.GetInclusionProofRequest) (*recountv1.GetInclusionProofResponse, error) {
	cp, p, err := b.n.InclusionProof(req.Index, req.TreeSize)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.GetInclusionProofResponse{TreeSize: cp.Size, Proof: p, Checkpoint: cp.Signed}, nil
}

func (b boardServer) GetConsistencyProof(ctx context.Context, req *recountv1.GetConsistencyProofRequest) (*recountv1.GetConsistencyProofResponse, error) {
	cp, p, err := b.n.ConsistencyProof(req.OldSize, req.NewSize)
	if err != nil {
		return nil, grpcError(err)
	}
	return &recountv1.GetConsistencyProofResponse{NewSize: cp.Size, Proof: p, Checkpoint: cp.Signed}, nil
}

// StreamEntries sends the entries from req.From on (see Node.Entries). A failed Send ends the stream with its
// error, as grpc-go gives it.
// The last entry of each of the board's commits carries that commit's checkpoint (looked up once per commit).
func (b boardServer) StreamEntries(req *recountv1.StreamEntriesRequest, stream grpc.ServerStreamingServer[recountv1.StreamEntriesResponse]) error {
	var commitEnd tlog.Checkpoint // the checkpoint of the commit holding the entry being sent
	for e, err := range b.n.Entries(stream.Context(), req.From, req.Follow) {
		if err != nil {
			return grpcError(err)
		}
		if commitEnd.Size <= e.Index {
			if commitEnd, err = b.n.CheckpointAfter(e.Index); err != nil {
				return grpcError(err)
			}
		}
		m := &recountv1.StreamEntriesResponse{Index: e.Index, Kind: recordv1.EntryKind(e.Kind), Payload: e.Payload}
		if commitEnd.Size == e.Index+1 {
			m.Checkpoint = commitEnd.Signed
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	return nil
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
	return grpcError(b.n.Export(stream.Context(), streamWriter{stream}))
}

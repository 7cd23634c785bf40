package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// runCmd runs recount with args and returns the exit status, stdout and stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTemp writes b to a new file in a test directory and returns its path.
func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readEntries reads and verifies an export's entries.
func readEntries(t *testing.T, export []byte) []election.Entry {
	t.Helper()
	x, err := tlog.NewExportReader(bytes.NewReader(export))
	if err != nil {
		t.Fatal(err)
	}
	var out []election.Entry
	for e, err := range x.Entries() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, election.FromBoard(e))
	}
	if _, err := x.Finish(); err != nil {
		t.Fatal(err)
	}
	return out
}

// newBoard appends entries to a new board, one commit each, and returns it open.
func newBoard(t *testing.T, dir string, entries []election.Entry) *ledger.Log {
	t.Helper()
	l, err := ledger.Open(dir, ledger.Options{Origin: "recount.example/test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, e := range entries {
		if _, err := l.Append(context.Background(), tlog.Kind(e.Kind), e.Payload); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// exportOf exports a board.
func exportOf(t *testing.T, l *ledger.Log) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := l.Export(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// resigned is what an operator holding a board key makes of changed entries: a new, validly signed export.
func resigned(t *testing.T, entries []election.Entry) []byte {
	t.Helper()
	return exportOf(t, newBoard(t, t.TempDir(), entries))
}

// testBoard is a BoardService for the --node modes: it serves an export (possibly altered) and the proofs of
// a board.
type testBoard struct {
	recountv1.UnimplementedBoardServiceServer
	log    *ledger.Log
	export []byte // served by Export
}

func (b *testBoard) GetCheckpoint(ctx context.Context, req *recountv1.GetCheckpointRequest) (*recountv1.GetCheckpointResponse, error) {
	cp := b.log.Latest()
	if req.Size != 0 {
		var err error
		if cp, err = b.log.CheckpointAt(req.Size); err != nil {
			return nil, err
		}
	}
	return &recountv1.GetCheckpointResponse{Checkpoint: cp.Signed, VerifierKey: b.log.VerifierKey()}, nil
}

func (b *testBoard) GetConsistencyProof(ctx context.Context, req *recountv1.GetConsistencyProofRequest) (*recountv1.GetConsistencyProofResponse, error) {
	n := req.NewSize
	if n == 0 {
		n = b.log.Size()
	}
	p, err := b.log.ConsistencyProof(req.OldSize, n)
	if err != nil {
		return nil, err
	}
	return &recountv1.GetConsistencyProofResponse{NewSize: n, Proof: p}, nil
}

func (b *testBoard) Export(_ *recountv1.ExportRequest, stream grpc.ServerStreamingServer[recountv1.ExportResponse]) error {
	for data := b.export; len(data) > 0; {
		n := min(len(data), 1000) // small chunks, so that entries straddle them
		if err := stream.Send(&recountv1.ExportResponse{Data: data[:n]}); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// serveBoard serves b on a loopback port and returns its address.
func serveBoard(t *testing.T, b *testBoard) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	recountv1.RegisterBoardServiceServer(s, b)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// importBoard imports an export into a read-only board.
func importBoard(t *testing.T, export []byte) *ledger.Log {
	t.Helper()
	l, err := ledger.Import(filepath.Join(t.TempDir(), "board"), bytes.NewReader(export), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

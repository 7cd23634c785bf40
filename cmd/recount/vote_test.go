package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/node"
)

// In-doubt votes: the connection to the node is lost after the ballot was sent. A node behind lossyNode answers
// every call `recount vote` makes, except that it loses the answer to each cast and challenge by closing the
// connection the call came on; the node records the ballot before, or only after the client first looked for it
// (a commit slower than the client), or never.

// when says when a lossyNode hands a ballot whose answer it loses to the node.
type when int

const (
	never          when = iota
	beforeLoss          // then the connection is lost
	afterFirstLook      // the connection is lost; the ballot reaches the board after the client's first GetReceipt
)

// lossyNode serves, on loopback, a node's VoterService and the BoardService calls vote and receipt make
// (StreamEntries, Export), and loses the answers to casts and challenges.
type lossyNode struct {
	recountv1.UnimplementedVoterServiceServer
	recountv1.UnimplementedBoardServiceServer
	n      *node.Node
	record when
	lost   atomic.Int32
	// looked is closed by the first GetReceipt.
	looked   chan struct{}
	lookOnce sync.Once

	mu      sync.Mutex
	conns   map[string]net.Conn // by the client's address
	lateErr error               // the node's refusal of a ballot submitted after the first look
}

// Accept records each connection, to close it from a call that came on it.
type lossyListener struct {
	net.Listener
	ln *lossyNode
}

func (l lossyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.ln.mu.Lock()
		l.ln.conns[c.RemoteAddr().String()] = c
		l.ln.mu.Unlock()
	}
	return c, err
}

// loseAnswer closes the connection the call came on, so that the answer never reaches the client, and submits
// the ballot to the node when ln.record says.
func (ln *lossyNode) loseAnswer(ctx context.Context, kind election.Kind, payload []byte) error {
	if ln.record == beforeLoss {
		if _, err := ln.n.SubmitBallot(ctx, kind, payload); err != nil {
			return err
		}
	}
	if ln.record == afterFirstLook {
		defer func() {
			select {
			case <-ln.looked:
			case <-time.After(time.Minute): // the client never looked: the test fails on its own
				return
			}
			_, err := ln.n.SubmitBallot(context.Background(), kind, payload)
			ln.mu.Lock()
			ln.lateErr = err
			ln.mu.Unlock()
		}()
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Internal, "no peer")
	}
	ln.mu.Lock()
	c := ln.conns[p.Addr.String()]
	ln.mu.Unlock()
	if c == nil {
		return status.Error(codes.Internal, "unknown connection")
	}
	ln.lost.Add(1)
	c.Close()
	return status.Error(codes.Unavailable, "the connection was closed")
}

func (ln *lossyNode) GetElection(ctx context.Context, req *recountv1.GetElectionRequest) (*recountv1.GetElectionResponse, error) {
	return node.VoterService(ln.n).GetElection(ctx, req)
}

func (ln *lossyNode) CastBallot(ctx context.Context, req *recountv1.CastBallotRequest) (*recountv1.CastBallotResponse, error) {
	return nil, ln.loseAnswer(ctx, election.KindBallot, req.SignedBallot)
}

func (ln *lossyNode) ChallengeBallot(ctx context.Context, req *recountv1.ChallengeBallotRequest) (*recountv1.ChallengeBallotResponse, error) {
	return nil, ln.loseAnswer(ctx, election.KindSpoiledBallot, req.SpoiledBallot)
}

func (ln *lossyNode) GetReceipt(ctx context.Context, req *recountv1.GetReceiptRequest) (*recountv1.GetReceiptResponse, error) {
	resp, err := node.VoterService(ln.n).GetReceipt(ctx, req)
	ln.lookOnce.Do(func() { close(ln.looked) })
	return resp, err
}

// GetConsistencyProof: the voter's client checks that the board extends the checkpoint it saw last.
func (ln *lossyNode) GetConsistencyProof(_ context.Context, req *recountv1.GetConsistencyProofRequest) (*recountv1.GetConsistencyProofResponse, error) {
	cp, p, err := ln.n.ConsistencyProof(req.OldSize, req.NewSize)
	if err != nil {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	return &recountv1.GetConsistencyProofResponse{NewSize: cp.Size, Proof: p, Checkpoint: cp.Signed}, nil
}

func (ln *lossyNode) StreamEntries(req *recountv1.StreamEntriesRequest, stream grpc.ServerStreamingServer[recountv1.StreamEntriesResponse]) error {
	for e, err := range ln.n.Log().Entries(stream.Context(), req.From) {
		if err != nil {
			return err
		}
		if err := stream.Send(&recountv1.StreamEntriesResponse{Index: e.Index, Kind: recordv1.EntryKind(e.Kind), Payload: e.Payload}); err != nil {
			return err
		}
	}
	return nil
}

func (ln *lossyNode) Export(_ *recountv1.ExportRequest, stream grpc.ServerStreamingServer[recountv1.ExportResponse]) error {
	return ln.n.Log().Export(stream.Context(), exportSender{stream})
}

// exportSender sends what is written to it as ExportResponse messages.
type exportSender struct {
	stream grpc.ServerStreamingServer[recountv1.ExportResponse]
}

func (w exportSender) Write(p []byte) (int, error) {
	return len(p), w.stream.Send(&recountv1.ExportResponse{Data: bytes.Clone(p)})
}

// startLossyNode opens a node on a board holding an election with open polls (one trustee, one voter), serves it
// behind a lossyNode on loopback, and returns the lossyNode, its address and the voter's credential file.
func startLossyNode(t *testing.T, record when) (*lossyNode, string, string) {
	t.Helper()
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "board")
	l, err := ledger.Open(dir, ledger.Options{Origin: "vote.recount.local/board"})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]ledger.Record, len(e.Entries))
	for i, en := range e.Entries {
		recs[i] = ledger.Record{Kind: tlog.Kind(en.Kind), Payload: en.Payload}
	}
	if _, err := l.AppendMany(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(dir, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	cred := filepath.Join(t.TempDir(), "credential.json")
	if err := os.WriteFile(cred, e.Credentials[0].MarshalFile(), 0o600); err != nil {
		t.Fatal(err)
	}

	ln := &lossyNode{n: n, record: record, looked: make(chan struct{}), conns: map[string]net.Conn{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	recountv1.RegisterVoterServiceServer(s, ln)
	recountv1.RegisterBoardServiceServer(s, ln)
	go s.Serve(lossyListener{Listener: lis, ln: ln})
	t.Cleanup(s.Stop)
	return ln, lis.Addr().String(), cred
}

// trackingCodeOf returns the tracking code vote printed.
func trackingCodeOf(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`tracking code: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("vote printed no tracking code:\n%s", out)
	}
	return m[1]
}

// TestVoteAnswerLost: the connection drops before the node's answer, the ballot being on the board already or
// reaching it only after vote first looked for it. vote keeps looking by its tracking code, then checks the
// receipt and saves it, as for a direct answer; a challenge too.
func TestVoteAnswerLost(t *testing.T) {
	t.Parallel() // most of its time is spent waiting for the vote command's retries
	for _, record := range []when{beforeLoss, afterFirstLook} {
		for _, challenge := range []bool{true, false} {
			ln, addr, cred := startLossyNode(t, record)
			receipt := filepath.Join(t.TempDir(), "receipt.json")
			args := []string{"vote", "--node", addr, "--plaintext", "--credential", cred, "--random", "--receipt", receipt, "--in-doubt-wait", "1m"}
			if challenge {
				args = append(args, "--challenge")
			}
			code, out, errs := runCmd(t, args...)
			if code != 0 {
				ln.mu.Lock()
				defer ln.mu.Unlock()
				t.Fatalf("record %d, challenge %v: exit %d (late submission: %v)\n%s%s", record, challenge, code, ln.lateErr, out, errs)
			}
			if ln.lost.Load() != 1 {
				t.Fatalf("record %d, challenge %v: %d answers lost, want 1", record, challenge, ln.lost.Load())
			}
			if !strings.Contains(errs, "the node's answer was lost after the ballot was sent") || !strings.Contains(out, "found:") {
				t.Errorf("record %d, challenge %v: vote did not say the answer was lost and the ballot found:\n%s%s", record, challenge, out, errs)
			}
			r, err := client.ParseReceipt(readFile(t, receipt))
			if err != nil {
				t.Fatal(err)
			}
			if election.HumanTrackingCode(r.TrackingCode) != trackingCodeOf(t, out) {
				t.Errorf("record %d, challenge %v: the receipt is for %s, vote printed %s", record, challenge, election.HumanTrackingCode(r.TrackingCode), trackingCodeOf(t, out))
			}
			var entry uint64
			var spoiled, ok bool
			ln.n.View(func(s *election.State) { entry, spoiled, ok = s.Lookup(r.TrackingCode) })
			if !ok || entry != r.Index || spoiled != challenge {
				t.Errorf("record %d, challenge %v: the board has the ballot at entry %d (found %v, spoiled %v), the receipt says %d", record, challenge, entry, ok, spoiled, r.Index)
			}
		}
	}
}

// TestVoteInDoubt: the connection drops before the node records the ballot. vote looks for it for
// --in-doubt-wait, then says plainly that the ballot may be on the board, prints the tracking code and the
// command that checks it, says that voting again is safe, and exits with status 3, saving no receipt.
func TestVoteInDoubt(t *testing.T) {
	t.Parallel() // most of its time is spent waiting for the vote command's retries
	ln, addr, cred := startLossyNode(t, never)
	dir := t.TempDir()
	receipt := filepath.Join(dir, "receipt.json")
	code, out, errs := runCmd(t, "vote", "--node", addr, "--plaintext", "--credential", cred, "--random", "--receipt", receipt, "--in-doubt-wait", "1s")
	if code != exitInDoubt {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitInDoubt, out, errs)
	}
	if ln.lost.Load() != 1 {
		t.Fatalf("%d answers lost, want 1", ln.lost.Load())
	}
	tc := trackingCodeOf(t, out)
	for _, want := range []string{
		"may be on the board already",
		"recount receipt " + tc + " --node " + addr + "\n",
		"Voting again is safe: only your last ballot counts.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("vote did not print %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "tracking code:") > strings.Index(out, "in doubt:") {
		t.Errorf("the tracking code was not printed first:\n%s", out)
	}
	if !strings.Contains(errs, "the ballot is in doubt") {
		t.Errorf("stderr: %s", errs)
	}
	if _, err := os.Stat(receipt); !os.IsNotExist(err) {
		t.Errorf("a receipt was saved: %v", err)
	}
	// The command printed finds nothing on the board (the node never recorded the ballot), and says so.
	code, out, errs = runCmd(t, "receipt", tc, "--node", addr)
	if code == 0 || !strings.Contains(out, "no ballot with this tracking code") {
		t.Errorf("recount receipt: exit %d\n%s%s", code, out, errs)
	}
	// --help documents the exit status.
	_, _, help := runCmd(t, "vote", "--help")
	if !strings.Contains(help, "3 when the ballot is in doubt") || !strings.Contains(help, "-in-doubt-wait") {
		t.Errorf("vote --help does not document the in-doubt case:\n%s", help)
	}
}

// TestSubmitInDoubtCancelled: the voter's cancellation (Ctrl-C) ends the search for an in-doubt ballot at once,
// however long InDoubtWait is, with an InDoubtError naming the tracking code.
func TestSubmitInDoubtCancelled(t *testing.T) {
	_, addr, credFile := startLossyNode(t, never)
	cred, err := election.ParseCredentialFile(readFile(t, credFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := grpcnode.Dial(addr, grpcnode.DialOptions{Plaintext: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	info, err := c.Election(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := election.EncryptBallot(info.Manifest, info.Key, cred, election.RandomChoices(info.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Submit(ctx, info, b, client.SubmitOptions{InDoubtWait: time.Hour, InDoubt: func(error) { cancel() }})
	var doubt *client.InDoubtError
	if !errors.As(err, &doubt) || doubt.TrackingCode != b.TrackingCode() || doubt.Challenge {
		t.Fatalf("error %v, want an InDoubtError for the ballot", err)
	}
}

package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
)

// DialOptions configure Dial.
type DialOptions struct {
	// Plaintext talks to the node without TLS (a node on loopback, or tests).
	Plaintext bool
	// CAFile is a PEM file of the CAs that sign the node's certificate; empty means the system's roots.
	CAFile string
	// CertFile and KeyFile are a client certificate and key (PEM), for admin calls over mutual TLS.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the node's certificate.
	ServerName string
	// Token is the admin bearer token, sent with AdminService calls and with streaming calls (StreamEntries,
	// Export), which then may use the streams the node keeps for the commission (node.ServerOptions.AdminStreams).
	Token []byte
	// Timeout is the deadline given to unary calls whose context has none (DefaultCallTimeout when 0).
	Timeout time.Duration
}

// LoadCertPool reads the PEM certificates of a certificate authority from path.
func LoadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// Client is a connection to a node with a client for each service.
type Client struct {
	Conn    *grpc.ClientConn
	Voter   recountv1.VoterServiceClient
	Trustee recountv1.TrusteeServiceClient
	Admin   recountv1.AdminServiceClient
	Board   recountv1.BoardServiceClient
}

// Dial connects to the node at target (host:port). The connection is made lazily, at the first call.
func Dial(target string, opts DialOptions) (*Client, error) {
	var creds credentials.TransportCredentials
	if opts.Plaintext {
		if opts.CAFile != "" || opts.CertFile != "" {
			return nil, errors.New("dial: plaintext with TLS files: choose one")
		}
		creds = insecure.NewCredentials()
	} else {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: opts.ServerName}
		if opts.CAFile != "" {
			pool, err := LoadCertPool(opts.CAFile)
			if err != nil {
				return nil, fmt.Errorf("dial: %w", err)
			}
			cfg.RootCAs = pool
		}
		if opts.CertFile != "" || opts.KeyFile != "" {
			cert, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("dial: client certificate: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		creds = credentials.NewTLS(cfg)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	token := opts.Token
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxReceiveBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
			if _, ok := ctx.Deadline(); !ok {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if len(token) > 0 && isAdmin(method) {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+string(token))
			}
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
			if len(token) > 0 {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+string(token))
			}
			return streamer(ctx, desc, cc, method, callOpts...)
		}))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return &Client{Conn: conn, Voter: recountv1.NewVoterServiceClient(conn), Trustee: recountv1.NewTrusteeServiceClient(conn),
		Admin: recountv1.NewAdminServiceClient(conn), Board: recountv1.NewBoardServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }

// ElectionInfo is what a voting client reads from the node before it encrypts a ballot.
type ElectionInfo struct {
	Manifest *election.Manifest
	Key      *elgamal.PublicKey
	BoardKey string
	Phase    recountv1.Phase
}

// CheckElectionKey replays the board from its first entry up to the election key, through the same checks a
// verifier runs, and returns an error unless the manifest is the election the voter expects (want, from the
// credential) and the key the node handed out (info.Key) is the one the trustees' ceremony on the board yields.
// A voting client calls it before it encrypts: a node that gave a voter a key of its own could read that ballot.
// The trustees sign their ceremony entries with keys named in the manifest, so the node cannot forge them.
func (c *Client) CheckElectionKey(ctx context.Context, info *ElectionInfo, want election.ID) error {
	if info.Manifest.ID() != want {
		return fmt.Errorf("the node holds election %s, not %s", info.Manifest.ID(), want)
	}
	if info.Key == nil {
		return errors.New("the node has no election key yet")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{From: 0})
	if err != nil {
		return err
	}
	s := election.NewState()
	r := election.NewReplayer(s, election.ReplayOptions{Applied: func(_ election.Entry, errs []*election.CheckError) error {
		if len(errs) > 0 {
			return fmt.Errorf("the board fails a check before the election key: %v", errs[0])
		}
		return nil
	}})
	for s.Key() == nil {
		msg, err := stream.Recv()
		if err == io.EOF {
			return errors.New("the board holds no election key")
		}
		if err != nil {
			return fmt.Errorf("reading the board: %w", err)
		}
		if err := r.Feed(ctx, election.FromBoard(StreamedEntry(msg))); err != nil {
			return err
		}
	}
	if s.Manifest().ID() != want {
		return fmt.Errorf("the board's manifest is election %s, not %s", s.Manifest().ID(), want)
	}
	if string(s.Key().PublicKey.Bytes()) != string(info.Key.Bytes()) {
		return errors.New("the election key the node gave is not the one the trustees' ceremony on the board yields: do not vote through this node")
	}
	return nil
}

// Election reads the election from the node and checks that the manifest hashes to the election identity.
func (c *Client) Election(ctx context.Context) (*ElectionInfo, error) {
	resp, err := c.Voter.GetElection(ctx, &recountv1.GetElectionRequest{})
	if err != nil {
		return nil, err
	}
	if len(resp.Manifest) == 0 {
		return nil, errors.New("the node holds no election yet")
	}
	m, err := election.ParseManifest(resp.Manifest)
	if err != nil {
		return nil, fmt.Errorf("the node's manifest: %w", err)
	}
	if id := m.ID(); string(id[:]) != string(resp.ElectionId) {
		return nil, errors.New("the node's election identity is not the hash of its manifest")
	}
	info := &ElectionInfo{Manifest: m, BoardKey: resp.BoardKey, Phase: resp.Phase}
	if len(resp.JointKey) > 0 {
		if info.Key, err = elgamal.ParsePublicKey(resp.JointKey); err != nil {
			return nil, fmt.Errorf("the node's election key: %w", err)
		}
	}
	return info, nil
}

// Encrypt encrypts a ballot of choices under the election key, signed with the voter's credential, ready for
// Submit. Call Client.CheckElectionKey on info first: a node that handed out a key of its own could read the
// ballot.
func (info *ElectionInfo) Encrypt(cred *election.Credential, choices election.Choices) (*election.PreparedBallot, error) {
	if info.Key == nil {
		return nil, errors.New("the node has no election key yet")
	}
	return election.EncryptBallot(info.Manifest, info.Key, cred, choices, nil)
}

// SubmitOptions tune Submit.
type SubmitOptions struct {
	// Challenge posts the ballot as challenged (a Benaloh challenge, which never counts) instead of casting it.
	Challenge bool
	// InDoubtWait is how long to keep looking for the ballot by its tracking code when the call ended without
	// an answer; 0 means one look.
	InDoubtWait time.Duration
	// InDoubt, if set, is called once the call has ended without an answer, with its error, before the search.
	InDoubt func(err error)
}

// InDoubtError is Submit's error when the cast (or challenge) ended without an answer and the ballot could
// not be found on the board in the time allowed: it may be there all the same, or appear later.
type InDoubtError struct {
	TrackingCode election.ID
	Challenge    bool
	// Err is the error that ended the call; Last is the last search's.
	Err, Last error
}

func (e *InDoubtError) Error() string {
	return fmt.Sprintf("the ballot may or may not be on the board: the node did not answer (%v), and a search by tracking code did not find it (%v)", e.Err, e.Last)
}

func (e *InDoubtError) Unwrap() error { return e.Err }

// inDoubt reports whether a call that ended with err may have reached the node and been carried out: it ended
// without the node's answer, rather than with a refusal.
func inDoubt(err error) bool {
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Unavailable, codes.Canceled:
		return true
	}
	return false
}

// The search for an in-doubt ballot waits between looks from findFirstWait, doubling up to findMaxWait.
const (
	findFirstWait = 250 * time.Millisecond
	findMaxWait   = 8 * time.Second
)

// Submit casts a prepared ballot (or challenges it, with opts.Challenge) and returns its receipt, checked against
// the ballot sent: the checkpoint's signature under the board key and the inclusion proof.
//
// When the call ends without the node's answer (a lost connection, Unavailable, a deadline), the ballot may be
// on the board all the same: Submit then asks the node for it by tracking code (GetReceipt), again with
// exponential backoff until opts.InDoubtWait has passed (the last look may take a second more; the caller's
// deadline does not end the search, a cancellation of ctx does). A receipt found so is checked as a direct answer is. If the ballot is not found, the
// error is an *InDoubtError. A refusal by the node is returned as it is: the ballot is not on the board.
func (c *Client) Submit(ctx context.Context, info *ElectionInfo, b *election.PreparedBallot, opts SubmitOptions) (*Receipt, error) {
	d := b.DraftCast()
	if opts.Challenge {
		d = b.DraftChallenge()
	}
	var pb *recountv1.Receipt
	var err error
	if opts.Challenge {
		var resp *recountv1.ChallengeBallotResponse
		if resp, err = c.Voter.ChallengeBallot(ctx, &recountv1.ChallengeBallotRequest{SpoiledBallot: d.Payload}); err == nil {
			pb = resp.Receipt
		}
	} else {
		var resp *recountv1.CastBallotResponse
		if resp, err = c.Voter.CastBallot(ctx, &recountv1.CastBallotRequest{SignedBallot: d.Payload}); err == nil {
			pb = resp.Receipt
		}
	}
	if err != nil && inDoubt(err) {
		if opts.InDoubt != nil {
			opts.InDoubt(err)
		}
		var last error
		if pb, last = c.find(ctx, b.TrackingCode(), opts.InDoubtWait); last != nil {
			return nil, &InDoubtError{TrackingCode: b.TrackingCode(), Challenge: opts.Challenge, Err: err, Last: last}
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	r, err := ReceiptFromProto(pb, info.Manifest.ID(), d.Kind)
	if err != nil {
		return nil, err
	}
	if r.TrackingCode != b.TrackingCode() {
		return nil, fmt.Errorf("%w: the node answered with another tracking code", ErrReceipt)
	}
	if _, err := r.Verify(info.BoardKey, d.Kind, d.Payload); err != nil {
		return nil, err
	}
	return r, nil
}

// find looks for the receipt of the ballot with tracking code code, once, then again with exponential backoff
// until wait has passed. The search outlives ctx's deadline (which may be what ended the cast), but not its
// cancellation. It returns the last look's error when the ballot was not found.
func (c *Client) find(ctx context.Context, code election.ID, wait time.Duration) (*recountv1.Receipt, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cancel()
		}
	})
	defer stop()
	deadline := time.Now().Add(wait)
	pause := findFirstWait
	for {
		// A look gets what is left of the wait, but at least a second (and the usual timeout for a single one).
		timeout := DefaultCallTimeout
		if wait > 0 {
			timeout = min(timeout, max(time.Until(deadline), time.Second))
		}
		lctx, lcancel := context.WithTimeout(sctx, timeout)
		resp, err := c.Voter.GetReceipt(lctx, &recountv1.GetReceiptRequest{TrackingCode: code[:]})
		lcancel()
		if err == nil {
			return resp.Receipt, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, err
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-t.C:
		case <-sctx.Done():
			t.Stop()
			return nil, err
		}
		pause = min(2*pause, findMaxWait)
	}
}

// CheckReceipt asks the node where a receipt's ballot stands now and checks the answer: the entry is in the
// latest checkpoint, and the latest checkpoint extends the receipt's (the board was not rewritten since). It
// returns the node's answer and the latest checkpoint.
func (c *Client) CheckReceipt(ctx context.Context, r *Receipt) (*recountv1.GetReceiptResponse, tlog.Checkpoint, error) {
	old, err := tlog.ParseCheckpoint(r.Checkpoint, r.BoardKey)
	if err != nil {
		return nil, tlog.Checkpoint{}, fmt.Errorf("%w: checkpoint: %v", ErrReceipt, err)
	}
	resp, err := c.Voter.GetReceipt(ctx, &recountv1.GetReceiptRequest{TrackingCode: r.TrackingCode[:], SinceSize: old.Size})
	if err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	if resp.Receipt == nil {
		return nil, tlog.Checkpoint{}, fmt.Errorf("%w: the node sent no proof", ErrReceipt)
	}
	// The entry at the receipt's index, read from the board: the check recomputes its leaf.
	entry, err := c.entryAt(ctx, r.Index)
	if err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	latest, err := r.CheckOnBoard(verify.BoardAnswer{Checkpoint: resp.Receipt.Checkpoint, ConsistencyProof: resp.ConsistencyProof,
		Index: resp.Receipt.Index, InclusionProof: resp.Receipt.InclusionProof, Kind: election.Kind(entry.Kind), Payload: entry.Payload})
	if err != nil {
		return nil, latest, err
	}
	return resp, latest, nil
}

// entryAt reads the board's entry at index. The board serves entries only as a stream, and a node bounds the
// streams of a connection (TOO_MANY_STREAMS): a Client shared by many goroutines, each checking a receipt, waits
// for a slot rather than fail.
func (c *Client) entryAt(ctx context.Context, index uint64) (tlog.Entry, error) {
	pause := 20 * time.Millisecond
	for {
		e, err := c.readEntryAt(ctx, index)
		if reason, _ := Reason(err); status.Code(err) != codes.ResourceExhausted || reason != ReasonTooManyStreams {
			return e, err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return tlog.Entry{}, err
		}
		pause = min(2*pause, time.Second)
	}
}

func (c *Client) readEntryAt(ctx context.Context, index uint64) (tlog.Entry, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Board.StreamEntries(sctx, &recountv1.StreamEntriesRequest{From: index})
	if err != nil {
		return tlog.Entry{}, err
	}
	m, err := stream.Recv()
	if err != nil {
		return tlog.Entry{}, err
	}
	return StreamedEntry(m), nil
}

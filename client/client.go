package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
)

// Client is the voter's client of a node: the election's manifest and key, checked; casting and challenging a
// ballot, with the search for one whose cast ended without an answer; the key checked against the trustees'
// ceremony on the board; and receipts checked against the board. It talks to the node through a Node.
type Client struct {
	node Node

	mu      sync.Mutex
	seen    tlog.Checkpoint // the largest checkpoint seen and checked (seen.go)
	seenKey string          // the board key it verified under
	seenOK  bool
}

// New returns the client of node.
func New(node Node) *Client { return &Client{node: node} }

// ElectionInfo is what a voting client reads from the node before it encrypts a ballot.
type ElectionInfo struct {
	Manifest *election.Manifest
	Key      *elgamal.PublicKey
	BoardKey string
	Phase    Phase
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
	s := election.NewState()
	r := election.NewReplayer(s, election.ReplayOptions{Applied: func(_ election.Entry, errs []*election.CheckError) error {
		if len(errs) > 0 {
			return fmt.Errorf("the board fails a check before the election key: %v", errs[0])
		}
		return nil
	}})
	for e, err := range c.node.Entries(ctx, 0) {
		if err != nil {
			return fmt.Errorf("reading the board: %w", err)
		}
		if err := r.Feed(ctx, election.FromBoard(e)); err != nil {
			return err
		}
		if s.Key() != nil {
			break
		}
	}
	if s.Key() == nil {
		return errors.New("the board holds no election key")
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
	resp, err := c.node.Election(ctx)
	if err != nil {
		return nil, err
	}
	if resp == nil || len(resp.Manifest) == 0 {
		return nil, errors.New("the node holds no election yet")
	}
	m, err := election.ParseManifest(resp.Manifest)
	if err != nil {
		return nil, fmt.Errorf("the node's manifest: %w", err)
	}
	if id := m.ID(); string(id[:]) != string(resp.ID) {
		return nil, errors.New("the node's election identity is not the hash of its manifest")
	}
	info := &ElectionInfo{Manifest: m, BoardKey: resp.BoardKey, Phase: resp.Phase}
	if len(resp.Key) > 0 {
		if info.Key, err = elgamal.ParsePublicKey(resp.Key); err != nil {
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

// The search for an in-doubt ballot waits between looks from findFirstWait, doubling up to findMaxWait.
const (
	findFirstWait = 250 * time.Millisecond
	findMaxWait   = 8 * time.Second
)

// Submit casts a prepared ballot (or challenges it, with opts.Challenge) and returns its receipt, checked against
// the ballot sent: the checkpoint's signature under the board key and the inclusion proof.
//
// When the call ends without the node's answer (an error wrapping ErrNoAnswer: a lost connection, an unavailable
// node, a deadline), the ballot may be on the board all the same: Submit then asks the node for it by tracking
// code (Node.Lookup), again with exponential backoff until opts.InDoubtWait has passed (the last look may take a
// second more; the caller's deadline does not end the search, a cancellation of ctx does). A receipt found so is
// checked as a direct answer is. If the ballot is not found, the error is an *InDoubtError. A refusal by the node
// (a *Refusal) is returned as it is: the ballot is not on the board.
//
// The receipt's checkpoint must extend the last checkpoint the client saw (Seen): if it does not, Submit returns
// the receipt together with a *ForkError, so that the voter keeps it as evidence of the node's two histories.
func (c *Client) Submit(ctx context.Context, info *ElectionInfo, b *election.PreparedBallot, opts SubmitOptions) (*Receipt, error) {
	d := b.DraftCast()
	if opts.Challenge {
		d = b.DraftChallenge()
	}
	seen, _, _ := c.Seen()
	inc, err := c.node.Post(ctx, d.Kind, d.Payload, seen.Size)
	if err != nil && errors.Is(err, ErrNoAnswer) {
		if opts.InDoubt != nil {
			opts.InDoubt(err)
		}
		var last error
		if inc, last = c.find(ctx, b.TrackingCode(), opts.InDoubtWait); last != nil {
			return nil, &InDoubtError{TrackingCode: b.TrackingCode(), Challenge: opts.Challenge, Err: err, Last: last}
		}
		err = nil
	}
	if err != nil {
		return nil, err
	}
	r, err := receiptOf(inc, info.Manifest.ID(), d.Kind)
	if err != nil {
		return nil, err
	}
	if r.TrackingCode != b.TrackingCode() {
		return nil, fmt.Errorf("%w: the node answered with another tracking code", ErrReceipt)
	}
	cp, err := r.Verify(info.BoardKey, d.Kind, d.Payload)
	if err != nil {
		return nil, err
	}
	if r.BoardKey == "" {
		// The node's answer named no key: the receipt names the one its checkpoint was checked under, so that it
		// can be checked again (Client.CheckReceipt, Receipt.CheckOnBoard check it under the key it names).
		r.BoardKey = info.BoardKey
	}
	if err := c.extendWith(ctx, cp, info.BoardKey, given{size: seen.Size, proof: inc.Consistency}); err != nil {
		// The ballot is on a board that is not the history seen before: the receipt is evidence, with the error.
		return r, err
	}
	return r, nil
}

// find looks for the receipt of the ballot with tracking code code, once, then again with exponential backoff
// until wait has passed. The search outlives ctx's deadline (which may be what ended the cast), but not its
// cancellation. It returns the last look's error when the ballot was not found.
func (c *Client) find(ctx context.Context, code election.ID, wait time.Duration) (*Inclusion, error) {
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
		l, err := c.node.Lookup(lctx, code, 0)
		lcancel()
		if err == nil {
			if l == nil {
				return nil, nil // no proof: the receipt's check says so
			}
			return l.Inclusion, nil
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
// latest checkpoint, and the latest checkpoint extends the receipt's (the board was not rewritten since) and the
// last one the client saw (Seen; a *ForkError if not). It returns the node's answer and the latest checkpoint.
func (c *Client) CheckReceipt(ctx context.Context, r *Receipt) (*BallotLookup, tlog.Checkpoint, error) {
	old, err := tlog.ParseCheckpoint(r.Checkpoint, r.BoardKey)
	if err != nil {
		return nil, tlog.Checkpoint{}, fmt.Errorf("%w: checkpoint: %v", ErrReceipt, err)
	}
	l, err := c.node.Lookup(ctx, r.TrackingCode, old.Size)
	if err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	if l == nil || l.Inclusion == nil {
		return nil, tlog.Checkpoint{}, fmt.Errorf("%w: the node sent no proof", ErrReceipt)
	}
	// The entry at the receipt's index, read from the board: the check recomputes its leaf.
	entry, err := c.entryAt(ctx, r.Index)
	if err != nil {
		return nil, tlog.Checkpoint{}, err
	}
	latest, err := r.CheckOnBoard(verify.BoardAnswer{Checkpoint: l.Inclusion.Checkpoint, ConsistencyProof: l.Consistency,
		Index: l.Inclusion.Index, InclusionProof: l.Inclusion.Proof, Kind: election.Kind(entry.Kind), Payload: entry.Payload})
	if err != nil {
		return nil, latest, err
	}
	if err := c.extend(ctx, latest, r.BoardKey); err != nil {
		return nil, latest, err
	}
	return l, latest, nil
}

// UpgradeReceipt asks the node for the latest witnessed checkpoint that covers a receipt's ballot (a receipt
// given before the witnesses cosigned says Unwitnessed), and checks the answer as CheckReceipt does: the entry
// is in that checkpoint's tree, and that tree extends the receipt's. It returns the receipt against that
// checkpoint, with its cosignatures (Cosigned), which the caller checks against the election's witness policy
// (witness/policy's Check); the witnessed checkpoint must be of the history the client saw (Seen; a *ForkError if
// not). A node with no witness policy, or no witnessed checkpoint covering the receipt yet,
// refuses (a *Refusal, ReasonBadRequest or ReasonNotFound): try again later.
func (c *Client) UpgradeReceipt(ctx context.Context, r *Receipt) (*Receipt, error) {
	old, err := tlog.ParseCheckpoint(r.Checkpoint, r.BoardKey)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %v", ErrReceipt, err)
	}
	l, err := c.node.LookupWitnessed(ctx, r.TrackingCode, old.Size)
	if err != nil {
		return nil, err
	}
	if l == nil || l.Inclusion == nil {
		return nil, fmt.Errorf("%w: the node sent no proof", ErrReceipt)
	}
	if len(l.Inclusion.Cosigned) == 0 {
		return nil, fmt.Errorf("%w: the node sent no cosigned checkpoint", ErrReceipt)
	}
	entry, err := c.entryAt(ctx, r.Index)
	if err != nil {
		return nil, err
	}
	kind := election.Kind(entry.Kind)
	if _, err := r.CheckOnBoard(verify.BoardAnswer{Checkpoint: l.Inclusion.Checkpoint, ConsistencyProof: l.Consistency,
		Index: l.Inclusion.Index, InclusionProof: l.Inclusion.Proof, Kind: kind, Payload: entry.Payload}); err != nil {
		return nil, err
	}
	up := *r
	up.Checkpoint, up.Inclusion, up.Cosigned, up.Unwitnessed = l.Inclusion.Checkpoint, l.Inclusion.Proof, l.Inclusion.Cosigned, false
	witnessed, err := up.Verify(r.BoardKey, kind, entry.Payload)
	if err != nil {
		return nil, err
	}
	if err := c.extend(ctx, witnessed, r.BoardKey); err != nil {
		return nil, err
	}
	return &up, nil
}

// entryAt reads the board's entry at index. The board serves entries only as a stream, and a node bounds the
// streams of a connection (ReasonTooManyStreams): a Client shared by many goroutines, each checking a receipt,
// waits for a slot rather than fail.
func (c *Client) entryAt(ctx context.Context, index uint64) (tlog.Entry, error) {
	pause := 20 * time.Millisecond
	for {
		e, err := c.readEntryAt(ctx, index)
		if !RefusedFor(err, ReasonTooManyStreams) {
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
	for e, err := range c.node.Entries(ctx, index) {
		return e, err
	}
	return tlog.Entry{}, fmt.Errorf("the board has no entry %d: %w", index, io.EOF)
}

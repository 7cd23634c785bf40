package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/recount-vote/recount/ledger/tlog"
)

// ErrFork is wrapped by a *ForkError: the node showed this client a board that does not extend the one it saw
// before.
var ErrFork = errors.New("the node's board does not extend the board this client saw before")

// A ForkError says that a node showed a checkpoint that is not of the history of the last checkpoint this client
// saw: of the same size with another root, or one that the node's own consistency proof does not join to it (a
// rolled-back or rewritten board, or two histories shown to different people). Both checkpoints are signed by
// the board's key, so Seen.Signed and Shown.Signed together are evidence anyone can check (recount observe
// --check does it for an observer's alarm file of the same two).
type ForkError struct {
	Seen, Shown tlog.Checkpoint
	Reason      string
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("%v: it showed a checkpoint of size %d (root %s) after this client saw one of size %d (root %s): %s; do not trust this node, and keep both signed checkpoints as evidence",
		ErrFork, e.Shown.Size, base64.StdEncoding.EncodeToString(e.Shown.Root[:]), e.Seen.Size, base64.StdEncoding.EncodeToString(e.Seen.Root[:]), e.Reason)
}

func (e *ForkError) Unwrap() error { return ErrFork }

// Seen returns the largest checkpoint of the node's board this client has seen and checked (the board key it is
// signed with, and whether there is one): every checkpoint the client accepts (a receipt's, a receipt check's, an
// upgrade's, CheckBoard's) must be of its history. A voting client that runs again keeps it (Seen) and restores
// it (See) so that a node cannot roll back between two sessions either.
func (c *Client) Seen() (cp tlog.Checkpoint, boardKey string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen, c.seenKey, c.seenOK
}

// See checks the signed checkpoint signed under boardKey and records it as seen: the first one is taken as it is
// (a restored state, or the first answer of the node); later ones must be of its history, with the node's
// consistency proof (Node.Consistency) between the smaller and the larger, or See returns a *ForkError and keeps
// the checkpoint it had. A checkpoint under another board key than the one seen is refused too.
func (c *Client) See(ctx context.Context, signed []byte, boardKey string) error {
	cp, err := tlog.ParseCheckpoint(signed, boardKey)
	if err != nil {
		return fmt.Errorf("the node's checkpoint: %w", err)
	}
	return c.extend(ctx, cp, boardKey)
}

// CheckBoard asks the node for its latest checkpoint and checks that it extends the checkpoint this client saw
// last (See, with the node's consistency proof); boardKey is the board key the client holds (ElectionInfo's, or
// the commission's). A voting client calls it before it casts: a node that rolled its board back, or shows this
// voter another history, is refused before the ballot is sent. It returns the node's latest checkpoint.
func (c *Client) CheckBoard(ctx context.Context, boardKey string) (tlog.Checkpoint, error) {
	signed, _, err := c.node.Consistency(ctx, 0, 0)
	if err != nil {
		return tlog.Checkpoint{}, err
	}
	cp, err := tlog.ParseCheckpoint(signed, boardKey)
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("the node's checkpoint: %w", err)
	}
	return cp, c.extend(ctx, cp, boardKey)
}

// extend records cp (signature verified under boardKey) as seen if it extends the checkpoint seen, checking the
// node's consistency proof between them.
func (c *Client) extend(ctx context.Context, cp tlog.Checkpoint, boardKey string) error {
	return c.extendWith(ctx, cp, boardKey, given{})
}

// given is a consistency proof the node sent along with a checkpoint (Node.Post's), between the board of size and
// the checkpoint's: extendWith uses it when the checkpoint seen is still of that size, rather than asking.
type given struct {
	size  uint64
	proof [][]byte
}

// extendWith is extend, with the consistency proof g when it is the one needed.
func (c *Client) extendWith(ctx context.Context, cp tlog.Checkpoint, boardKey string, g given) error {
	for {
		seen, key, ok := c.Seen()
		if ok {
			if key != boardKey {
				return &ForkError{Seen: seen, Shown: cp, Reason: fmt.Sprintf("it is signed with another board key (%s, not %s)", tlog.KeyFingerprint(boardKey), tlog.KeyFingerprint(key))}
			}
			if cp.Size != seen.Size || cp.Root != seen.Root {
				small, large := seen, cp
				if cp.Size < seen.Size {
					small, large = cp, seen
				}
				var proof [][]byte
				if small.Size != large.Size && g.proof != nil && g.size == seen.Size {
					// The node's proof between the same two sizes, which join checks as it would an answer to
					// Consistency: a proof that does not verify is the node's, signed checkpoints on both sides.
					proof = g.proof
				} else if small.Size != large.Size {
					_, p, err := c.node.Consistency(ctx, small.Size, large.Size)
					if err != nil {
						if RefusedFor(err, ReasonNotFound) && cp.Size < seen.Size {
							return &ForkError{Seen: seen, Shown: cp, Reason: fmt.Sprintf("the node has no board of size %d any more (%v)", seen.Size, err)}
						}
						return fmt.Errorf("the node's consistency proof from size %d to %d: %w", small.Size, large.Size, err)
					}
					proof = p
				}
				if err := join(seen, cp, proof); err != nil {
					return err
				}
			}
		}
		c.mu.Lock()
		if c.seenOK == ok && c.seen.Size == seen.Size && c.seen.Root == seen.Root {
			if !ok || cp.Size > seen.Size {
				c.seen, c.seenKey, c.seenOK = cp, boardKey, true
			}
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock() // another goroutine saw a checkpoint meanwhile: check against it
	}
}

// join checks that seen and shown are of one history: the smaller is a prefix of the larger with proof.
func join(seen, shown tlog.Checkpoint, proof [][]byte) error {
	small, large := seen, shown
	if shown.Size < seen.Size {
		small, large = shown, seen
	}
	if small.Size == large.Size {
		if small.Root != large.Root {
			return &ForkError{Seen: seen, Shown: shown, Reason: "two checkpoints of one size with different roots"}
		}
		return nil
	}
	if err := tlog.VerifyConsistency(small, large, proof); err != nil {
		return &ForkError{Seen: seen, Shown: shown, Reason: fmt.Sprintf("the node's own consistency proof between them does not verify (%v)", err)}
	}
	return nil
}

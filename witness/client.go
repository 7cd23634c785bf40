package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/witness/policy"
)

// maxResponseSize bounds a witness's answer: a few signature lines (an ML-DSA-44 cosignature line is about
// 3,300 bytes), or an error message.
const maxResponseSize = 64 << 10

// A Client submits checkpoints to one witness over c2sp.org/tlog-witness and checks the cosignatures it returns.
type Client struct {
	url      string
	http     *http.Client
	verifier note.Verifier
}

// NewClient returns a client of the witness whose submission prefix is prefix (requests go to
// prefix + "/add-checkpoint") and whose verifier key is vkey (a cosignature/v1 key, Ed25519 or ML-DSA-44, as
// a witness policy lists it, read by policy.CosignatureVerifier). hc is the HTTP client to use; nil means one with a 10-second timeout.
func NewClient(prefix, vkey string, hc *http.Client) (*Client, error) {
	v, err := policy.CosignatureVerifier(vkey)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Client{url: strings.TrimSuffix(prefix, "/") + "/add-checkpoint", http: hc, verifier: v}, nil
}

// Name returns the witness's key name.
func (c *Client) Name() string { return c.verifier.Name() }

// A Cosignature is a witness's verified cosignature of a checkpoint.
type Cosignature struct {
	Witness string    // the witness's key name
	Line    []byte    // the note signature line, "— <name> <base64>\n", to append to the checkpoint
	Time    time.Time // the timestamp the witness signed
}

// AddCheckpoint submits req and returns the witness's cosignature of req.Checkpoint, verified with the witness's
// key. A refusal wraps the sentinel error of its status code (ErrMalformed, ErrBadSignature, ErrUnknownLog,
// ErrInconsistent, ErrNotVerified); a 409 is a *ConflictError whose Size is the witness's, from which the caller
// retries with a new proof. A witness that cannot be reached or answers otherwise wraps ErrUnavailable.
func (c *Client) AddCheckpoint(ctx context.Context, req AddCheckpoint) (Cosignature, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(req.Marshal()))
	if err != nil {
		return Cosignature{}, fmt.Errorf("witness %s: %w: %v", c.Name(), ErrUnavailable, err)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return Cosignature{}, fmt.Errorf("witness %s: %w: %v", c.Name(), ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return Cosignature{}, fmt.Errorf("witness %s: %w: reading the answer: %v", c.Name(), ErrUnavailable, err)
	}
	if len(body) > maxResponseSize {
		return Cosignature{}, fmt.Errorf("witness %s: %w: the answer is larger than %d bytes", c.Name(), ErrUnavailable, maxResponseSize)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return c.checkCosignature(req.Checkpoint, body)
	case http.StatusConflict:
		size, ok := strings.CutSuffix(string(body), "\n")
		n, err := strconv.ParseUint(size, 10, 64)
		if !ok || err != nil || strconv.FormatUint(n, 10) != size || resp.Header.Get("Content-Type") != ContentTypeSize {
			return Cosignature{}, fmt.Errorf("witness %s: %w: a 409 answer that is not a %s size: %q", c.Name(), ErrUnavailable, ContentTypeSize, clip(body))
		}
		return Cosignature{}, &ConflictError{Origin: noteOrigin(req.Checkpoint), Size: n, Old: req.OldSize}
	}
	sentinel := map[int]error{
		http.StatusBadRequest:          ErrMalformed,
		http.StatusForbidden:           ErrBadSignature,
		http.StatusNotFound:            ErrUnknownLog,
		http.StatusUnprocessableEntity: ErrInconsistent,
		http.StatusServiceUnavailable:  ErrNotVerified,
	}[resp.StatusCode]
	if sentinel == nil {
		sentinel = ErrUnavailable
	}
	return Cosignature{}, fmt.Errorf("witness %s: %w: %s: %s", c.Name(), sentinel, resp.Status, clip(body))
}

// checkCosignature finds, among the signature lines a witness answered, its cosignature of checkpoint, and
// verifies it. Lines by other keys are ignored, as the protocol requires.
func (c *Client) checkCosignature(checkpoint, answer []byte) (Cosignature, error) {
	bad := func(format string, args ...any) (Cosignature, error) {
		return Cosignature{}, fmt.Errorf("witness %s: %w: its answer: %s", c.Name(), ErrUnavailable, fmt.Sprintf(format, args...))
	}
	if len(answer) == 0 || !bytes.HasSuffix(answer, []byte("\n")) {
		return bad("not newline-terminated signature lines: %q", clip(answer))
	}
	for _, line := range bytes.SplitAfter(answer, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !bytes.HasPrefix(line, []byte("— ")) {
			return bad("%q is not a signature line", clip(line))
		}
		// Each line alone, appended to the checkpoint (whose own signatures are unknown to this verifier).
		n, err := note.Open(append(bytes.Clone(checkpoint), line...), note.VerifierList(c.verifier))
		if err != nil {
			var unverified *note.UnverifiedNoteError
			if errors.As(err, &unverified) {
				continue // another key's line
			}
			return bad("the cosignature does not verify: %v", err)
		}
		ts, err := fnote.CoSigV1Timestamp(n.Sigs[0])
		if err != nil || ts.Unix() <= 0 {
			return bad("the cosignature has no timestamp")
		}
		return Cosignature{Witness: c.Name(), Line: bytes.Clone(line), Time: ts}, nil
	}
	return bad("no cosignature by %s+%08x", c.verifier.Name(), c.verifier.KeyHash())
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return strings.TrimSpace(string(b))
}

// A Prover returns the board's consistency proof from size old to size n (0 < old <= n), such as
// ledger.Log.ConsistencyProof.
type Prover func(old, n uint64) ([][]byte, error)

// Cosign asks the witness to cosign the board's signed checkpoint of size n, from old, the size the caller last
// had cosigned by this witness (0 if it does not know: a new node, or a restart). On a 409 it retries once from
// the size the witness names, if that is at most n, with a proof from prove. A witness that already cosigned a
// larger checkpoint of the board answers a *ConflictError whose Size is larger than n: the caller has a newer
// checkpoint to send it.
func (c *Client) Cosign(ctx context.Context, signed []byte, n, old uint64, prove Prover) (Cosignature, error) {
	for try := 0; ; try++ {
		req := AddCheckpoint{OldSize: old, Checkpoint: signed}
		if old > 0 && old < n {
			p, err := prove(old, n)
			if err != nil {
				return Cosignature{}, fmt.Errorf("witness %s: the board's consistency proof from %d to %d: %w", c.Name(), old, n, err)
			}
			req.Proof = p
		}
		cs, err := c.AddCheckpoint(ctx, req)
		var ce *ConflictError
		if try == 0 && errors.As(err, &ce) && ce.Size <= n && ce.Size != old {
			old = ce.Size
			continue
		}
		return cs, err
	}
}

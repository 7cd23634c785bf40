// Package webnode is client.Node over a node's JSON API (package web, docs/web.md): what the voting page
// compiled to WebAssembly talks to (through the browser's fetch there), and what its tests talk to natively (net/http).
// It links no gRPC and no protobuf service code: the API's messages are protojson of the node's service
// messages, read here into plain structures whose field names a test in package web holds to the messages'.
package webnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// Node is a node's JSON API at Base (e.g. "https://vote.example.org"; "" for the page's own origin in a
// browser).
type Node struct {
	Base string
	// Transport carries the calls; nil means the platform's: net/http's default client natively, and in a browser
	// (GOOS=js) the page's fetch, called directly, so that the WebAssembly links no net/http (a third of its size).
	Transport Transport
}

// Transport carries one HTTP request: method to url with body (JSON, or none when nil), and returns the answer's
// status and body, read in full up to maxBytes. An error means no answer.
type Transport interface {
	RoundTrip(ctx context.Context, method, url string, body []byte, maxBytes int64) (status int, data []byte, err error)
}

var _ client.Node = (*Node)(nil)

// The API's messages: protojson of the node's service messages (api/recount/v1), in their JSON names. Bytes
// are base64, 64-bit integers strings, enums their names; a field at its zero value is left out.
type (
	// ElectionJSON is GetElectionResponse.
	ElectionJSON struct {
		Manifest    []byte `json:"manifest"`
		ElectionID  []byte `json:"electionId"`
		JointKey    []byte `json:"jointKey"`
		Credentials uint64 `json:"credentials,string"`
		Phase       string `json:"phase"`
		BoardKey    string `json:"boardKey"`
	}
	// ReceiptJSON is Receipt.
	ReceiptJSON struct {
		TrackingCode       []byte   `json:"trackingCode"`
		Index              uint64   `json:"index,string"`
		Checkpoint         []byte   `json:"checkpoint"`
		InclusionProof     [][]byte `json:"inclusionProof"`
		BoardKey           string   `json:"boardKey"`
		CosignedCheckpoint []byte   `json:"cosignedCheckpoint"`
		Unwitnessed        bool     `json:"unwitnessed"`
	}
	// CastJSON is CastBallotResponse and ChallengeBallotResponse.
	CastJSON struct {
		Receipt          *ReceiptJSON `json:"receipt"`
		ConsistencyProof [][]byte     `json:"consistencyProof"`
	}
	// LookupJSON is GetReceiptResponse.
	LookupJSON struct {
		Receipt          *ReceiptJSON `json:"receipt"`
		ConsistencyProof [][]byte     `json:"consistencyProof"`
		Status           string       `json:"status"`
		SupersededBy     uint64       `json:"supersededBy,string"`
	}
	// CheckpointJSON is GetCheckpointResponse.
	CheckpointJSON struct {
		Checkpoint         []byte `json:"checkpoint"`
		VerifierKey        string `json:"verifierKey"`
		CosignedCheckpoint []byte `json:"cosignedCheckpoint"`
	}
	// ProofJSON is GetConsistencyProofResponse (NewSize) and GetInclusionProofResponse (TreeSize).
	ProofJSON struct {
		NewSize    uint64   `json:"newSize,string"`
		TreeSize   uint64   `json:"treeSize,string"`
		Proof      [][]byte `json:"proof"`
		Checkpoint []byte   `json:"checkpoint"`
	}
	// EntryJSON is StreamEntriesResponse.
	EntryJSON struct {
		Index   uint64 `json:"index,string"`
		Kind    string `json:"kind"`
		Payload []byte `json:"payload"`
	}
	// EntriesJSON is a page of entries: End says it reached the board's end; Error, that the node's stream
	// failed after the entries before it.
	EntriesJSON struct {
		Entries []EntryJSON `json:"entries"`
		End     bool        `json:"end"`
		Error   *ErrorJSON  `json:"error"`
	}
	// StatusJSON is GetStatusResponse, the fields the pages show.
	StatusJSON struct {
		Phase              string             `json:"phase"`
		BoardSize          uint64             `json:"boardSize,string"`
		Credentials        uint64             `json:"credentials,string"`
		BallotsCast        uint64             `json:"ballotsCast,string"`
		Voters             uint64             `json:"voters,string"`
		Spoiled            uint64             `json:"spoiled,string"`
		PartialDecryptions []uint32           `json:"partialDecryptions"`
		Witnessing         *WitnessStatusJSON `json:"witnessing"`
	}
	// WitnessStatusJSON is WitnessStatus.
	WitnessStatusJSON struct {
		Quorum        string `json:"quorum"`
		WitnessedSize uint64 `json:"witnessedSize,string"`
	}
	// ErrorJSON is the body of a refused or failed call (web.APIError).
	ErrorJSON struct {
		Code    string `json:"code"`
		Reason  string `json:"reason"`
		Check   int    `json:"check"`
		Message string `json:"message"`
	}
)

// phases are the API's phase names.
var phases = map[string]client.Phase{
	"PHASE_EMPTY": client.PhaseEmpty, "PHASE_SETUP": client.PhaseSetup, "PHASE_OPEN": client.PhaseOpen,
	"PHASE_CLOSED": client.PhaseClosed, "PHASE_TALLYING": client.PhaseTallying, "PHASE_DONE": client.PhaseDone,
}

// PhaseOf is the phase of the API's name for it; client.PhaseUnknown for one it does not know.
func PhaseOf(name string) client.Phase { return phases[name] }

var statuses = map[string]election.Status{
	"BALLOT_STATUS_CAST": election.StatusCast, "BALLOT_STATUS_COUNTED": election.StatusCounted,
	"BALLOT_STATUS_SUPERSEDED": election.StatusSuperseded, "BALLOT_STATUS_SPOILED": election.StatusSpoiled,
	"BALLOT_STATUS_NOT_COUNTED": election.StatusNotCounted,
}

// StatusOf is the ballot status of the API's name for it; election.StatusUnknown for one it does not know.
func StatusOf(name string) election.Status { return statuses[name] }

// Election is GET /api/v1/election.
func (n *Node) Election(ctx context.Context) (*client.NodeElection, error) {
	var e ElectionJSON
	if err := n.Call(ctx, "GET", "election", nil, &e); err != nil {
		return nil, err
	}
	return &client.NodeElection{Manifest: e.Manifest, ID: e.ElectionID, Key: e.JointKey, BoardKey: e.BoardKey, Phase: PhaseOf(e.Phase)}, nil
}

// Post is POST /api/v1/cast for election.KindBallot and /api/v1/challenge for election.KindSpoiledBallot.
func (n *Node) Post(ctx context.Context, kind election.Kind, payload []byte, sinceSize uint64) (*client.Inclusion, error) {
	var path string
	var req any
	switch kind {
	case election.KindBallot:
		path, req = "cast", struct {
			SignedBallot []byte `json:"signedBallot"`
			SinceSize    uint64 `json:"sinceSize,string,omitempty"`
		}{payload, sinceSize}
	case election.KindSpoiledBallot:
		path, req = "challenge", struct {
			SpoiledBallot []byte `json:"spoiledBallot"`
			SinceSize     uint64 `json:"sinceSize,string,omitempty"`
		}{payload, sinceSize}
	default:
		return nil, errors.New("webnode: a voter posts a ballot or a challenged ballot, no other kind of entry")
	}
	var resp CastJSON
	if err := n.Call(ctx, "POST", path, req, &resp); err != nil {
		return nil, err
	}
	inc := resp.Receipt.inclusion()
	if inc != nil {
		inc.Consistency = resp.ConsistencyProof
	}
	return inc, nil
}

type receiptRequest struct {
	TrackingCode []byte `json:"trackingCode"`
	SinceSize    uint64 `json:"sinceSize,string"`
	Witnessed    bool   `json:"witnessed"`
}

// Lookup is POST /api/v1/receipt.
func (n *Node) Lookup(ctx context.Context, code election.ID, sinceSize uint64) (*client.BallotLookup, error) {
	return n.lookup(ctx, receiptRequest{TrackingCode: code[:], SinceSize: sinceSize})
}

// LookupWitnessed is POST /api/v1/receipt with witnessed.
func (n *Node) LookupWitnessed(ctx context.Context, code election.ID, sinceSize uint64) (*client.BallotLookup, error) {
	return n.lookup(ctx, receiptRequest{TrackingCode: code[:], SinceSize: sinceSize, Witnessed: true})
}

func (n *Node) lookup(ctx context.Context, req receiptRequest) (*client.BallotLookup, error) {
	var resp LookupJSON
	if err := n.Call(ctx, "POST", "receipt", req, &resp); err != nil {
		return nil, err
	}
	return &client.BallotLookup{Inclusion: resp.Receipt.inclusion(), Consistency: resp.ConsistencyProof, Status: StatusOf(resp.Status),
		SupersededBy: resp.SupersededBy}, nil
}

// Consistency is POST /api/v1/consistency.
func (n *Node) Consistency(ctx context.Context, oldSize, newSize uint64) ([]byte, [][]byte, error) {
	var resp ProofJSON
	req := struct {
		OldSize uint64 `json:"oldSize,string"`
		NewSize uint64 `json:"newSize,string"`
	}{oldSize, newSize}
	if err := n.Call(ctx, "POST", "consistency", req, &resp); err != nil {
		return nil, nil, err
	}
	return resp.Checkpoint, resp.Proof, nil
}

// Inclusion is POST /api/v1/inclusion: the signed checkpoint of treeSize (the latest when 0) and the inclusion
// proof of entry index in it.
func (n *Node) Inclusion(ctx context.Context, index, treeSize uint64) (checkpoint []byte, proof [][]byte, err error) {
	var resp ProofJSON
	req := struct {
		Index    uint64 `json:"index,string"`
		TreeSize uint64 `json:"treeSize,string"`
	}{index, treeSize}
	if err := n.Call(ctx, "POST", "inclusion", req, &resp); err != nil {
		return nil, nil, err
	}
	return resp.Checkpoint, resp.Proof, nil
}

// Checkpoint is GET /api/v1/checkpoint: the latest signed checkpoint, the board key, and the latest witnessed
// checkpoint with its cosignatures (empty without one).
func (n *Node) Checkpoint(ctx context.Context) (*CheckpointJSON, error) {
	var resp CheckpointJSON
	if err := n.Call(ctx, "GET", "checkpoint", nil, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// WitnessPolicy is GET /api/v1/witness-policy: the policy's text as the server gives it; nil when the server has
// none.
func (n *Node) WitnessPolicy(ctx context.Context) ([]byte, error) {
	tr := n.Transport
	if tr == nil {
		tr = defaultTransport
	}
	status, data, err := tr.RoundTrip(ctx, "GET", strings.TrimSuffix(n.Base, "/")+"/api/v1/witness-policy", nil, 1<<20)
	switch {
	case err != nil:
		return nil, client.NoAnswer(fmt.Errorf("the node did not answer witness-policy: %w", err))
	case status == 404:
		return nil, nil
	case status != 200:
		return nil, fmt.Errorf("the node's web server answered witness-policy with HTTP %d", status)
	}
	return data, nil
}

// Status is GET /api/v1/status.
func (n *Node) Status(ctx context.Context) (*StatusJSON, error) {
	var resp StatusJSON
	if err := n.Call(ctx, "GET", "status", nil, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Entries reads pages of POST /api/v1/entries from index from until a page reaches the board's end.
func (n *Node) Entries(ctx context.Context, from uint64) iter.Seq2[tlog.Entry, error] {
	return func(yield func(tlog.Entry, error) bool) {
		for {
			var page EntriesJSON
			req := struct {
				From uint64 `json:"from,string"`
			}{from}
			if err := n.Call(ctx, "POST", "entries", req, &page); err != nil {
				yield(tlog.Entry{}, err)
				return
			}
			for _, e := range page.Entries {
				if e.Index != from {
					yield(tlog.Entry{}, fmt.Errorf("the node sent entry %d where entry %d was due", e.Index, from))
					return
				}
				kind, ok := recordv1.EntryKind_value[e.Kind]
				if !ok || kind <= 0 {
					yield(tlog.Entry{}, fmt.Errorf("the node sent entry %d of an unknown kind %q", e.Index, e.Kind))
					return
				}
				if !yield(tlog.Entry{Index: e.Index, Kind: tlog.Kind(kind), Payload: e.Payload}, nil) {
					return
				}
				from++
			}
			if page.Error != nil {
				yield(tlog.Entry{}, errorOf(*page.Error))
				return
			}
			if page.End || len(page.Entries) == 0 {
				return
			}
		}
	}
}

func (r *ReceiptJSON) inclusion() *client.Inclusion {
	if r == nil {
		return nil
	}
	return &client.Inclusion{TrackingCode: r.TrackingCode, Index: r.Index, Checkpoint: r.Checkpoint, Proof: r.InclusionProof,
		BoardKey: r.BoardKey, Cosigned: r.CosignedCheckpoint, Unwitnessed: r.Unwitnessed}
}

// Call makes one API call: method GET or POST to /api/v1/path with req as its JSON body (POST), decoding the
// answer into resp. A refusal (an error body with a reason) is a *client.Refusal; a call that ended without the
// node's answer wraps client.ErrNoAnswer, as package grpcnode reads gRPC's statuses: no answer at all, a
// timeout, Unavailable, DeadlineExceeded or Canceled, and a server error with no reason (from something between
// the page and the node).
func (n *Node) Call(ctx context.Context, method, path string, req, resp any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, client.DefaultCallTimeout)
		defer cancel()
	}
	var body []byte
	if req != nil {
		b, err := json.Marshal(req)
		if err != nil {
			return err
		}
		body = b
	}
	tr := n.Transport
	if tr == nil {
		tr = defaultTransport
	}
	start := time.Now()
	// A page of entries carries up to tlog.MaxPayloadSize in base64 besides its other entries (web.MaxPageBytes).
	status, data, err := tr.RoundTrip(ctx, method, strings.TrimSuffix(n.Base, "/")+"/api/v1/"+path, body, client.MaxReceiveBytes*2)
	if err != nil {
		return client.NoAnswer(fmt.Errorf("the node did not answer %s after %s: %w", path, time.Since(start).Round(time.Millisecond), err))
	}
	if status == 200 {
		if err := json.Unmarshal(data, resp); err != nil {
			return fmt.Errorf("the node's answer to %s is not its JSON: %w", path, err)
		}
		return nil
	}
	var e ErrorJSON
	if json.Unmarshal(data, &e) != nil || e.Code == "" {
		// Not the node's: a proxy's page, or a server error before the node answered.
		err := fmt.Errorf("the node's web server answered %s with HTTP %d", path, status)
		if status >= 500 || status == 499 {
			return client.NoAnswer(err)
		}
		return err
	}
	return errorOf(e)
}

// errorOf is the error of an API error body, as package grpcnode reads a gRPC status.
func errorOf(e ErrorJSON) error {
	var err error = &apiError{e}
	switch e.Code {
	case "UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED":
		return client.NoAnswer(err)
	}
	if e.Reason != "" {
		return &client.Refusal{Reason: e.Reason, Check: e.Check, Err: err}
	}
	switch e.Code {
	case "UNKNOWN", "INTERNAL", "ABORTED", "DATA_LOSS", "RESOURCE_EXHAUSTED":
		return client.NoAnswer(err)
	}
	return err
}

// apiError is an error body's message, with its code.
type apiError struct{ e ErrorJSON }

func (e *apiError) Error() string {
	if e.e.Message == "" {
		return strings.ToLower(strings.ReplaceAll(e.e.Code, "_", " "))
	}
	return e.e.Message
}

// Code is the error's gRPC code name (e.g. "FAILED_PRECONDITION").
func (e *apiError) Code() string { return e.e.Code }

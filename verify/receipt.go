package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// Receipt is what a voter keeps after casting or challenging a ballot: proof that the ballot is on the board.
// A node gives a receipt only once the ballot is on disk.
type Receipt struct {
	Election     election.ID
	TrackingCode election.ID
	Index        uint64
	// Kind is election.KindBallot or election.KindSpoiledBallot.
	Kind election.Kind
	// Checkpoint is the signed checkpoint (note text) of a tree that holds the entry.
	Checkpoint []byte
	// Inclusion proves the entry is at Index in Checkpoint's tree.
	Inclusion [][]byte
	// BoardKey is the board's note verifier key.
	BoardKey string
	// Cosigned, when the node had Checkpoint witnessed under its witness policy, is Checkpoint followed by the
	// witnesses' cosignature lines (docs/witness.md, section 3); nil otherwise. Verify checks that it extends
	// Checkpoint with signature lines only; whether they meet a policy is witness/policy's check.
	Cosigned []byte
	// Unwitnessed says that the node has a witness policy and Checkpoint was not witnessed when it gave the
	// receipt: the voter can upgrade it later (client.Client.UpgradeReceipt).
	Unwitnessed bool
}

// ReceiptFormat is the format line of a receipt file.
const ReceiptFormat = "recount-receipt/v1"

type receiptFile struct {
	Format       string   `json:"format"`
	Election     string   `json:"election"`
	TrackingCode string   `json:"tracking_code"`
	Index        uint64   `json:"index"`
	Kind         string   `json:"kind"`
	Checkpoint   string   `json:"checkpoint"`
	Inclusion    [][]byte `json:"inclusion_proof"`
	BoardKey     string   `json:"board_key"`
	Cosigned     string   `json:"cosigned_checkpoint,omitempty"`
	Unwitnessed  bool     `json:"unwitnessed,omitempty"`
}

// Marshal returns the receipt as a JSON file.
func (r *Receipt) Marshal() []byte {
	kind := "ballot"
	if r.Kind == election.KindSpoiledBallot {
		kind = "spoiled"
	}
	b, _ := json.MarshalIndent(receiptFile{Format: ReceiptFormat, Election: r.Election.String(),
		TrackingCode: election.HumanTrackingCode(r.TrackingCode), Index: r.Index, Kind: kind,
		Checkpoint: string(r.Checkpoint), Inclusion: r.Inclusion, BoardKey: r.BoardKey, Cosigned: string(r.Cosigned),
		Unwitnessed: r.Unwitnessed}, "", "  ")
	return append(b, '\n')
}

// ParseReceipt reads a receipt file made by Marshal.
func ParseReceipt(data []byte) (*Receipt, error) {
	var f receiptFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	if f.Format != ReceiptFormat {
		return nil, fmt.Errorf("receipt: format is %q, want %q", f.Format, ReceiptFormat)
	}
	r := &Receipt{Index: f.Index, Checkpoint: []byte(f.Checkpoint), Inclusion: f.Inclusion, BoardKey: f.BoardKey, Unwitnessed: f.Unwitnessed}
	if f.Cosigned != "" {
		r.Cosigned = []byte(f.Cosigned)
	}
	if err := checkCosignedForm(r.Checkpoint, r.Cosigned, r.Unwitnessed); err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	var err error
	if r.Election, err = election.ParseID(f.Election); err != nil {
		return nil, fmt.Errorf("receipt: election: %w", err)
	}
	if r.TrackingCode, err = election.ParseTrackingCode(f.TrackingCode); err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	switch f.Kind {
	case "ballot":
		r.Kind = election.KindBallot
	case "spoiled":
		r.Kind = election.KindSpoiledBallot
	default:
		return nil, fmt.Errorf("receipt: kind is %q, want \"ballot\" or \"spoiled\"", f.Kind)
	}
	return r, nil
}

// checkCosignedForm checks that a cosigned checkpoint, if any, is checkpoint followed by one or more signature
// lines ("— " ... "\n"), and that a receipt is not both cosigned and unwitnessed.
func checkCosignedForm(checkpoint, cosigned []byte, unwitnessed bool) error {
	if cosigned == nil {
		return nil
	}
	if unwitnessed {
		return errors.New("the receipt is both cosigned and unwitnessed")
	}
	rest, ok := bytes.CutPrefix(cosigned, checkpoint)
	if !ok || len(checkpoint) == 0 {
		return errors.New("the cosigned checkpoint does not begin with the receipt's checkpoint")
	}
	if len(rest) == 0 || !bytes.HasSuffix(rest, []byte("\n")) {
		return errors.New("the cosigned checkpoint adds no cosignature line to the checkpoint")
	}
	for _, line := range bytes.SplitAfter(rest[:len(rest)-1], []byte("\n")) {
		if !bytes.HasPrefix(line, []byte("— ")) {
			return fmt.Errorf("the cosigned checkpoint's line %q is not a signature line", line)
		}
	}
	return nil
}

// ErrReceipt is returned, wrapped with the reason, when a receipt does not check out.
var ErrReceipt = errors.New("the receipt does not check out")

// Verify checks the receipt against the entry payload found at its index: the checkpoint's signature under
// boardKey (the receipt's own key when boardKey is empty), the tracking code against the payload, and the
// inclusion proof. It returns the receipt's checkpoint.
func (r *Receipt) Verify(boardKey string, kind election.Kind, payload []byte) (tlog.Checkpoint, error) {
	if boardKey == "" {
		boardKey = r.BoardKey
	} else if r.BoardKey != "" && r.BoardKey != boardKey {
		return tlog.Checkpoint{}, fmt.Errorf("%w: it was signed by board key %s, not %s", ErrReceipt, r.BoardKey, boardKey)
	}
	cp, err := tlog.ParseCheckpoint(r.Checkpoint, boardKey)
	if err != nil {
		return cp, fmt.Errorf("%w: checkpoint: %v", ErrReceipt, err)
	}
	if err := checkCosignedForm(r.Checkpoint, r.Cosigned, r.Unwitnessed); err != nil {
		return cp, fmt.Errorf("%w: %v", ErrReceipt, err)
	}
	if kind != r.Kind {
		return cp, fmt.Errorf("%w: entry %d is a %s, the receipt is for a %s", ErrReceipt, r.Index, kind, r.Kind)
	}
	code, err := election.TrackingCodeOf(kind, payload)
	if err != nil || code != r.TrackingCode {
		return cp, fmt.Errorf("%w: entry %d does not hold the ballot with tracking code %s", ErrReceipt, r.Index, election.HumanTrackingCode(r.TrackingCode))
	}
	if err := tlog.VerifyInclusion(cp, tlog.Kind(kind), payload, r.Index, r.Inclusion); err != nil {
		return cp, fmt.Errorf("%w: inclusion proof: %v", ErrReceipt, err)
	}
	return cp, nil
}

// BoardAnswer is what a board (a node, or an observer's copy) answers when asked about a receipt's ballot: its
// latest signed checkpoint, a consistency proof from the receipt's checkpoint to it, where it places the ballot
// and the inclusion proof there, and the entry it holds at that index. Nothing in it is trusted: CheckOnBoard
// checks it all against the receipt.
type BoardAnswer struct {
	Checkpoint       []byte   // the latest signed checkpoint (note text)
	ConsistencyProof [][]byte // from the receipt's checkpoint to Checkpoint
	Index            uint64   // the ballot's index, as the board gives it
	InclusionProof   [][]byte // the ballot at Index in Checkpoint's tree
	Kind             election.Kind
	Payload          []byte // the entry at Index
}

// CheckOnBoard checks the receipt against a board's answer: the receipt (its checkpoint under its board key, its
// tracking code against the entry, its inclusion proof), the board's latest checkpoint under the same key, the
// consistency of the two trees (the board kept the ballot and rewrote nothing before it), the index, and the
// entry's inclusion in the latest tree. It returns the latest checkpoint.
//
// It is the check a voter runs online (client.Client.CheckReceipt fetches the answer over gRPC); it needs no
// network itself, so a browser or another program can run it on an answer it got its own way.
func (r *Receipt) CheckOnBoard(a BoardAnswer) (tlog.Checkpoint, error) {
	old, err := r.Verify(r.BoardKey, a.Kind, a.Payload)
	if err != nil {
		return tlog.Checkpoint{}, err
	}
	latest, err := tlog.ParseCheckpoint(a.Checkpoint, r.BoardKey)
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("%w: the latest checkpoint: %v", ErrReceipt, err)
	}
	if err := tlog.VerifyConsistency(old, latest, a.ConsistencyProof); err != nil {
		return latest, fmt.Errorf("%w: %v", ErrReceipt, err)
	}
	if a.Index != r.Index {
		return latest, fmt.Errorf("%w: the board places the ballot at entry %d, the receipt at %d", ErrReceipt, a.Index, r.Index)
	}
	// The entry is the same leaf in both trees: its inclusion in the latest one is checked with the leaf
	// recomputed from the entry itself, which Verify matched to the receipt's tracking code.
	if err := tlog.VerifyInclusion(latest, tlog.Kind(a.Kind), a.Payload, r.Index, a.InclusionProof); err != nil {
		return latest, fmt.Errorf("%w: inclusion in the latest checkpoint: %v", ErrReceipt, err)
	}
	return latest, nil
}

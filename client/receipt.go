package client

import (
	"errors"
	"fmt"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/verify"
)

// Receipt is what a voter keeps after casting or challenging a ballot; it is package verify's, so that a
// verifier checks one without linking gRPC.
type Receipt = verify.Receipt

// ReceiptFormat is the format line of a receipt file.
const ReceiptFormat = verify.ReceiptFormat

// ErrReceipt is returned, wrapped with the reason, when a receipt does not check out.
var ErrReceipt = verify.ErrReceipt

// ParseReceipt reads a receipt file made by Receipt.Marshal.
func ParseReceipt(data []byte) (*Receipt, error) { return verify.ParseReceipt(data) }

// receiptOf builds the receipt of a ballot of kind in election electionID from the node's proof that it is on
// the board.
func receiptOf(pb *Inclusion, electionID election.ID, kind election.Kind) (*Receipt, error) {
	if pb == nil {
		return nil, fmt.Errorf("%w: the node sent no receipt", ErrReceipt)
	}
	if len(pb.TrackingCode) != 32 {
		return nil, errors.New("receipt: the tracking code is not 32 bytes")
	}
	r := &Receipt{Election: electionID, Index: pb.Index, Kind: kind, Checkpoint: pb.Checkpoint, Inclusion: pb.Proof, BoardKey: pb.BoardKey,
		Cosigned: pb.Cosigned, Unwitnessed: pb.Unwitnessed}
	copy(r.TrackingCode[:], pb.TrackingCode)
	return r, nil
}

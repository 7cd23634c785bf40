package node

import (
	"context"
	"errors"
	"strconv"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// A Phase is where an election stands.
type Phase int

// The phases, in order.
const (
	PhaseEmpty    Phase = iota // no manifest on the board
	PhaseSetup                 // credentials and the key ceremony, until the polls open
	PhaseOpen                  // the polls are open
	PhaseClosed                // the polls are closed
	PhaseTallying              // the encrypted tally is on the board: the trustees decrypt it
	PhaseDone                  // the result is on the board
)

var phaseNames = [...]string{"empty", "setup", "open", "closed", "tallying", "done"}

func (p Phase) String() string {
	if p < 0 || int(p) >= len(phaseNames) {
		return "Phase(" + strconv.Itoa(int(p)) + ")"
	}
	return phaseNames[p]
}

// PhaseOf returns where an election stands.
func PhaseOf(s *election.State) Phase {
	switch {
	case s.Manifest() == nil:
		return PhaseEmpty
	case s.HasResult():
		return PhaseDone
	case s.HasEncryptedTally():
		return PhaseTallying
	case s.IsClosed():
		return PhaseClosed
	case s.IsOpen():
		return PhaseOpen
	default:
		return PhaseSetup
	}
}

// VotingInfo is what a voting client needs to vote.
type VotingInfo struct {
	Phase       Phase
	Manifest    *election.Manifest    // nil in PhaseEmpty
	Key         *election.ElectionKey // nil until the key ceremony is over
	Credentials int                   // the number of credentials published
	BoardKey    string                // the board's note verifier key
}

// Election returns what a voting client needs: the manifest, the election key and the phase.
func (n *Node) Election() VotingInfo {
	n.stateMu.RLock()
	defer n.stateMu.RUnlock()
	// The manifest and the key never change once set: they may be read outside the lock.
	return VotingInfo{Phase: PhaseOf(n.state), Manifest: n.state.Manifest(), Key: n.state.Key(),
		Credentials: n.state.Credentials(), BoardKey: n.log.VerifierKey()}
}

// An Inclusion shows that the ballot with TrackingCode is entry Index of the board: Proof proves the entry is in
// the tree that Checkpoint signs. The node gives one for each ballot it appends, and on request.
type Inclusion struct {
	TrackingCode election.ID
	Index        uint64
	Checkpoint   tlog.Checkpoint
	Proof        [][]byte
	BoardKey     string // the board's note verifier key
	// Cosigned is Checkpoint's note followed by the witnesses' cosignature lines, when the node has a witness
	// policy and Checkpoint is the latest checkpoint whose cosignatures meet it (docs/witness.md, section 9).
	Cosigned []byte
	// Unwitnessed is set when the node has a witness policy and Checkpoint is not (yet) witnessed: the voter can
	// upgrade the receipt later (GetReceipt with witnessed).
	Unwitnessed bool
}

// SubmitBallot casts (kind election.KindBallot, a SignedBallot payload) or challenges (KindSpoiledBallot, a
// SpoiledBallot payload) a ballot and returns the proof that it is on the board, once it is on disk. It refuses,
// appending nothing, a ballot that fails a check (FaultInvalid naming the check), one outside the open polls
// (FaultPhase) and one whose tracking code is on the board or in flight (FaultExists).
func (n *Node) SubmitBallot(ctx context.Context, kind election.Kind, payload []byte) (Inclusion, error) {
	r, err := n.submitBallot(ctx, kind, payload)
	if err != nil {
		reason, _ := refusalReason(err)
		n.metrics.refused(reason)
		return Inclusion{}, err
	}
	n.metrics.accepted(kind)
	return r, nil
}

func (n *Node) submitBallot(ctx context.Context, kind election.Kind, payload []byte) (Inclusion, error) {
	if err := n.usable(); err != nil {
		return Inclusion{}, err
	}
	if n.rep != nil && !n.rep.IsLeader() {
		return Inclusion{}, n.notLeader() // before the costly checks
	}
	if len(payload) == 0 || len(payload) > tlog.MaxPayloadSize {
		return Inclusion{}, refuse(FaultInvalid, CheckReason(election.CheckBallotShape), nil, "check %s: the ballot is empty or larger than %d bytes", election.CheckBallotShape, tlog.MaxPayloadSize)
	}
	var m *election.Manifest
	var key *election.ElectionKey
	var open, closed bool
	n.View(func(s *election.State) { m, key, open, closed = s.Manifest(), s.Key(), s.IsOpen(), s.IsClosed() })
	switch {
	case closed:
		return Inclusion{}, refuse(FaultPhase, ReasonPollsClosed, nil, "the polls are closed")
	case !open:
		return Inclusion{}, refuse(FaultPhase, ReasonPollsNotOpen, nil, "the polls are not open yet")
	}
	if err := n.inWindow(m); err != nil {
		return Inclusion{}, err
	}
	// The costly checks, outside every lock (the manifest and key never change once set), after the cheap ones:
	// a ballot that the state refuses (a copy of one on the board, an unknown credential) costs no proof
	// verification, and the proofs stop when the client goes.
	bc, err := election.AdmitBallot(ctx, m, key.PublicKey, election.Entry{Kind: kind, Payload: payload}, func(b *election.Ballot) (ce *election.CheckError) {
		n.View(func(s *election.State) { ce, closed = s.CheckBallotAdmission(b), s.IsClosed() })
		return ce
	})
	if err != nil {
		return Inclusion{}, err
	}
	if ce := bc.Err(); ce != nil {
		return Inclusion{}, admissionRefusal(ce, closed)
	}
	if err := ctx.Err(); err != nil {
		return Inclusion{}, err
	}
	b := bc.Ballot()

	n.phase.RLock()
	defer n.phase.RUnlock()
	if err := n.usable(); err != nil {
		return Inclusion{}, err
	}
	if n.rep != nil {
		if err := n.clusterUsable(ctx); err != nil {
			return Inclusion{}, err
		}
	}
	if !n.reserve(b.TrackingCode) {
		return Inclusion{}, refuse(FaultExists, CheckReason(election.CheckBallotUnique), map[string]string{"check": "14"},
			"check %s: the same ballot is being cast right now", election.CheckBallotUnique)
	}
	defer n.release(b.TrackingCode)
	var ce *election.CheckError
	n.View(func(s *election.State) {
		ce, closed = s.CheckBallotAdmission(b), s.IsClosed()
	})
	if ce != nil {
		return Inclusion{}, admissionRefusal(ce, closed)
	}
	res, err := n.appendDetached(ctx, kind, payload)
	if err != nil && n.rep != nil {
		if errors.Is(err, ledger.ErrMaybeAppended) {
			n.settle(ctx) // under the reservation: a second cast of this ballot waits, then finds it if it landed
		}
		return Inclusion{}, n.clusterAppendFailed(err)
	}
	if err != nil {
		return Inclusion{}, n.appendFailed(err)
	}
	if n.rep != nil {
		// Applied by the applier when the entry reaches the board, which it has: wait for the state to hold it.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), clusterAppendTimeout)
		err := n.waitApplied(actx, res.Index+1)
		cancel()
		if err != nil {
			return Inclusion{}, err
		}
	} else {
		e := election.Draft{Kind: kind, Payload: payload}.At(res.Index)
		if errs := n.applyInOrder(&pendingEntry{e: e, bc: bc}); len(errs) > 0 {
			// Cannot happen: the checks passed before the append and nothing they depend on changed since.
			n.logger.Error("node: an appended ballot failed a check when applied", "index", res.Index, "err", errs[0])
		}
	}
	if w := n.witness; w != nil && w.opts.ReceiptWait > 0 {
		if cp, ok := w.covering(ctx, res.Index, w.opts.ReceiptWait); ok {
			return n.receipt(b.TrackingCode, res.Index, cp)
		}
	}
	return n.receipt(b.TrackingCode, res.Index, res.Checkpoint)
}

// admissionRefusal is the refusal of a ballot failing ce; closed says whether the polls had closed.
func admissionRefusal(ce *election.CheckError, closed bool) error {
	switch {
	case ce.Check == election.CheckBallotWindow && closed:
		// The close waited for the ballots in flight; this one came after it.
		return refuse(FaultPhase, ReasonPollsClosed, nil, "the polls are closed")
	case ce.Check == election.CheckBallotWindow:
		return refuse(FaultPhase, ReasonPollsNotOpen, nil, "the polls are not open yet")
	case ce.Check == election.CheckBallotUnique:
		return checkRefusal(FaultExists, ce)
	default:
		return checkRefusal(FaultInvalid, ce)
	}
}

// inWindow refuses a ballot outside the manifest's voting window, by the node's clock.
func (n *Node) inWindow(m *election.Manifest) error {
	now := n.now().Unix()
	pb := m.Proto()
	switch {
	case now < pb.OpensAt:
		return refuse(FaultPhase, ReasonOutsideWindow, nil, "the voting window opens at %s", FormatTime(pb.OpensAt))
	case now > pb.ClosesAt:
		return refuse(FaultPhase, ReasonOutsideWindow, nil, "the voting window closed at %s", FormatTime(pb.ClosesAt))
	}
	return nil
}

// receipt proves that entry index, with tracking code code, is in the tree of checkpoint cp.
func (n *Node) receipt(code election.ID, index uint64, cp tlog.Checkpoint) (Inclusion, error) {
	proof, err := n.log.InclusionProof(index, cp.Size)
	if err != nil {
		return Inclusion{}, refuse(FaultInternal, ReasonBoardFailed, nil, "inclusion proof of entry %d: %v", index, err)
	}
	inc := Inclusion{TrackingCode: code, Index: index, Checkpoint: cp, Proof: proof, BoardKey: n.log.VerifierKey()}
	if n.witness != nil {
		if w, cosigned := n.Witnessed(); w.Size == cp.Size && w.Root == cp.Root && cosigned != nil {
			inc.Cosigned = cosigned
		} else {
			inc.Unwitnessed = true
		}
	}
	return inc, nil
}

// ReceiptConsistency returns the consistency proof between the board of sinceSize, the size of the latest
// checkpoint a voter's client saw, and the board of r's checkpoint, from the smaller size to the larger: with it the
// client checks that the board of its receipt extends the one it saw without a second call. It returns nil when
// sinceSize is 0 or r's checkpoint's size, or beyond the board, or if the proof could not be read: the ballot is
// on the board whatever this answers, and the client then asks with ConsistencyProof (and hears the node's
// refusal, if any).
func (n *Node) ReceiptConsistency(r Inclusion, sinceSize uint64) [][]byte {
	small, large := sinceSize, r.Checkpoint.Size
	if small > large {
		small, large = large, small
	}
	if small == 0 || small == large {
		return nil
	}
	p, err := n.log.ConsistencyProof(small, large) // refused beyond the board
	if err != nil {
		return nil
	}
	return p
}

// A BallotLookup is where a ballot stands on the board now.
type BallotLookup struct {
	Inclusion    Inclusion // in the latest checkpoint
	Status       election.Status
	SupersededBy uint64 // the index of the ballot that superseded it, if Status is election.StatusSuperseded
	// Consistency proves that the tree of the size asked for is a prefix of Inclusion.Checkpoint's (nil if
	// none was asked for).
	Consistency [][]byte
}

// GetReceipt returns the current proof for a tracking code: inclusion in the latest checkpoint, consistency from
// the tree size sinceSize (0 for none), and what became of the ballot. With witnessed, the checkpoint is the
// latest witnessed one instead (Inclusion.Cosigned carries its cosignatures): a voter upgrades a receipt that
// was unwitnessed; it is refused (FaultNotFound) while no witnessed checkpoint covers the ballot and sinceSize.
func (n *Node) GetReceipt(code election.ID, sinceSize uint64, witnessed bool) (BallotLookup, error) {
	var entry, by uint64
	var ok bool
	var st election.Status
	n.View(func(s *election.State) {
		entry, _, ok = s.Lookup(code)
		st, by = s.BallotStatus(code)
	})
	if !ok {
		return BallotLookup{}, refuse(FaultNotFound, ReasonNotFound, nil, "no ballot with tracking code %s is on the board", election.HumanTrackingCode(code))
	}
	cp := n.log.Latest()
	if witnessed {
		if n.witness == nil {
			return BallotLookup{}, refuse(FaultInvalid, ReasonBadRequest, nil, "this node has no witness policy: its checkpoints are not witnessed")
		}
		w, _ := n.Witnessed()
		if w.Size <= entry || w.Size < sinceSize {
			return BallotLookup{}, refuse(FaultNotFound, ReasonNotFound, nil, "no witnessed checkpoint covers entry %d and size %d yet: the latest witnessed checkpoint has size %d; try again later",
				entry, sinceSize, w.Size)
		}
		cp = w
	}
	if sinceSize > cp.Size {
		return BallotLookup{}, refuse(FaultOutOfRange, ReasonBadRequest, nil, "since_size %d is larger than the board (%d entries): keep your checkpoint as evidence", sinceSize, cp.Size)
	}
	r, err := n.receipt(code, entry, cp)
	if err != nil {
		return BallotLookup{}, err
	}
	l := BallotLookup{Inclusion: r, Status: st, SupersededBy: by}
	if sinceSize > 0 {
		if l.Consistency, err = n.log.ConsistencyProof(sinceSize, cp.Size); err != nil {
			return BallotLookup{}, refuse(FaultInternal, ReasonBoardFailed, nil, "consistency proof: %v", err)
		}
	}
	return l, nil
}

package node

import (
	"context"
	"slices"

	"github.com/recount-vote/recount/election"
)

// The trustees' entries need no credential: each is a TrusteeSigned payload, and State.Admit checks its
// signature against the manifest's trustee keys (and everything else) before the node appends it.

// signer returns the trustee named in a TrusteeSigned payload, without checking its signature (Admit does).
func signer(payload []byte) (int, error) {
	j, err := election.TrusteeSigner(payload)
	if err != nil {
		return 0, refuse(FaultInvalid, ReasonBadRequest, nil, "the payload is not a TrusteeSigned message: %v", err)
	}
	return j, nil
}

// PostCeremony posts a trustee's KEY_COMMITMENT, KEY_VERDICT or KEY_REVEAL entry.
func (n *Node) PostCeremony(ctx context.Context, kind election.Kind, payload []byte) (uint64, error) {
	switch kind {
	case election.KindKeyCommitment, election.KindKeyVerdict, election.KindKeyReveal:
	default:
		return 0, refuse(FaultInvalid, ReasonBadRequest, nil, "kind %s is not a key ceremony entry", kind)
	}
	j, err := signer(payload)
	if err != nil {
		return 0, err
	}
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		if s.Key() != nil {
			return election.Draft{}, wrongPhase("the key ceremony is over: the election key is on the board")
		}
		p := s.Ceremony()
		switch {
		case kind == election.KindKeyCommitment && slices.Contains(p.Committed, j):
			return election.Draft{}, refuse(FaultExists, CheckReason(election.CheckKeyCommitment), nil, "trustee %d's commitment is already on the board", j)
		case kind == election.KindKeyVerdict && slices.Contains(p.Verdicts, j):
			return election.Draft{}, refuse(FaultExists, CheckReason(election.CheckKeyComplaints), nil, "trustee %d's verdict is already on the board", j)
		case kind == election.KindKeyReveal:
			if r, err := election.RevealRecipient(payload); err == nil && slices.Contains(p.Revealed, [2]int{j, r}) {
				return election.Draft{}, refuse(FaultExists, CheckReason(election.CheckKeyComplaints), nil, "trustee %d's reveal for trustee %d is already on the board", j, r)
			}
		}
		return election.Draft{Kind: kind, Payload: payload}, nil
	})
	return res.Index, err
}

// PostPartialDecryption posts a trustee's PARTIAL_DECRYPTION entry.
func (n *Node) PostPartialDecryption(ctx context.Context, payload []byte) (uint64, error) {
	j, err := signer(payload)
	if err != nil {
		return 0, err
	}
	res, err := n.exclusive(ctx, func(s *election.State) (election.Draft, error) {
		if err := needManifest(s); err != nil {
			return election.Draft{}, err
		}
		switch {
		case s.HasResult():
			return election.Draft{}, wrongPhase("the result is already on the board")
		case !s.HasEncryptedTally():
			return election.Draft{}, wrongPhase("the encrypted tally is not on the board yet")
		}
		valid, invalid := s.ValidPartials()
		if slices.Contains(valid, j) || slices.Contains(invalid, j) {
			return election.Draft{}, refuse(FaultExists, CheckReason(election.CheckPartialDecryption), nil, "trustee %d's partial decryption is already on the board", j)
		}
		return election.Draft{Kind: election.KindPartialDecryption, Payload: payload}, nil
	})
	return res.Index, err
}

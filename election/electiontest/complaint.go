package electiontest

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
)

// CommitWithBadShare runs the key ceremony's first two steps, every trustee's commitment then every trustee's
// verdict, with dealer sending recipient a share that does not decrypt (a byte of its ciphertext changed, the
// commitment signed again by dealer): recipient's verdict complains against dealer. The ceremony goes on with
// dealer's reveal of the share (DraftReveals), or without it (dealer is then left out of the qualified set), and
// OpenPolls.
func (e *Election) CommitWithBadShare(dealer, recipient int) error {
	for _, t := range e.Trustees {
		d, dealt, err := t.Trustee.DraftCommitment(e.Cfg.Rand)
		if err != nil {
			return err
		}
		t.Dealt = dealt
		if t.Index == dealer {
			if d, err = e.damageShare(d, recipient); err != nil {
				return err
			}
		}
		if _, err := e.Append(d); err != nil {
			return err
		}
	}
	for _, t := range e.Trustees {
		d, received, err := t.Trustee.DraftVerdict(t.Dealt, e.State)
		if err != nil {
			return err
		}
		t.Received = received
		if _, err := e.Append(d); err != nil {
			return err
		}
	}
	return nil
}

// damageShare returns a commitment entry with the share for recipient damaged, signed again by its dealer.
func (e *Election) damageShare(d election.Draft, recipient int) (election.Draft, error) {
	var ts recordv1.TrusteeSigned
	var kc recordv1.KeyCommitment
	if err := proto.Unmarshal(d.Payload, &ts); err != nil {
		return d, err
	}
	if err := proto.Unmarshal(ts.Body, &kc); err != nil {
		return d, err
	}
	damaged := false
	for _, s := range kc.Shares {
		if s.Recipient == uint32(recipient) {
			s.Ciphertext[0] ^= 1
			damaged = true
		}
	}
	if !damaged {
		return d, fmt.Errorf("trustee %d's commitment has no share for trustee %d", ts.Trustee, recipient)
	}
	return e.Trustees[ts.Trustee-1].Keys.DraftSigned(e.Manifest, election.KindKeyCommitment, int(ts.Trustee), marshal(&kc)), nil
}

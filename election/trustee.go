package election

import (
	"bytes"
	"fmt"
	"io"

	"github.com/recount-vote/recount/crypto/dkg"
	"github.com/recount-vote/recount/crypto/group"
)

// Trustee is one trustee of one election: its long-term keys, its index in the manifest, and the manifest. Its
// methods draft the trustee's entries, in the order the ceremony and the tally take them:
//
//  1. DraftCommitment: the KeyCommitment, and the shares dealt, which the trustee keeps secret;
//  2. DraftVerdict: the KeyVerdict on the shares the other dealers sent, and the good shares received;
//  3. DraftReveals: a KeyReveal for each complaint against this trustee;
//  4. KeyShare: once the election key is on the board, the trustee's share of the decryption key;
//  5. DraftPartialDecryption: once the encrypted tally is on the board, its share of the decryption.
//
// Each Draft* returns an entry to post; the board checks it as it checks any other (State.Apply). The zero
// Trustee is not usable: make one with NewTrustee.
type Trustee struct {
	keys     *TrusteeKeys
	index    int
	manifest *Manifest
}

// NewTrustee returns the trustee that keys are in the election of manifest m: the one whose signing and
// encryption keys in the manifest are keys' public keys. It fails when no trustee of m has them.
func NewTrustee(m *Manifest, keys *TrusteeKeys) (*Trustee, error) {
	own := keys.Public(0, "")
	for _, t := range m.pb.Trustees {
		if !bytes.Equal(t.SigningKey, own.SigningKey) {
			continue
		}
		if !bytes.Equal(t.EncryptionKey, own.EncryptionKey) {
			return nil, fmt.Errorf("trustee %d of election %s has this trustee's signing key but another encryption key: the manifest does not name these keys", t.Index, m.id)
		}
		return &Trustee{keys: keys, index: int(t.Index), manifest: m}, nil
	}
	return nil, fmt.Errorf("this trustee's key is not among the trustees of election %s (%q)", m.id, m.pb.Title)
}

// Index returns the trustee's index in the manifest, from 1.
func (t *Trustee) Index() int { return t.index }

// Manifest returns the election's manifest.
func (t *Trustee) Manifest() *Manifest { return t.manifest }

// DraftCommitment returns the trustee's KeyCommitment entry (round 1 of the ceremony) and the shares it dealt,
// its own included, which it keeps secret until the ceremony ends. Randomness comes from r (crypto/rand when nil).
func (t *Trustee) DraftCommitment(r io.Reader) (Draft, DealtShares, error) {
	return t.keys.commit(t.manifest, t.index, r)
}

// DraftVerdict returns the trustee's KeyVerdict entry (round 2), naming the dealers on board s whose share to
// this trustee was missing or wrong, and the good shares received (its own, from own, included).
func (t *Trustee) DraftVerdict(own DealtShares, s *State) (Draft, map[int]*group.Scalar, error) {
	return t.keys.verdict(t.manifest, t.index, own, s)
}

// DraftReveals returns the KeyReveal entries that answer every complaint against this trustee on board s not yet
// answered (round 3).
func (t *Trustee) DraftReveals(own DealtShares, s *State) []Draft {
	return t.keys.reveals(t.manifest, t.index, own, s)
}

// KeyShare returns the trustee's share of the decryption key once the election key is on board s: the sum of
// the shares received from the qualified dealers (revealed ones where it complained), checked against the
// published verification key.
func (t *Trustee) KeyShare(received map[int]*group.Scalar, s *State) (*dkg.KeyShare, error) {
	return t.keys.keyShare(t.manifest, t.index, received, s)
}

// DraftPartialDecryption returns the trustee's PartialDecryption entry for the encrypted tally on board s, made
// with its key share ks. Randomness comes from r (crypto/rand when nil).
func (t *Trustee) DraftPartialDecryption(ks *dkg.KeyShare, s *State, r io.Reader) (Draft, error) {
	if ks.Index != t.index {
		return Draft{}, fmt.Errorf("the key share is trustee %d's, not trustee %d's", ks.Index, t.index)
	}
	return draftPartialDecryption(t.manifest, t.keys, ks, s, r)
}

// DraftSigned wraps body in a TrusteeSigned entry of kind signed by this trustee. The methods above call it; it
// is exported for tests and tools that make their own trustee entries, well formed or not.
func (t *Trustee) DraftSigned(kind Kind, body []byte) Draft {
	return t.keys.signAs(t.manifest, kind, t.index, body)
}

package election

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/recount-vote/recount/crypto/signature"
	"io"
	"slices"

	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/crypto/dkg"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/zkp"
)

// The key ceremony is a joint-Feldman DKG (package dkg) run through the board:
//
//  1. every trustee posts a KeyCommitment: Feldman commitments to a random polynomial of degree t-1, a Schnorr
//     proof for each coefficient, and its share for every other trustee encrypted to that trustee (HPKE);
//  2. every trustee decrypts and checks the shares addressed to it, and posts a KeyVerdict naming the dealers
//     whose share was missing or wrong;
//  3. a dealer answers each complaint against it with a KeyReveal: the share in the clear, which anyone checks
//     against the dealer's commitments;
//  4. the node posts the ElectionKey: the qualified dealers (valid commitment, every complaint answered by a
//     valid reveal), the joint key K (the sum of their constant-term commitments) and each trustee's
//     verification key K_j = s_j·g. Anyone recomputes it from the entries above.
//
// Each trustee's secret key share s_j is the sum of the shares it received from the qualified dealers; t of
// them decrypt together (package threshold), fewer learn nothing.

// hpkeKEM and hpkeSuite encrypt key shares from one trustee to another.
var (
	hpkeKEM   = hpke.KEM_X25519_HKDF_SHA256
	hpkeSuite = hpke.NewSuite(hpkeKEM, hpke.KDF_HKDF_SHA256, hpke.AEAD_ChaCha20Poly1305)
)

const (
	trusteeSignaturePrefix = "recount/trustee-signed/v1\x00"
	shareInfoPrefix        = "recount/dkg-share/v1"
)

// TrusteeKeys are a trustee's long-term secret keys: an Ed25519 key that signs its entries and an HPKE key that
// receives key shares. They are generated before the election; their public halves go into the manifest.
type TrusteeKeys struct {
	signing     ed25519.PrivateKey
	encSeed     []byte
	encryption  kem.PrivateKey
	encryptionP kem.PublicKey
}

// trusteeKeysSize is the length of TrusteeKeys' encoding: the Ed25519 seed, then the HPKE key seed.
const trusteeKeysSize = 64

// GenerateTrusteeKeys makes a trustee's keys with randomness from r (crypto/rand when nil).
func GenerateTrusteeKeys(r io.Reader) (*TrusteeKeys, error) {
	seed := make([]byte, trusteeKeysSize)
	if _, err := io.ReadFull(orRand(r), seed); err != nil {
		return nil, fmt.Errorf("trustee keys: reading randomness: %w", err)
	}
	return ParseTrusteeKeys(seed)
}

// ParseTrusteeKeys decodes keys encoded by Bytes.
func ParseTrusteeKeys(b []byte) (*TrusteeKeys, error) {
	if len(b) != trusteeKeysSize {
		return nil, fmt.Errorf("trustee keys: %d bytes, want %d", len(b), trusteeKeysSize)
	}
	k := &TrusteeKeys{signing: ed25519.NewKeyFromSeed(b[:32]), encSeed: slices.Clone(b[32:])}
	k.encryptionP, k.encryption = hpkeKEM.Scheme().DeriveKeyPair(k.encSeed)
	return k, nil
}

// Bytes encodes the secret keys (64 bytes). Keep them encrypted at rest.
func (k *TrusteeKeys) Bytes() []byte { return append(slices.Clone(k.signing.Seed()), k.encSeed...) }

// Public returns the trustee's entry for the manifest.
func (k *TrusteeKeys) Public(index int, name string) *recordv1.Trustee {
	enc, _ := k.encryptionP.MarshalBinary()
	return &recordv1.Trustee{Index: uint32(index), Name: name, SigningKey: slices.Clone(k.signing.Public().(ed25519.PublicKey)), EncryptionKey: enc}
}

// trusteeSignedMessage is what a trustee signs for an entry of kind with body.
func trusteeSignedMessage(kind Kind, election ID, trustee uint32, body []byte) []byte {
	msg := []byte(trusteeSignaturePrefix)
	msg = binary.BigEndian.AppendUint32(msg, uint32(kind))
	msg = append(msg, election[:]...)
	msg = binary.BigEndian.AppendUint32(msg, trustee)
	return append(msg, body...)
}

// DraftSigned wraps body in a TrusteeSigned entry of kind, signed as trustee index whatever index the manifest
// gives these keys. Trustee.DraftSigned is the one to use; this one is for tests and tools that forge entries
// (signed as another trustee, say) to see them refused.
func (k *TrusteeKeys) DraftSigned(m *Manifest, kind Kind, index int, body []byte) Draft {
	return k.signAs(m, kind, index, body)
}

// signAs wraps body in a TrusteeSigned entry of kind, signed by trustee index.
func (k *TrusteeKeys) signAs(m *Manifest, kind Kind, index int, body []byte) Draft {
	sig := ed25519.Sign(k.signing, trusteeSignedMessage(kind, m.id, uint32(index), body))
	return Draft{Kind: kind, Payload: marshal(&recordv1.TrusteeSigned{Trustee: uint32(index), Body: body, Signature: sig})}
}

// TrusteeSigner returns the trustee index a TrusteeSigned payload (a key ceremony or partial decryption entry)
// names. It decodes the payload as State.Apply does, refusing a non-canonical encoding, but checks neither the
// index nor the signature: State.Apply does, so a server may use the index only to refuse early, never to trust.
func TrusteeSigner(payload []byte) (int, error) {
	var ts recordv1.TrusteeSigned
	if err := unmarshal(payload, &ts); err != nil {
		return 0, err
	}
	return int(ts.Trustee), nil
}

// RevealRecipient returns the trustee a KEY_REVEAL payload reveals a share for. Like TrusteeSigner it decodes
// strictly and checks no signature.
func RevealRecipient(payload []byte) (int, error) {
	var ts recordv1.TrusteeSigned
	if err := unmarshal(payload, &ts); err != nil {
		return 0, err
	}
	var r recordv1.KeyReveal
	if err := unmarshal(ts.Body, &r); err != nil {
		return 0, err
	}
	return int(r.Recipient), nil
}

// openTrusteeSigned decodes a TrusteeSigned payload of kind and checks its signature against the manifest.
func openTrusteeSigned(m *Manifest, kind Kind, payload []byte) (int, []byte, error) {
	var ts recordv1.TrusteeSigned
	if err := unmarshal(payload, &ts); err != nil {
		return 0, nil, err
	}
	n, _ := m.Trustees()
	if ts.Trustee < 1 || int(ts.Trustee) > n {
		return 0, nil, fmt.Errorf("trustee %d does not exist (1..%d)", ts.Trustee, n)
	}
	pub := m.pb.Trustees[ts.Trustee-1].SigningKey
	if signature.Verify(pub, trusteeSignedMessage(kind, m.id, ts.Trustee, ts.Body), ts.Signature) != nil {
		return 0, nil, fmt.Errorf("the signature of trustee %d does not verify", ts.Trustee)
	}
	return int(ts.Trustee), ts.Body, nil
}

func dkgParams(m *Manifest) dkg.Params {
	n, t := m.Trustees()
	return dkg.Params{N: n, T: t, Election: m.id[:]}
}

func shareInfo(election ID, dealer, recipient int) []byte {
	info := append([]byte(shareInfoPrefix), election[:]...)
	info = binary.BigEndian.AppendUint32(info, uint32(dealer))
	return binary.BigEndian.AppendUint32(info, uint32(recipient))
}

// DealtShares are the shares a dealer gave out, kept secret by the dealer to answer complaints.
type DealtShares map[int]*group.Scalar

// commit runs round 1 of the ceremony for trustee index (Trustee.DraftCommitment): it returns the KeyCommitment entry to post and the
// shares dealt, which the trustee keeps (its own included) until the ceremony ends.
func (k *TrusteeKeys) commit(m *Manifest, index int, r io.Reader) (Draft, DealtShares, error) {
	p := dkgParams(m)
	dealer, err := dkg.NewDealer(p, index, r)
	if err != nil {
		return Draft{}, nil, err
	}
	c := dealer.Commitment()
	body := &recordv1.KeyCommitment{}
	for i := range c.Coefficients {
		body.Coefficients = append(body.Coefficients, c.Coefficients[i].Bytes())
		body.Proofs = append(body.Proofs, c.Proofs[i].Bytes())
	}
	dealt := DealtShares{}
	for j := 1; j <= p.N; j++ {
		share := dealer.Share(j)
		dealt[j] = share
		if j == index {
			continue
		}
		pkR, err := hpkeKEM.Scheme().UnmarshalBinaryPublicKey(m.pb.Trustees[j-1].EncryptionKey)
		if err != nil {
			return Draft{}, nil, fmt.Errorf("trustee %d's encryption key: %w", j, err)
		}
		sender, err := hpkeSuite.NewSender(pkR, shareInfo(m.id, index, j))
		if err != nil {
			return Draft{}, nil, err
		}
		enc, sealer, err := sender.Setup(orRand(r))
		if err != nil {
			return Draft{}, nil, err
		}
		ct, err := sealer.Seal(share.Bytes(), nil)
		if err != nil {
			return Draft{}, nil, err
		}
		body.Shares = append(body.Shares, &recordv1.EncryptedShare{Recipient: uint32(j), Enc: enc, Ciphertext: ct})
	}
	return k.signAs(m, KindKeyCommitment, index, marshal(body)), dealt, nil
}

// keyCommitment is a parsed KeyCommitment entry.
type keyCommitment struct {
	entry      uint64
	commitment *dkg.Commitment
	shares     map[int]*recordv1.EncryptedShare
}

// parseKeyCommitment decodes and fully checks a KeyCommitment body from dealer.
func parseKeyCommitment(m *Manifest, dealer int, body []byte) (*keyCommitment, error) {
	var pb recordv1.KeyCommitment
	if err := unmarshal(body, &pb); err != nil {
		return nil, err
	}
	p := dkgParams(m)
	if len(pb.Coefficients) != p.T || len(pb.Proofs) != p.T {
		return nil, fmt.Errorf("%d coefficients and %d proofs, want %d of each", len(pb.Coefficients), len(pb.Proofs), p.T)
	}
	c := &dkg.Commitment{Dealer: dealer, Coefficients: make([]group.Element, p.T), Proofs: make([]zkp.SchnorrProof, p.T)}
	for i := range pb.Coefficients {
		if _, err := c.Coefficients[i].SetCanonicalBytesNonIdentity(pb.Coefficients[i]); err != nil {
			return nil, fmt.Errorf("coefficient %d: %w", i, err)
		}
		if _, err := c.Proofs[i].SetBytes(pb.Proofs[i]); err != nil {
			return nil, fmt.Errorf("proof %d: %w", i, err)
		}
	}
	if err := c.Verify(p); err != nil {
		return nil, err
	}
	kc := &keyCommitment{commitment: c, shares: map[int]*recordv1.EncryptedShare{}}
	for _, s := range pb.Shares {
		j := int(s.Recipient)
		if j < 1 || j > p.N || j == dealer {
			return nil, fmt.Errorf("a share for trustee %d, who is not another trustee", j)
		}
		if kc.shares[j] != nil {
			return nil, fmt.Errorf("two shares for trustee %d", j)
		}
		kc.shares[j] = s
	}
	if len(kc.shares) != p.N-1 {
		return nil, fmt.Errorf("%d shares, want one for each of the %d other trustees", len(kc.shares), p.N-1)
	}
	return kc, nil
}

// receiveShare decrypts and checks the share dealer sent to index.
func (k *TrusteeKeys) receiveShare(m *Manifest, kc *keyCommitment, index int) (*group.Scalar, error) {
	es := kc.shares[index]
	if es == nil {
		return nil, errors.New("no share for us")
	}
	rcv, err := hpkeSuite.NewReceiver(k.encryption, shareInfo(m.id, kc.commitment.Dealer, index))
	if err != nil {
		return nil, err
	}
	opener, err := rcv.Setup(es.Enc)
	if err != nil {
		return nil, fmt.Errorf("share does not decrypt: %w", err)
	}
	pt, err := opener.Open(es.Ciphertext, nil)
	if err != nil {
		return nil, fmt.Errorf("share does not decrypt: %w", err)
	}
	share, err := group.NewScalar().SetCanonicalBytes(pt)
	if err != nil {
		return nil, fmt.Errorf("share: %w", err)
	}
	if err := dkg.VerifyShare(dkgParams(m), kc.commitment, index, share); err != nil {
		return nil, err
	}
	return share, nil
}

// verdict runs round 2 for trustee index (Trustee.DraftVerdict): it checks the share every committed dealer sent, and returns the
// KeyVerdict entry naming the dealers at fault, and the good shares received (its own dealt share included).
func (k *TrusteeKeys) verdict(m *Manifest, index int, own DealtShares, s *State) (Draft, map[int]*group.Scalar, error) {
	if s.ceremony == nil {
		return Draft{}, nil, errors.New("the key ceremony has not started")
	}
	received := map[int]*group.Scalar{index: own[index]}
	verdict := &recordv1.KeyVerdict{}
	n, _ := m.Trustees()
	for i := 1; i <= n; i++ {
		if i == index {
			continue
		}
		kc := s.ceremony.commits[i]
		if kc == nil {
			continue // no commitment (yet): not qualified unless it comes before the key is fixed
		}
		share, err := k.receiveShare(m, kc, index)
		if err != nil {
			verdict.Complaints = append(verdict.Complaints, uint32(i))
			continue
		}
		received[i] = share
	}
	return k.signAs(m, KindKeyVerdict, index, marshal(verdict)), received, nil
}

// reveals (Trustee.DraftReveals) returns the KeyReveal entries that answer every complaint against dealer index not yet answered.
func (k *TrusteeKeys) reveals(m *Manifest, index int, own DealtShares, s *State) []Draft {
	if s.ceremony == nil {
		return nil
	}
	var out []Draft
	for _, j := range s.ceremony.complaintsAgainst(index) {
		if s.ceremony.reveals[[2]int{index, j}] != nil {
			continue
		}
		body := marshal(&recordv1.KeyReveal{Recipient: uint32(j), Share: own[j].Bytes()})
		out = append(out, k.signAs(m, KindKeyReveal, index, body))
	}
	return out
}

// keyShare (Trustee.KeyShare) finishes the ceremony for trustee index once the ElectionKey is on the board: it sums the shares
// from the qualified dealers (taking revealed shares where it complained) and checks the result against the
// published verification key.
func (k *TrusteeKeys) keyShare(m *Manifest, index int, received map[int]*group.Scalar, s *State) (*dkg.KeyShare, error) {
	if s.key == nil {
		return nil, errors.New("the election key is not on the board yet")
	}
	shares := map[int]*group.Scalar{}
	commits := map[int]*dkg.Commitment{}
	for _, i := range s.key.Qualified {
		commits[i] = s.ceremony.commits[i].commitment
		if sh := received[i]; sh != nil {
			shares[i] = sh
		} else if sh := s.ceremony.reveals[[2]int{i, index}]; sh != nil {
			shares[i] = sh
		} else {
			return nil, fmt.Errorf("no share from qualified dealer %d", i)
		}
	}
	ks, err := dkg.CombineShares(dkgParams(m), index, s.key.Qualified, shares, commits)
	if err != nil {
		return nil, err
	}
	if group.NewElement().ScalarBaseMult(&ks.Secret).Equal(s.key.VerificationKeys[index-1]) != 1 {
		return nil, errors.New("our key share does not match the published verification key")
	}
	return ks, nil
}

// ceremony is the state of the key ceremony as read from the board.
type ceremony struct {
	params  dkg.Params
	commits map[int]*keyCommitment // by dealer; only valid commitments
	failed  map[int]bool           // dealers whose commitment entry was invalid
	verdict map[int][]int          // complaints, by complainant
	reveals map[[2]int]*group.Scalar
}

func newCeremony(m *Manifest) *ceremony {
	return &ceremony{params: dkgParams(m), commits: map[int]*keyCommitment{}, failed: map[int]bool{},
		verdict: map[int][]int{}, reveals: map[[2]int]*group.Scalar{}}
}

func (c *ceremony) complaintsAgainst(dealer int) []int {
	var out []int
	for j := 1; j <= c.params.N; j++ {
		if slices.Contains(c.verdict[j], dealer) {
			out = append(out, j)
		}
	}
	return out
}

// qualified returns the dealers with a valid commitment whose every complaint has a valid reveal.
func (c *ceremony) qualified() []int {
	var q []int
	for i := 1; i <= c.params.N; i++ {
		kc := c.commits[i]
		if kc == nil {
			continue
		}
		ok := true
		for _, j := range c.complaintsAgainst(i) {
			if dkg.ResolveComplaint(c.params, kc.commitment, j, c.reveals[[2]int{i, j}]) {
				ok = false
				break
			}
		}
		if ok {
			q = append(q, i)
		}
	}
	return q
}

// ElectionKey is the outcome of the key ceremony.
type ElectionKey struct {
	Qualified []int
	PublicKey *elgamal.PublicKey
	// VerificationKeys[j-1] is trustee j's verification key s_j·g.
	VerificationKeys []*group.Element
}

// outcome computes the election key from the ceremony so far.
func (c *ceremony) outcome() (*ElectionKey, error) {
	q := c.qualified()
	if len(q) < c.params.T {
		return nil, fmt.Errorf("only %d qualified trustees (%v), the threshold is %d", len(q), q, c.params.T)
	}
	commits := map[int]*dkg.Commitment{}
	for _, i := range q {
		commits[i] = c.commits[i].commitment
	}
	joint, err := dkg.JointKey(q, commits)
	if err != nil {
		return nil, err
	}
	pk, err := elgamal.NewPublicKey(joint)
	if err != nil {
		return nil, err
	}
	key := &ElectionKey{Qualified: q, PublicKey: pk}
	for j := 1; j <= c.params.N; j++ {
		vk, err := dkg.VerificationKey(c.params, q, commits, j)
		if err != nil {
			return nil, err
		}
		key.VerificationKeys = append(key.VerificationKeys, vk)
	}
	return key, nil
}

func (k *ElectionKey) proto() *recordv1.ElectionKey {
	pb := &recordv1.ElectionKey{JointKey: k.PublicKey.Bytes()}
	for _, i := range k.Qualified {
		pb.Qualified = append(pb.Qualified, uint32(i))
	}
	for _, vk := range k.VerificationKeys {
		pb.VerificationKeys = append(pb.VerificationKeys, vk.Bytes())
	}
	return pb
}

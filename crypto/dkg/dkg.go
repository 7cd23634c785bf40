// Package dkg is Recount's key ceremony: a joint-Feldman distributed key generation (Pedersen 1991, as analysed
// by Gennaro, Jarecki, Krawczyk and Rabin) among n trustees with threshold t, on ristretto255.
//
// Every trustee i (numbered 1..n) deals a random polynomial f_i(x) = a_{i,0} + a_{i,1}·x + ... + a_{i,t-1}·x^{t-1}:
//
//  1. it publishes its Feldman commitment C_{i,k} = a_{i,k}·g for k in [0, t), with a Schnorr proof of knowledge
//     of each a_{i,k} bound to the election, to i and to k (Commitment);
//  2. it sends f_i(j) privately to every other trustee j (Dealer.Share; the caller encrypts it to j);
//  3. trustee j checks f_i(j)·g = Σ_k j^k·C_{i,k} (VerifyShare) and complains publicly against i if the share is
//     missing or wrong; i answers by publishing f_i(j), and anyone decides the complaint (ResolveComplaint);
//  4. the qualified set Q is the dealers whose commitment verifies and against whom no complaint was upheld
//     (Qualified). Trustee j's key share is s_j = Σ_{i in Q} f_i(j) (CombineShares), the joint public key is
//     K = Σ_{i in Q} C_{i,0} (JointKey) and trustee j's public verification key is K_j = s_j·g, computed by anyone
//     as Σ_{i in Q} Σ_k j^k·C_{i,k} (VerificationKey).
//
// The joint secret s = Σ_{i in Q} a_{i,0} is never computed: any t key shares determine it by Lagrange
// interpolation at 0, which the threshold package does in the exponent, and t-1 shares reveal nothing about it.
//
// Shares are verified with github.com/cloudflare/circl/secretsharing's Feldman check (through group's circl
// conversions). The dealer's polynomial is not circl's secretsharing.SecretSharing, for two reasons: the
// per-coefficient proofs of knowledge need the coefficients, which that type keeps private, and circl's
// ristretto255 RandomScalar ignores the reader it is given, so its polynomials could not be drawn from an
// injected reader for reproducible tests. Coefficients are drawn with group.RandomScalar and evaluated with
// group's constant-time scalar arithmetic.
//
// docs/protocol.md (section 10, "Key ceremony") specifies the encodings, proof contexts and rules to the byte.
package dkg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cloudflare/circl/secretsharing"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/zkp"
)

// MaxTrustees is the largest number of trustees a ceremony may have.
const MaxTrustees = 255

var (
	// ErrParams is returned for ceremony parameters outside 1 <= T <= N <= MaxTrustees or without an election.
	ErrParams = errors.New("dkg: invalid parameters")
	// ErrInvalidCommitment is returned, wrapped with the reason, for a commitment that does not verify.
	ErrInvalidCommitment = errors.New("dkg: invalid commitment")
	// ErrCommitmentEncoding is returned for a commitment encoding that is not canonical.
	ErrCommitmentEncoding = errors.New("dkg: invalid commitment encoding")
	// ErrInvalidShare is returned, wrapped with the dealer and recipient, for a share that fails VerifyShare.
	ErrInvalidShare = errors.New("dkg: invalid share")
	// ErrKeyShareEncoding is returned for a key share encoding that is not canonical.
	ErrKeyShareEncoding = errors.New("dkg: invalid key share encoding")
	// ErrQualified is returned for a qualified set that is empty, has a repeated or out-of-range dealer, or lacks
	// a dealer's commitment or share.
	ErrQualified = errors.New("dkg: invalid qualified set")
	// ErrTooFewQualified is returned by Qualified when fewer than T dealers remain: then at most T-1 misbehaving
	// trustees could make up the whole qualified set and know the joint secret.
	ErrTooFewQualified = errors.New("dkg: fewer qualified dealers than the threshold")
	// ErrComplaintUpheld is the reason given for a dealer disqualified by a complaint.
	ErrComplaintUpheld = errors.New("dkg: complaint upheld")
	// ErrMissingCommitment is the reason given for a dealer that published no commitment.
	ErrMissingCommitment = errors.New("dkg: no commitment from the dealer")
)

// Params are a ceremony's public parameters: N trustees numbered 1..N, of whom any T can decrypt, in the
// election with identity Election (the hash of its manifest), to which every proof is bound.
type Params struct {
	N, T     int
	Election []byte
}

// Validate checks 1 <= T <= N <= MaxTrustees and that Election is not empty.
func (p Params) Validate() error {
	if p.T < 1 || p.N < p.T || p.N > MaxTrustees {
		return fmt.Errorf("%w: need 1 <= T <= N <= %d, got N = %d, T = %d", ErrParams, MaxTrustees, p.N, p.T)
	}
	if len(p.Election) == 0 {
		return fmt.Errorf("%w: empty election identity", ErrParams)
	}
	return nil
}

func (p Params) checkIndex(what string, i int) error {
	if i < 1 || i > p.N {
		return fmt.Errorf("dkg: %s %d is not a trustee number in [1, %d]", what, i, p.N)
	}
	return nil
}

// CoefficientBindPrefix starts the Bind of the Schnorr proof of a commitment coefficient.
const CoefficientBindPrefix = "dkg"

// CoefficientContext is the proof context of dealer's Schnorr proof of knowledge of coefficient k:
// Election = p.Election, Bind = "dkg" || uint16be(dealer) || uint16be(k).
func CoefficientContext(p Params, dealer, k int) zkp.Context {
	b := make([]byte, 0, len(CoefficientBindPrefix)+4)
	b = append(b, CoefficientBindPrefix...)
	b = binary.BigEndian.AppendUint16(b, uint16(dealer))
	b = binary.BigEndian.AppendUint16(b, uint16(k))
	return zkp.Context{Election: p.Election, Bind: b}
}

// Dealer is one trustee's secret state in the ceremony: its polynomial f of degree T-1. It must be kept secret
// until the ceremony ends, then erased (Erase).
type Dealer struct {
	params Params
	index  int
	coeffs []group.Scalar // a_0..a_{T-1}, none zero
	commit *Commitment
}

// NewDealer draws trustee index's polynomial and proves knowledge of its coefficients, with randomness from r
// (crypto/rand when nil).
func NewDealer(p Params, index int, r io.Reader) (*Dealer, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := p.checkIndex("dealer", index); err != nil {
		return nil, err
	}
	d := &Dealer{params: p, index: index, coeffs: make([]group.Scalar, p.T)}
	c := &Commitment{Dealer: index, Coefficients: make([]group.Element, p.T), Proofs: make([]zkp.SchnorrProof, p.T)}
	for k := range d.coeffs {
		// A zero coefficient would commit to the identity, which verifiers reject; it occurs with probability
		// 2^-252, and is redrawn.
		for {
			a, err := group.RandomScalar(r)
			if err != nil {
				return nil, fmt.Errorf("dkg: %w", err)
			}
			if !a.IsZero() {
				d.coeffs[k].Set(a)
				break
			}
		}
		c.Coefficients[k].ScalarBaseMult(&d.coeffs[k])
		proof, err := zkp.ProveSchnorr(CoefficientContext(p, index, k), &d.coeffs[k], &c.Coefficients[k], r)
		if err != nil {
			return nil, fmt.Errorf("dkg: %w", err)
		}
		c.Proofs[k] = *proof
	}
	d.commit = c
	return d, nil
}

// Index returns the dealer's trustee number.
func (d *Dealer) Index() int { return d.index }

// Commitment returns the dealer's public commitment (a copy), to be published.
func (d *Dealer) Commitment() *Commitment { return d.commit.clone() }

// Share returns f_index(to), the share for trustee to, in constant time in the polynomial. The caller encrypts
// it to trustee to; it is also the public answer to a complaint from to. It returns nil if to is not in [1, N]
// (or the dealer has been erased).
func (d *Dealer) Share(to int) *group.Scalar {
	if d.params.checkIndex("recipient", to) != nil || len(d.coeffs) == 0 {
		return nil
	}
	return evaluate(d.coeffs, to)
}

// evaluate returns f(x) = Σ coeffs[k]·x^k by Horner's rule, constant time in the coefficients.
func evaluate(coeffs []group.Scalar, x int) *group.Scalar {
	xs := group.NewScalar().SetUint64(uint64(x))
	acc := group.NewScalar().Set(&coeffs[len(coeffs)-1])
	for k := len(coeffs) - 2; k >= 0; k-- {
		acc.MultiplyAdd(acc, xs, &coeffs[k])
	}
	return acc
}

// Erase overwrites the dealer's polynomial. Afterwards Share returns nil. (Go may have left copies elsewhere in
// memory; this is best effort.)
func (d *Dealer) Erase() {
	for k := range d.coeffs {
		d.coeffs[k].Set(group.NewScalar())
	}
	d.coeffs = nil
}

// Commitment is a dealer's Feldman commitment to its polynomial: Coefficients[k] = a_k·g, with Proofs[k] a
// Schnorr proof of knowledge of a_k in CoefficientContext(p, Dealer, k).
type Commitment struct {
	Dealer       int
	Coefficients []group.Element
	Proofs       []zkp.SchnorrProof
}

func (c *Commitment) clone() *Commitment {
	return &Commitment{
		Dealer:       c.Dealer,
		Coefficients: slices.Clone(c.Coefficients),
		Proofs:       slices.Clone(c.Proofs),
	}
}

// commitmentEntrySize is the size of one coefficient's entry: C_k || c_k || z_k.
const commitmentEntrySize = group.ElementSize + zkp.SchnorrProofSize

// CommitmentSize returns the length of a commitment's encoding with threshold t: 4 + 96·t.
func CommitmentSize(t int) int { return 4 + t*commitmentEntrySize }

// Bytes returns the commitment's encoding:
//
//	uint16be(Dealer) || uint16be(T) || for k in [0, T): C_k (32) || c_k (32) || z_k (32)
//
// where (c_k, z_k) is Proofs[k]. It returns nil for a commitment whose dealer or length cannot be encoded
// (outside [0, 65535], or Coefficients and Proofs of different lengths).
func (c *Commitment) Bytes() []byte {
	t := len(c.Coefficients)
	if t != len(c.Proofs) || t > 0xffff || c.Dealer < 0 || c.Dealer > 0xffff {
		return nil
	}
	b := make([]byte, 0, CommitmentSize(t))
	b = binary.BigEndian.AppendUint16(b, uint16(c.Dealer))
	b = binary.BigEndian.AppendUint16(b, uint16(t))
	for k := range c.Coefficients {
		b = c.Coefficients[k].AppendBytes(b)
		b = append(b, c.Proofs[k].Bytes()...)
	}
	return b
}

// ParseCommitment decodes a commitment for the ceremony p. It rejects, with ErrCommitmentEncoding, any string
// that is not exactly CommitmentSize(p.T) bytes, a dealer outside [1, N], a T field other than p.T, a coefficient
// that is not a canonical element or is the identity, and a proof scalar that is not canonical. It does not check
// the proofs: Verify does.
func ParseCommitment(b []byte, p Params) (*Commitment, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(b) != CommitmentSize(p.T) {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrCommitmentEncoding, len(b), CommitmentSize(p.T))
	}
	dealer := int(binary.BigEndian.Uint16(b[0:2]))
	if err := p.checkIndex("dealer", dealer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCommitmentEncoding, err)
	}
	if t := int(binary.BigEndian.Uint16(b[2:4])); t != p.T {
		return nil, fmt.Errorf("%w: %d coefficients, want %d", ErrCommitmentEncoding, t, p.T)
	}
	c := &Commitment{Dealer: dealer, Coefficients: make([]group.Element, p.T), Proofs: make([]zkp.SchnorrProof, p.T)}
	rest := b[4:]
	for k := 0; k < p.T; k++ {
		e := rest[k*commitmentEntrySize : (k+1)*commitmentEntrySize]
		if _, err := c.Coefficients[k].SetCanonicalBytesNonIdentity(e[:group.ElementSize]); err != nil {
			return nil, fmt.Errorf("%w: coefficient %d: %w", ErrCommitmentEncoding, k, err)
		}
		if _, err := c.Proofs[k].SetBytes(e[group.ElementSize:]); err != nil {
			return nil, fmt.Errorf("%w: proof %d: %w", ErrCommitmentEncoding, k, err)
		}
	}
	return c, nil
}

// Verify checks that c is a valid commitment for the ceremony p: its dealer is in [1, N], it has exactly T
// coefficients and T proofs, no coefficient is the identity, and every proof verifies in its context.
func (c *Commitment) Verify(p Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if c == nil {
		return fmt.Errorf("%w: missing", ErrInvalidCommitment)
	}
	if err := p.checkIndex("dealer", c.Dealer); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommitment, err)
	}
	if len(c.Coefficients) != p.T || len(c.Proofs) != p.T {
		return fmt.Errorf("%w: dealer %d: %d coefficients and %d proofs, want %d", ErrInvalidCommitment,
			c.Dealer, len(c.Coefficients), len(c.Proofs), p.T)
	}
	for k := range c.Coefficients {
		if c.Coefficients[k].IsIdentity() {
			return fmt.Errorf("%w: dealer %d: coefficient %d is the identity", ErrInvalidCommitment, c.Dealer, k)
		}
		if err := c.Proofs[k].Verify(CoefficientContext(p, c.Dealer, k), &c.Coefficients[k]); err != nil {
			return fmt.Errorf("%w: dealer %d: coefficient %d: %w", ErrInvalidCommitment, c.Dealer, k, err)
		}
	}
	return nil
}

// VerifyShare checks share·g = Σ_k to^k·C_k, that is, that share is f(to) for the polynomial c commits to, with
// circl's Feldman check. It checks the commitment's shape (T coefficients, none the identity) but not its proofs
// (Commitment.Verify does). The share only enters constant-time operations (its multiplication by g is circl's
// constant-time MulGen); the outcome, accept or reject, is public.
func VerifyShare(p Params, c *Commitment, to int, share *group.Scalar) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if c == nil || share == nil {
		return fmt.Errorf("%w: missing commitment or share", ErrInvalidShare)
	}
	if err := p.checkIndex("recipient", to); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidShare, err)
	}
	if len(c.Coefficients) != p.T {
		return fmt.Errorf("%w: from dealer %d to %d: the commitment has %d coefficients, want %d", ErrInvalidShare,
			c.Dealer, to, len(c.Coefficients), p.T)
	}
	commitment := make(secretsharing.SecretCommitment, p.T)
	for k := range c.Coefficients {
		if c.Coefficients[k].IsIdentity() {
			return fmt.Errorf("%w: from dealer %d to %d: coefficient %d is the identity", ErrInvalidShare, c.Dealer, to, k)
		}
		commitment[k] = c.Coefficients[k].ToCircl()
	}
	s := secretsharing.Share{
		ID:    group.Circl.NewScalar().SetUint64(uint64(to)),
		Value: share.ToCircl(),
	}
	// circl's threshold is the polynomial's degree, T-1.
	if !secretsharing.Verify(uint(p.T-1), s, commitment) {
		return fmt.Errorf("%w: from dealer %d to %d: share·g differs from the committed polynomial at %d",
			ErrInvalidShare, c.Dealer, to, to)
	}
	return nil
}

// ResolveComplaint decides a complaint by trustee complainant against the dealer of c (its share was missing or
// failed VerifyShare). revealed is the dealer's public answer f(complainant), or nil if it gave none. The dealer
// is guilty if its commitment is missing (nil) or does not verify, if it gave no answer, or if the answer fails
// VerifyShare.
// A complaint from outside [1, N], or by the dealer against itself, is void: the dealer is not guilty.
// When the dealer is not guilty, the complainant uses the revealed share.
func ResolveComplaint(p Params, c *Commitment, complainant int, revealed *group.Scalar) (dealerGuilty bool) {
	if p.Validate() != nil || p.checkIndex("complainant", complainant) != nil {
		return false
	}
	if c == nil {
		return true
	}
	if complainant == c.Dealer {
		return false
	}
	if c.Verify(p) != nil || revealed == nil {
		return true
	}
	return VerifyShare(p, c, complainant, revealed) != nil
}

// Complaint is a complaint, published during the ceremony, by trustee Complainant against Dealer, with the
// dealer's public answer.
type Complaint struct {
	Complainant int
	Dealer      int
	// Revealed is the dealer's answer f_Dealer(Complainant), or nil if it gave none.
	Revealed *group.Scalar
}

// Disqualification names a dealer left out of the qualified set, and why (errors.Is ErrMissingCommitment,
// ErrInvalidCommitment or ErrComplaintUpheld).
type Disqualification struct {
	Dealer int
	Reason error
}

// Qualified returns the qualified set Q, in increasing order: the dealers i in [1, N] with a commitment
// commits[i] whose Dealer is i and which verifies, and against whom no complaint is upheld by ResolveComplaint.
// It also returns the others with the reason. Complaints naming a dealer outside [1, N] are ignored.
// It fails with ErrTooFewQualified (and still returns both lists) if fewer than T dealers qualify: with at most
// T-1 misbehaving trustees, a qualified set of T or more always contains an honest dealer, which keeps the joint
// secret unknown to everyone.
func Qualified(p Params, commits map[int]*Commitment, complaints []Complaint) ([]int, []Disqualification, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	var qualified []int
	var out []Disqualification
	for i := 1; i <= p.N; i++ {
		c, ok := commits[i]
		if !ok || c == nil {
			out = append(out, Disqualification{i, fmt.Errorf("%w %d", ErrMissingCommitment, i)})
			continue
		}
		if c.Dealer != i {
			out = append(out, Disqualification{i, fmt.Errorf("%w: dealer %d's commitment names dealer %d",
				ErrInvalidCommitment, i, c.Dealer)})
			continue
		}
		if err := c.Verify(p); err != nil {
			out = append(out, Disqualification{i, err})
			continue
		}
		var upheld error
		for _, cp := range complaints {
			if cp.Dealer == i && ResolveComplaint(p, c, cp.Complainant, cp.Revealed) {
				what := "a wrong share"
				if cp.Revealed == nil {
					what = "no share"
				}
				upheld = fmt.Errorf("%w: trustee %d against dealer %d, who revealed %s", ErrComplaintUpheld,
					cp.Complainant, i, what)
				break
			}
		}
		if upheld != nil {
			out = append(out, Disqualification{i, upheld})
			continue
		}
		qualified = append(qualified, i)
	}
	if len(qualified) < p.T {
		return qualified, out, fmt.Errorf("%w: %d qualified, threshold %d", ErrTooFewQualified, len(qualified), p.T)
	}
	return qualified, out, nil
}

// checkQualified checks that qualified is non-empty, without repeats, within [1, n], and that every dealer i in
// it has a commitment naming i with at least one coefficient.
func checkQualified(n int, qualified []int, commits map[int]*Commitment) error {
	if len(qualified) == 0 {
		return fmt.Errorf("%w: empty", ErrQualified)
	}
	seen := make(map[int]bool, len(qualified))
	for _, i := range qualified {
		if i < 1 || i > n {
			return fmt.Errorf("%w: dealer %d is not in [1, %d]", ErrQualified, i, n)
		}
		if seen[i] {
			return fmt.Errorf("%w: dealer %d appears twice", ErrQualified, i)
		}
		seen[i] = true
		c := commits[i]
		if c == nil || len(c.Coefficients) == 0 {
			return fmt.Errorf("%w: no commitment from dealer %d", ErrQualified, i)
		}
		if c.Dealer != i {
			return fmt.Errorf("%w: dealer %d's commitment names dealer %d", ErrQualified, i, c.Dealer)
		}
	}
	return nil
}

// KeyShare is trustee Index's share s_Index = Σ_{i in Q} f_i(Index) of the joint secret. It is the trustee's
// long-term secret: store it encrypted.
type KeyShare struct {
	Index  int
	Secret group.Scalar
}

// KeyShareSize is the length of a key share's encoding.
const KeyShareSize = 2 + group.ScalarSize

// CombineShares verifies each share shares[i] from a dealer i in qualified against commits[i] (VerifyShare) and
// returns trustee index's key share, their sum, computed in constant time. An invalid or missing share fails
// with the dealer named; the trustee should then have complained against it.
func CombineShares(p Params, index int, qualified []int, shares map[int]*group.Scalar, commits map[int]*Commitment) (*KeyShare, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := p.checkIndex("trustee", index); err != nil {
		return nil, err
	}
	if err := checkQualified(p.N, qualified, commits); err != nil {
		return nil, err
	}
	ks := &KeyShare{Index: index}
	for _, i := range qualified {
		s := shares[i]
		if s == nil {
			return nil, fmt.Errorf("%w: no share from qualified dealer %d to trustee %d", ErrInvalidShare, i, index)
		}
		if err := VerifyShare(p, commits[i], index, s); err != nil {
			return nil, err
		}
		ks.Secret.Add(&ks.Secret, s)
	}
	return ks, nil
}

// Bytes returns the key share's encoding: uint16be(Index) || Secret (32 bytes, little-endian).
func (ks *KeyShare) Bytes() []byte {
	b := make([]byte, 0, KeyShareSize)
	b = binary.BigEndian.AppendUint16(b, uint16(ks.Index))
	return append(b, ks.Secret.Bytes()...)
}

// ParseKeyShare decodes a key share: exactly KeyShareSize bytes, an index in [1, MaxTrustees] and a canonical
// scalar.
func ParseKeyShare(b []byte) (*KeyShare, error) {
	if len(b) != KeyShareSize {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrKeyShareEncoding, len(b), KeyShareSize)
	}
	ks := &KeyShare{Index: int(binary.BigEndian.Uint16(b[:2]))}
	if ks.Index < 1 || ks.Index > MaxTrustees {
		return nil, fmt.Errorf("%w: trustee %d is not in [1, %d]", ErrKeyShareEncoding, ks.Index, MaxTrustees)
	}
	if _, err := ks.Secret.SetCanonicalBytes(b[2:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyShareEncoding, err)
	}
	return ks, nil
}

// VerificationKey returns K_j = s_j·g: it is how every key share is checked.
func (ks *KeyShare) VerificationKey() *group.Element {
	return group.NewElement().ScalarBaseMult(&ks.Secret)
}

// Erase overwrites the secret (best effort).
func (ks *KeyShare) Erase() { ks.Secret.Set(group.NewScalar()) }

// JointKey returns the election's public key K = Σ_{i in Q} C_{i,0}. It fails if qualified is empty, repeats a
// dealer, or names one without a commitment, and if K is the identity.
func JointKey(qualified []int, commits map[int]*Commitment) (*group.Element, error) {
	if err := checkQualified(MaxTrustees, qualified, commits); err != nil {
		return nil, err
	}
	k := group.NewElement()
	for _, i := range qualified {
		k.Add(k, &commits[i].Coefficients[0])
	}
	if k.IsIdentity() {
		return nil, fmt.Errorf("dkg: joint key: %w", group.ErrIdentity)
	}
	return k, nil
}

// summed returns D_k = Σ_{i in Q} C_{i,k} for k in [0, T), after checking that every commitment has T
// coefficients.
func summed(p Params, qualified []int, commits map[int]*Commitment) ([]*group.Element, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := checkQualified(p.N, qualified, commits); err != nil {
		return nil, err
	}
	d := make([]*group.Element, p.T)
	for k := range d {
		d[k] = group.NewElement()
	}
	for _, i := range qualified {
		c := commits[i]
		if len(c.Coefficients) != p.T {
			return nil, fmt.Errorf("%w: dealer %d has %d coefficients, want %d", ErrQualified, i, len(c.Coefficients), p.T)
		}
		for k := range d {
			d[k].Add(d[k], &c.Coefficients[k])
		}
	}
	return d, nil
}

// powers returns 1, j, j^2, ..., j^(t-1) as scalars.
func powers(j, t int) []*group.Scalar {
	out := make([]*group.Scalar, t)
	js := group.NewScalar().SetUint64(uint64(j))
	out[0] = group.NewScalar().SetUint64(1)
	for k := 1; k < t; k++ {
		out[k] = group.NewScalar().Multiply(out[k-1], js)
	}
	return out
}

// VerificationKey returns trustee j's verification key K_j = Σ_{i in Q} Σ_k j^k·C_{i,k}, which equals s_j·g.
func VerificationKey(p Params, qualified []int, commits map[int]*Commitment, j int) (*group.Element, error) {
	if err := p.checkIndex("trustee", j); err != nil {
		return nil, err
	}
	d, err := summed(p, qualified, commits)
	if err != nil {
		return nil, err
	}
	return group.NewElement().VarTimeMultiScalarMult(powers(j, p.T), d), nil
}

// VerificationKeys returns K_j for every trustee j in [1, N].
func VerificationKeys(p Params, qualified []int, commits map[int]*Commitment) (map[int]*group.Element, error) {
	d, err := summed(p, qualified, commits)
	if err != nil {
		return nil, err
	}
	out := make(map[int]*group.Element, p.N)
	for j := 1; j <= p.N; j++ {
		out[j] = group.NewElement().VarTimeMultiScalarMult(powers(j, p.T), d)
	}
	return out, nil
}

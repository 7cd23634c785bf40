// Package threshold is Recount's threshold decryption: each trustee j partially decrypts a ciphertext (A, B) with
// its key share s_j as M_j = s_j·A, with a Chaum-Pedersen proof that log_g K_j = log_A M_j against its public
// verification key K_j = s_j·g; any t valid partial decryptions combine, by Lagrange interpolation at 0 in the
// exponent, into s·A, and the ciphertext's decryption is
//
//	B - Σ_{j in S} λ_j·M_j = m·K,   λ_j = Π_{i in S, i != j} i / (i - j)
//
// whose small m package dlog recovers. Invalid partial decryptions are rejected with the trustee named.
//
// docs/protocol.md (section 11, "Threshold decryption") specifies the statement, the proof's context and the
// encodings to the byte.
package threshold

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/recount-vote/recount/crypto/dkg"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/zkp"
)

var (
	// ErrInvalidPartial is returned, wrapped with the reason, for a partial decryption that does not verify.
	ErrInvalidPartial = errors.New("threshold: invalid partial decryption")
	// ErrTooFewPartials is returned (inside a *CombineError) when fewer than t partial decryptions are valid.
	ErrTooFewPartials = errors.New("threshold: fewer valid partial decryptions than the threshold")
	// ErrPartialEncoding is returned for a partial decryption encoding that is not canonical.
	ErrPartialEncoding = errors.New("threshold: invalid partial decryption encoding")
)

// PartialDecryptionSize is the length of a partial decryption's encoding.
const PartialDecryptionSize = 2 + group.ElementSize + zkp.ChaumPedersenProofSize

// BindPrefix starts the Bind of a partial decryption proof's context.
const BindPrefix = "recount/partial-decryption/v1"

// PartialDecryption is trustee Trustee's share Share = s_j·A of the decryption of a ciphertext (A, B), with a
// Chaum-Pedersen proof that log_g K_j = log_A Share, in the context ProofContext(ctx, Trustee, ct).
//
// For a ciphertext whose A is the identity (the empty sum: no ballot), the decryption is B itself and needs no
// trustee; its partial decryption is, by definition, Share = identity with the proof (0, 0), and Verify accepts
// exactly that.
type PartialDecryption struct {
	Trustee int
	Share   group.Element
	Proof   zkp.ChaumPedersenProof
}

// ProofContext is the context of trustee's partial decryption proof of ct, within the caller's ctx:
//
//	Election = ctx.Election
//	Bind     = "recount/partial-decryption/v1" || uint32be(len(ctx.Bind)) || ctx.Bind || uint16be(trustee) || A || B
//
// so that a proof is bound to the trustee and to the whole ciphertext, as well as to the caller's position.
func ProofContext(ctx zkp.Context, trustee int, ct *elgamal.Ciphertext) zkp.Context {
	b := make([]byte, 0, len(BindPrefix)+4+len(ctx.Bind)+2+elgamal.CiphertextSize)
	b = append(b, BindPrefix...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ctx.Bind)))
	b = append(b, ctx.Bind...)
	b = binary.BigEndian.AppendUint16(b, uint16(trustee))
	b = ct.AppendBytes(b)
	return zkp.Context{Election: ctx.Election, Bind: b}
}

func checkTrustee(j int) error {
	if j < 1 || j > dkg.MaxTrustees {
		return fmt.Errorf("trustee %d is not in [1, %d]", j, dkg.MaxTrustees)
	}
	return nil
}

// PartiallyDecrypt returns trustee ks.Index's partial decryption of ct, with randomness from r (crypto/rand when
// nil). It is constant time in the key share.
func PartiallyDecrypt(ctx zkp.Context, ks *dkg.KeyShare, ct *elgamal.Ciphertext, r io.Reader) (*PartialDecryption, error) {
	if ks == nil || ct == nil {
		return nil, errors.New("threshold: PartiallyDecrypt: missing key share or ciphertext")
	}
	if err := checkTrustee(ks.Index); err != nil {
		return nil, fmt.Errorf("threshold: %w", err)
	}
	vk := group.NewElement().ScalarBaseMult(&ks.Secret)
	return partiallyDecrypt(ctx, ks, vk, ct, r)
}

func partiallyDecrypt(ctx zkp.Context, ks *dkg.KeyShare, vk *group.Element, ct *elgamal.Ciphertext, r io.Reader) (*PartialDecryption, error) {
	pd := &PartialDecryption{Trustee: ks.Index}
	if ct.A.IsIdentity() {
		pd.Share.Set(group.NewElement())
		return pd, nil
	}
	pd.Share.ScalarMult(&ks.Secret, &ct.A)
	proof, err := zkp.ProveChaumPedersen(ProofContext(ctx, ks.Index, ct), &ks.Secret, &ct.A, vk, &pd.Share, r)
	if err != nil {
		return nil, fmt.Errorf("threshold: %w", err)
	}
	pd.Proof = *proof
	return pd, nil
}

// PartiallyDecryptBatch partially decrypts each ciphertext of a tally: element k is PartiallyDecrypt(ctx, ks,
// cts[k], r).
func PartiallyDecryptBatch(ctx zkp.Context, ks *dkg.KeyShare, cts []*elgamal.Ciphertext, r io.Reader) ([]*PartialDecryption, error) {
	if ks == nil {
		return nil, errors.New("threshold: PartiallyDecryptBatch: missing key share")
	}
	if err := checkTrustee(ks.Index); err != nil {
		return nil, fmt.Errorf("threshold: %w", err)
	}
	vk := group.NewElement().ScalarBaseMult(&ks.Secret)
	out := make([]*PartialDecryption, len(cts))
	for k, ct := range cts {
		if ct == nil {
			return nil, fmt.Errorf("threshold: PartiallyDecryptBatch: ciphertext %d is missing", k)
		}
		pd, err := partiallyDecrypt(ctx, ks, vk, ct, r)
		if err != nil {
			return nil, err
		}
		out[k] = pd
	}
	return out, nil
}

// Verify checks pd as trustee pd.Trustee's partial decryption of ct in ctx, against the trustee's verification
// key. Errors wrap ErrInvalidPartial.
func (pd *PartialDecryption) Verify(ctx zkp.Context, ct *elgamal.Ciphertext, verificationKey *group.Element) error {
	if pd == nil || ct == nil || verificationKey == nil {
		return fmt.Errorf("%w: missing partial decryption, ciphertext or verification key", ErrInvalidPartial)
	}
	if err := checkTrustee(pd.Trustee); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPartial, err)
	}
	if verificationKey.IsIdentity() {
		return fmt.Errorf("%w: trustee %d: the verification key is the identity", ErrInvalidPartial, pd.Trustee)
	}
	if ct.A.IsIdentity() {
		if !pd.Share.IsIdentity() || !pd.Proof.C.IsZero() || !pd.Proof.Z.IsZero() {
			return fmt.Errorf("%w: trustee %d: A is the identity, so the share must be the identity and the proof (0, 0)",
				ErrInvalidPartial, pd.Trustee)
		}
		return nil
	}
	if err := pd.Proof.Verify(ProofContext(ctx, pd.Trustee, ct), &ct.A, verificationKey, &pd.Share); err != nil {
		return fmt.Errorf("%w: trustee %d: %w", ErrInvalidPartial, pd.Trustee, err)
	}
	return nil
}

// Bytes returns the encoding uint16be(Trustee) || Share (32) || c (32) || z (32).
func (pd *PartialDecryption) Bytes() []byte {
	b := make([]byte, 0, PartialDecryptionSize)
	b = binary.BigEndian.AppendUint16(b, uint16(pd.Trustee))
	b = pd.Share.AppendBytes(b)
	return append(b, pd.Proof.Bytes()...)
}

// ParsePartialDecryption decodes a partial decryption: exactly PartialDecryptionSize bytes, a trustee in
// [1, dkg.MaxTrustees], a canonical element (the identity is allowed here, for the trivial ciphertext; Verify
// decides) and two canonical scalars. It does not check the proof: Verify does.
func ParsePartialDecryption(b []byte) (*PartialDecryption, error) {
	if len(b) != PartialDecryptionSize {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrPartialEncoding, len(b), PartialDecryptionSize)
	}
	pd := &PartialDecryption{Trustee: int(binary.BigEndian.Uint16(b[:2]))}
	if err := checkTrustee(pd.Trustee); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPartialEncoding, err)
	}
	if _, err := pd.Share.SetCanonicalBytes(b[2 : 2+group.ElementSize]); err != nil {
		return nil, fmt.Errorf("%w: share: %w", ErrPartialEncoding, err)
	}
	if _, err := pd.Proof.SetBytes(b[2+group.ElementSize:]); err != nil {
		return nil, fmt.Errorf("%w: proof: %w", ErrPartialEncoding, err)
	}
	return pd, nil
}

// InvalidPartial is a rejected partial decryption.
type InvalidPartial struct {
	// Trustee is the trustee number the partial decryption claims (0 if it was nil).
	Trustee int
	// Position is its position in the input (for CombineBatch, the position of the trustee's batch).
	Position int
	// Err is the reason; it wraps ErrInvalidPartial.
	Err error
}

// CombineError reports the partial decryptions Combine rejected, and, when fewer than the threshold were valid,
// that it could not decrypt (then errors.Is(err, ErrTooFewPartials)). With errors.As, callers read which trustees
// were valid, invalid and missing.
type CombineError struct {
	Threshold int
	// Valid lists, in increasing order, the trustees whose partial decryptions verified.
	Valid []int
	// Invalid lists the rejected partial decryptions, in input order.
	Invalid []InvalidPartial
	// Missing lists, in increasing order, the trustees with a verification key who gave no partial decryption.
	Missing []int
}

// Enough reports whether at least Threshold partial decryptions were valid, so that the decryption succeeded.
func (e *CombineError) Enough() bool { return len(e.Valid) >= e.Threshold }

// InvalidTrustees returns the numbers of the trustees whose partial decryptions were rejected, in increasing
// order, without repeats.
func (e *CombineError) InvalidTrustees() []int {
	var out []int
	for _, ip := range e.Invalid {
		out = append(out, ip.Trustee)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (e *CombineError) Error() string {
	var b strings.Builder
	if e.Enough() {
		fmt.Fprintf(&b, "threshold: decrypted with trustees %v; rejected", e.Valid[:e.Threshold])
	} else {
		fmt.Fprintf(&b, "threshold: cannot decrypt: %d valid partial decryptions %v, need %d", len(e.Valid), e.Valid, e.Threshold)
		if len(e.Missing) > 0 {
			fmt.Fprintf(&b, "; missing: trustees %v", e.Missing)
		}
		if len(e.Invalid) > 0 {
			b.WriteString("; rejected")
		}
	}
	for i, ip := range e.Invalid {
		if i > 0 {
			b.WriteString(",")
		}
		if ip.Trustee == 0 {
			fmt.Fprintf(&b, " input at position %d: %v", ip.Position, ip.Err)
		} else {
			fmt.Fprintf(&b, " trustee %d (position %d): %v", ip.Trustee, ip.Position, ip.Err)
		}
	}
	return b.String()
}

// Unwrap returns ErrTooFewPartials when the decryption failed, and ErrInvalidPartial when some partial
// decryption was rejected.
func (e *CombineError) Unwrap() []error {
	var out []error
	if !e.Enough() {
		out = append(out, ErrTooFewPartials)
	}
	if len(e.Invalid) > 0 {
		out = append(out, ErrInvalidPartial)
	}
	return out
}

// LagrangeCoefficients returns λ_j = Π_{i in set, i != j} i / (i - j) mod l for each j in set: the coefficients
// that interpolate a polynomial of degree len(set)-1 at 0 from its values at set. The trustee numbers must be
// distinct and positive.
func LagrangeCoefficients(set []int) (map[int]*group.Scalar, error) {
	out := make(map[int]*group.Scalar, len(set))
	for _, j := range set {
		if err := checkTrustee(j); err != nil {
			return nil, fmt.Errorf("threshold: %w", err)
		}
		if _, dup := out[j]; dup {
			return nil, fmt.Errorf("threshold: trustee %d appears twice", j)
		}
		out[j] = nil
	}
	for _, j := range set {
		num, den := group.NewScalar().SetUint64(1), group.NewScalar().SetUint64(1)
		for _, i := range set {
			if i != j {
				num.Multiply(num, group.NewScalar().SetInt64(int64(i)))
				den.Multiply(den, group.NewScalar().SetInt64(int64(i-j)))
			}
		}
		out[j] = num.Multiply(num, den.Invert(den))
	}
	return out, nil
}

// sortedKeys returns the keys of m in increasing order.
func sortedKeys[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Combine verifies every partial decryption of ct (against vks, the trustees' verification keys, from
// dkg.VerificationKeys) and, if at least t are valid, combines the valid ones of the t smallest trustee numbers
// into the decryption m·K = B - Σ λ_j·M_j.
//
// The result is non-nil exactly when the decryption succeeded. The error is nil when every partial decryption
// was valid; otherwise it is a *CombineError naming each rejected one, returned alongside the result when at
// least t remained (errors.Is(err, ErrInvalidPartial)), or alone when fewer than t did (errors.Is(err,
// ErrTooFewPartials)). A repeated trustee counts once; a partial decryption from a trustee without a verification
// key is rejected.
func Combine(ctx zkp.Context, t int, ct *elgamal.Ciphertext, partials []*PartialDecryption, vks map[int]*group.Element) (*group.Element, error) {
	if ct == nil {
		return nil, errors.New("threshold: Combine: missing ciphertext")
	}
	res, err := CombineBatch(ctx, t, []*elgamal.Ciphertext{ct}, wrap(partials), vks)
	if res == nil {
		return nil, err
	}
	return res[0], err
}

// wrap turns a list of single partial decryptions into batches of one.
func wrap(partials []*PartialDecryption) [][]*PartialDecryption {
	out := make([][]*PartialDecryption, len(partials))
	for i, pd := range partials {
		out[i] = []*PartialDecryption{pd}
	}
	return out
}

// CombineBatch is Combine for a tally of many ciphertexts. Each batch is one trustee's partial decryptions of
// cts, in the same order (as from PartiallyDecryptBatch); a batch is valid only if it has one partial decryption
// per ciphertext, all from the same trustee and all valid. If at least t batches are valid, it returns the
// decryptions of cts (m_k·K for each k), combined from the t valid batches of the smallest trustee numbers, and
// the rejected batches are reported as by Combine.
func CombineBatch(ctx zkp.Context, t int, cts []*elgamal.Ciphertext, batches [][]*PartialDecryption, vks map[int]*group.Element) ([]*group.Element, error) {
	if t < 1 || t > dkg.MaxTrustees {
		return nil, fmt.Errorf("threshold: threshold %d is not in [1, %d]", t, dkg.MaxTrustees)
	}
	for k, ct := range cts {
		if ct == nil {
			return nil, fmt.Errorf("threshold: ciphertext %d is missing", k)
		}
	}
	if len(cts) == 0 {
		return []*group.Element{}, nil
	}
	e := &CombineError{Threshold: t}
	valid := map[int][]*PartialDecryption{}
	seen := map[int]bool{}
	for pos, batch := range batches {
		trustee, err := verifyBatch(ctx, cts, batch, vks)
		if trustee > 0 {
			seen[trustee] = true
		}
		if err != nil {
			e.Invalid = append(e.Invalid, InvalidPartial{Trustee: trustee, Position: pos, Err: err})
			continue
		}
		if _, dup := valid[trustee]; !dup {
			valid[trustee] = batch
		}
	}
	e.Valid = sortedKeys(valid)
	for _, j := range sortedKeys(vks) {
		if !seen[j] {
			e.Missing = append(e.Missing, j)
		}
	}
	if !e.Enough() {
		return nil, e
	}
	set := e.Valid[:t]
	lambda, err := LagrangeCoefficients(set)
	if err != nil {
		return nil, err // unreachable: set holds distinct valid trustee numbers
	}
	scalars := make([]*group.Scalar, t)
	for i, j := range set {
		scalars[i] = lambda[j]
	}
	out := make([]*group.Element, len(cts))
	shares := make([]*group.Element, t)
	for k, ct := range cts {
		for i, j := range set {
			shares[i] = &valid[j][k].Share
		}
		m := group.NewElement().VarTimeMultiScalarMult(scalars, shares)
		out[k] = m.Subtract(&ct.B, m)
	}
	if len(e.Invalid) > 0 {
		return out, e
	}
	return out, nil
}

// verifyBatch checks one trustee's batch of partial decryptions of cts and returns the trustee's number (0 if
// the batch names none).
func verifyBatch(ctx zkp.Context, cts []*elgamal.Ciphertext, batch []*PartialDecryption, vks map[int]*group.Element) (int, error) {
	if len(batch) == 0 || batch[0] == nil {
		return 0, fmt.Errorf("%w: missing", ErrInvalidPartial)
	}
	trustee := batch[0].Trustee
	if len(batch) != len(cts) {
		return trustee, fmt.Errorf("%w: trustee %d: %d partial decryptions for %d ciphertexts", ErrInvalidPartial,
			trustee, len(batch), len(cts))
	}
	vk := vks[trustee]
	if vk == nil {
		return trustee, fmt.Errorf("%w: trustee %d has no verification key", ErrInvalidPartial, trustee)
	}
	for k, pd := range batch {
		if pd == nil || pd.Trustee != trustee {
			return trustee, fmt.Errorf("%w: trustee %d: ciphertext %d: missing, or from another trustee", ErrInvalidPartial, trustee, k)
		}
		if err := pd.Verify(ctx, cts[k], vk); err != nil {
			if len(cts) > 1 {
				return trustee, fmt.Errorf("ciphertext %d: %w", k, err)
			}
			return trustee, err
		}
	}
	return trustee, nil
}

package zkp

import (
	"crypto/rand"
	"fmt"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
)

// RangeBatch checks the equations of several range proofs with one multi-scalar multiplication, as
// hdevalence/ed25519consensus batches signatures: for each value j of each proof, fresh random 128-bit weights
// α_j, β_j from crypto/rand, and the one equation
//
//	Σ_j (α_j·a_j + β_j·b_j) - (Σ_j α_j·v_j)·g - (Σ_j β_j·(v_j + j·c_j))·K + Σ_ct ((Σ α_j·c_j)·A + (Σ β_j·c_j)·B) = 0,
//
// where each proof's sums over j go to the ciphertext (A, B) of its statement, or, for a statement about a sum
// of ciphertexts (AddSum), to each of them. Every proof's own equations hold exactly when that sum does, but with
// probability at most 2^-128 per proof with a false equation (the group has prime order, so no small subgroup
// hides a difference). The challenge of each proof is checked as Add is called, over the commitments as sent.
//
// On the demo's ballot (17 proofs over 62 values), election's whole ballot check runs 2.14 times as many
// ballots per CPU-second as it did with the proofs in challenge form (election BenchmarkVerifyBallotDemo, 163 to
// 349; docs/protocol.md section 8.4).
//
// A RangeBatch is not safe for concurrent use.
type RangeBatch struct {
	pk     *elgamal.PublicKey
	items  []batchItem
	values int
}

type batchItem struct {
	p     *RangeProof
	ct    *elgamal.Ciphertext   // the statement's ciphertext: the sum of parts
	parts []*elgamal.Ciphertext // the ciphertexts the equations use
	min   uint64
}

// NewRangeBatch returns an empty batch of range proofs under the election key pk.
func NewRangeBatch(pk *elgamal.PublicKey) *RangeBatch { return &RangeBatch{pk: pk} }

// Add checks p's length and challenge for the statement that ct encrypts, under the batch's key, a value in
// [min, max], in ctx, and adds its equations to the batch, to be checked by Verify. Errors wrap ErrInvalidProof
// and are those of p.Verify; a proof that Add refuses is not added.
//
// enc is nil, or ct's encoding (64 bytes, elgamal.Ciphertext.Bytes): the bytes a ballot carries and ct was
// decoded from with SetCanonicalBytes. The transcript hashes ct's encoding; passing it spares encoding ct again
// (an inverse square root per element, about 8% of a ballot's check).
func (bt *RangeBatch) Add(ctx Context, p *RangeProof, ct *elgamal.Ciphertext, enc []byte, min, max uint64) error {
	if enc == nil {
		enc = ct.Bytes()
	} else if len(enc) != 2*group.ElementSize {
		return fmt.Errorf("%w: range proof: the ciphertext's encoding has %d bytes", ErrInvalidProof, len(enc))
	}
	return bt.add(ctx, p, ct, enc, []*elgamal.Ciphertext{ct}, min, max)
}

// AddSum is Add for the statement that the sum of cts (at least one) encrypts a value in [min, max]: the
// contest-total proof. The equations use the ciphertexts of cts, which costs no point addition.
func (bt *RangeBatch) AddSum(ctx Context, p *RangeProof, cts []*elgamal.Ciphertext, min, max uint64) error {
	if len(cts) == 0 {
		return fmt.Errorf("%w: range proof: a sum of no ciphertexts", ErrInvalidProof)
	}
	sum := elgamal.NewCiphertext()
	for _, ct := range cts {
		sum.Add(sum, ct)
	}
	return bt.add(ctx, p, sum, sum.Bytes(), cts, min, max)
}

func (bt *RangeBatch) add(ctx Context, p *RangeProof, ct *elgamal.Ciphertext, enc []byte, parts []*elgamal.Ciphertext, min, max uint64) error {
	if err := p.checkChallenge(ctx, bt.pk, enc[:group.ElementSize], enc[group.ElementSize:], min, max); err != nil {
		return err
	}
	bt.items = append(bt.items, batchItem{p: p, ct: ct, parts: parts, min: min})
	bt.values += len(p.c)
	return nil
}

// Len returns the number of proofs added since the last Verify.
func (bt *RangeBatch) Len() int { return len(bt.items) }

// Values returns the number of values (two equations each) of the proofs added since the last Verify: a caller
// that must bound the memory of one multiplication (about 1.5 KB per term) calls Verify before it grows too big.
func (bt *RangeBatch) Values() int { return bt.values }

// Verify checks the equations of every proof added since the last Verify, with one multi-scalar multiplication,
// and empties the batch. If the batched equation fails, it checks the proofs' equations one at a time, as
// RangeProof.Verify does, and returns the index (in the order of Add since the last Verify) of the first proof
// that fails, with that proof's error. It returns -1 and nil if all hold. Errors wrap ErrInvalidProof.
func (bt *RangeBatch) Verify() (int, error) {
	items := bt.items
	bt.items, bt.values = nil, 0
	if len(items) == 0 {
		return -1, nil
	}
	if bt.holds(items) {
		return -1, nil
	}
	for i, it := range items {
		if err := it.p.checkEquations(bt.pk, it.ct, it.min); err != nil {
			return i, err
		}
	}
	// Unreachable: the batched equation is a combination of the proofs' own, which all hold. Fail closed.
	return -1, fmt.Errorf("%w: range proofs: the batched equation fails, though every proof's equations hold", ErrInvalidProof)
}

// holds reports whether the weighted sum of the items' equations is the identity.
func (bt *RangeBatch) holds(items []batchItem) bool {
	values := 0
	for _, it := range items {
		values += len(it.p.c)
	}
	// Two 128-bit weights per value, read at once: crypto/rand.Read never fails.
	random := make([]byte, 32*values)
	rand.Read(random)

	var gCoef, kCoef group.Scalar
	partIndex := make(map[*elgamal.Ciphertext]int)
	var parts []*elgamal.Ciphertext
	var partCoef []group.Scalar // A's and B's coefficients of each part
	weights := make([]group.Scalar, 2*values)
	scalars := make([]*group.Scalar, 0, 2+2*values+2*len(items))
	points := make([]*group.Element, 0, cap(scalars))
	var buf [32]byte
	var aCoef, bCoef, tmp, j group.Scalar
	w := 0
	for _, it := range items {
		p := it.p
		aCoef, bCoef = group.Scalar{}, group.Scalar{}
		for i := range p.c {
			alpha, beta := &weights[w], &weights[w+1]
			copy(buf[:16], random[16*w:16*w+16])
			if _, err := alpha.SetCanonicalBytes(buf[:]); err != nil {
				panic("zkp: " + err.Error()) // unreachable: below 2^128
			}
			copy(buf[:16], random[16*w+16:16*w+32])
			if _, err := beta.SetCanonicalBytes(buf[:]); err != nil {
				panic("zkp: " + err.Error())
			}
			w += 2
			c, v := &p.c[i], &p.v[i]
			// g: -α·v; K: -β·(v + j·c); A: +α·c; B: +β·c.
			tmp.Multiply(alpha, v)
			gCoef.Subtract(&gCoef, &tmp)
			tmp.MultiplyAdd(c, j.SetUint64(it.min+uint64(i)), v)
			tmp.Multiply(&tmp, beta)
			kCoef.Subtract(&kCoef, &tmp)
			aCoef.MultiplyAdd(alpha, c, &aCoef)
			bCoef.MultiplyAdd(beta, c, &bCoef)
			scalars = append(scalars, alpha, beta)
			points = append(points, &p.a[i], &p.b[i])
		}
		for _, ct := range it.parts {
			k, ok := partIndex[ct]
			if !ok {
				k = len(parts)
				partIndex[ct] = k
				parts = append(parts, ct)
				partCoef = append(partCoef, group.Scalar{}, group.Scalar{})
			}
			partCoef[2*k].Add(&partCoef[2*k], &aCoef)
			partCoef[2*k+1].Add(&partCoef[2*k+1], &bCoef)
		}
	}
	scalars = append(scalars, &gCoef, &kCoef)
	points = append(points, group.Generator(), bt.pk.Element())
	for k, ct := range parts {
		scalars = append(scalars, &partCoef[2*k], &partCoef[2*k+1])
		points = append(points, &ct.A, &ct.B)
	}
	return group.NewElement().VarTimeMultiScalarMult(scalars, points).IsIdentity()
}

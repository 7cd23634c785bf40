package zkp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/bits"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/fastpath"
	"github.com/recount-vote/recount/crypto/internal/transcript"
)

// MaxRangeSize is the largest number of values, max - min + 1, that a range proof may cover. A proof costs two
// commitments and two scalars (128 bytes) per value.
const MaxRangeSize = 1024

// RangeProofValueSize is the length of one value's part of a range proof's encoding: a_j || b_j || c_j || v_j.
const RangeProofValueSize = 2*group.ElementSize + 2*group.ScalarSize

// ErrRange is returned by the range provers for a range with min > max or more than MaxRangeSize values, and for
// a value outside its range: an honest prover refuses to prove what is false.
var ErrRange = errors.New("zkp: value or range not allowed")

// RangeProof proves that an ElGamal ciphertext (A, B) = (r·g, (r + m)·K) under the key K encrypts an integer m
// in [min, max], without revealing m. It is the disjunction (Cramer-Damgård-Schoenmakers) over j in [min, max]
// of the Chaum-Pedersen statements
//
//	A = r·g  and  B - j·K = r·K,
//
// one real and the others simulated, with challenges that must add up to the Fiat-Shamir challenge.
//
// Prover, with m and r: for every j, commitments a_j = u_j·g and b_j = t_j·K; for the real j = m, u_m = t_m = w
// is random; for j ≠ m, c_j and v_j are random and u_j = v_j - c_j·r, t_j = v_j - c_j·(r + m - j), which is what
// the verifier recomputes. Then c = H(ctx, K, A, B, min, max, a_min, b_min, ..., a_max, b_max),
// c_m = c - Σ_{j≠m} c_j and v_m = w + c_m·r.
//
// Verifier: accept iff Σ_j c_j = H(ctx, K, A, B, min, max, a_min, b_min, ..., a_max, b_max) over the commitments
// as sent, and for every j
//
//	a_j = v_j·g - c_j·A  and  b_j = (v_j + j·c_j)·K - c_j·B.
//
// Verify checks the equations one at a time; RangeBatch checks those of many proofs in one multi-scalar
// multiplication.
//
// Encoding: a_j || b_j || c_j || v_j for j = min, ..., max, 128 bytes per value (RangeProofValueSize): the
// commitments are sent so that the equations can be batched (issue 15). docs/protocol.md gives the transcript.
type RangeProof struct {
	commitments []byte          // enc(a_j) || enc(b_j) for j = min + i, 64 bytes each: what the transcript hashes
	a, b        []group.Element // a[i], b[i]: the commitments, decoded
	c, v        []group.Scalar  // c[i], v[i]
}

// rangeSize returns max - min + 1, or an error for min > max or a range of more than MaxRangeSize values.
func rangeSize(min, max uint64) (int, error) {
	if min > max {
		return 0, fmt.Errorf("range [%d, %d] is empty", min, max)
	}
	if max-min >= MaxRangeSize {
		return 0, fmt.Errorf("range [%d, %d] has more than %d values", min, max, MaxRangeSize)
	}
	return int(max-min) + 1, nil
}

// inRange returns 1 if min <= m <= max and 0 otherwise, without branching on m.
func inRange(m, min, max uint64) int {
	_, below := bits.Sub64(m, min, 0) // 1 if m < min
	_, above := bits.Sub64(max, m, 0) // 1 if m > max
	return int((below | above) ^ 1)
}

// ctEqual returns 1 if a == b and 0 otherwise, without branching.
func ctEqual(a, b uint64) int {
	x := a ^ b
	return int(((x | -x) >> 63) ^ 1)
}

// half is 1/2 modulo the group order: the provers compute the commitments at half their
// discrete logarithm and encode their doubles in one batch (fastpath.AppendDoubledBytes).
var half = group.NewScalar().Invert(group.NewScalar().SetUint64(2))

func readRandomness(r io.Reader, n int) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("zkp: reading randomness: %w", err)
	}
	return buf, nil
}

func setUniform(s *group.Scalar, b []byte) {
	if _, err := s.SetUniformBytes(b); err != nil {
		panic("zkp: " + err.Error()) // unreachable: b has 64 bytes
	}
}

// rangeProver holds a range proof in the making. Its methods do the same operations whatever m is: the value
// enters only through the scalar m - j and the 0/1 masks isReal, which choose between the real and simulated
// values with constant-time selects.
//
// Constant time, for a reviewer. The secrets are m and the nonce r (and everything derived from them). In the
// provers below:
//   - the only branch on m is checkProverInput's in-range test, which a valid proof makes public anyway;
//   - loops run over j in [min, max], public; no slice is indexed by m or by a secret-dependent value;
//   - m enters as isReal[i] = ctEqual(m, j) (arithmetic on uint64) and as the scalar m - j; Scalar.SetUint64
//     takes the same path for every value below 2^64, and scalar arithmetic (fiat-crypto) is constant time;
//   - real and simulated values are chosen with Scalar.Select;
//   - multiplications are elgamal.PublicKey.MulBatch (fastpath.FixedBasePair: constant-time table scans, in Go or
//     in the vector code, which has no branches and no data-dependent addresses); encodings are
//     fastpath.AppendDoubledBytes (field arithmetic and selects);
//   - what is hashed is public once the proof is published.
//
// Nothing here tests this mechanically (a timing test on a shared machine proves little); keep it so by
// construction.
type rangeProver struct {
	min, max uint64
	m        uint64
	nonce    group.Scalar
	isReal   []int          // isReal[i] = 1 iff min + i == m
	c, v     []group.Scalar // random c'_j, v'_j, then the proof's c_j, v_j
}

// commit draws c'_j and v'_j from rnd (64 bytes each, in the order c'_min, v'_min, c'_min+1, ...) and returns
// the discrete logarithms of the commitments at half: a_j/2 = (u_j/2)·g and b_j/2 = (t_j/2)·K for j = min + i,
// where u_j = v'_j - c'_j·r and t_j = u_j - c'_j·(m - j). For j = m, t_j = u_j is uniformly random (it is the
// real branch's w), and for j ≠ m these are the simulated commitments v_j·g - c_j·A and v_j·K - c_j·(B - j·K).
func (p *rangeProver) commit(rnd []byte) (uHalf, tHalf []*group.Scalar) {
	n := int(p.max-p.min) + 1
	p.isReal = make([]int, n)
	p.c = make([]group.Scalar, n)
	p.v = make([]group.Scalar, n)
	logs := make([]group.Scalar, 2*n)
	uHalf = make([]*group.Scalar, n)
	tHalf = make([]*group.Scalar, n)
	var mScalar, jScalar, negC, mj group.Scalar
	mScalar.SetUint64(p.m)
	for i := 0; i < n; i++ {
		j := p.min + uint64(i)
		p.isReal[i] = ctEqual(p.m, j)
		setUniform(&p.c[i], rnd[128*i:128*i+64])
		setUniform(&p.v[i], rnd[128*i+64:128*i+128])
		u, t := &logs[2*i], &logs[2*i+1]
		negC.Negate(&p.c[i])
		u.MultiplyAdd(&negC, &p.nonce, &p.v[i]) // u = v' - c'·r
		mj.Subtract(&mScalar, jScalar.SetUint64(j))
		t.MultiplyAdd(&negC, &mj, u) // t = u - c'·(m - j)
		uHalf[i] = u.Multiply(u, half)
		tHalf[i] = t.Multiply(t, half)
	}
	return uHalf, tHalf
}

// commitments returns gLogs[i]·g and kLogs[i]·K, computed in one batch.
func commitments(pk *elgamal.PublicKey, gLogs, kLogs []*group.Scalar) ([]*group.Element, []*group.Element) {
	elements := make([]group.Element, len(gLogs)+len(kLogs))
	gPts := make([]*group.Element, len(gLogs))
	kPts := make([]*group.Element, len(kLogs))
	for i := range gPts {
		gPts[i] = &elements[i]
	}
	for i := range kPts {
		kPts[i] = &elements[len(gLogs)+i]
	}
	pk.MulBatch(gPts, gLogs, kPts, kLogs)
	return gPts, kPts
}

// respond derives the challenge from the transcript t (statement already appended) and the commitments'
// encodings enc (a_min, b_min, ..., 32 bytes each), and completes the proof. aHalf and bHalf are the
// commitments at half (a_j/2 and b_j/2), whose doubles enc encodes.
func (p *rangeProver) respond(t *transcript.Transcript, enc []byte, aHalf, bHalf []*group.Element) *RangeProof {
	n := len(p.c)
	for i := 0; i < n; i++ {
		t.AppendBytes("a", enc[64*i:64*i+32])
		t.AppendBytes("b", enc[64*i+32:64*i+64])
	}
	c := t.Challenge("c")
	zero := group.NewScalar()
	// cReal = c - Σ_{j≠m} c'_j: every c'_j enters the sum, the real one as zero.
	cReal := group.NewScalar().Set(c)
	var term, diff, vReal group.Scalar
	for i := 0; i < n; i++ {
		term.Select(zero, &p.c[i], p.isReal[i])
		cReal.Subtract(cReal, &term)
	}
	// For the real branch, w = v'_m - c'_m·r, so v_m = w + c_m·r = v'_m + (c_m - c'_m)·r; the simulated
	// branches keep c'_j and v'_j.
	for i := 0; i < n; i++ {
		diff.Subtract(cReal, &p.c[i])
		vReal.MultiplyAdd(&diff, &p.nonce, &p.v[i])
		p.v[i].Select(&vReal, &p.v[i], p.isReal[i])
		p.c[i].Select(cReal, &p.c[i], p.isReal[i])
	}
	proof := &RangeProof{commitments: enc, a: make([]group.Element, n), b: make([]group.Element, n), c: p.c, v: p.v}
	for i := 0; i < n; i++ {
		proof.a[i].Double(aHalf[i])
		proof.b[i].Double(bHalf[i])
	}
	return proof
}

func rangeTranscript(ctx Context, kEnc, aEnc, bEnc []byte, min, max uint64) *transcript.Transcript {
	t := ctx.transcript(RangeProofLabel)
	t.AppendBytes("K", kEnc)
	t.AppendBytes("A", aEnc)
	t.AppendBytes("B", bEnc)
	t.AppendUint64("min", min)
	t.AppendUint64("max", max)
	return t
}

func checkProverInput(m, min, max uint64) (int, error) {
	n, err := rangeSize(min, max)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrRange, err)
	}
	// The prover's only data-dependent branch: whether m is in the range at all (which a proof makes public).
	if inRange(m, min, max) != 1 {
		return 0, fmt.Errorf("%w: the value is outside [%d, %d]", ErrRange, min, max)
	}
	return n, nil
}

// ProveRange proves that ct, the encryption of m under pk with the given nonce, encrypts a value in [min, max],
// with randomness from r (crypto/rand when nil). It refuses, with ErrRange, a value outside the range or a range
// that is empty or larger than MaxRangeSize. It runs in time independent of m and nonce. It does not check that
// ct is the encryption of m with nonce: if it is not, the proof does not verify.
//
// The contest-total proof is a RangeProof over the sum of a contest's option ciphertexts, proved with the sum of
// their nonces.
func ProveRange(ctx Context, pk *elgamal.PublicKey, ct *elgamal.Ciphertext, m uint64, nonce *group.Scalar, min, max uint64, r io.Reader) (*RangeProof, error) {
	n, err := checkProverInput(m, min, max)
	if err != nil {
		return nil, err
	}
	rnd, err := readRandomness(r, 128*n)
	if err != nil {
		return nil, err
	}
	p := &rangeProver{min: min, max: max, m: m}
	p.nonce.Set(nonce)
	uHalf, tHalf := p.commit(rnd)
	gPts, kPts := commitments(pk, uHalf, tHalf)
	pts := make([]*group.Element, 0, 2*n)
	for i := range gPts {
		pts = append(pts, gPts[i], kPts[i])
	}
	enc := fastpath.AppendDoubledBytes(make([]byte, 0, 64*n), pts...)
	t := rangeTranscript(ctx, pk.AppendBytes(nil), ct.A.Bytes(), ct.B.Bytes(), min, max)
	return p.respond(t, enc, gPts, kPts), nil
}

// EncryptInRange encrypts m under pk with a fresh nonce and proves that the ciphertext encrypts a value in
// [min, max], with randomness from r (crypto/rand when nil): the nonce first (64 bytes), then the proof's
// (128 bytes per value). It returns the ciphertext, its nonce (a secret: whoever holds it can read m) and the
// proof, the same as ProveRange would give with the same nonce and randomness. It refuses, with ErrRange, what
// ProveRange refuses, and runs in time independent of m and the nonce.
func EncryptInRange(ctx Context, pk *elgamal.PublicKey, m, min, max uint64, r io.Reader) (*elgamal.Ciphertext, *group.Scalar, *RangeProof, error) {
	n, err := checkProverInput(m, min, max)
	if err != nil {
		return nil, nil, nil, err
	}
	rnd, err := readRandomness(r, 64+128*n)
	if err != nil {
		return nil, nil, nil, err
	}
	p := &rangeProver{min: min, max: max, m: m}
	setUniform(&p.nonce, rnd[:64])
	uHalf, tHalf := p.commit(rnd[64:])

	// A = r·g and B = (r + m)·K, computed at half with the commitments, so that all 2n + 2 multiplications run
	// in one batch and all 2n + 2 encodings share one inversion.
	rHalf := group.NewScalar().Multiply(&p.nonce, half)
	bHalf := group.NewScalar().Add(&p.nonce, group.NewScalar().SetUint64(m))
	bHalf.Multiply(bHalf, half)
	gPts, kPts := commitments(pk, append([]*group.Scalar{rHalf}, uHalf...), append([]*group.Scalar{bHalf}, tHalf...))
	pts := make([]*group.Element, 0, 2+2*n)
	for i := range gPts {
		pts = append(pts, gPts[i], kPts[i])
	}
	enc := fastpath.AppendDoubledBytes(make([]byte, 0, 32*len(pts)), pts...)
	aPt, bPt := gPts[0], kPts[0]

	ct := &elgamal.Ciphertext{}
	ct.A.Double(aPt)
	ct.B.Double(bPt)
	t := rangeTranscript(ctx, pk.AppendBytes(nil), enc[0:32], enc[32:64], min, max)
	proof := p.respond(t, enc[64:], gPts[1:], kPts[1:])
	return ct, group.NewScalar().Set(&p.nonce), proof, nil
}

// Verify checks p for the statement that ct encrypts, under pk, a value in [min, max], in ctx: the challenge,
// then each value's two equations in turn. It is the reference that RangeBatch is checked against and gives the
// same errors. Errors wrap ErrInvalidProof.
func (p *RangeProof) Verify(ctx Context, pk *elgamal.PublicKey, ct *elgamal.Ciphertext, min, max uint64) error {
	if err := p.checkChallenge(ctx, pk, ct.A.Bytes(), ct.B.Bytes(), min, max); err != nil {
		return err
	}
	return p.checkEquations(pk, ct, min)
}

// checkChallenge checks that p has max - min + 1 values and that its challenges add up to the Fiat-Shamir
// challenge over the statement (with the ciphertext's encoding aEnc || bEnc) and the commitments as sent.
func (p *RangeProof) checkChallenge(ctx Context, pk *elgamal.PublicKey, aEnc, bEnc []byte, min, max uint64) error {
	n, err := rangeSize(min, max)
	if err != nil {
		return fmt.Errorf("%w: range proof: %v", ErrInvalidProof, err)
	}
	if len(p.c) != n {
		return fmt.Errorf("%w: range proof: %d values, want %d", ErrInvalidProof, len(p.c), n)
	}
	t := rangeTranscript(ctx, pk.AppendBytes(nil), aEnc, bEnc, min, max)
	sum := group.NewScalar()
	for i := 0; i < n; i++ {
		t.AppendBytes("a", p.commitments[64*i:64*i+32])
		t.AppendBytes("b", p.commitments[64*i+32:64*i+64])
		sum.Add(sum, &p.c[i])
	}
	if t.Challenge("c").Equal(sum) != 1 {
		return fmt.Errorf("%w: range proof: challenge mismatch", ErrInvalidProof)
	}
	return nil
}

// checkEquations checks a_j = v_j·g - c_j·A and b_j = (v_j + j·c_j)·K - c_j·B for every j, in order, naming the
// first that does not hold.
func (p *RangeProof) checkEquations(pk *elgamal.PublicKey, ct *elgamal.Ciphertext, min uint64) error {
	gTable := fastpath.GeneratorVarTimeTable()
	kTable := pk.VarTimeTable()
	aTable := fastpath.NewVarTimeTable(&ct.A, 5, false)
	bTable := fastpath.NewVarTimeTable(&ct.B, 5, false)
	var negC, w, j group.Scalar
	var got group.Element
	for i := range p.c {
		c, v := &p.c[i], &p.v[i]
		negC.Negate(c)
		fastpath.VarTimeTableMult(&got, []*group.Scalar{v, &negC}, []*fastpath.VarTimeTable{gTable, aTable})
		if got.Equal(&p.a[i]) != 1 {
			return fmt.Errorf("%w: range proof: a_j ≠ v_j·g - c_j·A for j = %d", ErrInvalidProof, min+uint64(i))
		}
		w.MultiplyAdd(c, j.SetUint64(min+uint64(i)), v)
		fastpath.VarTimeTableMult(&got, []*group.Scalar{&w, &negC}, []*fastpath.VarTimeTable{kTable, bTable})
		if got.Equal(&p.b[i]) != 1 {
			return fmt.Errorf("%w: range proof: b_j ≠ (v_j + j·c_j)·K - c_j·B for j = %d", ErrInvalidProof, min+uint64(i))
		}
	}
	return nil
}

// Bytes returns a_min || b_min || c_min || v_min || ... || a_max || b_max || c_max || v_max.
func (p *RangeProof) Bytes() []byte {
	b := make([]byte, 0, RangeProofValueSize*len(p.c))
	for i := range p.c {
		b = append(b, p.commitments[64*i:64*i+64]...)
		b = append(b, p.c[i].Bytes()...)
		b = append(b, p.v[i].Bytes()...)
	}
	return b
}

// ParseRangeProof decodes a range proof for [min, max]: exactly 128·(max - min + 1) bytes, every commitment the
// canonical encoding of a group element (the identity included: the protocol does not forbid it, and an honest
// commitment is the identity with probability 2^-252) and every scalar canonical. Errors wrap ErrProofEncoding.
func ParseRangeProof(b []byte, min, max uint64) (*RangeProof, error) {
	n, err := rangeSize(min, max)
	if err != nil {
		return nil, fmt.Errorf("%w: range proof: %v", ErrProofEncoding, err)
	}
	if len(b) != RangeProofValueSize*n {
		return nil, fmt.Errorf("%w: range proof for [%d, %d]: got %d bytes, want %d", ErrProofEncoding, min, max, len(b), RangeProofValueSize*n)
	}
	p := &RangeProof{commitments: make([]byte, 0, 64*n), a: make([]group.Element, n), b: make([]group.Element, n),
		c: make([]group.Scalar, n), v: make([]group.Scalar, n)}
	for i := 0; i < n; i++ {
		rec := b[RangeProofValueSize*i : RangeProofValueSize*(i+1)]
		if _, err := p.a[i].SetCanonicalBytes(rec[0:32]); err != nil {
			return nil, fmt.Errorf("%w: range proof: a[%d] is not a canonical element encoding", ErrProofEncoding, i)
		}
		if _, err := p.b[i].SetCanonicalBytes(rec[32:64]); err != nil {
			return nil, fmt.Errorf("%w: range proof: b[%d] is not a canonical element encoding", ErrProofEncoding, i)
		}
		if _, err := p.c[i].SetCanonicalBytes(rec[64:96]); err != nil {
			return nil, fmt.Errorf("%w: range proof: c[%d] is not a canonical scalar", ErrProofEncoding, i)
		}
		if _, err := p.v[i].SetCanonicalBytes(rec[96:128]); err != nil {
			return nil, fmt.Errorf("%w: range proof: v[%d] is not a canonical scalar", ErrProofEncoding, i)
		}
		p.commitments = append(p.commitments, rec[0:64]...)
	}
	return p, nil
}

package fastpath

import (
	"encoding/binary"
	"sync"

	"filippo.io/edwards25519/field"

	"github.com/recount-vote/recount/crypto/group"
)

// FixedBasePair multiplies two fixed elements P and Q by many secret scalars at once, in constant time: a prover
// computes all its commitments, with base g or the election key K, in one call.
//
// By default it calls FixedBase.ScalarMult for each scalar. Built with the opt-in tag recount_ifma, on amd64
// processors with AVX-512 IFMA (52-bit integer multiply-add), it runs eight multiplications side by side, one per
// 64-bit lane of the vector registers (P's in the even lanes, Q's in the odd lanes), with the same radix-16 table
// and the same additions as FixedBase.ScalarMult; see fixedbase_ifma_amd64.s. Both give the same elements.
type FixedBasePair struct {
	p, q *FixedBase

	once  sync.Once
	table []uint64 // the interleaved table of the vector code, built on first use
}

// NewFixedBasePair returns a FixedBasePair for the tables of P and Q.
func NewFixedBasePair(p, q *FixedBase) *FixedBasePair { return &FixedBasePair{p: p, q: q} }

var (
	generatorFixedBaseOnce sync.Once
	generatorFixedBase     *FixedBase
)

// GeneratorFixedBase returns the FixedBase of the generator g, built on first use.
func GeneratorFixedBase() *FixedBase {
	generatorFixedBaseOnce.Do(func() { generatorFixedBase = NewFixedBase(group.Generator()) })
	return generatorFixedBase
}

// ScalarMults sets pOut[i] = pScalars[i]·P and qOut[i] = qScalars[i]·Q, in time that depends only on the
// numbers of scalars.
func (t *FixedBasePair) ScalarMults(pOut []*group.Element, pScalars []*group.Scalar, qOut []*group.Element, qScalars []*group.Scalar) {
	if len(pOut) != len(pScalars) || len(qOut) != len(qScalars) {
		panic("fastpath: FixedBasePair.ScalarMults: mismatched lengths")
	}
	if !useIFMA || forceGeneric {
		for i := range pOut {
			t.p.ScalarMult(pOut[i], pScalars[i])
		}
		for i := range qOut {
			t.q.ScalarMult(qOut[i], qScalars[i])
		}
		return
	}
	t.once.Do(t.buildTable)
	var st ifmaState
	var digits ifmaDigits
	for done := 0; done < max(len(pOut), len(qOut)); done += ifmaLanes / 2 {
		var outs [ifmaLanes]*group.Element
		var scalars [ifmaLanes]*group.Scalar
		for i := 0; i < ifmaLanes/2; i++ {
			if done+i < len(pOut) {
				outs[2*i], scalars[2*i] = pOut[done+i], pScalars[done+i]
			}
			if done+i < len(qOut) {
				outs[2*i+1], scalars[2*i+1] = qOut[done+i], qScalars[done+i]
			}
		}
		digits.set(&scalars)
		st.setIdentity()
		fixedBasePairIFMA(&st, &t.table[0], &digits)
		for lane, out := range outs {
			if out != nil {
				st.element(out, lane)
			}
		}
	}
}

// forceGeneric makes ScalarMults take the generic path even where the vector code runs, for the tests.
var forceGeneric bool

// The vector code's data. A field element is five limbs in radix 2^51, l0 + l1·2^51 + ... + l4·2^204; a fe8 holds
// eight of them, limb-major: fe8[k][lane] is limb k of the lane's element.
const ifmaLanes = 8

type fe8 [5][ifmaLanes]uint64

// ifmaState is the vector code's accumulator, the extended coordinates (X:Y:Z:T) of each lane's sum, followed by
// its scratch space. The assembly addresses its fields by offset: keep them in this order.
type ifmaState struct {
	X, Y, Z, T fe8
	_          [7]fe8 // scratch space of the assembly
}

// ifmaDigits holds, for each of the 64 radix-16 positions, each lane's |digit| and sign (1 when negative).
type ifmaDigits [64]struct {
	abs, neg [ifmaLanes]uint64
}

// set computes the signed radix-16 digits of each lane's scalar (zero for an idle lane), without branching on them.
func (d *ifmaDigits) set(scalars *[ifmaLanes]*group.Scalar) {
	for lane, s := range scalars {
		var digits [64]int8
		if s != nil {
			digits = signedRadix16(s)
		}
		for i, x := range digits {
			neg := uint64(uint8(x) >> 7)
			abs := uint64(int64(x)) ^ -neg + neg // |x|: two's complement negation when neg = 1
			d[i].abs[lane] = abs & 0xff
			d[i].neg[lane] = neg
		}
	}
}

func (st *ifmaState) setIdentity() {
	*st = ifmaState{}
	for lane := 0; lane < ifmaLanes; lane++ {
		st.Y[0][lane] = 1
		st.Z[0][lane] = 1
	}
}

// limbs returns the radix-2^51 limbs of the field element v, from its canonical encoding.
func limbs(v *field.Element) [5]uint64 {
	b := v.Bytes()
	const mask = 1<<51 - 1
	w0 := binary.LittleEndian.Uint64(b[0:])
	w1 := binary.LittleEndian.Uint64(b[8:])
	w2 := binary.LittleEndian.Uint64(b[16:])
	w3 := binary.LittleEndian.Uint64(b[24:])
	return [5]uint64{
		w0 & mask,
		(w0>>51 | w1<<13) & mask,
		(w1>>38 | w2<<26) & mask,
		(w2>>25 | w3<<39) & mask,
		w3 >> 12 & mask,
	}
}

// fieldFromLimbs sets v to the field element l0 + l1·2^51 + ... + l4·2^204 for limbs below 2^63, carrying and
// reducing without branching, and returns v.
func fieldFromLimbs(v *field.Element, l [5]uint64) *field.Element {
	const mask = 1<<51 - 1
	for pass := 0; pass < 2; pass++ {
		c := l[0] >> 51
		l[0] &= mask
		l[1] += c
		c = l[1] >> 51
		l[1] &= mask
		l[2] += c
		c = l[2] >> 51
		l[2] &= mask
		l[3] += c
		c = l[3] >> 51
		l[3] &= mask
		l[4] += c
		c = l[4] >> 51
		l[4] &= mask
		l[0] += 19 * c
	}
	// Now l[0] < 2^51 + 19·2 and the other limbs are below 2^51: one more carry from l[0] into l[1] cannot
	// overflow l[1] past 2^51 + 1, and the value is below 2^255.
	c := l[0] >> 51
	l[0] &= mask
	l[1] += c
	var b [32]byte
	binary.LittleEndian.PutUint64(b[0:], l[0]|l[1]<<51)
	binary.LittleEndian.PutUint64(b[8:], l[1]>>13|l[2]<<38)
	binary.LittleEndian.PutUint64(b[16:], l[2]>>26|l[3]<<25)
	binary.LittleEndian.PutUint64(b[24:], l[3]>>39|l[4]<<12)
	if _, err := v.SetBytes(b[:]); err != nil {
		panic("fastpath: " + err.Error()) // unreachable: 32 bytes
	}
	return v
}

func (f *fe8) get(v *field.Element, lane int) *field.Element {
	return fieldFromLimbs(v, [5]uint64{f[0][lane], f[1][lane], f[2][lane], f[3][lane], f[4][lane]})
}

// element sets e to the lane's accumulated point.
func (st *ifmaState) element(e *group.Element, lane int) {
	var X, Y, Z, T field.Element
	if _, err := point(e).SetExtendedCoordinates(st.X.get(&X, lane), st.Y.get(&Y, lane), st.Z.get(&Z, lane), st.T.get(&T, lane)); err != nil {
		panic("fastpath: FixedBasePair produced a point off the curve: " + err.Error())
	}
}

// Table layout: for each row i (0..63), each digit j (1..8), each coordinate (y+x, y-x, 2dxy) and each limb k,
// two words: P's limb then Q's. A 128-bit broadcast of the pair fills the even lanes with P's limb and the odd
// lanes with Q's.
const ifmaEntryWords = 3 * 5 * 2

func (t *FixedBasePair) buildTable() {
	t.table = make([]uint64, 64*8*ifmaEntryWords)
	for i := 0; i < 64; i++ {
		for j := 0; j < 8; j++ {
			entry := t.table[(i*8+j)*ifmaEntryWords:][:ifmaEntryWords]
			for base, fb := range []*FixedBase{t.p, t.q} {
				n := &fb.table[i][j]
				for c, v := range []*field.Element{&n.YPlusX, &n.YMinusX, &n.T2d} {
					l := limbs(v)
					for k := 0; k < 5; k++ {
						entry[(c*5+k)*2+base] = l[k]
					}
				}
			}
		}
	}
}

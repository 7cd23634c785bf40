package group

import (
	"encoding/binary"
	"sync"

	"filippo.io/edwards25519/field"
)

// Variable-time multiplication with precomputed tables, for verifiers (public data only).
//
// A scalar s < 2^256 is split into vtChunks chunks of vtChunkBits bits, s = Σ_k s_k·2^(64k), so that
// s·P = Σ_k s_k·(2^(64k)·P). A VarTimeTable holds, for each k, the odd multiples 1, 3, ..., 2^(w-1) - 1 of
// 2^(64k)·P, and VarTimeTableMult evaluates Σ_i s_i·P_i by Straus' method over the w-NAF digits of each s_i with
// a single chain of 64 doublings (instead of 253) shared by all terms and chunks. The 192 doublings that make
// 2^(64k)·P are paid once per table: that pays off when a point is multiplied several times, as the ciphertext
// of a range proof is (once per value in the range), and always for the long-lived bases g and K.

const (
	vtChunks    = 4
	vtChunkBits = 64
)

// VarTimeTable holds precomputed multiples of a public element for VarTimeTableMult. It is safe for concurrent
// use once built.
type VarTimeTable struct {
	w      uint
	affine bool                 // entries have Z = 1 (normalized with one batched inversion)
	pts    [vtChunks][]vtCached // pts[k][i] = (2i+1)·2^(64k)·P
}

// vtCached is a point (X:Y:Z:T) in the form the addition formulas want: (Y+X, Y-X, Z, 2d·T).
type vtCached struct {
	yPlusX, yMinusX, z, t2d field.Element
}

// projP2 is a point in projective coordinates (X:Y:Z); projP1xP1 is the "completed" form (X:Z, Y:T) that the
// addition and doubling formulas produce.
type projP2 struct{ X, Y, Z field.Element }
type projP1xP1 struct{ X, Y, Z, T field.Element }

func (v *projP2) fromP1xP1(p *projP1xP1) {
	v.X.Multiply(&p.X, &p.T)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Multiply(&p.Z, &p.T)
}

func (v *extended) fromP1xP1(p *projP1xP1) {
	v.X.Multiply(&p.X, &p.T)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Multiply(&p.Z, &p.T)
	v.T.Multiply(&p.X, &p.Y)
}

func (v *extended) fromP2(p *projP2) {
	v.X.Multiply(&p.X, &p.Z)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Square(&p.Z)
	v.T.Multiply(&p.X, &p.Y)
}

func (v *extended) fromElement(e *Element) {
	X, Y, Z, T := e.p.ExtendedCoordinates()
	v.X.Set(X)
	v.Y.Set(Y)
	v.Z.Set(Z)
	v.T.Set(T)
}

func (v *extended) toElement(e *Element) *Element {
	if _, err := e.p.SetExtendedCoordinates(&v.X, &v.Y, &v.Z, &v.T); err != nil {
		panic("group: computed a point off the curve: " + err.Error())
	}
	return e
}

func (v *vtCached) fromExtended(p *extended) {
	v.yPlusX.Add(&p.Y, &p.X)
	v.yMinusX.Subtract(&p.Y, &p.X)
	v.z.Set(&p.Z)
	v.t2d.Multiply(&p.T, d2)
}

// double sets v = 2p ("dbl-2008-hwcd").
func (v *projP1xP1) double(p *projP2) {
	var xx, yy, zz2, xPlusYSq field.Element
	xx.Square(&p.X)
	yy.Square(&p.Y)
	zz2.Square(&p.Z)
	zz2.Add(&zz2, &zz2)
	xPlusYSq.Add(&p.X, &p.Y)
	xPlusYSq.Square(&xPlusYSq)
	v.Y.Add(&yy, &xx)
	v.Z.Subtract(&yy, &xx)
	v.X.Subtract(&xPlusYSq, &v.Y)
	v.T.Subtract(&zz2, &v.Z)
}

// add sets v = p + q, or p - q when neg ("add-2008-hwcd-3"); affine says q.z = 1.
func (v *projP1xP1) add(p *extended, q *vtCached, neg, affine bool) {
	var yPlusX, yMinusX, pp, mm, tt2d, zz2 field.Element
	yPlusX.Add(&p.Y, &p.X)
	yMinusX.Subtract(&p.Y, &p.X)
	qPlus, qMinus := &q.yPlusX, &q.yMinusX
	if neg { // -(x, y) = (-x, y): swap y+x and y-x, negate 2dT
		qPlus, qMinus = qMinus, qPlus
	}
	pp.Multiply(&yPlusX, qPlus)
	mm.Multiply(&yMinusX, qMinus)
	tt2d.Multiply(&p.T, &q.t2d)
	if affine {
		zz2.Set(&p.Z)
	} else {
		zz2.Multiply(&p.Z, &q.z)
	}
	zz2.Add(&zz2, &zz2)
	v.X.Subtract(&pp, &mm)
	v.Y.Add(&pp, &mm)
	if neg {
		v.Z.Subtract(&zz2, &tt2d)
		v.T.Add(&zz2, &tt2d)
	} else {
		v.Z.Add(&zz2, &tt2d)
		v.T.Subtract(&zz2, &tt2d)
	}
}

// NewVarTimeTable precomputes the multiples of the public element p that VarTimeTableMult uses, with NAF window
// w in [2, 8]. Wider windows mean fewer additions per multiplication and a bigger, slower-to-build table:
// 4·2^(w-2) points. With normalize, the points are made affine (one inversion for the whole table), which saves
// a field multiplication per addition; that pays for long-lived tables (w = 8 for g and K), not for a table
// used a few times.
func NewVarTimeTable(p *Element, w uint, normalize bool) *VarTimeTable {
	if w < 2 || w > 8 {
		panic("group: NewVarTimeTable: window out of range")
	}
	n := 1 << (w - 2)
	t := &VarTimeTable{w: w, affine: normalize}
	var base extended
	base.fromElement(p)
	for k := 0; k < vtChunks; k++ {
		if k > 0 { // base = 2^64·base
			var p2 projP2
			var p1 projP1xP1
			p2.X.Set(&base.X)
			p2.Y.Set(&base.Y)
			p2.Z.Set(&base.Z)
			for i := 0; i < vtChunkBits-1; i++ {
				p1.double(&p2)
				p2.fromP1xP1(&p1)
			}
			p1.double(&p2)
			base.fromP1xP1(&p1)
		}
		t.pts[k] = make([]vtCached, n)
		t.pts[k][0].fromExtended(&base)
		if n > 1 {
			var p2 projP2
			var p1 projP1xP1
			var twice extended
			var twiceCached vtCached
			p2.X.Set(&base.X)
			p2.Y.Set(&base.Y)
			p2.Z.Set(&base.Z)
			p1.double(&p2)
			twice.fromP1xP1(&p1)
			twiceCached.fromExtended(&twice)
			acc := base
			for i := 1; i < n; i++ {
				p1.add(&acc, &twiceCached, false, false)
				acc.fromP1xP1(&p1)
				t.pts[k][i].fromExtended(&acc)
			}
		}
	}
	if normalize {
		zs := make([]field.Element, 0, vtChunks*n)
		for k := range t.pts {
			for i := range t.pts[k] {
				zs = append(zs, t.pts[k][i].z)
			}
		}
		batchInvert(zs)
		for k := range t.pts {
			for i := range t.pts[k] {
				c := &t.pts[k][i]
				zInv := &zs[k*n+i]
				c.yPlusX.Multiply(&c.yPlusX, zInv)
				c.yMinusX.Multiply(&c.yMinusX, zInv)
				c.t2d.Multiply(&c.t2d, zInv)
				c.z.One()
			}
		}
	}
	return t
}

// VarTimeTableMult sets e = Σ s[i]·P_i, where tables[i] was built for P_i, and returns e. It is not constant
// time: public values only.
func (e *Element) VarTimeTableMult(s []*Scalar, tables []*VarTimeTable) *Element {
	if len(s) != len(tables) {
		panic("group: VarTimeTableMult: mismatched lengths")
	}
	var stack [4][256]int8
	nafs := stack[:0]
	if len(s) > len(stack) {
		nafs = make([][256]int8, 0, len(s))
	}
	top := -1 // the highest position within a chunk where some digit is not zero
	for i := range s {
		nafs = append(nafs, s[i].nonAdjacentForm(tables[i].w))
		for k := 0; k < vtChunks; k++ {
			for t := vtChunkBits - 1; t > top; t-- {
				if nafs[i][k*vtChunkBits+t] != 0 {
					top = t
					break
				}
			}
		}
	}
	var acc projP2
	acc.X.Zero()
	acc.Y.One()
	acc.Z.One()
	var p1 projP1xP1
	var v extended
	for t := top; t >= 0; t-- {
		p1.double(&acc)
		for i := range nafs {
			tab := tables[i]
			for k := 0; k < vtChunks; k++ {
				d := nafs[i][k*vtChunkBits+t]
				if d == 0 {
					continue
				}
				v.fromP1xP1(&p1)
				if d > 0 {
					p1.add(&v, &tab.pts[k][d>>1], false, tab.affine)
				} else {
					p1.add(&v, &tab.pts[k][(-d)>>1], true, tab.affine)
				}
			}
		}
		acc.fromP1xP1(&p1)
	}
	var out extended
	out.fromP2(&acc)
	return out.toElement(e)
}

// nonAdjacentForm returns the width-w NAF of s: digits d[i], each zero or odd with |d[i]| < 2^(w-1), with
// s = Σ d[i]·2^i and at most one non-zero digit in any w consecutive positions. s is reduced, so below 2^253,
// and 256 positions hold its NAF (at most 254 digits).
func (s *Scalar) nonAdjacentForm(w uint) [256]int8 {
	b := s.s.Bytes()
	var limbs [5]uint64
	for i := 0; i < 4; i++ {
		limbs[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	width := uint64(1) << w
	mask := width - 1
	var naf [256]int8
	carry := uint64(0)
	for pos := uint(0); pos < 256; {
		idx, bit := pos/64, pos%64
		window := limbs[idx] >> bit
		if bit > 64-w {
			window |= limbs[idx+1] << (64 - bit)
		}
		window = carry + window&mask
		if window&1 == 0 {
			pos++
			continue
		}
		if window < width/2 {
			carry = 0
			naf[pos] = int8(window)
		} else {
			carry = 1
			naf[pos] = int8(int64(window) - int64(width))
		}
		pos += w
	}
	return naf
}

var (
	generatorTableOnce sync.Once
	generatorTable     *VarTimeTable
)

// GeneratorVarTimeTable returns the VarTimeTable of the generator g (window 8, affine), built on first use.
func GeneratorVarTimeTable() *VarTimeTable {
	generatorTableOnce.Do(func() { generatorTable = NewVarTimeTable(Generator(), 8, true) })
	return generatorTable
}

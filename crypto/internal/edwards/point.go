// Package edwards is the point arithmetic of edwards25519 that filippo.io/edwards25519 keeps unexported: the
// coordinate systems and the addition and doubling formulas on them, over the public field package
// filippo.io/edwards25519/field. Package crypto/internal/fastpath builds its fixed-base and variable-time tables
// on it, and package dlog its baby-step giant-step walk.
//
// The formulas are those of Hisil, Wong, Carter and Dawson, "Twisted Edwards curves revisited" (2008), for a = -1,
// as named in the Explicit-Formulas Database: "add-2008-hwcd-3", "madd-2008-hwcd-3" and "dbl-2008-hwcd". They are
// complete on edwards25519 (no exceptional inputs) and branch on nothing: every function here runs in time
// independent of its operands' values.
package edwards

import (
	"encoding/hex"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// D is the curve constant d = -121665/121666 of edwards25519, and D2 is 2d.
var (
	D  = mustFieldElement("a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352")
	D2 = new(field.Element).Add(D, D)
)

// Constants of RFC 9496, section 4.1, for ristretto255's encoding: SqrtM1 is the square root of -1 that is
// non-negative, and InvSqrtAMinusD is 1/sqrt(a - d) for a = -1.
var (
	SqrtM1         = mustFieldElement("b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b")
	InvSqrtAMinusD = mustFieldElement("ea405d80aafdc899be72415a17162f9d40d801fe917bc216a2fcafcf05896c78")
)

// Extended is a point (X:Y:Z:T) in extended coordinates: x = X/Z, y = Y/Z, xy = T/Z.
type Extended struct {
	X, Y, Z, T field.Element
}

// Projective is a point (X:Y:Z) in projective coordinates: x = X/Z, y = Y/Z. Doubling needs no T.
type Projective struct {
	X, Y, Z field.Element
}

// Completed is the form the addition and doubling formulas produce, ((X:Z), (Y:T)): x = X/Z, y = Y/T.
// Converting it to Extended costs four multiplications, to Projective three.
type Completed struct {
	X, Y, Z, T field.Element
}

// Cached is a point (X:Y:Z:T) in the form an addition wants it as its second operand: (Y+X, Y-X, Z, 2d·T).
type Cached struct {
	YPlusX, YMinusX, Z, T2d field.Element
}

// AffineCached is an affine point (x, y) as (y+x, y-x, 2d·xy): a Cached point with Z = 1, which saves the
// addition a multiplication.
type AffineCached struct {
	YPlusX, YMinusX, T2d field.Element
}

// Identity sets v to the neutral element (0:1:1:0) and returns v.
func (v *Extended) Identity() *Extended {
	v.X.Zero()
	v.Y.One()
	v.Z.One()
	v.T.Zero()
	return v
}

// FromPoint sets v to the coordinates of p and returns v.
func (v *Extended) FromPoint(p *edwards25519.Point) *Extended {
	X, Y, Z, T := p.ExtendedCoordinates()
	v.X.Set(X)
	v.Y.Set(Y)
	v.Z.Set(Z)
	v.T.Set(T)
	return v
}

// ToPoint sets p to v and returns p. It fails only if v is not on the curve, which the formulas of this package
// never produce from points that are.
func (v *Extended) ToPoint(p *edwards25519.Point) (*edwards25519.Point, error) {
	return p.SetExtendedCoordinates(&v.X, &v.Y, &v.Z, &v.T)
}

// FromCompleted sets v = p and returns v.
func (v *Extended) FromCompleted(p *Completed) *Extended {
	v.X.Multiply(&p.X, &p.T)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Multiply(&p.Z, &p.T)
	v.T.Multiply(&p.X, &p.Y)
	return v
}

// FromProjective sets v = p and returns v.
func (v *Extended) FromProjective(p *Projective) *Extended {
	v.X.Multiply(&p.X, &p.Z)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Square(&p.Z)
	v.T.Multiply(&p.X, &p.Y)
	return v
}

// AddAffine sets v = v + q and returns v ("madd-2008-hwcd-3").
func (v *Extended) AddAffine(q *AffineCached) *Extended {
	var c Completed
	c.AddAffine(v, q)
	return v.FromCompleted(&c)
}

// Double sets v = 2·v and returns v ("dbl-2008-hwcd").
func (v *Extended) Double() *Extended {
	var p Projective
	var c Completed
	p.FromExtended(v)
	c.Double(&p)
	return v.FromCompleted(&c)
}

// FromExtended sets v = p (dropping T) and returns v.
func (v *Projective) FromExtended(p *Extended) *Projective {
	v.X.Set(&p.X)
	v.Y.Set(&p.Y)
	v.Z.Set(&p.Z)
	return v
}

// FromCompleted sets v = p and returns v.
func (v *Projective) FromCompleted(p *Completed) *Projective {
	v.X.Multiply(&p.X, &p.T)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Multiply(&p.Z, &p.T)
	return v
}

// Double sets v = 2·p and returns v ("dbl-2008-hwcd").
func (v *Completed) Double(p *Projective) *Completed {
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
	return v
}

// Add sets v = p + q and returns v ("add-2008-hwcd-3").
func (v *Completed) Add(p *Extended, q *Cached) *Completed {
	var zz2 field.Element
	zz2.Multiply(&p.Z, &q.Z)
	return v.add(p, &q.YPlusX, &q.YMinusX, &q.T2d, &zz2, false)
}

// Subtract sets v = p - q and returns v.
func (v *Completed) Subtract(p *Extended, q *Cached) *Completed {
	var zz2 field.Element
	zz2.Multiply(&p.Z, &q.Z)
	return v.add(p, &q.YMinusX, &q.YPlusX, &q.T2d, &zz2, true)
}

// AddAffine sets v = p + q and returns v ("madd-2008-hwcd-3").
func (v *Completed) AddAffine(p *Extended, q *AffineCached) *Completed {
	return v.add(p, &q.YPlusX, &q.YMinusX, &q.T2d, &p.Z, false)
}

// SubtractAffine sets v = p - q and returns v.
func (v *Completed) SubtractAffine(p *Extended, q *AffineCached) *Completed {
	return v.add(p, &q.YMinusX, &q.YPlusX, &q.T2d, &p.Z, true)
}

// add is the one addition formula: v = p + q for q = (qPlus, qMinus, z, t2d) with z = p.Z·q.Z. Subtraction
// adds -q = (-x, y), which swaps y+x and y-x (the callers swap qPlus and qMinus) and negates 2dxy (negate swaps
// the signs of t2d below). negate is a constant of each caller, never data.
func (v *Completed) add(p *Extended, qPlus, qMinus, t2d, zz *field.Element, negate bool) *Completed {
	var yPlusX, yMinusX, pp, mm, tt2d, zz2 field.Element
	yPlusX.Add(&p.Y, &p.X)
	yMinusX.Subtract(&p.Y, &p.X)
	pp.Multiply(&yPlusX, qPlus)
	mm.Multiply(&yMinusX, qMinus)
	tt2d.Multiply(&p.T, t2d)
	zz2.Add(zz, zz)
	v.X.Subtract(&pp, &mm)
	v.Y.Add(&pp, &mm)
	if negate {
		v.Z.Subtract(&zz2, &tt2d)
		v.T.Add(&zz2, &tt2d)
	} else {
		v.Z.Add(&zz2, &tt2d)
		v.T.Subtract(&zz2, &tt2d)
	}
	return v
}

// FromExtended sets v = p and returns v.
func (v *Cached) FromExtended(p *Extended) *Cached {
	v.YPlusX.Add(&p.Y, &p.X)
	v.YMinusX.Subtract(&p.Y, &p.X)
	v.Z.Set(&p.Z)
	v.T2d.Multiply(&p.T, D2)
	return v
}

// FromAffine sets v to the affine point (x, y) and returns v.
func (v *AffineCached) FromAffine(x, y *field.Element) *AffineCached {
	v.YPlusX.Add(y, x)
	v.YMinusX.Subtract(y, x)
	v.T2d.Multiply(x, y)
	v.T2d.Multiply(&v.T2d, D2)
	return v
}

// FromExtended sets v = p, given zInv = 1/p.Z, and returns v.
func (v *AffineCached) FromExtended(p *Extended, zInv *field.Element) *AffineCached {
	var x, y field.Element
	x.Multiply(&p.X, zInv)
	y.Multiply(&p.Y, zInv)
	return v.FromAffine(&x, &y)
}

// Identity sets v to the neutral element (y+x, y-x, 2dxy) = (1, 1, 0) and returns v.
func (v *AffineCached) Identity() *AffineCached {
	v.YPlusX.One()
	v.YMinusX.One()
	v.T2d.Zero()
	return v
}

// Lookup sets v = |d|·P, negated when d < 0, from row[j-1] = j·P for j in [1, 8], and returns v. d must be in
// [-8, 8]. It reads the whole row and branches on nothing, so that its time does not depend on d.
func (v *AffineCached) Lookup(row *[8]AffineCached, d int8) *AffineCached {
	neg := int((uint8(d) >> 7) & 1)
	abs := int(d) * (1 - 2*neg)
	v.Identity()
	for j := 1; j <= 8; j++ {
		cond := ctEqual(abs, j)
		v.YPlusX.Select(&row[j-1].YPlusX, &v.YPlusX, cond)
		v.YMinusX.Select(&row[j-1].YMinusX, &v.YMinusX, cond)
		v.T2d.Select(&row[j-1].T2d, &v.T2d, cond)
	}
	// -(x, y) = (-x, y): y+x and y-x swap, 2dxy changes sign.
	v.YPlusX.Swap(&v.YMinusX, neg)
	var negT2d field.Element
	negT2d.Negate(&v.T2d)
	v.T2d.Select(&negT2d, &v.T2d, neg)
	return v
}

// ctEqual returns 1 if a == b and 0 otherwise, for small non-negative a and b, without branching.
func ctEqual(a, b int) int {
	x := uint32(a ^ b)
	return int(((x | -x) >> 31) ^ 1)
}

// BatchInvert replaces each element of v by its inverse, with one field inversion and 3(n-1) multiplications
// (Montgomery's trick). The elements must be non-zero. It runs in time that depends only on len(v).
func BatchInvert(v []field.Element) {
	if len(v) == 0 {
		return
	}
	var stack [16]field.Element
	prefix := stack[:0]
	if len(v) > len(stack) {
		prefix = make([]field.Element, 0, len(v))
	}
	var acc field.Element
	acc.One()
	for i := range v {
		prefix = append(prefix, acc) // prefix[i] = v[0]···v[i-1]
		acc.Multiply(&acc, &v[i])
	}
	acc.Invert(&acc) // 1/(v[0]···v[n-1])
	for i := len(v) - 1; i >= 0; i-- {
		var inv field.Element
		inv.Multiply(&acc, &prefix[i]) // 1/v[i]
		acc.Multiply(&acc, &v[i])      // 1/(v[0]···v[i-1])
		v[i] = inv
	}
}

// mustFieldElement returns the field element with the given little-endian hexadecimal encoding.
func mustFieldElement(hexLE string) *field.Element {
	b, err := hex.DecodeString(hexLE)
	if err != nil {
		panic("edwards: " + err.Error())
	}
	fe, err := new(field.Element).SetBytes(b)
	if err != nil {
		panic("edwards: " + err.Error())
	}
	return fe
}

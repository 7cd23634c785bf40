package fastpath

import (
	"filippo.io/edwards25519/field"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/edwards"
)

// AppendDoubledBytes appends to b the RFC 9496 encodings of 2·P for each P in points, in order, and returns the
// result: the same bytes as appending group.Element.Bytes of each doubled point, at a fraction of the cost.
//
// An encoding normally needs an inverse square root (about 3.3 µs here) per point. The encoding of a doubled
// point needs only an inversion, because the square root can be read off the doubling formulas
// (the "double-and-encode" of the Ristretto paper, as curve25519-dalek's double_and_compress_batch does it), and
// the inversions of a whole batch share a single field inversion (Montgomery's trick). So a prover that wants the
// encodings of commitments Q computes P = (x/2)·g instead of Q = x·g and encodes the batch of 2P = Q.
//
// It runs in time that depends only on len(points).
func AppendDoubledBytes(b []byte, points ...*group.Element) []byte {
	var stack [16]doubleEncodeState
	var stackInv [16]field.Element
	st, inv := stack[:0], stackInv[:0]
	if len(points) > len(stack) {
		st = make([]doubleEncodeState, 0, len(points))
		inv = make([]field.Element, 0, len(points))
	}
	for _, p := range points {
		st = append(st, doubleEncodeState{})
		s := &st[len(st)-1]
		s.init(p)
		inv = append(inv, s.den)
	}
	edwards.BatchInvert(inv)
	for i := range st {
		b = st[i].appendEncoding(b, &inv[i])
	}
	return b
}

// doubleEncodeState holds, for a point P = (X:Y:Z:T), the values of the doubling formula
//
//	e = 2XY, f = Z² + dT², g = Y² + X², h = Z² - dT²,   2P = (e·h : g·f : f·h : e·g),
//
// and den = e·g·f·h (or 1 when it is zero), whose inverse the encoding needs.
type doubleEncodeState struct {
	e, f, g, h, eg, fh, den field.Element
	// isIdentity is 1 when e·g·f·h = 0. Over ristretto255's points (the even subgroup 2E = P + E[4]) f and h
	// never vanish (the addition law is complete) and g = x² + y² vanishes only at points of order 8, so this
	// happens exactly when e = 0, that is when P is in E[4] and 2P encodes as the identity.
	isIdentity int
}

var (
	feZero = new(field.Element)
	feOne  = new(field.Element).One()
)

func (s *doubleEncodeState) init(p *group.Element) {
	X, Y, Z, T := point(p).ExtendedCoordinates()
	var xx, yy, zz, dtt, y2 field.Element
	xx.Square(X)
	yy.Square(Y)
	zz.Square(Z)
	dtt.Square(T)
	dtt.Multiply(&dtt, edwards.D)
	y2.Add(Y, Y)
	s.e.Multiply(X, &y2)
	s.f.Add(&zz, &dtt)
	s.g.Add(&yy, &xx)
	s.h.Subtract(&zz, &dtt)
	s.eg.Multiply(&s.e, &s.g)
	s.fh.Multiply(&s.f, &s.h)
	s.den.Multiply(&s.eg, &s.fh)
	s.isIdentity = s.den.Equal(feZero)
	s.den.Select(feOne, &s.den, s.isIdentity)
}

// appendEncoding appends the encoding of 2P given inv = 1/den.
func (s *doubleEncodeState) appendEncoding(b []byte, inv *field.Element) []byte {
	var zInv, tInv, tmp, e, g, h, minusE, fSqrtM1, magic, out field.Element
	zInv.Multiply(&s.eg, inv) // 1/(f·h), the inverse of 2P's Z
	tInv.Multiply(&s.fh, inv) // 1/(e·g), the inverse of 2P's T

	// Rotate when the doubled point's T·Z⁻¹ is negative, as RFC 9496's encoding does, expressed on e, f, g, h.
	tmp.Multiply(&s.eg, &zInv)
	rotate := tmp.IsNegative()
	minusE.Negate(&s.e)
	fSqrtM1.Multiply(&s.f, edwards.SqrtM1)
	e.Select(&s.g, &s.e, rotate)
	g.Select(&minusE, &s.g, rotate)
	h.Select(&fSqrtM1, &s.h, rotate)
	magic.Select(edwards.SqrtM1, edwards.InvSqrtAMinusD, rotate)

	// Negate y when x·Z⁻¹ is negative.
	tmp.Multiply(&h, &e)
	tmp.Multiply(&tmp, &zInv)
	var minusG field.Element
	minusG.Negate(&g)
	g.Select(&minusG, &g, tmp.IsNegative())

	// s = |(h - g) · magic · g · T⁻¹|
	tmp.Multiply(&g, &tInv)
	tmp.Multiply(&tmp, &magic)
	out.Subtract(&h, &g)
	out.Multiply(&out, &tmp)
	out.Absolute(&out)
	out.Select(feZero, &out, s.isIdentity)
	return append(b, out.Bytes()...)
}

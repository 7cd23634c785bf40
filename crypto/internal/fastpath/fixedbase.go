package fastpath

import (
	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/edwards"
	"github.com/recount-vote/recount/crypto/internal/groupaccess"
)

// FixedBase multiplies one fixed element by secret scalars, in constant time, faster than ScalarMult: it keeps
// a table of j·16^i·P for i in [0, 64) and j in [1, 8] in affine Niels form (y+x, y-x, 2dxy), so that a
// multiplication is 64 mixed additions and 64 constant-time table scans, with no doublings.
// Recount builds one for the election's joint public key K, the second base of every encryption and proof.
// The table takes 60 KiB and about 0.4 ms to build. A FixedBase is safe for concurrent use.
type FixedBase struct {
	base  group.Element
	table [64][8]edwards.AffineCached
}

// NewFixedBase precomputes the table for p. The 512 points are made affine with a single batched inversion.
func NewFixedBase(p *group.Element) *FixedBase {
	fb := &FixedBase{}
	fb.base.Set(p)
	points := make([]edwards25519.Point, 0, 64*8)
	var row edwards25519.Point // 16^i · p
	row.Set(point(p))
	for i := 0; i < 64; i++ {
		var acc edwards25519.Point
		acc.Set(&row)
		for j := 0; j < 8; j++ {
			points = append(points, acc)
			acc.Add(&acc, &row)
		}
		for k := 0; k < 4; k++ {
			row.Add(&row, &row)
		}
	}
	zInv := make([]field.Element, len(points))
	for i := range points {
		_, _, Z, _ := points[i].ExtendedCoordinates()
		zInv[i].Set(Z)
	}
	edwards.BatchInvert(zInv) // Z is never zero in extended coordinates
	for i := range points {
		var p edwards.Extended
		fb.table[i/8][i%8].FromExtended(p.FromPoint(&points[i]), &zInv[i])
	}
	return fb
}

// Base returns a copy of the fixed element.
func (fb *FixedBase) Base() *group.Element { return new(group.Element).Set(&fb.base) }

// ScalarMult sets dst = s·P and returns dst, in constant time.
func (fb *FixedBase) ScalarMult(dst *group.Element, s *group.Scalar) *group.Element {
	digits := signedRadix16(s)
	var acc edwards.Extended
	acc.Identity()
	var n edwards.AffineCached
	for i := 0; i < 64; i++ {
		n.Lookup(&fb.table[i], digits[i])
		acc.AddAffine(&n)
	}
	if _, err := acc.ToPoint(point(dst)); err != nil {
		panic("fastpath: FixedBase produced a point off the curve: " + err.Error())
	}
	return dst
}

// point returns the curve point of e, for reading or writing, through the access package group keeps for
// crypto/internal (see groupaccess for why). Each operation here calls it once per element it takes or returns,
// never per step of its arithmetic.
func point(e *group.Element) *edwards25519.Point { return groupaccess.ElementPoint(e) }

// signedRadix16 returns the digits d[i] in [-8, 8) with s = Σ d[i]·16^i. s is reduced (below 2^253).
func signedRadix16(s *group.Scalar) [64]int8 {
	b := s.Bytes()
	var digits [64]int8
	for i := 0; i < 32; i++ {
		digits[2*i] = int8(b[i] & 15)
		digits[2*i+1] = int8((b[i] >> 4) & 15)
	}
	for i := 0; i < 63; i++ {
		carry := (digits[i] + 8) >> 4
		digits[i] -= carry << 4
		digits[i+1] += carry
	}
	return digits
}

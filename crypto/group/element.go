package group

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"

	"github.com/recount-vote/recount/crypto/internal/edwards"
	"github.com/recount-vote/recount/crypto/internal/groupaccess"
)

// ElementSize is the length of an element's encoding.
const ElementSize = 32

var (
	// ErrElementEncoding is returned for a string that is not the RFC 9496 encoding of a ristretto255 element.
	ErrElementEncoding = errors.New("group: invalid ristretto255 element encoding")
	// ErrIdentity is returned where the identity element is not allowed.
	ErrIdentity = errors.New("group: the identity element is not allowed here")
)

// Element is an element of the ristretto255 group. The zero value is not valid; use NewElement.
type Element struct {
	p edwards25519.Point
}

// The packages under crypto/internal that do their own arithmetic on an element's point reach it through
// groupaccess.ElementPoint; see that package for why.
func init() {
	groupaccess.ElementPoint = func(e any) *edwards25519.Point { return &e.(*Element).p }
}

// NewElement returns a new element set to the identity.
func NewElement() *Element {
	e := new(Element)
	e.p.Set(edwards25519.NewIdentityPoint())
	return e
}

// Generator returns a new element set to the canonical generator g of RFC 9496.
func Generator() *Element {
	e := new(Element)
	e.p.Set(edwards25519.NewGeneratorPoint())
	return e
}

// Set sets e = x and returns e.
func (e *Element) Set(x *Element) *Element { e.p.Set(&x.p); return e }

// Add sets e = x + y and returns e.
func (e *Element) Add(x, y *Element) *Element { e.p.Add(&x.p, &y.p); return e }

// Subtract sets e = x - y and returns e.
func (e *Element) Subtract(x, y *Element) *Element { e.p.Subtract(&x.p, &y.p); return e }

// Double sets e = 2·x and returns e.
func (e *Element) Double(x *Element) *Element { e.p.Double(&x.p); return e }

// Negate sets e = -x and returns e.
func (e *Element) Negate(x *Element) *Element { e.p.Negate(&x.p); return e }

// Select sets e to a if cond == 1 and to b if cond == 0, in constant time, and returns e.
func (e *Element) Select(a, b *Element, cond int) *Element { e.p.Select(&a.p, &b.p, cond); return e }

// ScalarBaseMult sets e = s·g and returns e, in constant time.
func (e *Element) ScalarBaseMult(s *Scalar) *Element { e.p.ScalarBaseMult(&s.s); return e }

// ScalarMult sets e = s·x and returns e, in constant time.
func (e *Element) ScalarMult(s *Scalar, x *Element) *Element { e.p.ScalarMult(&s.s, &x.p); return e }

// VarTimeScalarMult sets e = s·x and returns e. It is not constant time: use it on public values only.
func (e *Element) VarTimeScalarMult(s *Scalar, x *Element) *Element {
	e.p.VarTimeMultiScalarMult([]*edwards25519.Scalar{&s.s}, []*edwards25519.Point{&x.p})
	return e
}

// VarTimeDoubleScalarBaseMult sets e = a·x + b·g and returns e. It is not constant time: public values only.
func (e *Element) VarTimeDoubleScalarBaseMult(a *Scalar, x *Element, b *Scalar) *Element {
	e.p.VarTimeDoubleScalarBaseMult(&a.s, &x.p, &b.s)
	return e
}

// VarTimeMultiScalarMult sets e = Σ s[i]·x[i] and returns e. It is not constant time: public values only.
func (e *Element) VarTimeMultiScalarMult(s []*Scalar, x []*Element) *Element {
	if len(s) != len(x) {
		panic("group: VarTimeMultiScalarMult: mismatched lengths")
	}
	ss := make([]*edwards25519.Scalar, len(s))
	ps := make([]*edwards25519.Point, len(x))
	for i := range s {
		ss[i], ps[i] = &s[i].s, &x[i].p
	}
	e.p.VarTimeMultiScalarMult(ss, ps)
	return e
}

// Equal returns 1 if e and x are the same group element and 0 otherwise, in constant time.
// Elements must not be compared in any other way: one group element has several curve representatives.
func (e *Element) Equal(x *Element) int {
	X1, Y1, _, _ := e.p.ExtendedCoordinates()
	X2, Y2, _, _ := x.p.ExtendedCoordinates()
	var a, b field.Element
	a.Multiply(X1, Y2)
	b.Multiply(Y1, X2)
	out := a.Equal(&b)
	a.Multiply(Y1, Y2)
	b.Multiply(X1, X2)
	return out | a.Equal(&b)
}

// IsIdentity reports whether e is the identity element.
func (e *Element) IsIdentity() bool { return e.Equal(identity) == 1 }

var identity = NewElement()

// Constants of RFC 9496, section 4.1 (kept in crypto/internal/edwards, which the batched encoding shares).
var (
	sqrtM1         = edwards.SqrtM1
	invSqrtAMinusD = edwards.InvSqrtAMinusD
	feOne          = new(field.Element).One()
)

// Bytes returns the 32-byte RFC 9496 encoding of e.
func (e *Element) Bytes() []byte {
	var b [ElementSize]byte
	return e.AppendBytes(b[:0])
}

// AppendBytes appends the 32-byte RFC 9496 encoding of e to b and returns the result.
func (e *Element) AppendBytes(b []byte) []byte {
	X0, Y0, Z0, T0 := e.p.ExtendedCoordinates()
	var tmp, u1, u2, invSqrt, den1, den2, zInv, ix0, iy0, enchanted, x, y, denInv, s field.Element

	u1.Add(Z0, Y0)
	tmp.Subtract(Z0, Y0)
	u1.Multiply(&u1, &tmp) // u1 = (z0 + y0) * (z0 - y0)
	u2.Multiply(X0, Y0)    // u2 = x0 * y0

	tmp.Square(&u2)
	tmp.Multiply(&tmp, &u1)
	invSqrt.SqrtRatio(feOne, &tmp) // (_, invsqrt) = SQRT_RATIO_M1(1, u1 * u2^2); always square

	den1.Multiply(&invSqrt, &u1)
	den2.Multiply(&invSqrt, &u2)
	zInv.Multiply(&den1, &den2)
	zInv.Multiply(&zInv, T0)

	ix0.Multiply(X0, sqrtM1)
	iy0.Multiply(Y0, sqrtM1)
	enchanted.Multiply(&den1, invSqrtAMinusD)

	tmp.Multiply(T0, &zInv)
	rotate := tmp.IsNegative()

	x.Select(&iy0, X0, rotate)
	y.Select(&ix0, Y0, rotate)
	denInv.Select(&enchanted, &den2, rotate)

	tmp.Multiply(&x, &zInv)
	var negY field.Element
	negY.Negate(&y)
	y.Select(&negY, &y, tmp.IsNegative())

	s.Subtract(Z0, &y)
	s.Multiply(&s, &denInv)
	s.Absolute(&s)
	return append(b, s.Bytes()...)
}

// SetCanonicalBytes sets e to the element that in encodes (RFC 9496, section 4.3.1). It returns an error, and
// leaves e unchanged, unless in is exactly the canonical encoding of an element. The identity is accepted; use
// SetCanonicalBytesNonIdentity where it is not allowed.
func (e *Element) SetCanonicalBytes(in []byte) (*Element, error) {
	if len(in) != ElementSize {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrElementEncoding, len(in), ElementSize)
	}
	var s field.Element
	if _, err := s.SetBytes(in); err != nil {
		return nil, ErrElementEncoding
	}
	// field.SetBytes ignores the top bit and reduces values >= p: the encoding is canonical only if it
	// round-trips. IS_NEGATIVE(s) must be false.
	if subtle.ConstantTimeCompare(s.Bytes(), in) != 1 || s.IsNegative() == 1 {
		return nil, ErrElementEncoding
	}

	var ss, u1, u2, u2Sqr, v, tmp, invSqrt, denX, denY, X, Y, Z, T field.Element
	ss.Square(&s)
	u1.Subtract(feOne, &ss)
	u2.Add(feOne, &ss)
	u2Sqr.Square(&u2)
	v.Square(&u1)
	v.Multiply(&v, edwards.D)
	v.Negate(&v)
	v.Subtract(&v, &u2Sqr) // v = -(D * u1^2) - u2^2

	tmp.Multiply(&v, &u2Sqr)
	_, wasSquare := invSqrt.SqrtRatio(feOne, &tmp)

	denX.Multiply(&invSqrt, &u2)
	denY.Multiply(&invSqrt, &denX)
	denY.Multiply(&denY, &v)

	X.Add(&s, &s)
	X.Multiply(&X, &denX)
	X.Absolute(&X)
	Y.Multiply(&u1, &denY)
	Z.One()
	T.Multiply(&X, &Y)

	if wasSquare == 0 || T.IsNegative() == 1 || Y.Equal(new(field.Element)) == 1 {
		return nil, ErrElementEncoding
	}
	if _, err := e.p.SetExtendedCoordinates(&X, &Y, &Z, &T); err != nil {
		return nil, ErrElementEncoding
	}
	return e, nil
}

// SetCanonicalBytesNonIdentity is SetCanonicalBytes that also rejects the identity, with ErrIdentity.
func (e *Element) SetCanonicalBytesNonIdentity(in []byte) (*Element, error) {
	var x Element
	if _, err := x.SetCanonicalBytes(in); err != nil {
		return nil, err
	}
	if x.IsIdentity() {
		return nil, ErrIdentity
	}
	return e.Set(&x), nil
}

// MarshalBinary returns the 32-byte encoding of e.
func (e *Element) MarshalBinary() ([]byte, error) { return e.Bytes(), nil }

// UnmarshalBinary sets e from its canonical 32-byte encoding (the identity is accepted).
func (e *Element) UnmarshalBinary(b []byte) error {
	_, err := e.SetCanonicalBytes(b)
	return err
}

// String returns the hexadecimal encoding of e, for logs and test failures.
func (e *Element) String() string { return fmt.Sprintf("%x", e.Bytes()) }

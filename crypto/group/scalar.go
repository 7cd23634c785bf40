package group

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"filippo.io/edwards25519"
)

// ScalarSize is the length of a scalar's encoding.
const ScalarSize = 32

// ErrScalarEncoding is returned for a scalar encoding that is not 32 bytes or not below the group order.
var ErrScalarEncoding = errors.New("group: invalid scalar encoding (want 32 bytes, little-endian, below the group order)")

// Scalar is an integer modulo the group order l. The zero value is 0 and ready to use.
type Scalar struct {
	s edwards25519.Scalar
}

// NewScalar returns a new zero scalar.
func NewScalar() *Scalar { return new(Scalar) }

// Set sets s = x and returns s.
func (s *Scalar) Set(x *Scalar) *Scalar { s.s.Set(&x.s); return s }

// SetUint64 sets s = x and returns s.
func (s *Scalar) SetUint64(x uint64) *Scalar {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:8], x)
	if _, err := s.s.SetCanonicalBytes(b[:]); err != nil {
		panic("group: SetUint64: " + err.Error()) // unreachable: 2^64 < l
	}
	return s
}

// SetInt64 sets s = x mod l and returns s.
func (s *Scalar) SetInt64(x int64) *Scalar {
	if x >= 0 {
		return s.SetUint64(uint64(x))
	}
	s.SetUint64(uint64(-(x + 1)) + 1)
	return s.Negate(s)
}

// Add sets s = x + y and returns s.
func (s *Scalar) Add(x, y *Scalar) *Scalar { s.s.Add(&x.s, &y.s); return s }

// Subtract sets s = x - y and returns s.
func (s *Scalar) Subtract(x, y *Scalar) *Scalar { s.s.Subtract(&x.s, &y.s); return s }

// Multiply sets s = x * y and returns s.
func (s *Scalar) Multiply(x, y *Scalar) *Scalar { s.s.Multiply(&x.s, &y.s); return s }

// MultiplyAdd sets s = x * y + z and returns s.
func (s *Scalar) MultiplyAdd(x, y, z *Scalar) *Scalar { s.s.MultiplyAdd(&x.s, &y.s, &z.s); return s }

// Negate sets s = -x and returns s.
func (s *Scalar) Negate(x *Scalar) *Scalar { s.s.Negate(&x.s); return s }

// Invert sets s = 1/x and returns s. The inverse of zero is zero. It runs in constant time.
func (s *Scalar) Invert(x *Scalar) *Scalar { s.s.Invert(&x.s); return s }

// Equal returns 1 if s == x and 0 otherwise, in constant time.
func (s *Scalar) Equal(x *Scalar) int { return s.s.Equal(&x.s) }

// IsZero reports whether s is zero, in constant time.
func (s *Scalar) IsZero() bool { return s.s.Equal(edwards25519.NewScalar()) == 1 }

// Select sets s to a if cond == 1 and to b if cond == 0, in constant time, and returns s.
// cond must be 0 or 1.
func (s *Scalar) Select(a, b *Scalar, cond int) *Scalar {
	// s = b + cond·(a - b): edwards25519.Scalar has no exported conditional move, and this is branch-free.
	var c, d edwards25519.Scalar
	var cb [32]byte
	cb[0] = byte(cond & 1)
	if _, err := c.SetCanonicalBytes(cb[:]); err != nil {
		panic("group: Select: " + err.Error())
	}
	d.Subtract(&a.s, &b.s)
	s.s.MultiplyAdd(&c, &d, &b.s)
	return s
}

// Bytes returns the 32-byte little-endian encoding of s.
func (s *Scalar) Bytes() []byte { return s.s.Bytes() }

// SetCanonicalBytes sets s from its 32-byte encoding. It returns an error, and leaves s unchanged, unless x is
// exactly 32 bytes encoding an integer below l.
func (s *Scalar) SetCanonicalBytes(x []byte) (*Scalar, error) {
	if len(x) != ScalarSize {
		return nil, fmt.Errorf("%w: got %d bytes", ErrScalarEncoding, len(x))
	}
	if _, err := s.s.SetCanonicalBytes(x); err != nil {
		return nil, ErrScalarEncoding
	}
	return s, nil
}

// SetUniformBytes sets s to x (64 bytes) reduced modulo l, and returns s. With x uniformly random or the output
// of SHA-512, the result is uniform modulo l up to a negligible bias (2^-259).
func (s *Scalar) SetUniformBytes(x []byte) (*Scalar, error) {
	if len(x) != 64 {
		return nil, fmt.Errorf("group: SetUniformBytes needs 64 bytes, got %d", len(x))
	}
	if _, err := s.s.SetUniformBytes(x); err != nil {
		return nil, err
	}
	return s, nil
}

// MarshalBinary returns the 32-byte encoding of s.
func (s *Scalar) MarshalBinary() ([]byte, error) { return s.Bytes(), nil }

// UnmarshalBinary sets s from its canonical 32-byte encoding.
func (s *Scalar) UnmarshalBinary(b []byte) error {
	_, err := s.SetCanonicalBytes(b)
	return err
}

// RandomScalar returns a uniformly random scalar read from r, or from crypto/rand when r is nil.
func RandomScalar(r io.Reader) (*Scalar, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [64]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("group: reading randomness: %w", err)
	}
	s := new(Scalar)
	if _, err := s.s.SetUniformBytes(b[:]); err != nil {
		return nil, err
	}
	return s, nil
}

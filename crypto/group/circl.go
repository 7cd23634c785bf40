package group

import (
	circlgroup "github.com/cloudflare/circl/group"
)

// Circl is circl's ristretto255 group, the one this package's elements and scalars convert to and from. Recount
// uses circl where it has the well-kept piece (secret sharing for the key ceremony, HPKE) and this package's
// arithmetic everywhere else.
var Circl = circlgroup.Ristretto255

// ToCircl returns e as a circl element.
func (e *Element) ToCircl() circlgroup.Element {
	c := Circl.NewElement()
	if err := c.UnmarshalBinary(e.Bytes()); err != nil {
		panic("group: circl refused a canonical encoding: " + err.Error())
	}
	return c
}

// FromCircl sets e to the circl element c and returns e.
func (e *Element) FromCircl(c circlgroup.Element) (*Element, error) {
	b, err := c.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return e.SetCanonicalBytes(b)
}

// ToCircl returns s as a circl scalar.
func (s *Scalar) ToCircl() circlgroup.Scalar {
	c := Circl.NewScalar()
	if err := c.UnmarshalBinary(s.Bytes()); err != nil {
		panic("group: circl refused a canonical scalar: " + err.Error())
	}
	return c
}

// FromCircl sets s to the circl scalar c and returns s.
func (s *Scalar) FromCircl(c circlgroup.Scalar) (*Scalar, error) {
	b, err := c.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return s.SetCanonicalBytes(b)
}

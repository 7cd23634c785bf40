// Package elgamal is exponential ElGamal on ristretto255, in the form of ElectionGuard 2.0: the message is
// carried in the exponent of the public key, not of the generator.
//
// With secret key s, public key K = s·g, a message m in [0, 2^64) and a nonce r:
//
//	Encrypt(m; r) = (A, B) = (r·g, (r + m)·K)
//	Decrypt(A, B) = B - s·A = m·K
//
// Ciphertexts add component-wise, and the sum decrypts to the sum of the messages times K; the small result m
// is then recovered by a discrete logarithm in base K (package dlog). Keeping m in the exponent of K rather than
// of g lets every exponentiation of an encryption and of its proofs have base g or K, both with precomputed
// tables, which is what makes encryption with proofs fast (see zkp).
package elgamal

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/fastpath"
)

// CiphertextSize is the length of a ciphertext's encoding: A then B.
const CiphertextSize = 2 * group.ElementSize

// ErrCiphertextEncoding is returned for an encoding that is not two canonical elements with A not the identity.
var ErrCiphertextEncoding = errors.New("elgamal: invalid ciphertext encoding")

// PublicKey is an election's encryption key K, with the precomputed table that multiplies it fast.
// It is safe for concurrent use.
type PublicKey struct {
	k      group.Element
	kBytes [group.ElementSize]byte
	table  *fastpath.FixedBase
	vt     *lazyVarTimeTable
	pair   *lazyPair
}

type lazyPair struct {
	once sync.Once
	pair *fastpath.FixedBasePair
}

type lazyVarTimeTable struct {
	once  sync.Once
	table *fastpath.VarTimeTable
}

// NewPublicKey returns the public key K. The identity is not a key: it would make every ciphertext reveal its
// message.
func NewPublicKey(k *group.Element) (*PublicKey, error) {
	if k.IsIdentity() {
		return nil, fmt.Errorf("elgamal: public key: %w", group.ErrIdentity)
	}
	pk := &PublicKey{table: fastpath.NewFixedBase(k), vt: new(lazyVarTimeTable), pair: new(lazyPair)}
	pk.k.Set(k)
	k.AppendBytes(pk.kBytes[:0])
	return pk, nil
}

// ParsePublicKey decodes a 32-byte public key.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	var k group.Element
	if _, err := k.SetCanonicalBytesNonIdentity(b); err != nil {
		return nil, fmt.Errorf("elgamal: public key: %w", err)
	}
	return NewPublicKey(&k)
}

// Element returns a copy of K.
func (pk *PublicKey) Element() *group.Element { return new(group.Element).Set(&pk.k) }

// Bytes returns the 32-byte encoding of K.
func (pk *PublicKey) Bytes() []byte { return pk.AppendBytes(nil) }

// AppendBytes appends the 32-byte encoding of K to b (kept from construction: no encoding work).
func (pk *PublicKey) AppendBytes(b []byte) []byte { return append(b, pk.kBytes[:]...) }

// VarTimeTable returns K's table for variable-time multiplication by public scalars (verification), built on
// first use (about 0.1 ms) and kept. Its type is internal to crypto/: it is for package zkp's verifiers.
func (pk *PublicKey) VarTimeTable() *fastpath.VarTimeTable {
	pk.vt.once.Do(func() { pk.vt.table = fastpath.NewVarTimeTable(&pk.k, 8, true) })
	return pk.vt.table
}

// Mul sets dst = s·K, in constant time, and returns dst.
func (pk *PublicKey) Mul(dst *group.Element, s *group.Scalar) *group.Element {
	return pk.table.ScalarMult(dst, s)
}

// MulBatch sets gOut[i] = gScalars[i]·g and kOut[i] = kScalars[i]·K, in time that depends only on the numbers
// of scalars: a prover's commitments in one call, which runs eight multiplications at a time on processors with
// AVX-512 IFMA (crypto/internal/fastpath.FixedBasePair).
func (pk *PublicKey) MulBatch(gOut []*group.Element, gScalars []*group.Scalar, kOut []*group.Element, kScalars []*group.Scalar) {
	pk.pair.once.Do(func() { pk.pair.pair = fastpath.NewFixedBasePair(fastpath.GeneratorFixedBase(), pk.table) })
	pk.pair.pair.ScalarMults(gOut, gScalars, kOut, kScalars)
}

// SecretKey is a single-holder ElGamal secret key. Recount's elections never have one: the key is shared among
// trustees (packages dkg and threshold). It exists for tests and for tools.
type SecretKey struct {
	s group.Scalar
}

// GenerateKey returns a fresh key pair, with randomness from r (crypto/rand when nil).
func GenerateKey(r io.Reader) (*SecretKey, *PublicKey, error) {
	s, err := group.RandomScalar(r)
	if err != nil {
		return nil, nil, err
	}
	sk := &SecretKey{}
	sk.s.Set(s)
	pk, err := NewPublicKey(group.NewElement().ScalarBaseMult(s))
	if err != nil {
		return nil, nil, err
	}
	return sk, pk, nil
}

// NewSecretKey wraps s as a secret key.
func NewSecretKey(s *group.Scalar) *SecretKey {
	sk := &SecretKey{}
	sk.s.Set(s)
	return sk
}

// Decrypt returns B - s·A, which is m·K for a ciphertext of m.
func (sk *SecretKey) Decrypt(c *Ciphertext) *group.Element {
	sa := group.NewElement().ScalarMult(&sk.s, &c.A)
	return group.NewElement().Subtract(&c.B, sa)
}

// Ciphertext is an ElGamal ciphertext (A, B).
type Ciphertext struct {
	A, B group.Element
}

// NewCiphertext returns the encryption of zero with nonce zero, (identity, identity): the neutral element of
// Add, from which sums start.
func NewCiphertext() *Ciphertext {
	c := &Ciphertext{}
	c.A.Set(group.NewElement())
	c.B.Set(group.NewElement())
	return c
}

// Encrypt returns the encryption of m under pk with the given nonce, in constant time in m and nonce.
func (pk *PublicKey) Encrypt(m uint64, nonce *group.Scalar) *Ciphertext {
	c := &Ciphertext{}
	c.A.ScalarBaseMult(nonce)
	e := group.NewScalar().SetUint64(m)
	e.Add(e, nonce)
	pk.Mul(&c.B, e)
	return c
}

// EncryptRandom encrypts m with a fresh nonce read from r (crypto/rand when nil), and returns the ciphertext
// and the nonce. The nonce is a secret: whoever holds it can read m.
func (pk *PublicKey) EncryptRandom(m uint64, r io.Reader) (*Ciphertext, *group.Scalar, error) {
	nonce, err := group.RandomScalar(r)
	if err != nil {
		return nil, nil, err
	}
	return pk.Encrypt(m, nonce), nonce, nil
}

// Opens reports whether c is the encryption of m under pk with nonce r: the check a Benaloh challenge makes
// once the nonce is revealed.
func (pk *PublicKey) Opens(c *Ciphertext, m uint64, r *group.Scalar) bool {
	return pk.Encrypt(m, r).Equal(c) == 1
}

// Add sets c = x + y (the encryption of the sum of their messages) and returns c.
func (c *Ciphertext) Add(x, y *Ciphertext) *Ciphertext {
	c.A.Add(&x.A, &y.A)
	c.B.Add(&x.B, &y.B)
	return c
}

// Set sets c = x and returns c.
func (c *Ciphertext) Set(x *Ciphertext) *Ciphertext {
	c.A.Set(&x.A)
	c.B.Set(&x.B)
	return c
}

// Equal returns 1 if c and x are the same ciphertext and 0 otherwise.
func (c *Ciphertext) Equal(x *Ciphertext) int { return c.A.Equal(&x.A) & c.B.Equal(&x.B) }

// Bytes returns the 64-byte encoding A || B.
func (c *Ciphertext) Bytes() []byte {
	b := make([]byte, 0, CiphertextSize)
	return c.AppendBytes(b)
}

// AppendBytes appends A || B to b.
func (c *Ciphertext) AppendBytes(b []byte) []byte { return c.B.AppendBytes(c.A.AppendBytes(b)) }

// SetCanonicalBytes decodes a ciphertext as cast in a ballot: two canonical elements, and A not the identity
// (A = 0·g would mean the nonce is zero and B shows the message). Sums of ciphertexts are never decoded.
func (c *Ciphertext) SetCanonicalBytes(b []byte) (*Ciphertext, error) {
	if len(b) != CiphertextSize {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrCiphertextEncoding, len(b), CiphertextSize)
	}
	var x Ciphertext
	if _, err := x.A.SetCanonicalBytesNonIdentity(b[:group.ElementSize]); err != nil {
		return nil, fmt.Errorf("%w: A: %w", ErrCiphertextEncoding, err)
	}
	if _, err := x.B.SetCanonicalBytes(b[group.ElementSize:]); err != nil {
		return nil, fmt.Errorf("%w: B: %w", ErrCiphertextEncoding, err)
	}
	return c.Set(&x), nil
}

// MarshalBinary returns the 64-byte encoding.
func (c *Ciphertext) MarshalBinary() ([]byte, error) { return c.Bytes(), nil }

// UnmarshalBinary is SetCanonicalBytes.
func (c *Ciphertext) UnmarshalBinary(b []byte) error {
	_, err := c.SetCanonicalBytes(b)
	return err
}

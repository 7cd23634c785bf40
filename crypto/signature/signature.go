// Package signature is Ed25519 (RFC 8032) as the record uses it, with the choices RFC 8032 leaves to
// implementations pinned, so that two verifiers accept exactly the same signatures (docs/protocol.md, section 14):
//
//   - A public key must be 32 bytes, the canonical encoding of a point in the prime-order subgroup other than the
//     identity (CheckKey). This refuses the small-order keys (for which a signature can verify for many messages)
//     and the mixed-order keys (a torsion component), for which the cofactored and cofactorless equations disagree,
//     and the non-canonical encodings, which some libraries accept and others do not.
//   - A signature R || S verifies as crypto/ed25519.Verify decides: S must be canonical (below the group order l),
//     the equation is the cofactorless [S]B = R + [k]A with k = SHA-512(R || A || M) reduced mod l, and R is
//     compared by its encoding with the canonical encoding of [S]B - [k]A, so a non-canonical R never verifies.
//
// With A in the prime-order subgroup, the cofactored equation [8][S]B = [8]R + [8][k]A and the cofactorless one
// disagree only on a signature whose R has a torsion component: the cofactored accepts it, the cofactorless (this
// rule) refuses it. Only the key's holder can make one (S must satisfy the equation, which needs the secret), so
// the choice concerns no honest signature and no forgery.
package signature

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// KeySize is the size of a public key, and SignatureSize that of a signature.
const (
	KeySize       = ed25519.PublicKeySize
	SignatureSize = ed25519.SignatureSize
)

// ErrBadKey is wrapped by the errors of CheckKey: the key breaks the key rule.
var ErrBadKey = errors.New("not a valid Ed25519 public key")

// ErrBadSignature is returned by Verify when the key is valid but the signature does not verify.
var ErrBadSignature = errors.New("the Ed25519 signature does not verify")

// minusOne is l - 1 as a scalar: [l-1]A + A = [l]A is the identity exactly when A has no torsion component.
var minusOne = edwards25519.NewScalar().Subtract(edwards25519.NewScalar(), scalarOne())

func scalarOne() *edwards25519.Scalar {
	var b [32]byte
	b[0] = 1
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic(err)
	}
	return s
}

// CheckKey reports whether k is a valid public key: 32 bytes, the canonical encoding of a point of the curve
// (filippo.io/edwards25519's SetBytes also reads a y coordinate at or above p and a negative zero x, so the
// encoding is compared with the point's canonical one), in the prime-order subgroup ([l]A is the identity) and
// not the identity. The error wraps ErrBadKey and says which part of the rule fails.
func CheckKey(k []byte) error {
	if len(k) != KeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(k), KeySize)
	}
	a, err := new(edwards25519.Point).SetBytes(k)
	if err != nil {
		return fmt.Errorf("%w: not the encoding of a curve point", ErrBadKey)
	}
	if !bytes.Equal(a.Bytes(), k) {
		return fmt.Errorf("%w: a non-canonical encoding", ErrBadKey)
	}
	identity := edwards25519.NewIdentityPoint()
	if new(edwards25519.Point).MultByCofactor(a).Equal(identity) == 1 {
		return fmt.Errorf("%w: a point of small order", ErrBadKey)
	}
	// Public keys are public: variable time is fine.
	la := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(minusOne, a, edwards25519.NewScalar())
	if la.Add(la, a).Equal(identity) != 1 {
		return fmt.Errorf("%w: a point with a torsion component (not in the prime-order subgroup)", ErrBadKey)
	}
	return nil
}

// Verify reports whether sig is a valid signature of msg under the public key pub: pub passes CheckKey (an error
// wrapping ErrBadKey otherwise) and crypto/ed25519.Verify accepts the signature (ErrBadSignature otherwise, also
// for a signature that is not 64 bytes).
func Verify(pub, msg, sig []byte) error {
	if err := CheckKey(pub); err != nil {
		return err
	}
	if len(sig) != SignatureSize || !ed25519.Verify(pub, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// VerifyCheckedKey is Verify for a public key that has passed CheckKey already (a voter's credential, which its
// list's check read): it skips the key rule, whose check costs a scalar multiplication (about 58 µs on the
// node's accept path), and decides as Verify does for such a key. It must not be given a key that CheckKey has
// not accepted.
func VerifyCheckedKey(pub, msg, sig []byte) error {
	if len(pub) != KeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(pub), KeySize)
	}
	if len(sig) != SignatureSize || !ed25519.Verify(pub, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

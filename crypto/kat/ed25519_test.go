package kat

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"testing"

	"filippo.io/edwards25519"

	"github.com/recount-vote/recount/crypto/signature"
	"github.com/recount-vote/recount/internal/drbg"
)

// The Ed25519 edge vectors (testdata/vectors/primitives/ed25519.json): crafted keys and signatures at the places
// where Ed25519 implementations differ ("Taming the many EdDSAs", Chalkias, Garillot and Nikolaenko, 2020; ZIP 215),
// each with the verdict of the record's rule (package signature, which election and ledger/tlog call) beside
// those of crypto/ed25519.Verify alone and of ZIP 215, so that a verifier writer sees where the rules part.

const ed25519Description = "Ed25519 keys and signatures at the edges of RFC 8032 (protocol.md, section 14). " +
	"keys: a public key and the record's key rule's verdict (accept, or reject with the reason). " +
	"signatures: a public key, a message and a 64-byte signature R || S (hex), with three verdicts: verdict, the record's rule " +
	"(the key rule, then crypto/ed25519.Verify: canonical S, cofactorless [S]B = R + [k]A, R compared by encoding); " +
	"crypto_ed25519, crypto/ed25519.Verify alone (no key rule); zip215, the rule of ZIP 215 (canonical S, A and R decoded " +
	"accepting non-canonical encodings, cofactored [8][S]B = [8]R + [8][k]A). k = SHA-512(R || A || message) mod l over the bytes as given."

type ed25519KeyVector struct {
	Name    string `json:"name"`
	Key     string `json:"key"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
}

type ed25519SigVector struct {
	Name          string `json:"name"`
	Key           string `json:"key"`
	Message       string `json:"message"`
	Signature     string `json:"signature"`
	Verdict       string `json:"verdict"`
	Reason        string `json:"reason,omitempty"`
	CryptoEd25519 bool   `json:"crypto_ed25519"`
	ZIP215        bool   `json:"zip215"`
}

type ed25519Vectors struct {
	Keys       []ed25519KeyVector `json:"keys"`
	Signatures []ed25519SigVector `json:"signatures"`
}

func verdict(err error) (string, string) {
	if err != nil {
		return "reject", err.Error()
	}
	return "accept", ""
}

// zip215 verifies as ZIP 215 (and github.com/hdevalence/ed25519consensus) do.
func zip215(pub, msg, sig []byte) bool {
	if len(pub) != 32 || len(sig) != 64 {
		return false
	}
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return false
	}
	r, err := new(edwards25519.Point).SetBytes(sig[:32])
	if err != nil {
		return false
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	k := hram(sig[:32], pub, msg)
	// [S]B - [k]A - R, times 8.
	v := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, new(edwards25519.Point).Negate(a), s)
	v.Subtract(v, r)
	return v.MultByCofactor(v).Equal(edwards25519.NewIdentityPoint()) == 1
}

func hram(r, a, msg []byte) *edwards25519.Scalar {
	h := sha512.New()
	h.Write(r)
	h.Write(a)
	h.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		panic(err)
	}
	return k
}

func cryptoEd25519(pub, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Points of small order and non-canonical encodings.
var (
	identityCanonical = mustHex("0100000000000000000000000000000000000000000000000000000000000000")
	identityNegZero   = mustHex("0100000000000000000000000000000000000000000000000000000000000080") // x = -0
	identityYPlusP    = mustHex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") // y = 1 + p
	order2            = mustHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") // (0, -1)
	order4            = mustHex("0000000000000000000000000000000000000000000000000000000000000000") // y = 0
	order8            = mustHex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
)

// l is the order of the prime-order subgroup.
var l, _ = new(big.Int).SetString("7237005577332262213973186563042994961570678548623217521958373839658124173341", 10) // 2^252 + 27742317777372353535851937790883648493

func leBytes(n *big.Int) []byte {
	be := n.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return be
}

func leInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be)
}

func ed25519Scalar(t *testing.T, d io.Reader) *edwards25519.Scalar {
	var b [64]byte
	if _, err := io.ReadFull(d, b[:]); err != nil {
		t.Fatal(err)
	}
	s, err := edwards25519.NewScalar().SetUniformBytes(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signWith returns R || S with S = r + k·a, k over rBytes || aBytes || msg: the signing equation, for any R
// encoding and any key encoding.
func signWith(a, r *edwards25519.Scalar, rBytes, aBytes, msg []byte) []byte {
	s := edwards25519.NewScalar().MultiplyAdd(hram(rBytes, aBytes, msg), a, r)
	return append(append([]byte{}, rBytes...), s.Bytes()...)
}

// kDivisibleBy8 reports whether k (reduced mod l) is a multiple of 8: then [k]T is the identity for any torsion T.
func kDivisibleBy8(rBytes, aBytes, msg []byte) bool {
	return hram(rBytes, aBytes, msg).Bytes()[0]%8 == 0
}

func makeEd25519Vectors(t *testing.T) ed25519Vectors {
	d := drbg.New("recount kat ed25519")
	var seed [32]byte
	if _, err := io.ReadFull(d, seed[:]); err != nil {
		t.Fatal(err)
	}
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := []byte(priv.Public().(ed25519.PublicKey))
	h := sha512.Sum512(seed[:])
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	r := ed25519Scalar(t, d)
	rPoint := new(edwards25519.Point).ScalarBaseMult(r)
	rBytes := rPoint.Bytes()
	t8, err := new(edwards25519.Point).SetBytes(order8)
	if err != nil {
		t.Fatal(err)
	}
	mixed := new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(a), t8).Bytes()
	rMixed := new(edwards25519.Point).Add(rPoint, t8).Bytes()
	msg := []byte("recount ed25519 vector")
	// msgWhere finds the first message "msg || n" for which k mod 8 == 0 is want.
	msgWhere := func(rb, ab []byte, want bool) []byte {
		for n := 0; ; n++ {
			m := fmt.Appendf(nil, "%s %d", msg, n)
			if kDivisibleBy8(rb, ab, m) == want {
				return m
			}
		}
	}
	var notOnCurve, nonCanonicalLarge []byte
	for y := int64(2); notOnCurve == nil || nonCanonicalLarge == nil; y++ {
		enc := leBytes(big.NewInt(y))
		p, err := new(edwards25519.Point).SetBytes(enc)
		if err != nil {
			if notOnCurve == nil {
				notOnCurve = enc
			}
			continue
		}
		if y < 19 && nonCanonicalLarge == nil && new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 0 {
			// y + p < 2^255: the same point, non-canonically.
			pInt := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
			nonCanonicalLarge = leBytes(new(big.Int).Add(pInt, big.NewInt(y)))
		}
	}

	var v ed25519Vectors
	key := func(name string, k []byte) {
		vd, reason := verdict(signature.CheckKey(k))
		v.Keys = append(v.Keys, ed25519KeyVector{Name: name, Key: hx(k), Verdict: vd, Reason: reason})
	}
	key("an honest key (crypto/ed25519.NewKeyFromSeed)", pub)
	key("31 bytes", pub[:31])
	key("not the encoding of a curve point (y = "+leInt(notOnCurve).String()+")", notOnCurve)
	key("a point of large order encoded with y + p in place of y", nonCanonicalLarge)
	key("the identity", identityCanonical)
	key("the identity, encoded with x = -0 (sign bit set)", identityNegZero)
	key("the identity, encoded with y = 1 + p", identityYPlusP)
	key("the point (0, -1), of order 2", order2)
	key("a point of order 4 (y = 0)", order4)
	key("a point of order 8", order8)
	key("a point of mixed order: the honest key plus a point of order 8", mixed)

	sig := func(name string, k, m, s []byte) {
		vd, reason := verdict(signature.Verify(k, m, s))
		v.Signatures = append(v.Signatures, ed25519SigVector{Name: name, Key: hx(k), Message: hx(m), Signature: hx(s),
			Verdict: vd, Reason: reason, CryptoEd25519: cryptoEd25519(k, m, s), ZIP215: zip215(k, m, s)})
	}
	honest := ed25519.Sign(priv, msg)
	sig("honest (crypto/ed25519.Sign)", pub, msg, honest)
	sig("honest signature, another message", pub, append(msg, '.'), honest)
	sig("honest signature, 63 bytes", pub, msg, honest[:63])
	sPlusL := append(honest[:32:32], leBytes(new(big.Int).Add(leInt(honest[32:]), l))...)
	sig("S + l in place of S (S not canonical, its 3 top bits clear)", pub, msg, sPlusL)
	sPlus8L := append(honest[:32:32], leBytes(new(big.Int).Add(leInt(honest[32:]), new(big.Int).Lsh(l, 3)))...)
	sig("S + 8l in place of S (a top bit set)", pub, msg, sPlus8L)
	sig("R the identity, canonical, S = k·a (a small-order R, made by the key's holder)", pub, msg, signWith(a, edwards25519.NewScalar(), identityCanonical, pub, msg))
	sig("R the identity encoded with x = -0, S = k·a (non-canonical R)", pub, msg, signWith(a, edwards25519.NewScalar(), identityNegZero, pub, msg))
	sig("R the identity encoded with y = 1 + p, S = k·a (non-canonical R)", pub, msg, signWith(a, edwards25519.NewScalar(), identityYPlusP, pub, msg))
	sig("R = [r]B + T (T of order 8), S = r + k·a (R with a torsion component)", pub, msg, signWith(a, r, rMixed, pub, msg))
	zero := edwards25519.NewScalar()
	sig("key the identity, R = [r]B, S = r: verifies for every message under crypto/ed25519", identityCanonical, msg, signWith(zero, r, rBytes, identityCanonical, msg))
	sig("key the identity encoded with y = 1 + p, R = [r]B, S = r", identityYPlusP, msg, signWith(zero, r, rBytes, identityYPlusP, msg))
	sig("key the identity encoded with x = -0, R = [r]B, S = r", identityNegZero, msg, signWith(zero, r, rBytes, identityNegZero, msg))
	m := msgWhere(rBytes, order8, true)
	sig("key T of order 8, R = [r]B, S = r, k a multiple of 8 ([k]T the identity)", order8, m, signWith(zero, r, rBytes, order8, m))
	m = msgWhere(rBytes, order8, false)
	sig("key T of order 8, R = [r]B, S = r, k not a multiple of 8", order8, m, signWith(zero, r, rBytes, order8, m))
	m = msgWhere(rBytes, mixed, true)
	sig("key [a]B + T of mixed order, S = r + k·a, k a multiple of 8: cofactored and cofactorless agree", mixed, m, signWith(a, r, rBytes, mixed, m))
	m = msgWhere(rBytes, mixed, false)
	sig("key [a]B + T of mixed order, S = r + k·a, k not a multiple of 8: only the cofactored equation holds", mixed, m, signWith(a, r, rBytes, mixed, m))
	return v
}

func TestEd25519Vectors(t *testing.T) {
	check(t, "ed25519.json", ed25519Description, makeEd25519Vectors(t))
}

// TestEd25519VectorsFromBytes runs the published vectors, from their bytes alone, through the record's rule
// (package signature) and the two others, and checks the edges the vectors exist for are all there.
func TestEd25519VectorsFromBytes(t *testing.T) {
	var v ed25519Vectors
	load(t, "ed25519.json", &v)
	for _, k := range v.Keys {
		vd, reason := verdict(signature.CheckKey(mustHex(k.Key)))
		if vd != k.Verdict || reason != k.Reason {
			t.Errorf("key %q: %s %q, want %s %q", k.Name, vd, reason, k.Verdict, k.Reason)
		}
	}
	var lenient, honest int
	for _, s := range v.Signatures {
		key, msg, sig := mustHex(s.Key), mustHex(s.Message), mustHex(s.Signature)
		err := signature.Verify(key, msg, sig)
		if vd, reason := verdict(err); vd != s.Verdict || reason != s.Reason {
			t.Errorf("signature %q: %s %q, want %s %q", s.Name, vd, reason, s.Verdict, s.Reason)
		}
		if err != nil && !errors.Is(err, signature.ErrBadKey) && !errors.Is(err, signature.ErrBadSignature) {
			t.Errorf("signature %q: %v wraps neither ErrBadKey nor ErrBadSignature", s.Name, err)
		}
		if got := cryptoEd25519(key, msg, sig); got != s.CryptoEd25519 {
			t.Errorf("signature %q: crypto/ed25519.Verify says %v, want %v", s.Name, got, s.CryptoEd25519)
		}
		if got := zip215(key, msg, sig); got != s.ZIP215 {
			t.Errorf("signature %q: ZIP 215 says %v, want %v", s.Name, got, s.ZIP215)
		}
		if s.Verdict == "reject" && (s.CryptoEd25519 || s.ZIP215) {
			lenient++
		}
		if s.Verdict == "accept" {
			honest++
			if !s.CryptoEd25519 || !s.ZIP215 {
				t.Errorf("signature %q: the record's rule accepts what a laxer rule refuses", s.Name)
			}
		}
	}
	// The vectors are only worth having if they separate the rules.
	if lenient < 8 || honest < 2 {
		t.Errorf("%d vectors refused by the record but accepted by a laxer rule, %d accepted; the edges are missing", lenient, honest)
	}
}

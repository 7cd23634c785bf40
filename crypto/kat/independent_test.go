package kat

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"math/big"
	"testing"

	circl "github.com/cloudflare/circl/group"
)

// An independent verifier, written from docs/protocol.md alone on circl's ristretto255 and math/big, with no
// Recount code: it checks that the document is enough to verify Recount's proofs, and the vectors with it.

var (
	r255 = circl.Ristretto255
	ordL = func() *big.Int {
		l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
		return l
	}()
)

func leToBig(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be)
}

// section 2.2
func indScalar(b []byte) (*big.Int, bool) {
	if len(b) != 32 {
		return nil, false
	}
	x := leToBig(b)
	return x, x.Cmp(ordL) < 0
}

// section 2.1
func indElement(b []byte) (circl.Element, bool) {
	e := r255.NewElement()
	if len(b) != 32 || e.UnmarshalBinary(b) != nil {
		return nil, false
	}
	return e, true
}

func indMul(p circl.Element, k *big.Int) circl.Element {
	s := r255.NewScalar().SetBigInt(new(big.Int).Mod(k, ordL))
	return r255.NewElement().Mul(p, s)
}

func indSub(p, q circl.Element) circl.Element {
	return r255.NewElement().Add(p, r255.NewElement().Neg(q))
}

func indEnc(p circl.Element) []byte {
	b, err := p.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

// section 3
func indFrame(name string, value []byte) []byte {
	var out []byte
	out = binary.BigEndian.AppendUint32(out, uint32(len(name)))
	out = append(out, name...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(value)))
	return append(out, value...)
}

type field struct {
	name  string
	value []byte
}

func indChallenge(label string, election, ctx []byte, fields []field) *big.Int {
	in := indFrame("recount-transcript-v1", []byte(label))
	in = append(in, indFrame("election", election)...)
	in = append(in, indFrame("context", ctx)...)
	for _, f := range fields {
		in = append(in, indFrame(f.name, f.value)...)
	}
	in = append(in, indFrame("challenge", []byte("c"))...)
	d := sha512.Sum512(in)
	return new(big.Int).Mod(leToBig(d[:]), ordL)
}

func u64be(x uint64) []byte { return binary.BigEndian.AppendUint64(nil, x) }

// section 8.3
func indVerifyRange(election, ctx, key, ciphertext, proof []byte, min, max uint64) bool {
	if min > max || max-min+1 > 1024 || uint64(len(proof)) != 128*(max-min+1) || len(ciphertext) != 64 {
		return false
	}
	K, ok1 := indElement(key)
	A, ok2 := indElement(ciphertext[:32])
	B, ok3 := indElement(ciphertext[32:])
	if !ok1 || !ok2 || !ok3 || K.IsIdentity() {
		return false
	}
	g := r255.Generator()
	fields := []field{{"K", key}, {"A", ciphertext[:32]}, {"B", ciphertext[32:]}, {"min", u64be(min)}, {"max", u64be(max)}}
	sum := new(big.Int)
	for j := min; ; j++ {
		rec := proof[128*(j-min) : 128*(j-min+1)]
		a, ok1 := indElement(rec[0:32])
		b, ok2 := indElement(rec[32:64])
		c, ok3 := indScalar(rec[64:96])
		v, ok4 := indScalar(rec[96:128])
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return false
		}
		sum.Add(sum, c)
		// Each value's two equations, one at a time (section 8.4 batches them; the verdict is the same).
		jc := new(big.Int).Mul(new(big.Int).SetUint64(j), c)
		if !a.IsEqual(indSub(indMul(g, v), indMul(A, c))) || !b.IsEqual(indSub(indMul(K, new(big.Int).Add(v, jc)), indMul(B, c))) {
			return false
		}
		fields = append(fields, field{"a", rec[0:32]}, field{"b", rec[32:64]})
		if j == max {
			break
		}
	}
	return new(big.Int).Mod(sum, ordL).Cmp(indChallenge("recount/range-proof/v1", election, ctx, fields)) == 0
}

// section 6
func indVerifySchnorr(election, ctx, x, proof []byte) bool {
	X, ok := indElement(x)
	if !ok || X.IsIdentity() || len(proof) != 64 {
		return false
	}
	c, ok1 := indScalar(proof[:32])
	z, ok2 := indScalar(proof[32:])
	if !ok1 || !ok2 {
		return false
	}
	R := indSub(indMul(r255.Generator(), z), indMul(X, c))
	return c.Cmp(indChallenge("recount/schnorr/v1", election, ctx, []field{{"X", x}, {"R", indEnc(R)}})) == 0
}

// section 7
func indVerifyChaumPedersen(election, ctx, h, x, y, proof []byte) bool {
	H, ok1 := indElement(h)
	X, ok2 := indElement(x)
	Y, ok3 := indElement(y)
	if !ok1 || !ok2 || !ok3 || H.IsIdentity() || X.IsIdentity() || len(proof) != 64 {
		return false
	}
	c, ok1 := indScalar(proof[:32])
	z, ok2 := indScalar(proof[32:])
	if !ok1 || !ok2 {
		return false
	}
	a := indSub(indMul(r255.Generator(), z), indMul(X, c))
	b := indSub(indMul(H, z), indMul(Y, c))
	return c.Cmp(indChallenge("recount/chaum-pedersen/v1", election, ctx,
		[]field{{"H", h}, {"X", x}, {"Y", y}, {"a", indEnc(a)}, {"b", indEnc(b)}})) == 0
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestIndependentVerifier(t *testing.T) {
	for _, name := range []string{"range_proof_0_1.json", "range_proof_0_5.json"} {
		var vs []rangeVector
		load(t, name, &vs)
		for _, v := range vs {
			e, c, k, ct, p := unhex(t, v.Election), unhex(t, v.Bind), unhex(t, v.Public), unhex(t, v.Ciphertext), unhex(t, v.Proof)
			if !indVerifyRange(e, c, k, ct, p, v.Min, v.Max) {
				t.Fatalf("%s %q: the independent verifier rejects the vector", name, v.Seed)
			}
			// ElGamal per section 5: the ciphertext is (nonce·g, (nonce + message)·K).
			K, _ := indElement(k)
			nonce, _ := indScalar(unhex(t, v.Nonce))
			wantCT := append(indEnc(indMul(r255.Generator(), nonce)), indEnc(indMul(K, new(big.Int).Add(nonce, new(big.Int).SetUint64(v.Message))))...)
			if !bytes.Equal(wantCT, ct) {
				t.Fatalf("%s %q: the ciphertext is not Encrypt(message; nonce)", name, v.Seed)
			}
			rejects := map[string]bool{
				"election": indVerifyRange(flip(e, 0), c, k, ct, p, v.Min, v.Max),
				"context":  indVerifyRange(e, append(bytes.Clone(c), 0), k, ct, p, v.Min, v.Max),
				"key":      indVerifyRange(e, c, indEnc(r255.NewElement().Add(K, r255.Generator())), ct, p, v.Min, v.Max),
				"A":        indVerifyRange(e, c, k, append(indEnc(r255.Generator()), ct[32:]...), p, v.Min, v.Max),
				"B":        indVerifyRange(e, c, k, append(bytes.Clone(ct[:32]), indEnc(r255.Generator())...), p, v.Min, v.Max),
				"min, max": indVerifyRange(e, c, k, ct, p, v.Min+1, v.Max+1),
			}
			for _, i := range []int{0, 32, 64, 96, len(p) - 1} { // a_min, b_min, c_min, v_min, the last byte
				rejects["proof byte"] = rejects["proof byte"] || indVerifyRange(e, c, k, ct, flip(p, i), v.Min, v.Max)
			}
			for what, accepted := range rejects {
				if accepted {
					t.Errorf("%s %q: the independent verifier accepts a changed %s", name, v.Seed, what)
				}
			}
		}
	}
	var schnorr []sigmaVector
	load(t, "schnorr.json", &schnorr)
	for _, v := range schnorr {
		e, c, x, p := unhex(t, v.Election), unhex(t, v.Bind), unhex(t, v.X), unhex(t, v.Proof)
		if !indVerifySchnorr(e, c, x, p) || indVerifySchnorr(e, c, x, flip(p, 5)) || indVerifySchnorr(e, flip(c, 0), x, p) {
			t.Fatalf("schnorr %q: independent verification", v.Seed)
		}
	}
	var cp []sigmaVector
	load(t, "chaum_pedersen.json", &cp)
	for _, v := range cp {
		e, c, h, x, y, p := unhex(t, v.Election), unhex(t, v.Bind), unhex(t, v.H), unhex(t, v.X), unhex(t, v.Y), unhex(t, v.Proof)
		if !indVerifyChaumPedersen(e, c, h, x, y, p) || indVerifyChaumPedersen(e, c, h, x, y, flip(p, 40)) || indVerifyChaumPedersen(e, c, h, y, x, p) {
			t.Fatalf("chaum-pedersen %q: independent verification", v.Seed)
		}
	}
	if len(schnorr) == 0 || len(cp) == 0 {
		t.Fatal("no vectors")
	}
}

func TestIndependentBasics(t *testing.T) {
	var gv []groupVector
	load(t, "group.json", &gv)
	prev := r255.Identity()
	for _, v := range gv {
		s := new(big.Int).Mod(leToBig(unhex(t, v.Uniform)), ordL)
		enc := make([]byte, 32)
		for i, b := range s.FillBytes(make([]byte, 32)) {
			enc[31-i] = b
		}
		if hx(enc) != v.Scalar {
			t.Fatalf("%q: uniform bytes to scalar", v.Seed)
		}
		P := indMul(r255.Generator(), s)
		if hx(indEnc(P)) != v.Element || hx(indEnc(r255.NewElement().Add(P, P))) != v.Double || hx(indEnc(r255.NewElement().Add(P, prev))) != v.Sum {
			t.Fatalf("%q: element encodings", v.Seed)
		}
		prev = P
	}
	var tv []transcriptVector
	load(t, "transcript.json", &tv)
	for _, v := range tv {
		in := indFrame("recount-transcript-v1", []byte(v.Protocol))
		in = append(in, indFrame("election", unhex(t, v.Election))...)
		for _, f := range v.Fields {
			in = append(in, indFrame(f[0], unhex(t, f[1]))...)
		}
		in = append(in, indFrame("challenge", []byte(v.Challenge))...)
		d := sha512.Sum512(in)
		c := new(big.Int).Mod(leToBig(d[:]), ordL)
		if hx(in) != v.Input || hx(d[:]) != v.Digest || c.Cmp(leToBig(unhex(t, v.Scalar))) != 0 {
			t.Fatalf("transcript %q", v.Protocol)
		}
		// The second challenge continues with frame("challenge-digest", digest).
		in = append(in, indFrame("challenge-digest", d[:])...)
		in = append(in, indFrame("challenge", []byte("c2"))...)
		d2 := sha512.Sum512(in)
		if new(big.Int).Mod(leToBig(d2[:]), ordL).Cmp(leToBig(unhex(t, v.Second))) != 0 {
			t.Fatalf("transcript %q: second challenge", v.Protocol)
		}
	}
	var ev []elgamalVector
	load(t, "elgamal.json", &ev)
	for _, v := range ev {
		s, _ := indScalar(unhex(t, v.Secret))
		r, _ := indScalar(unhex(t, v.Nonce))
		K := indMul(r255.Generator(), s)
		A := indMul(r255.Generator(), r)
		B := indMul(K, new(big.Int).Add(r, new(big.Int).SetUint64(v.Message)))
		if hx(indEnc(K)) != v.Public || hx(append(indEnc(A), indEnc(B)...)) != v.Ciphertext || hx(indEnc(indSub(B, indMul(A, s)))) != v.Decrypted {
			t.Fatalf("elgamal %q", v.Seed)
		}
	}
	if len(gv) == 0 || len(tv) == 0 || len(ev) == 0 {
		t.Fatal("no vectors")
	}
}

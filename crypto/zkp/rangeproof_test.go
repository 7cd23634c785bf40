package zkp

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/internal/drbg"
)

func testKey(t testing.TB) *elgamal.PublicKey {
	t.Helper()
	_, pk, err := elgamal.GenerateKey(drbg.New("zkp test key"))
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

type testRange struct{ min, max uint64 }

var testRanges = []testRange{{0, 1}, {0, 5}, {5, 5}, {3, 9}, {math.MaxUint64 - 2, math.MaxUint64}}

// TestRangeProofMatchesReference checks the fast prover and verifier against the textbook ones of
// rangeproof_ref_test.go: with the same randomness they must give the same ciphertext and proof, byte for byte,
// for every value of several ranges.
func TestRangeProofMatchesReference(t *testing.T) {
	pk := testKey(t)
	for _, rg := range testRanges {
		for m := rg.min; ; m++ {
			seed := fmt.Sprintf("ref %d %d %d", rg.min, rg.max, m)
			ct, nonce, p, err := EncryptInRange(testCtx, pk, m, rg.min, rg.max, drbg.New(seed))
			if err != nil {
				t.Fatal(err)
			}
			rct, rnonce, rp, err := refEncryptInRange(testCtx, pk, m, rg.min, rg.max, drbg.New(seed))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ct.Bytes(), rct.Bytes()) || nonce.Equal(rnonce) != 1 {
				t.Fatalf("[%d, %d] m=%d: EncryptInRange's ciphertext differs from the reference", rg.min, rg.max, m)
			}
			if !bytes.Equal(p.Bytes(), rp.Bytes()) {
				t.Fatalf("[%d, %d] m=%d: EncryptInRange's proof differs from the reference", rg.min, rg.max, m)
			}
			p2, err := ProveRange(testCtx, pk, ct, m, nonce, rg.min, rg.max, drbg.New(seed+" prove"))
			if err != nil {
				t.Fatal(err)
			}
			rp2, _ := refProveRange(testCtx, pk, ct, m, nonce, rg.min, rg.max, drbg.New(seed+" prove"))
			if !bytes.Equal(p2.Bytes(), rp2.Bytes()) {
				t.Fatalf("[%d, %d] m=%d: ProveRange's proof differs from the reference", rg.min, rg.max, m)
			}
			for _, q := range []*RangeProof{p, p2} {
				if err := q.Verify(testCtx, pk, ct, rg.min, rg.max); err != nil {
					t.Fatalf("[%d, %d] m=%d: honest proof rejected: %v", rg.min, rg.max, m, err)
				}
				if err := refVerifyRange(q, testCtx, pk, ct, rg.min, rg.max); err != nil {
					t.Fatalf("[%d, %d] m=%d: the reference verifier rejects the proof: %v", rg.min, rg.max, m, err)
				}
			}
			if m == rg.max {
				break
			}
		}
	}
}

// TestRangeProofCompleteness proves and verifies every value of 0..10, the last value of a range of
// MaxRangeSize values, and the contest-total proof over a sum of ciphertexts.
func TestRangeProofCompleteness(t *testing.T) {
	pk := testKey(t)
	for m := uint64(0); m <= 10; m++ {
		ct, _, p, err := EncryptInRange(testCtx, pk, m, 0, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(testCtx, pk, ct, 0, 10); err != nil {
			t.Fatalf("m=%d in 0..10: %v", m, err)
		}
	}
	for _, m := range []uint64{1000 + MaxRangeSize - 1} {
		ct, _, p, err := EncryptInRange(testCtx, pk, m, 1000, 1000+MaxRangeSize-1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(testCtx, pk, ct, 1000, 1000+MaxRangeSize-1); err != nil {
			t.Fatalf("m=%d in a range of %d values: %v", m, MaxRangeSize, err)
		}
	}
	// A contest with three options, two of them chosen, and a total between 1 and 2.
	sum, nonces := elgamal.NewCiphertext(), group.NewScalar()
	for _, m := range []uint64{1, 0, 1} {
		ct, nonce, _, err := EncryptInRange(testCtx, pk, m, 0, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		sum.Add(sum, ct)
		nonces.Add(nonces, nonce)
	}
	p, err := ProveRange(testCtx, pk, sum, 2, nonces, 1, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(testCtx, pk, sum, 1, 2); err != nil {
		t.Fatalf("contest total: %v", err)
	}
}

// TestRangeProofRefuses checks that the honest provers refuse what is false or out of bounds.
func TestRangeProofRefuses(t *testing.T) {
	pk := testKey(t)
	cases := []struct {
		m, min, max uint64
	}{
		{2, 0, 1}, {0, 1, 1}, {math.MaxUint64, 0, 1}, {4, 5, 9}, {10, 5, 9},
		{0, 1, 0},              // empty range
		{0, 0, MaxRangeSize},   // one value too many
		{0, 0, math.MaxUint64}, // max - min + 1 overflows
		{math.MaxUint64, 1, math.MaxUint64},
	}
	for _, c := range cases {
		if _, _, _, err := EncryptInRange(testCtx, pk, c.m, c.min, c.max, nil); !errors.Is(err, ErrRange) {
			t.Errorf("EncryptInRange(m=%d, [%d, %d]): got %v, want ErrRange", c.m, c.min, c.max, err)
		}
		ct, nonce, _ := pk.EncryptRandom(c.m, nil)
		if _, err := ProveRange(testCtx, pk, ct, c.m, nonce, c.min, c.max, nil); !errors.Is(err, ErrRange) {
			t.Errorf("ProveRange(m=%d, [%d, %d]): got %v, want ErrRange", c.m, c.min, c.max, err)
		}
	}
	// Failing randomness is an error, not a panic.
	if _, _, _, err := EncryptInRange(testCtx, pk, 0, 0, 1, bytes.NewReader(make([]byte, 100))); err == nil {
		t.Error("EncryptInRange with short randomness succeeded")
	}
}

// TestRangeProofForgeries checks that proofs of false statements do not verify.
func TestRangeProofForgeries(t *testing.T) {
	pk := testKey(t)
	// A prover that lies about m: the ciphertext encrypts 2, the prover claims 1 in [0, 1].
	nonce, _ := group.RandomScalar(nil)
	ct2 := pk.Encrypt(2, nonce)
	lie, err := ProveRange(testCtx, pk, ct2, 1, nonce, 0, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := lie.Verify(testCtx, pk, ct2, 0, 1); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("proof that an encryption of 2 is in [0, 1] (lying prover): got %v", err)
	}
	// Claims about 0 and about 1 are just as false.
	for _, claim := range []uint64{0, 1} {
		p, _ := refProveRange(testCtx, pk, ct2, claim, nonce, 0, 1, nil)
		if err := p.Verify(testCtx, pk, ct2, 0, 1); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("reference prover lying with m=%d: got %v", claim, err)
		}
	}
	// An encryption of 2 proved in [0, 2] does not verify as a proof for [0, 1], nor for [1, 3].
	ct, _, p, _ := EncryptInRange(testCtx, pk, 2, 0, 2, nil)
	for _, rg := range []testRange{{0, 1}, {1, 3}, {0, 3}} {
		if err := p.Verify(testCtx, pk, ct, rg.min, rg.max); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("proof for [0, 2] verified against [%d, %d]: %v", rg.min, rg.max, err)
		}
	}
	// A fully simulated proof (every branch simulated, challenges chosen freely) fails.
	// With the commitments that the verifier recomputes, the challenges do not add up to the hash; with random
	// commitments, the equations fail.
	var a, b []*group.Element
	var c, v []*group.Scalar
	for j := uint64(0); j <= 1; j++ {
		cj, vj := rnd(t), rnd(t)
		c, v = append(c, cj), append(v, vj)
		negC := group.NewScalar().Negate(cj)
		a = append(a, group.NewElement().VarTimeMultiScalarMult([]*group.Scalar{vj, negC}, []*group.Element{group.Generator(), &ct2.A}))
		w := group.NewScalar().MultiplyAdd(cj, group.NewScalar().SetUint64(j), vj)
		b = append(b, group.NewElement().VarTimeMultiScalarMult([]*group.Scalar{w, negC}, []*group.Element{pk.Element(), &ct2.B}))
	}
	sim := newRefRangeProof(a, b, c, v)
	if err := sim.Verify(testCtx, pk, ct2, 0, 1); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("simulated proof: got %v", err)
	}
	if err := sim.checkEquations(pk, ct2, 0); err != nil {
		t.Errorf("the simulated proof's equations should hold (only its challenge is false): %v", err)
	}
	// Commitments chosen so that the challenge adds up (c_1 = c - c_0), then responses that cannot satisfy them.
	sim2 := newRefRangeProof([]*group.Element{group.NewElement().ScalarBaseMult(rnd(t)), group.NewElement().ScalarBaseMult(rnd(t))},
		[]*group.Element{group.NewElement().ScalarBaseMult(rnd(t)), group.NewElement().ScalarBaseMult(rnd(t))}, c, v)
	ch := refRangeTranscriptChallenge(testCtx, pk, ct2, 0, 1, []*group.Element{&sim2.a[0], &sim2.a[1]}, []*group.Element{&sim2.b[0], &sim2.b[1]})
	sim2.c[1].Subtract(ch, &sim2.c[0])
	if err := sim2.Verify(testCtx, pk, ct2, 0, 1); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("random commitments with a matching challenge: got %v", err)
	}
	if err := sim2.checkChallenge(testCtx, pk, ct2.A.Bytes(), ct2.B.Bytes(), 0, 1); err != nil {
		t.Errorf("the challenge should hold: %v", err)
	}
	// Proving with the wrong nonce fails too.
	ct1, n1, _ := pk.EncryptRandom(1, nil)
	wrong, _ := ProveRange(testCtx, pk, ct1, 1, other(n1), 0, 1, nil)
	if err := wrong.Verify(testCtx, pk, ct1, 0, 1); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("proof with the wrong nonce: got %v", err)
	}
}

// TestRangeProofTamper changes each input of the verification in turn: the statement (K, A, B, min, max), each
// challenge and each response, and the context.
func TestRangeProofTamper(t *testing.T) {
	pk := testKey(t)
	_, pk2, _ := elgamal.GenerateKey(nil)
	bump := func(e *group.Element) *group.Element { return group.NewElement().Add(e, group.Generator()) }
	for _, rg := range []testRange{{0, 1}, {2, 5}} {
		m := rg.min + 1
		ct, _, p, err := EncryptInRange(testCtx, pk, m, rg.min, rg.max, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(testCtx, pk, ct, rg.min, rg.max); err != nil {
			t.Fatal(err)
		}
		ctA := &elgamal.Ciphertext{}
		ctA.A.Set(bump(&ct.A))
		ctA.B.Set(&ct.B)
		ctB := &elgamal.Ciphertext{}
		ctB.A.Set(&ct.A)
		ctB.B.Set(bump(&ct.B))
		// B - K: the same ciphertext re-interpreted as an encryption of m - 1 (in range for [2, 5]).
		ctShift := &elgamal.Ciphertext{}
		ctShift.A.Set(&ct.A)
		ctShift.B.Subtract(&ct.B, pk.Element())
		tamper := map[string]func() error{
			"K":        func() error { return p.Verify(testCtx, pk2, ct, rg.min, rg.max) },
			"A":        func() error { return p.Verify(testCtx, pk, ctA, rg.min, rg.max) },
			"B":        func() error { return p.Verify(testCtx, pk, ctB, rg.min, rg.max) },
			"B-K":      func() error { return p.Verify(testCtx, pk, ctShift, rg.min, rg.max) },
			"min":      func() error { return p.Verify(testCtx, pk, ct, rg.min+1, rg.max) },
			"max":      func() error { return p.Verify(testCtx, pk, ct, rg.min, rg.max+1) },
			"min, max": func() error { return p.Verify(testCtx, pk, ct, rg.min+1, rg.max+1) },
			"election": func() error {
				return p.Verify(Context{Election: []byte("other"), Bind: testCtx.Bind}, pk, ct, rg.min, rg.max)
			},
			"bind": func() error {
				return p.Verify(Context{Election: testCtx.Election, Bind: []byte("trustee 2")}, pk, ct, rg.min, rg.max)
			},
			"no bind": func() error { return p.Verify(Context{Election: testCtx.Election}, pk, ct, rg.min, rg.max) },
		}
		for i := range p.c {
			for k, name := range []string{"a", "b"} {
				tamper[fmt.Sprintf("%s[%d]", name, i)] = func() error {
					q := p.clone()
					q.setCommitment(i, k == 1, bumped([]*group.Element{&q.a[i], &q.b[i]}[k]))
					return q.Verify(testCtx, pk, ct, rg.min, rg.max)
				}
			}
			tamper[fmt.Sprintf("c[%d]", i)] = func() error {
				q := p.clone()
				q.c[i].Set(other(&q.c[i]))
				return q.Verify(testCtx, pk, ct, rg.min, rg.max)
			}
			tamper[fmt.Sprintf("v[%d]", i)] = func() error {
				q := p.clone()
				q.v[i].Set(other(&q.v[i]))
				return q.Verify(testCtx, pk, ct, rg.min, rg.max)
			}
			// Moving weight between two challenges keeps their sum but changes the commitments.
			tamper[fmt.Sprintf("c[%d]+1, c[%d]-1", i, (i+1)%len(p.c))] = func() error {
				q := p.clone()
				one := group.NewScalar().SetUint64(1)
				q.c[i].Add(&q.c[i], one)
				k := (i + 1) % len(q.c)
				q.c[k].Subtract(&q.c[k], one)
				return q.Verify(testCtx, pk, ct, rg.min, rg.max)
			}
		}
		tamper["swapped branches"] = func() error {
			q := p.clone()
			q.c[0], q.c[1] = q.c[1], q.c[0]
			q.v[0], q.v[1] = q.v[1], q.v[0]
			q.a[0], q.a[1] = q.a[1], q.a[0]
			q.b[0], q.b[1] = q.b[1], q.b[0]
			copy(q.commitments[0:128], append(append([]byte(nil), q.commitments[64:128]...), q.commitments[0:64]...))
			return q.Verify(testCtx, pk, ct, rg.min, rg.max)
		}
		tamper["truncated"] = func() error {
			q := &RangeProof{commitments: p.commitments[64:], a: p.a[1:], b: p.b[1:], c: p.c[1:], v: p.v[1:]}
			return q.Verify(testCtx, pk, ct, rg.min+1, rg.max)
		}
		for what, f := range tamper {
			if err := f(); !errors.Is(err, ErrInvalidProof) {
				t.Errorf("[%d, %d]: changing %s: got %v, want ErrInvalidProof", rg.min, rg.max, what, err)
			}
		}
	}
}

func TestParseRangeProof(t *testing.T) {
	pk := testKey(t)
	ct, _, p, err := EncryptInRange(testCtx, pk, 3, 2, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := p.Bytes()
	if len(enc) != 4*RangeProofValueSize {
		t.Fatalf("encoding is %d bytes, want %d", len(enc), 4*RangeProofValueSize)
	}
	q, err := ParseRangeProof(enc, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.Bytes(), enc) || q.Verify(testCtx, pk, ct, 2, 5) != nil {
		t.Fatal("round trip")
	}
	bad := map[string]struct {
		b        []byte
		min, max uint64
	}{
		"short":       {enc[:len(enc)-1], 2, 5},
		"long":        {append(append([]byte(nil), enc...), 0), 2, 5},
		"other range": {enc, 2, 6},
		"empty range": {nil, 1, 0},
		"huge range":  {enc, 0, math.MaxUint64},
		"too many":    {make([]byte, RangeProofValueSize*(MaxRangeSize+1)), 0, MaxRangeSize},
	}
	// Each 32-byte field in turn set to 2^256 - 1: not a canonical scalar, nor a canonical element encoding.
	for i := 0; i < 16; i++ {
		b := append([]byte(nil), enc...)
		copy(b[32*i:32*i+32], bytes.Repeat([]byte{0xff}, 32))
		bad[fmt.Sprintf("non-canonical field %d", i)] = struct {
			b        []byte
			min, max uint64
		}{b, 2, 5}
	}
	// Element encodings that are not canonical: p + 1 (a field element not reduced), a negative s (1 is odd),
	// and an s that decodes to no point; at each commitment position of the first two values.
	pPlus1 := []byte{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	one := append([]byte{1}, make([]byte, 31)...)
	notOnCurve := append([]byte{2}, make([]byte, 31)...) // s = 2 has no point (RFC 9496's test vectors: invalid)
	for name, e := range map[string][]byte{"p + 1": pPlus1, "negative": one, "not on the curve": notOnCurve} {
		if _, err := group.NewElement().SetCanonicalBytes(e); err == nil {
			t.Fatalf("%s: accepted by the group's decoder", name)
		}
		for _, off := range []int{0, 32, RangeProofValueSize, RangeProofValueSize + 32} {
			b := append([]byte(nil), enc...)
			copy(b[off:off+32], e)
			bad[fmt.Sprintf("commitment at byte %d: %s", off, name)] = struct {
				b        []byte
				min, max uint64
			}{b, 2, 5}
		}
	}
	// l itself, the smallest non-canonical value.
	l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	b := append([]byte(nil), enc...)
	copy(b[96:128], l)
	bad["v = l"] = struct {
		b        []byte
		min, max uint64
	}{b, 2, 5}
	for what, c := range bad {
		if _, err := ParseRangeProof(c.b, c.min, c.max); !errors.Is(err, ErrProofEncoding) {
			t.Errorf("%s: got %v, want ErrProofEncoding", what, err)
		}
	}
}

func FuzzParseRangeProof(f *testing.F) {
	pk := testKey(f)
	_, _, p, err := EncryptInRange(testCtx, pk, 1, 0, 1, drbg.New("fuzz"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p.Bytes(), uint64(0), uint64(1))
	f.Add(make([]byte, RangeProofValueSize), uint64(7), uint64(7))
	f.Add(bytes.Repeat([]byte{0xff}, 2*RangeProofValueSize), uint64(0), uint64(1))
	f.Add([]byte{}, uint64(1), uint64(0))
	f.Fuzz(func(t *testing.T, b []byte, min, max uint64) {
		q, err := ParseRangeProof(b, min, max)
		if err != nil {
			if !errors.Is(err, ErrProofEncoding) {
				t.Fatalf("error does not wrap ErrProofEncoding: %v", err)
			}
			return
		}
		if !bytes.Equal(q.Bytes(), b) {
			t.Fatalf("accepted %x but re-encodes to %x", b, q.Bytes())
		}
	})
}

package fastpath

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"math/big"
	"testing"

	"filippo.io/edwards25519/field"

	"github.com/recount-vote/recount/crypto/group"
)

var pField = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))

func limbsValue(l [5]uint64) *big.Int {
	v := new(big.Int)
	for k := 4; k >= 0; k-- {
		v.Lsh(v, 51)
		v.Add(v, new(big.Int).SetUint64(l[k]))
	}
	return v.Mod(v, pField)
}

func randomLimbs(t testing.TB, bound uint64) [5]uint64 {
	var b [40]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	var l [5]uint64
	for k := range l {
		l[k] = binary.LittleEndian.Uint64(b[8*k:]) % bound
	}
	return l
}

// TestFeMul8 checks the vector code's field multiplication against math/big, with limbs up to the largest its
// callers give it (2^52 - 1), including all-maximal limbs.
func TestFeMul8(t *testing.T) {
	if !useIFMA {
		t.Skip("no vector code in this build (the recount_ifma tag) or no AVX-512 IFMA on this machine")
	}
	const max52 = 1<<52 - 1
	var cases [][2][5]uint64
	cases = append(cases, [2][5]uint64{{max52, max52, max52, max52, max52}, {max52, max52, max52, max52, max52}})
	cases = append(cases, [2][5]uint64{{0, 0, 0, 0, 0}, {max52, max52, max52, max52, max52}})
	cases = append(cases, [2][5]uint64{{1, 0, 0, 0, 0}, {max52, 1 << 51, max52, 1 << 51, max52}})
	for i := 0; i < 400; i++ {
		bound := uint64(1 << 52)
		if i%2 == 1 {
			bound = 1<<51 + 1<<11 // what FEMUL and the carries produce
		}
		cases = append(cases, [2][5]uint64{randomLimbs(t, bound), randomLimbs(t, bound)})
		if i%4 == 0 { // near the top of the range
			for k := 0; k < 5; k++ {
				cases[len(cases)-1][0][k] |= 1<<52 - 1<<40
			}
		}
	}
	for start := 0; start < len(cases); start += ifmaLanes {
		var a, b, out fe8
		n := min(ifmaLanes, len(cases)-start)
		for lane := 0; lane < n; lane++ {
			for k := 0; k < 5; k++ {
				a[k][lane] = cases[start+lane][0][k]
				b[k][lane] = cases[start+lane][1][k]
			}
		}
		feMul8IFMA(&out, &a, &b)
		for lane := 0; lane < n; lane++ {
			c := cases[start+lane]
			want := new(big.Int).Mul(limbsValue(c[0]), limbsValue(c[1]))
			want.Mod(want, pField)
			var got [5]uint64
			for k := 0; k < 5; k++ {
				got[k] = out[k][lane]
				if k > 0 && got[k] >= 1<<51+1<<10 || k == 0 && got[k] >= 1<<51+19<<10 {
					t.Fatalf("case %d: output limb %d = %#x is over its bound", start+lane, k, got[k])
				}
			}
			if limbsValue(got).Cmp(want) != 0 {
				t.Fatalf("case %d: %x · %x: wrong product", start+lane, c[0], c[1])
			}
		}
	}
	// In place: out = a·out.
	var a, b fe8
	for lane := 0; lane < ifmaLanes; lane++ {
		for k := 0; k < 5; k++ {
			a[k][lane], b[k][lane] = uint64(lane+k), uint64(3*lane+1)
		}
	}
	want := b
	feMul8IFMA(&want, &a, &want)
	feMul8IFMA(&b, &a, &b)
	if want != b {
		t.Fatal("in-place multiplication differs")
	}
}

func TestLimbsRoundTrip(t *testing.T) {
	for i := 0; i < 100; i++ {
		var b [32]byte
		rand.Read(b[:])
		b[31] &= 0x7f
		v, _ := new(field.Element).SetBytes(b[:])
		if fieldFromLimbs(new(field.Element), limbs(v)).Equal(v) != 1 {
			t.Fatal("limbs round trip")
		}
		// Unreduced limbs up to 2^63 represent the same value modulo p.
		l := randomLimbs(t, 1<<63)
		var want big.Int
		want.Set(limbsValue(l))
		got := fieldFromLimbs(new(field.Element), l).Bytes()
		wb := want.FillBytes(make([]byte, 32))
		for i, j := 0, 31; i < j; i, j = i+1, j-1 {
			wb[i], wb[j] = wb[j], wb[i]
		}
		if !bytes.Equal(got, wb) {
			t.Fatal("fieldFromLimbs of unreduced limbs")
		}
	}
}

// TestFixedBasePair checks FixedBasePair.ScalarMults, the vector code when this machine has it, against
// FixedBase.ScalarMult, for batches of every size up to three rounds and scalars with extreme digits.
func TestFixedBasePair(t *testing.T) {
	t.Run("default", testFixedBasePair)
	t.Run("generic", func(t *testing.T) {
		forceGeneric = true
		defer func() { forceGeneric = false }()
		testFixedBasePair(t)
	})
}

func testFixedBasePair(t *testing.T) {
	p := GeneratorFixedBase()
	q := NewFixedBase(group.NewElement().ScalarBaseMult(randomScalar(t)))
	pair := NewFixedBasePair(p, q)
	special := []*group.Scalar{group.NewScalar(), group.NewScalar().SetUint64(1), group.NewScalar().SetInt64(-1), group.NewScalar().SetUint64(8),
		group.NewScalar().SetUint64(0x8888888888888888), group.NewScalar().SetUint64(0x7777777777777777)}
	// Scalars whose radix-16 digits are all -8 or all 7 (as far as reduction modulo l allows).
	all8 := make([]byte, 32)
	for i := range all8 {
		all8[i] = 0x88
	}
	all8[31] = 0x08
	s, _ := group.NewScalar().SetCanonicalBytes(all8)
	special = append(special, s)
	all7 := bytes.Repeat([]byte{0x77}, 32)
	all7[31] = 0x07
	s, _ = group.NewScalar().SetCanonicalBytes(all7)
	special = append(special, s)
	next := 0
	scalar := func() *group.Scalar {
		next++
		if next <= len(special) {
			return special[next-1]
		}
		return randomScalar(t)
	}
	for np := 0; np <= 9; np++ {
		for _, nq := range []int{0, 1, 3, 4, 5, 9} {
			ps, qs := make([]*group.Scalar, np), make([]*group.Scalar, nq)
			pOut, qOut := make([]*group.Element, np), make([]*group.Element, nq)
			for i := range ps {
				ps[i], pOut[i] = scalar(), group.NewElement()
			}
			for i := range qs {
				qs[i], qOut[i] = scalar(), group.NewElement()
			}
			pair.ScalarMults(pOut, ps, qOut, qs)
			for i := range ps {
				if !bytes.Equal(pOut[i].Bytes(), p.ScalarMult(group.NewElement(), ps[i]).Bytes()) {
					t.Fatalf("%d P-scalars, %d Q-scalars: P result %d differs", np, nq, i)
				}
			}
			for i := range qs {
				if !bytes.Equal(qOut[i].Bytes(), q.ScalarMult(group.NewElement(), qs[i]).Bytes()) {
					t.Fatalf("%d P-scalars, %d Q-scalars: Q result %d differs", np, nq, i)
				}
			}
		}
	}
}

func BenchmarkFixedBasePair3x3(b *testing.B) {
	pair := NewFixedBasePair(GeneratorFixedBase(), NewFixedBase(group.NewElement().ScalarBaseMult(randomScalar(b))))
	ps, qs := make([]*group.Scalar, 3), make([]*group.Scalar, 3)
	pOut, qOut := make([]*group.Element, 3), make([]*group.Element, 3)
	for i := range ps {
		ps[i], qs[i], pOut[i], qOut[i] = randomScalar(b), randomScalar(b), group.NewElement(), group.NewElement()
	}
	pair.ScalarMults(pOut, ps, qOut, qs)
	for b.Loop() {
		pair.ScalarMults(pOut, ps, qOut, qs)
	}
}

// FuzzFixedBasePair compares the batch with FixedBase.ScalarMult on scalars the fuzzer controls digit by digit
// (32-byte chunks with the top four bits cleared, so below 2^252 < l).
func FuzzFixedBasePair(f *testing.F) {
	pair := NewFixedBasePair(GeneratorFixedBase(), NewFixedBase(group.NewElement().ScalarBaseMult(group.NewScalar().SetUint64(12345))))
	f.Add(bytes.Repeat([]byte{0x88}, 32*3))
	f.Add(bytes.Repeat([]byte{0x77}, 32*9))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ps, qs []*group.Scalar
		for i := 0; i+32 <= len(b) && i < 32*12; i += 32 {
			c := bytes.Clone(b[i : i+32])
			c[31] &= 0x0f
			s, err := group.NewScalar().SetCanonicalBytes(c)
			if err != nil {
				t.Fatal(err)
			}
			if (i/32)%2 == 0 {
				ps = append(ps, s)
			} else {
				qs = append(qs, s)
			}
		}
		pOut, qOut := make([]*group.Element, len(ps)), make([]*group.Element, len(qs))
		for i := range pOut {
			pOut[i] = group.NewElement()
		}
		for i := range qOut {
			qOut[i] = group.NewElement()
		}
		pair.ScalarMults(pOut, ps, qOut, qs)
		for i := range ps {
			if pOut[i].Equal(pair.p.ScalarMult(group.NewElement(), ps[i])) != 1 {
				t.Fatalf("P result %d differs", i)
			}
		}
		for i := range qs {
			if qOut[i].Equal(pair.q.ScalarMult(group.NewElement(), qs[i])) != 1 {
				t.Fatalf("Q result %d differs", i)
			}
		}
	})
}

package edwards

import (
	"crypto/rand"
	"testing"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

func randomPoint(t *testing.T) *edwards25519.Point {
	t.Helper()
	var b [64]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	s, err := edwards25519.NewScalar().SetUniformBytes(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return new(edwards25519.Point).ScalarBaseMult(s)
}

func toPoint(t *testing.T, v *Extended) *edwards25519.Point {
	t.Helper()
	p, err := v.ToPoint(new(edwards25519.Point))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func affineOf(p *edwards25519.Point) *AffineCached {
	var v Extended
	var zInv field.Element
	v.FromPoint(p)
	zInv.Invert(&v.Z)
	return new(AffineCached).FromExtended(&v, &zInv)
}

// Every formula agrees with filippo.io/edwards25519's Point arithmetic.
func TestAgainstEdwards25519(t *testing.T) {
	id := edwards25519.NewIdentityPoint()
	for i := 0; i < 50; i++ {
		p, q := randomPoint(t), randomPoint(t)
		if i == 0 {
			q = id // the formulas are complete: the identity is an ordinary operand
		}
		if i == 1 {
			q = p // and so is p itself
		}
		sum := new(edwards25519.Point).Add(p, q)
		diff := new(edwards25519.Point).Subtract(p, q)
		var pe, qe, got Extended
		var qc Cached
		var c Completed
		pe.FromPoint(p)
		qe.FromPoint(q)
		qc.FromExtended(&qe)
		qa := affineOf(q)

		if toPoint(t, got.FromCompleted(c.Add(&pe, &qc))).Equal(sum) != 1 {
			t.Fatalf("%d: Add", i)
		}
		if toPoint(t, got.FromCompleted(c.Subtract(&pe, &qc))).Equal(diff) != 1 {
			t.Fatalf("%d: Subtract", i)
		}
		if toPoint(t, got.FromCompleted(c.AddAffine(&pe, qa))).Equal(sum) != 1 {
			t.Fatalf("%d: Completed.AddAffine", i)
		}
		if toPoint(t, got.FromCompleted(c.SubtractAffine(&pe, qa))).Equal(diff) != 1 {
			t.Fatalf("%d: SubtractAffine", i)
		}
		got = pe
		if toPoint(t, got.AddAffine(qa)).Equal(sum) != 1 {
			t.Fatalf("%d: Extended.AddAffine", i)
		}
		twice := new(edwards25519.Point).Add(p, p)
		got = pe
		if toPoint(t, got.Double()).Equal(twice) != 1 {
			t.Fatalf("%d: Extended.Double", i)
		}
		var pp Projective
		pp.FromExtended(&pe)
		var back Projective
		back.FromCompleted(c.Double(&pp))
		if toPoint(t, got.FromProjective(&back)).Equal(twice) != 1 {
			t.Fatalf("%d: Completed.Double, Projective.FromCompleted, Extended.FromProjective", i)
		}
	}
	var v Extended
	if toPoint(t, v.Identity()).Equal(id) != 1 {
		t.Fatal("Identity")
	}
}

// Lookup returns d·P for every d in [-8, 8].
func TestLookup(t *testing.T) {
	p := randomPoint(t)
	var row [8]AffineCached
	multiple := new(edwards25519.Point).Set(p)
	for j := range row {
		row[j] = *affineOf(multiple)
		multiple.Add(multiple, p)
	}
	for d := -8; d <= 8; d++ {
		want := edwards25519.NewIdentityPoint()
		for k := 0; k < d; k++ {
			want.Add(want, p)
		}
		for k := 0; k > d; k-- {
			want.Subtract(want, p)
		}
		var v Extended
		v.Identity()
		var n AffineCached
		if toPoint(t, v.AddAffine(n.Lookup(&row, int8(d)))).Equal(want) != 1 {
			t.Fatalf("d = %d", d)
		}
	}
}

// TestRistrettoConstants checks SqrtM1 and InvSqrtAMinusD against their definitions in RFC 9496, section 4.1:
// SqrtM1² = -1 with SqrtM1 non-negative, and InvSqrtAMinusD² · (a - d) = 1 for a = -1, with InvSqrtAMinusD
// non-negative.
func TestRistrettoConstants(t *testing.T) {
	var one, minusOne, sq, aMinusD field.Element
	one.One()
	minusOne.Negate(&one)
	if sq.Square(SqrtM1); sq.Equal(&minusOne) != 1 || SqrtM1.IsNegative() == 1 {
		t.Error("SqrtM1 is not the non-negative square root of -1")
	}
	aMinusD.Subtract(&minusOne, D)
	if sq.Square(InvSqrtAMinusD); sq.Multiply(&sq, &aMinusD).Equal(&one) != 1 || InvSqrtAMinusD.IsNegative() == 1 {
		t.Error("InvSqrtAMinusD is not the non-negative 1/sqrt(a - d)")
	}
}

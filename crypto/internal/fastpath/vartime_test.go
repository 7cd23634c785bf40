package fastpath

import (
	"testing"

	"github.com/recount-vote/recount/crypto/group"
)

func TestNonAdjacentForm(t *testing.T) {
	cases := []*group.Scalar{group.NewScalar(), group.NewScalar().SetUint64(1), group.NewScalar().SetInt64(-1), group.NewScalar().SetUint64(1<<64 - 1)}
	for i := 0; i < 50; i++ {
		cases = append(cases, randomScalar(t))
	}
	for _, s := range cases {
		for w := uint(2); w <= 8; w++ {
			naf := nonAdjacentForm(s, w)
			sum := group.NewScalar()
			pow := group.NewScalar().SetUint64(1)
			two := group.NewScalar().SetUint64(2)
			last := -1000
			for i, d := range naf {
				if d != 0 {
					if dd := int(d); dd%2 == 0 || dd >= 1<<(w-1) || dd <= -(1<<(w-1)) {
						t.Fatalf("w=%d: digit %d at %d", w, d, i)
					}
					if i-last < int(w) {
						t.Fatalf("w=%d: digits closer than w", w)
					}
					last = i
				}
				sum.Add(sum, group.NewScalar().Multiply(group.NewScalar().SetInt64(int64(d)), pow))
				pow.Multiply(pow, two)
			}
			if sum.Equal(s) != 1 {
				t.Fatalf("w=%d: NAF does not sum to the scalar", w)
			}
		}
	}
}

func TestVarTimeTableMult(t *testing.T) {
	p := group.NewElement().ScalarBaseMult(randomScalar(t))
	q := group.NewElement().ScalarBaseMult(randomScalar(t))
	tables := map[string][2]*VarTimeTable{}
	for _, w := range []uint{2, 5, 8} {
		for _, norm := range []bool{false, true} {
			tables[string(rune('0'+w))+map[bool]string{false: "p", true: "a"}[norm]] = [2]*VarTimeTable{NewVarTimeTable(p, w, norm), NewVarTimeTable(q, w, norm)}
		}
	}
	scalars := []*group.Scalar{group.NewScalar(), group.NewScalar().SetUint64(1), group.NewScalar().SetInt64(-1), group.NewScalar().SetUint64(1 << 63)}
	for i := 0; i < 10; i++ {
		scalars = append(scalars, randomScalar(t))
	}
	for name, tb := range tables {
		for i, a := range scalars {
			b := scalars[(i*7+3)%len(scalars)]
			want := group.NewElement().Add(group.NewElement().ScalarMult(a, p), group.NewElement().ScalarMult(b, q))
			got := VarTimeTableMult(group.NewElement(), []*group.Scalar{a, b}, []*VarTimeTable{tb[0], tb[1]})
			if got.Equal(want) != 1 {
				t.Fatalf("table %s, case %d: a·P + b·Q differs", name, i)
			}
			if got1 := VarTimeTableMult(group.NewElement(), []*group.Scalar{a}, []*VarTimeTable{tb[0]}); got1.Equal(group.NewElement().ScalarMult(a, p)) != 1 {
				t.Fatalf("table %s, case %d: a·P differs", name, i)
			}
		}
	}
	g := GeneratorVarTimeTable()
	s := randomScalar(t)
	if VarTimeTableMult(group.NewElement(), []*group.Scalar{s}, []*VarTimeTable{g}).Equal(group.NewElement().ScalarBaseMult(s)) != 1 {
		t.Fatal("generator table")
	}
	// Many terms (more than the stack buffers hold).
	var ss []*group.Scalar
	var ts []*VarTimeTable
	want := group.NewElement()
	for i := 0; i < 6; i++ {
		s := randomScalar(t)
		ss = append(ss, s)
		ts = append(ts, g)
		want.Add(want, group.NewElement().ScalarBaseMult(s))
	}
	if VarTimeTableMult(group.NewElement(), ss, ts).Equal(want) != 1 {
		t.Fatal("six terms")
	}
}

func BenchmarkNewVarTimeTable8(b *testing.B) {
	p := group.NewElement().ScalarBaseMult(randomScalar(b))
	for b.Loop() {
		NewVarTimeTable(p, 8, true)
	}
}

func BenchmarkNewVarTimeTable5(b *testing.B) {
	p := group.NewElement().ScalarBaseMult(randomScalar(b))
	for b.Loop() {
		NewVarTimeTable(p, 5, false)
	}
}

func BenchmarkVarTimeTableMult(b *testing.B) {
	p := group.NewElement().ScalarBaseMult(randomScalar(b))
	tp := NewVarTimeTable(p, 5, false)
	g := GeneratorVarTimeTable()
	s1, s2 := randomScalar(b), randomScalar(b)
	e := group.NewElement()
	for b.Loop() {
		VarTimeTableMult(e, []*group.Scalar{s1, s2}, []*VarTimeTable{g, tp})
	}
}

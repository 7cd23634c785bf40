package fastpath

import (
	"bytes"
	"testing"

	"github.com/recount-vote/recount/crypto/group"
)

func randomScalar(t testing.TB) *group.Scalar {
	s, err := group.RandomScalar(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFixedBase(t *testing.T) {
	p := group.NewElement().ScalarBaseMult(randomScalar(t))
	fb := NewFixedBase(p)
	lMinus1 := group.NewScalar().SetInt64(-1)
	cases := []*group.Scalar{group.NewScalar(), group.NewScalar().SetUint64(1), group.NewScalar().SetUint64(8), group.NewScalar().SetUint64(15),
		group.NewScalar().SetUint64(16), group.NewScalar().SetUint64(1<<63 + 12345), lMinus1}
	for i := 0; i < 64; i++ {
		cases = append(cases, randomScalar(t))
	}
	for i, s := range cases {
		got := fb.ScalarMult(group.NewElement(), s)
		want := group.NewElement().ScalarMult(s, p)
		if got.Equal(want) != 1 {
			t.Fatalf("case %d: FixedBase.ScalarMult differs from ScalarMult", i)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("case %d: encodings differ", i)
		}
	}
	if fb.Base().Equal(p) != 1 {
		t.Fatal("Base() is not the point the table was built for")
	}
}

func BenchmarkFixedBaseScalarMult(b *testing.B) {
	fb := NewFixedBase(group.NewElement().ScalarBaseMult(randomScalar(b)))
	s := randomScalar(b)
	e := group.NewElement()
	for b.Loop() {
		fb.ScalarMult(e, s)
	}
}

func BenchmarkNewFixedBase(b *testing.B) {
	p := group.NewElement().ScalarBaseMult(randomScalar(b))
	for b.Loop() {
		NewFixedBase(p)
	}
}

// BenchmarkElementPoint measures the access hook (groupaccess.ElementPoint) that every operation of this package
// calls once per element it takes or returns, to compare with the microseconds of the operations.
func BenchmarkElementPoint(b *testing.B) {
	e := group.Generator()
	for b.Loop() {
		point(e)
	}
}

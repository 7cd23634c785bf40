package fastpath

import (
	"bytes"
	"testing"

	"filippo.io/edwards25519/field"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/edwards"
)

// torsion returns the representatives of E[4], the points whose sum with P gives the same ristretto255 element.
func torsion(t testing.TB) []*group.Element {
	t.Helper()
	var zero, one, minusOne field.Element
	zero.Zero()
	one.One()
	minusOne.Negate(&one)
	var minusI field.Element
	minusI.Negate(edwards.SqrtM1)
	pts := []*group.Element{}
	for _, c := range [][2]*field.Element{{&zero, &one}, {&zero, &minusOne}, {edwards.SqrtM1, &zero}, {&minusI, &zero}} {
		var T field.Element
		T.Multiply(c[0], c[1])
		e := new(group.Element)
		if _, err := point(e).SetExtendedCoordinates(c[0], c[1], &one, &T); err != nil {
			t.Fatalf("torsion point: %v", err)
		}
		pts = append(pts, e)
	}
	return pts
}

func TestAppendDoubledBytes(t *testing.T) {
	var pts []*group.Element
	pts = append(pts, group.NewElement(), group.Generator())
	for _, tp := range torsion(t) {
		pts = append(pts, tp)
		pts = append(pts, group.NewElement().Add(group.Generator(), tp))
	}
	for i := 0; i < 40; i++ {
		p := group.NewElement().ScalarBaseMult(randomScalar(t))
		pts = append(pts, p)
		for _, tp := range torsion(t) {
			pts = append(pts, group.NewElement().Add(p, tp))
		}
	}
	var want []byte
	for _, p := range pts {
		want = append(want, group.NewElement().Double(p).Bytes()...)
	}
	// The whole batch (more than the stack buffers hold), and batches of every small size.
	if got := AppendDoubledBytes(nil, pts...); !bytes.Equal(got, want) {
		t.Fatalf("batch of %d: doubled encodings differ from the plain encoding", len(pts))
	}
	for n := 0; n <= 17; n++ {
		for start := 0; start+n <= len(pts); start += 7 {
			got := AppendDoubledBytes([]byte("prefix"), pts[start:start+n]...)
			if !bytes.Equal(got, append([]byte("prefix"), want[32*start:32*(start+n)]...)) {
				t.Fatalf("batch [%d, %d) differs from the plain encoding", start, start+n)
			}
		}
	}
}

func BenchmarkAppendDoubledBytes6(b *testing.B) {
	pts := make([]*group.Element, 6)
	for i := range pts {
		pts[i] = group.NewElement().ScalarBaseMult(randomScalar(b))
	}
	buf := make([]byte, 0, 6*32)
	for b.Loop() {
		AppendDoubledBytes(buf[:0], pts...)
	}
}

// FuzzAppendDoubledBytes compares the batched doubled encodings with the plain encoding of the doubles, for
// elements the fuzzer decodes (each with each E[4] representative of its class).
func FuzzAppendDoubledBytes(f *testing.F) {
	f.Add(group.Generator().Bytes())
	f.Add(make([]byte, 32))
	tors := torsion(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var pts []*group.Element
		for i := 0; i+32 <= len(b) && i < 32*4; i += 32 {
			e, err := group.NewElement().SetCanonicalBytes(b[i : i+32])
			if err != nil {
				continue
			}
			for _, tp := range tors {
				pts = append(pts, group.NewElement().Add(e, tp))
			}
		}
		var want []byte
		for _, p := range pts {
			want = append(want, group.NewElement().Double(p).Bytes()...)
		}
		if got := AppendDoubledBytes(nil, pts...); !bytes.Equal(got, want) {
			t.Fatal("doubled encodings differ")
		}
	})
}

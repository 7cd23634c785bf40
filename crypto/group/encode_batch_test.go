package group

import (
	"bytes"
	"testing"

	"filippo.io/edwards25519/field"
)

// torsion returns the representatives of E[4], the points whose sum with P gives the same ristretto255 element.
func torsion(t testing.TB) []*Element {
	t.Helper()
	var zero, one, minusOne field.Element
	zero.Zero()
	one.One()
	minusOne.Negate(&one)
	var minusI field.Element
	minusI.Negate(sqrtM1)
	pts := []*Element{}
	for _, c := range [][2]*field.Element{{&zero, &one}, {&zero, &minusOne}, {sqrtM1, &zero}, {&minusI, &zero}} {
		var T field.Element
		T.Multiply(c[0], c[1])
		e := new(Element)
		if _, err := e.p.SetExtendedCoordinates(c[0], c[1], &one, &T); err != nil {
			t.Fatalf("torsion point: %v", err)
		}
		pts = append(pts, e)
	}
	return pts
}

func TestAppendDoubledBytes(t *testing.T) {
	var pts []*Element
	pts = append(pts, NewElement(), Generator())
	for _, tp := range torsion(t) {
		pts = append(pts, tp)
		pts = append(pts, NewElement().Add(Generator(), tp))
	}
	for i := 0; i < 40; i++ {
		p := NewElement().ScalarBaseMult(randomScalar(t))
		pts = append(pts, p)
		for _, tp := range torsion(t) {
			pts = append(pts, NewElement().Add(p, tp))
		}
	}
	var want []byte
	for _, p := range pts {
		want = append(want, NewElement().Double(p).Bytes()...)
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
	pts := make([]*Element, 6)
	for i := range pts {
		pts[i] = NewElement().ScalarBaseMult(randomScalar(b))
	}
	buf := make([]byte, 0, 6*32)
	for b.Loop() {
		AppendDoubledBytes(buf[:0], pts...)
	}
}

// FuzzAppendDoubledBytes compares the batched doubled encodings with the plain encoding of the doubles, for
// elements the fuzzer decodes (each with each E[4] representative of its class).
func FuzzAppendDoubledBytes(f *testing.F) {
	f.Add(Generator().Bytes())
	f.Add(make([]byte, 32))
	tors := torsion(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var pts []*Element
		for i := 0; i+32 <= len(b) && i < 32*4; i += 32 {
			e, err := NewElement().SetCanonicalBytes(b[i : i+32])
			if err != nil {
				continue
			}
			for _, tp := range tors {
				pts = append(pts, NewElement().Add(e, tp))
			}
		}
		var want []byte
		for _, p := range pts {
			want = append(want, NewElement().Double(p).Bytes()...)
		}
		if got := AppendDoubledBytes(nil, pts...); !bytes.Equal(got, want) {
			t.Fatal("doubled encodings differ")
		}
	})
}

package group

import "testing"

func BenchmarkScalarBaseMult(b *testing.B) {
	s := randomScalar(b)
	e := NewElement()
	for b.Loop() {
		e.ScalarBaseMult(s)
	}
}

func BenchmarkScalarMult(b *testing.B) {
	p := NewElement().ScalarBaseMult(randomScalar(b))
	s := randomScalar(b)
	e := NewElement()
	for b.Loop() {
		e.ScalarMult(s, p)
	}
}

func BenchmarkVarTimeDoubleScalarBaseMult(b *testing.B) {
	p := NewElement().ScalarBaseMult(randomScalar(b))
	s, u := randomScalar(b), randomScalar(b)
	e := NewElement()
	for b.Loop() {
		e.VarTimeDoubleScalarBaseMult(s, p, u)
	}
}

func BenchmarkEncode(b *testing.B) {
	p := NewElement().ScalarBaseMult(randomScalar(b))
	buf := make([]byte, 0, 32)
	for b.Loop() {
		p.AppendBytes(buf[:0])
	}
}

func BenchmarkDecode(b *testing.B) {
	enc := NewElement().ScalarBaseMult(randomScalar(b)).Bytes()
	var e Element
	for b.Loop() {
		if _, err := e.SetCanonicalBytes(enc); err != nil {
			b.Fatal(err)
		}
	}
}

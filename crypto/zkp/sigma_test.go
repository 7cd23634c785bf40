package zkp

import (
	"bytes"
	"errors"
	"testing"

	"github.com/recount-vote/recount/crypto/group"
)

func rnd(t testing.TB) *group.Scalar {
	s, err := group.RandomScalar(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testCtx = Context{Election: []byte("election-0123456789abcdef0123456"), Bind: []byte("trustee 1")}

func other(s *group.Scalar) *group.Scalar {
	return group.NewScalar().Add(s, group.NewScalar().SetUint64(1))
}

func TestSchnorr(t *testing.T) {
	x := rnd(t)
	X := group.NewElement().ScalarBaseMult(x)
	p, err := ProveSchnorr(testCtx, x, X, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(testCtx, X); err != nil {
		t.Fatalf("honest proof rejected: %v", err)
	}
	var q SchnorrProof
	if _, err := q.SetBytes(p.Bytes()); err != nil || q.Verify(testCtx, X) != nil {
		t.Fatalf("encoding round trip: %v", err)
	}
	tamper := map[string]func() error{
		"statement": func() error { return p.Verify(testCtx, group.NewElement().Add(X, group.Generator())) },
		"identity":  func() error { return p.Verify(testCtx, group.NewElement()) },
		"election":  func() error { return p.Verify(Context{Election: []byte("other"), Bind: testCtx.Bind}, X) },
		"bind":      func() error { return p.Verify(Context{Election: testCtx.Election, Bind: []byte("trustee 2")}, X) },
		"challenge": func() error { q := *p; q.C.Set(other(&p.C)); return q.Verify(testCtx, X) },
		"response":  func() error { q := *p; q.Z.Set(other(&p.Z)); return q.Verify(testCtx, X) },
	}
	for what, f := range tamper {
		if err := f(); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("changing the %s: got %v, want ErrInvalidProof", what, err)
		}
	}
	// A prover without the secret cannot produce a verifying proof.
	bad, _ := ProveSchnorr(testCtx, other(x), X, nil)
	if bad.Verify(testCtx, X) == nil {
		t.Error("proof with the wrong secret verified")
	}
}

func TestChaumPedersen(t *testing.T) {
	s := rnd(t)
	H := group.NewElement().ScalarBaseMult(rnd(t))
	X := group.NewElement().ScalarBaseMult(s)
	Y := group.NewElement().ScalarMult(s, H)
	p, err := ProveChaumPedersen(testCtx, s, H, X, Y, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(testCtx, H, X, Y); err != nil {
		t.Fatalf("honest proof rejected: %v", err)
	}
	var q ChaumPedersenProof
	if _, err := q.SetBytes(p.Bytes()); err != nil || q.Verify(testCtx, H, X, Y) != nil {
		t.Fatalf("encoding round trip: %v", err)
	}
	bump := func(e *group.Element) *group.Element { return group.NewElement().Add(e, group.Generator()) }
	tamper := map[string]func() error{
		"H":         func() error { return p.Verify(testCtx, bump(H), X, Y) },
		"X":         func() error { return p.Verify(testCtx, H, bump(X), Y) },
		"Y":         func() error { return p.Verify(testCtx, H, X, bump(Y)) },
		"H=0":       func() error { return p.Verify(testCtx, group.NewElement(), X, Y) },
		"election":  func() error { return p.Verify(Context{Election: []byte("x"), Bind: testCtx.Bind}, H, X, Y) },
		"bind":      func() error { return p.Verify(Context{Election: testCtx.Election, Bind: nil}, H, X, Y) },
		"challenge": func() error { q := *p; q.C.Set(other(&p.C)); return q.Verify(testCtx, H, X, Y) },
		"response":  func() error { q := *p; q.Z.Set(other(&p.Z)); return q.Verify(testCtx, H, X, Y) },
	}
	for what, f := range tamper {
		if err := f(); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("changing %s: got %v, want ErrInvalidProof", what, err)
		}
	}
	// Unequal logs: Y = s'·H with s' != s.
	Ybad := group.NewElement().ScalarMult(other(s), H)
	bad, _ := ProveChaumPedersen(testCtx, s, H, X, Ybad, nil)
	if bad.Verify(testCtx, H, X, Ybad) == nil {
		t.Error("proof of unequal logs verified")
	}
}

func TestProofEncodingRejectsNonCanonical(t *testing.T) {
	b := make([]byte, 64)
	for i := 32; i < 64; i++ {
		b[i] = 0xff
	}
	if _, err := new(SchnorrProof).SetBytes(b); !errors.Is(err, ErrProofEncoding) {
		t.Error("non-canonical Schnorr response accepted")
	}
	if _, err := new(ChaumPedersenProof).SetBytes(b[:63]); !errors.Is(err, ErrProofEncoding) {
		t.Error("short Chaum-Pedersen proof accepted")
	}
}

func FuzzSigmaProofDecode(f *testing.F) {
	x := group.NewScalar().SetUint64(7)
	X := group.NewElement().ScalarBaseMult(x)
	p, _ := ProveSchnorr(testCtx, x, X, nil)
	f.Add(p.Bytes())
	f.Add(make([]byte, 64))
	f.Add(make([]byte, 63))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := new(SchnorrProof).SetBytes(b)
		c, err2 := new(ChaumPedersenProof).SetBytes(b)
		if (err == nil) != (err2 == nil) {
			t.Fatal("Schnorr and Chaum-Pedersen decoders disagree on the same 64 bytes")
		}
		if err != nil {
			if !errors.Is(err, ErrProofEncoding) || !errors.Is(err2, ErrProofEncoding) {
				t.Fatalf("errors do not wrap ErrProofEncoding: %v, %v", err, err2)
			}
			return
		}
		if !bytes.Equal(s.Bytes(), b) || !bytes.Equal(c.Bytes(), b) {
			t.Fatal("accepted encoding does not round-trip")
		}
		_ = s.Verify(testCtx, X) // must not panic on any decoded proof
	})
}

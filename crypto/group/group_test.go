package group

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
)

// RFC 9496, Appendix A.1: encodings of 0·g ... 15·g.
var smallMultiples = [16]string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
	"6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
	"94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
	"da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57",
	"e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e",
	"f64746d3c92b13050ed8d80236a7f0007c3b3f962f5ba793d19a601ebb1df403",
	"44f53520926ec81fbd5a387845beb7df85a96a24ece18738bdcfa6a7822a176d",
	"903293d8f2287ebe10e2374dc1a53e0bc887e592699f02d077d5263cdd55601c",
	"02622ace8f7303a31cafc63f8fc48fdc16e1c8c8d234b2f0d6685282a9076031",
	"20706fd788b2720a1ed2a5dad4952b01f413bcf0e7564de8cdc816689e2db95f",
	"bce83f8ba5dd2fa572864c24ba1810f9522bc6004afe95877ac73241cafdab42",
	"e4549ee16b9aa03099ca208c67adafcafa4c3f3e4e5303de6026e3ca8ff84460",
	"aa52e000df2e16f55fb1032fc33bc42742dad6bd5a8fc0be0167436c5948501f",
	"46376b80f409b29dc2b5f6f0c52591990896e5716f41477cd30085ab7f10301e",
	"e0c418f7c8d9c4cdd7395b93ea124f3ad99021bb681dfc3302a9d99a2e53e64e",
}

// RFC 9496, Appendix A.2: strings that must not decode.
var badEncodings = []string{
	// non-canonical field encodings
	"00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	// negative field elements
	"0100000000000000000000000000000000000000000000000000000000000000",
	"01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
	"c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
	"c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78",
	"47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24",
	"f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72",
	"87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309",
	// non-square x^2
	"26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
	"4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
	"de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
	"bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042",
	"2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08",
	"f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22",
	"8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731",
	"2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b",
	// negative xy
	"3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
	"a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
	"d483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e",
	"8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32",
	"32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b",
	"227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165",
	"5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e",
	"445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b",
	// s = -1, which gives y = 0
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSmallMultiples(t *testing.T) {
	g := Generator()
	acc := NewElement()
	for i, want := range smallMultiples {
		enc := mustHex(t, want)
		if got := acc.Bytes(); !bytes.Equal(got, enc) {
			t.Errorf("%d·g encodes to %x, want %s", i, got, want)
		}
		var dec Element
		if _, err := dec.SetCanonicalBytes(enc); err != nil {
			t.Fatalf("%d·g: decoding the RFC 9496 vector: %v", i, err)
		}
		if dec.Equal(acc) != 1 {
			t.Errorf("%d·g: decoded vector is not %d·g", i, i)
		}
		if byMult := NewElement().ScalarBaseMult(NewScalar().SetUint64(uint64(i))); byMult.Equal(acc) != 1 {
			t.Errorf("%d·g by ScalarBaseMult differs from repeated addition", i)
		}
		acc.Add(acc, g)
	}
}

func TestBadEncodings(t *testing.T) {
	for i, s := range badEncodings {
		var e Element
		if _, err := e.SetCanonicalBytes(mustHex(t, s)); !errors.Is(err, ErrElementEncoding) {
			t.Errorf("bad encoding #%d (%s) was accepted (err = %v)", i, s, err)
		}
	}
	for _, n := range []int{0, 31, 33, 64} {
		var e Element
		if _, err := e.SetCanonicalBytes(make([]byte, n)); !errors.Is(err, ErrElementEncoding) {
			t.Errorf("%d-byte encoding accepted", n)
		}
	}
}

func TestIdentityHandling(t *testing.T) {
	zero := make([]byte, 32)
	var e Element
	if _, err := e.SetCanonicalBytes(zero); err != nil {
		t.Fatalf("identity refused by SetCanonicalBytes: %v", err)
	}
	if !e.IsIdentity() {
		t.Fatal("decoded zero string is not the identity")
	}
	if _, err := e.SetCanonicalBytesNonIdentity(zero); !errors.Is(err, ErrIdentity) {
		t.Fatalf("identity accepted by SetCanonicalBytesNonIdentity: %v", err)
	}
	if _, err := e.SetCanonicalBytesNonIdentity(mustHex(t, smallMultiples[1])); err != nil {
		t.Fatalf("generator refused: %v", err)
	}
}

func randomScalar(t testing.TB) *Scalar {
	s, err := RandomScalar(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAgainstCircl checks encodings, decodings and arithmetic against circl's independent ristretto255.
func TestAgainstCircl(t *testing.T) {
	for i := 0; i < 64; i++ {
		s := randomScalar(t)
		ours := NewElement().ScalarBaseMult(s)
		theirs := Circl.NewElement().MulGen(s.ToCircl())
		want, _ := theirs.MarshalBinary()
		if !bytes.Equal(ours.Bytes(), want) {
			t.Fatalf("s·g: ours %x, circl %x", ours.Bytes(), want)
		}
		var back Element
		if _, err := back.FromCircl(theirs); err != nil || back.Equal(ours) != 1 {
			t.Fatalf("FromCircl: %v", err)
		}
		u := randomScalar(t)
		ours2 := NewElement().ScalarMult(u, ours)
		theirs2 := Circl.NewElement().Mul(theirs, u.ToCircl())
		want2, _ := theirs2.MarshalBinary()
		if !bytes.Equal(ours2.Bytes(), want2) {
			t.Fatalf("u·(s·g) differs from circl")
		}
		prod := NewScalar().Multiply(s, u)
		cprod := Circl.NewScalar().Mul(s.ToCircl(), u.ToCircl())
		wantS, _ := cprod.MarshalBinary()
		if !bytes.Equal(prod.Bytes(), wantS) {
			t.Fatalf("scalar product differs from circl")
		}
	}
}

func TestScalarEncoding(t *testing.T) {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(n *big.Int) []byte {
		b := make([]byte, 32)
		n.FillBytes(b)
		for i, j := 0, 31; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		return b
	}
	var s Scalar
	if _, err := s.SetCanonicalBytes(le(new(big.Int).Sub(l, big.NewInt(1)))); err != nil {
		t.Fatalf("l-1 refused: %v", err)
	}
	for _, bad := range [][]byte{le(l), le(new(big.Int).Add(l, big.NewInt(1))), bytes.Repeat([]byte{0xff}, 32), make([]byte, 31), make([]byte, 33)} {
		if _, err := s.SetCanonicalBytes(bad); !errors.Is(err, ErrScalarEncoding) {
			t.Errorf("non-canonical scalar %x accepted", bad)
		}
	}
	if NewScalar().SetInt64(-5).Add(NewScalar().SetInt64(-5), NewScalar().SetUint64(5)).IsZero() != true {
		t.Error("-5 + 5 != 0")
	}
}

func TestSelect(t *testing.T) {
	a, b := randomScalar(t), randomScalar(t)
	if NewScalar().Select(a, b, 1).Equal(a) != 1 || NewScalar().Select(a, b, 0).Equal(b) != 1 {
		t.Error("Scalar.Select")
	}
	p, q := NewElement().ScalarBaseMult(a), NewElement().ScalarBaseMult(b)
	if NewElement().Select(p, q, 1).Equal(p) != 1 || NewElement().Select(p, q, 0).Equal(q) != 1 {
		t.Error("Element.Select")
	}
}

func TestVarTime(t *testing.T) {
	a, b := randomScalar(t), randomScalar(t)
	x := NewElement().ScalarBaseMult(randomScalar(t))
	want := NewElement().Add(NewElement().ScalarMult(a, x), NewElement().ScalarBaseMult(b))
	if NewElement().VarTimeDoubleScalarBaseMult(a, x, b).Equal(want) != 1 {
		t.Error("VarTimeDoubleScalarBaseMult")
	}
	if NewElement().VarTimeMultiScalarMult([]*Scalar{a, b}, []*Element{x, Generator()}).Equal(want) != 1 {
		t.Error("VarTimeMultiScalarMult")
	}
	if NewElement().VarTimeScalarMult(a, x).Equal(NewElement().ScalarMult(a, x)) != 1 {
		t.Error("VarTimeScalarMult")
	}
}

func TestRandomScalarError(t *testing.T) {
	if _, err := RandomScalar(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Fatal("short randomness accepted")
	}
	_ = rand.Reader
}

func FuzzElementDecode(f *testing.F) {
	for _, s := range smallMultiples {
		f.Add(mustHex(f, s))
	}
	for _, s := range badEncodings {
		f.Add(mustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var e Element
		if _, err := e.SetCanonicalBytes(in); err != nil {
			return
		}
		if !bytes.Equal(e.Bytes(), in) {
			t.Fatalf("accepted %x but re-encodes to %x", in, e.Bytes())
		}
		c := Circl.NewElement()
		if err := c.UnmarshalBinary(in); err != nil {
			t.Fatalf("accepted %x, circl refuses it: %v", in, err)
		}
	})
}

func FuzzScalarDecode(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Scalar
		if _, err := s.SetCanonicalBytes(in); err != nil {
			return
		}
		if !bytes.Equal(s.Bytes(), in) {
			t.Fatalf("accepted %x but re-encodes to %x", in, s.Bytes())
		}
	})
}

package elgamal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/fastpath"
)

func TestEncryptDecryptAdd(t *testing.T) {
	sk, pk, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := NewCiphertext()
	var total uint64
	for m := uint64(0); m < 20; m++ {
		c, r, err := pk.EncryptRandom(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := pk.Mul(group.NewElement(), group.NewScalar().SetUint64(m))
		if sk.Decrypt(c).Equal(want) != 1 {
			t.Fatalf("Decrypt(Encrypt(%d)) != %d·K", m, m)
		}
		if !pk.Opens(c, m, r) {
			t.Fatalf("Opens refused the true message %d", m)
		}
		if pk.Opens(c, m+1, r) {
			t.Fatalf("Opens accepted a wrong message")
		}
		if pk.Opens(c, m, group.NewScalar().Add(r, group.NewScalar().SetUint64(1))) {
			t.Fatalf("Opens accepted a wrong nonce")
		}
		sum.Add(sum, c)
		total += m
	}
	if sk.Decrypt(sum).Equal(pk.Mul(group.NewElement(), group.NewScalar().SetUint64(total))) != 1 {
		t.Fatal("the sum of ciphertexts does not decrypt to the sum of messages")
	}
}

func TestCiphertextEncoding(t *testing.T) {
	_, pk, _ := GenerateKey(nil)
	c, _, _ := pk.EncryptRandom(3, nil)
	var d Ciphertext
	if _, err := d.SetCanonicalBytes(c.Bytes()); err != nil || d.Equal(c) != 1 {
		t.Fatalf("round trip: %v", err)
	}
	bad := c.Bytes()
	copy(bad[:32], make([]byte, 32)) // A = identity
	if _, err := d.SetCanonicalBytes(bad); !errors.Is(err, ErrCiphertextEncoding) {
		t.Fatal("A = identity accepted")
	}
	if _, err := d.SetCanonicalBytes(c.Bytes()[:63]); err == nil {
		t.Fatal("short ciphertext accepted")
	}
	bad = c.Bytes()
	bad[63] |= 0x80 // non-canonical B
	if _, err := d.SetCanonicalBytes(bad); err == nil {
		t.Fatal("non-canonical B accepted")
	}
	if _, err := ParsePublicKey(make([]byte, 32)); err == nil {
		t.Fatal("identity public key accepted")
	}
	if pk2, err := ParsePublicKey(pk.Bytes()); err != nil || !bytes.Equal(pk2.Bytes(), pk.Bytes()) {
		t.Fatalf("public key round trip: %v", err)
	}
}

func FuzzCiphertext(f *testing.F) {
	_, pk, _ := GenerateKey(nil)
	c, _, _ := pk.EncryptRandom(1, nil)
	f.Add(c.Bytes())
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Ciphertext
		if _, err := c.SetCanonicalBytes(b); err != nil {
			return
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatal("accepted a ciphertext that does not re-encode to itself")
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	_, pk, _ := GenerateKey(nil)
	f.Add(pk.Bytes())
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := ParsePublicKey(b)
		if err != nil {
			return
		}
		if !bytes.Equal(pk.Bytes(), b) || pk.Element().IsIdentity() {
			t.Fatal("accepted a key that does not re-encode to itself, or the identity")
		}
	})
}

func TestPublicKeyCaches(t *testing.T) {
	_, pk, _ := GenerateKey(nil)
	if !bytes.Equal(pk.Bytes(), pk.Element().Bytes()) || !bytes.Equal(pk.AppendBytes([]byte{1}), append([]byte{1}, pk.Element().Bytes()...)) {
		t.Fatal("cached encoding differs from the key's encoding")
	}
	s := group.NewScalar().SetUint64(12345)
	got := fastpath.VarTimeTableMult(group.NewElement(), []*group.Scalar{s}, []*fastpath.VarTimeTable{pk.VarTimeTable()})
	if t1, t2 := pk.VarTimeTable(), pk.VarTimeTable(); got.Equal(pk.Mul(group.NewElement(), s)) != 1 || t1 != t2 {
		t.Fatal("VarTimeTable")
	}
}

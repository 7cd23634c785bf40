package threshold

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	circlgroup "github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/math/polynomial"

	"github.com/recount-vote/recount/crypto/dkg"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/zkp"
)

var election = []byte("election-0123456789abcdef0123456")

var ctx = zkp.Context{Election: election, Bind: []byte("contest 1 option 2")}

func testRand(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

// trustees is the outcome of an honest key ceremony.
type trustees struct {
	p   dkg.Params
	pk  *elgamal.PublicKey
	ks  map[int]*dkg.KeyShare
	vks map[int]*group.Element
}

func ceremony(t testing.TB, n, th int, seed uint64) *trustees {
	t.Helper()
	p := dkg.Params{N: n, T: th, Election: election}
	r := testRand(seed)
	dealers := map[int]*dkg.Dealer{}
	commits := map[int]*dkg.Commitment{}
	for i := 1; i <= n; i++ {
		d, err := dkg.NewDealer(p, i, r)
		if err != nil {
			t.Fatal(err)
		}
		dealers[i], commits[i] = d, d.Commitment()
	}
	q, _, err := dkg.Qualified(p, commits, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &trustees{p: p, ks: map[int]*dkg.KeyShare{}}
	for j := 1; j <= n; j++ {
		shares := map[int]*group.Scalar{}
		for i := 1; i <= n; i++ {
			shares[i] = dealers[i].Share(j)
		}
		if tr.ks[j], err = dkg.CombineShares(p, j, q, shares, commits); err != nil {
			t.Fatal(err)
		}
	}
	K, err := dkg.JointKey(q, commits)
	if err != nil {
		t.Fatal(err)
	}
	if tr.pk, err = elgamal.NewPublicKey(K); err != nil {
		t.Fatal(err)
	}
	if tr.vks, err = dkg.VerificationKeys(p, q, commits); err != nil {
		t.Fatal(err)
	}
	return tr
}

func (tr *trustees) encrypt(t testing.TB, m uint64) *elgamal.Ciphertext {
	ct, _, err := tr.pk.EncryptRandom(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func (tr *trustees) partial(t testing.TB, j int, ct *elgamal.Ciphertext) *PartialDecryption {
	pd, err := PartiallyDecrypt(ctx, tr.ks[j], ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	return pd
}

func (tr *trustees) mK(m uint64) *group.Element {
	return tr.pk.Mul(group.NewElement(), group.NewScalar().SetUint64(m))
}

func subsets(n, k int) [][]int {
	var out [][]int
	var rec func(start int, set []int)
	rec = func(start int, set []int) {
		if len(set) == k {
			out = append(out, slices.Clone(set))
			return
		}
		for i := start; i <= n; i++ {
			rec(i+1, append(set, i))
		}
	}
	rec(1, nil)
	return out
}

func TestAnySubsetCombines(t *testing.T) {
	for _, nt := range [][2]int{{1, 1}, {3, 2}, {5, 3}} {
		n, th := nt[0], nt[1]
		t.Run(fmt.Sprintf("n=%d,t=%d", n, th), func(t *testing.T) {
			tr := ceremony(t, n, th, uint64(n))
			const m = 12345
			ct := tr.encrypt(t, m)
			pds := map[int]*PartialDecryption{}
			for j := 1; j <= n; j++ {
				pds[j] = tr.partial(t, j, ct)
				if err := pds[j].Verify(ctx, ct, tr.vks[j]); err != nil {
					t.Fatalf("trustee %d: %v", j, err)
				}
			}
			for k := th; k <= n; k++ {
				for _, set := range subsets(n, k) {
					var in []*PartialDecryption
					for _, j := range set {
						in = append(in, pds[j])
					}
					got, err := Combine(ctx, th, ct, in, tr.vks)
					if err != nil {
						t.Fatalf("subset %v: %v", set, err)
					}
					if got.Equal(tr.mK(m)) != 1 {
						t.Fatalf("subset %v: wrong decryption", set)
					}
				}
			}
		})
	}
}

func TestBadShareRejectedOthersProceed(t *testing.T) {
	tr := ceremony(t, 5, 3, 11)
	const m = 42
	ct := tr.encrypt(t, m)
	var in []*PartialDecryption
	for j := 1; j <= 5; j++ {
		in = append(in, tr.partial(t, j, ct))
	}
	// Trustee 2 sends a wrong share with a proof made for it (with its own key: the statement is false).
	wrong := group.NewElement().Add(&in[1].Share, group.Generator())
	proof, _ := zkp.ProveChaumPedersen(ProofContext(ctx, 2, ct), &tr.ks[2].Secret, &ct.A, tr.vks[2], wrong, nil)
	in[1] = &PartialDecryption{Trustee: 2, Share: *wrong, Proof: *proof}
	got, err := Combine(ctx, 3, ct, in, tr.vks)
	if got == nil || got.Equal(tr.mK(m)) != 1 {
		t.Fatalf("the valid partials did not decrypt: %v", err)
	}
	var ce *CombineError
	if !errors.As(err, &ce) || !errors.Is(err, ErrInvalidPartial) || errors.Is(err, ErrTooFewPartials) {
		t.Fatalf("error %v", err)
	}
	if !slices.Equal(ce.InvalidTrustees(), []int{2}) || !slices.Equal(ce.Valid, []int{1, 3, 4, 5}) || len(ce.Missing) != 0 || !ce.Enough() {
		t.Fatalf("report %+v", ce)
	}
	if ce.Invalid[0].Position != 1 || !errors.Is(ce.Invalid[0].Err, zkp.ErrInvalidProof) {
		t.Fatalf("invalid entry %+v", ce.Invalid[0])
	}
	t.Log(err)
}

func TestTooFew(t *testing.T) {
	tr := ceremony(t, 5, 3, 12)
	ct := tr.encrypt(t, 1)
	bad := tr.partial(t, 4, ct)
	bad.Proof.Z.Add(&bad.Proof.Z, group.NewScalar().SetUint64(1))
	in := []*PartialDecryption{tr.partial(t, 1, ct), bad, tr.partial(t, 1, ct), nil}
	got, err := Combine(ctx, 3, ct, in, tr.vks)
	if got != nil {
		t.Fatal("decrypted with too few partials")
	}
	var ce *CombineError
	if !errors.As(err, &ce) || !errors.Is(err, ErrTooFewPartials) || !errors.Is(err, ErrInvalidPartial) {
		t.Fatalf("error %v", err)
	}
	if !slices.Equal(ce.Valid, []int{1}) || !slices.Equal(ce.Missing, []int{2, 3, 5}) ||
		!slices.Equal(ce.InvalidTrustees(), []int{0, 4}) || ce.Enough() {
		t.Fatalf("report %+v", ce)
	}
	t.Log(err)
	// No partial at all.
	if _, err := Combine(ctx, 3, ct, nil, tr.vks); !errors.Is(err, ErrTooFewPartials) || errors.Is(err, ErrInvalidPartial) {
		t.Fatalf("no partials: %v", err)
	}
	// A partial from a trustee without a verification key.
	stranger := tr.partial(t, 1, ct)
	delete(tr.vks, 1)
	if _, err := Combine(ctx, 1, ct, []*PartialDecryption{stranger}, tr.vks); !errors.Is(err, ErrTooFewPartials) {
		t.Fatalf("unknown trustee: %v", err)
	}
	for _, th := range []int{0, -1, 256} {
		if _, err := Combine(ctx, th, ct, in, tr.vks); err == nil {
			t.Fatalf("threshold %d accepted", th)
		}
	}
	if _, err := Combine(ctx, 1, nil, in, tr.vks); err == nil {
		t.Fatal("nil ciphertext accepted")
	}
}

func TestProofTamper(t *testing.T) {
	tr := ceremony(t, 3, 2, 13)
	ct := tr.encrypt(t, 7)
	pd := tr.partial(t, 2, ct)
	vk := tr.vks[2]
	if err := pd.Verify(ctx, ct, vk); err != nil {
		t.Fatal(err)
	}
	bumpE := func(e *group.Element) group.Element { return *group.NewElement().Add(e, group.Generator()) }
	bumpS := func(s *group.Scalar) group.Scalar { return *group.NewScalar().Add(s, group.NewScalar().SetUint64(1)) }
	other := tr.encrypt(t, 7)
	cases := map[string]func() error{
		"election": func() error { return pd.Verify(zkp.Context{Election: []byte("other"), Bind: ctx.Bind}, ct, vk) },
		"bind": func() error {
			return pd.Verify(zkp.Context{Election: election, Bind: []byte("contest 1 option 3")}, ct, vk)
		},
		"no bind":          func() error { return pd.Verify(zkp.Context{Election: election}, ct, vk) },
		"trustee":          func() error { q := *pd; q.Trustee = 3; return q.Verify(ctx, ct, vk) },
		"trustee 0":        func() error { q := *pd; q.Trustee = 0; return q.Verify(ctx, ct, vk) },
		"A":                func() error { c := *ct; c.A = bumpE(&ct.A); return pd.Verify(ctx, &c, vk) },
		"B":                func() error { c := *ct; c.B = bumpE(&ct.B); return pd.Verify(ctx, &c, vk) },
		"other ciphertext": func() error { return pd.Verify(ctx, other, vk) },
		"A identity":       func() error { c := *ct; c.A = *group.NewElement(); return pd.Verify(ctx, &c, vk) },
		"verification key": func() error { return pd.Verify(ctx, ct, tr.vks[3]) },
		"vk identity":      func() error { return pd.Verify(ctx, ct, group.NewElement()) },
		"vk nil":           func() error { return pd.Verify(ctx, ct, nil) },
		"share":            func() error { q := *pd; q.Share = bumpE(&pd.Share); return q.Verify(ctx, ct, vk) },
		"share identity":   func() error { q := *pd; q.Share = *group.NewElement(); return q.Verify(ctx, ct, vk) },
		"challenge":        func() error { q := *pd; q.Proof.C = bumpS(&pd.Proof.C); return q.Verify(ctx, ct, vk) },
		"response":         func() error { q := *pd; q.Proof.Z = bumpS(&pd.Proof.Z); return q.Verify(ctx, ct, vk) },
		"nil":              func() error { var q *PartialDecryption; return q.Verify(ctx, ct, vk) },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrInvalidPartial) {
			t.Errorf("changing the %s: %v, want ErrInvalidPartial", name, err)
		}
	}
	// The caller's Bind is length-prefixed: moving bytes between it and what follows changes the context.
	c1 := ProofContext(zkp.Context{Election: election, Bind: []byte{1}}, 2, ct)
	c2 := ProofContext(zkp.Context{Election: election, Bind: []byte{}}, 2, ct)
	if bytes.Equal(c1.Bind, c2.Bind) || !bytes.HasPrefix(c1.Bind, []byte(BindPrefix+"\x00\x00\x00\x01\x01\x00\x02")) {
		t.Fatalf("context %x", c1.Bind)
	}
}

func TestTrivialCiphertext(t *testing.T) {
	tr := ceremony(t, 3, 2, 14)
	// The empty tally, and an A = identity ciphertext with a non-trivial B.
	for _, ct := range []*elgamal.Ciphertext{elgamal.NewCiphertext(), {A: *group.NewElement(), B: *tr.mK(5)}} {
		var in []*PartialDecryption
		for j := 1; j <= 3; j++ {
			in = append(in, tr.partial(t, j, ct))
		}
		got, err := Combine(ctx, 2, ct, in, tr.vks)
		if err != nil || got.Equal(&ct.B) != 1 {
			t.Fatalf("trivial ciphertext: %v", err)
		}
		// A forged non-trivial share is rejected.
		in[0].Share.Set(group.Generator())
		if err := in[0].Verify(ctx, ct, tr.vks[1]); !errors.Is(err, ErrInvalidPartial) {
			t.Fatalf("forged share for the trivial ciphertext: %v", err)
		}
		in[0].Share.Set(group.NewElement())
		in[0].Proof.C.SetUint64(1)
		if err := in[0].Verify(ctx, ct, tr.vks[1]); !errors.Is(err, ErrInvalidPartial) {
			t.Fatalf("non-zero proof for the trivial ciphertext: %v", err)
		}
	}
}

func TestBatch(t *testing.T) {
	tr := ceremony(t, 3, 2, 15)
	msgs := []uint64{0, 1, 1000, 3}
	cts := make([]*elgamal.Ciphertext, len(msgs))
	for k, m := range msgs {
		cts[k] = tr.encrypt(t, m)
	}
	cts = append(cts, elgamal.NewCiphertext())
	msgs = append(msgs, 0)
	batches := make([][]*PartialDecryption, 3)
	for j := 1; j <= 3; j++ {
		b, err := PartiallyDecryptBatch(ctx, tr.ks[j], cts, nil)
		if err != nil {
			t.Fatal(err)
		}
		batches[j-1] = b
	}
	check := func(res []*group.Element) {
		t.Helper()
		for k, m := range msgs {
			if res[k].Equal(tr.mK(m)) != 1 {
				t.Fatalf("ciphertext %d: wrong decryption", k)
			}
		}
	}
	res, err := CombineBatch(ctx, 2, cts, batches, tr.vks)
	if err != nil {
		t.Fatal(err)
	}
	check(res)
	// One bad entry spoils trustee 1's batch; 2 and 3 carry on.
	bad := slices.Clone(batches[0])
	q := *bad[2]
	q.Share.Add(&q.Share, group.Generator())
	bad[2] = &q
	res, err = CombineBatch(ctx, 2, cts, [][]*PartialDecryption{bad, batches[1], batches[2]}, tr.vks)
	var ce *CombineError
	if !errors.As(err, &ce) || !slices.Equal(ce.InvalidTrustees(), []int{1}) || res == nil {
		t.Fatalf("bad batch: %v", err)
	}
	check(res)
	// Short batch, mixed trustees, and only one valid batch.
	mixed := slices.Clone(batches[1])
	mixed[0] = batches[2][0]
	_, err = CombineBatch(ctx, 2, cts, [][]*PartialDecryption{batches[0][:2], mixed, batches[2], {}, nil}, tr.vks)
	if !errors.As(err, &ce) || !errors.Is(err, ErrTooFewPartials) || !slices.Equal(ce.Valid, []int{3}) ||
		!slices.Equal(ce.InvalidTrustees(), []int{0, 1, 3}) {
		t.Fatalf("broken batches: %v", err)
	}
	t.Log(err)
	if res, err := CombineBatch(ctx, 2, nil, nil, tr.vks); err != nil || len(res) != 0 {
		t.Fatal("empty tally")
	}
	if _, err := CombineBatch(ctx, 2, []*elgamal.Ciphertext{nil}, batches, tr.vks); err == nil {
		t.Fatal("nil ciphertext")
	}
	if _, err := PartiallyDecryptBatch(ctx, tr.ks[1], []*elgamal.Ciphertext{nil}, nil); err == nil {
		t.Fatal("nil ciphertext")
	}
	// Element k of a batch is the single partial decryption of ciphertext k.
	if err := batches[0][3].Verify(ctx, cts[3], tr.vks[1]); err != nil {
		t.Fatal(err)
	}
}

func TestPartiallyDecryptErrors(t *testing.T) {
	tr := ceremony(t, 3, 2, 16)
	ct := tr.encrypt(t, 1)
	if _, err := PartiallyDecrypt(ctx, &dkg.KeyShare{Index: 0}, ct, nil); err == nil {
		t.Error("trustee 0")
	}
	if _, err := PartiallyDecrypt(ctx, nil, ct, nil); err == nil {
		t.Error("nil key share")
	}
	if _, err := PartiallyDecrypt(ctx, tr.ks[1], nil, nil); err == nil {
		t.Error("nil ciphertext")
	}
	if _, err := PartiallyDecrypt(ctx, tr.ks[1], ct, bytes.NewReader(nil)); err == nil {
		t.Error("no randomness")
	}
	if _, err := PartiallyDecryptBatch(ctx, &dkg.KeyShare{Index: 256}, nil, nil); err == nil {
		t.Error("trustee 256")
	}
	// A partial decryption with a wrong key share does not verify.
	wrong := &dkg.KeyShare{Index: 1}
	wrong.Secret.Set(&tr.ks[2].Secret)
	if err := tr.partial(t, 1, ct).Verify(ctx, ct, tr.vks[1]); err != nil {
		t.Fatal(err)
	}
	pd, _ := PartiallyDecrypt(ctx, wrong, ct, nil)
	if err := pd.Verify(ctx, ct, tr.vks[1]); !errors.Is(err, ErrInvalidPartial) {
		t.Error("partial decryption with another trustee's share verified")
	}
}

func TestDuplicatesCountOnce(t *testing.T) {
	tr := ceremony(t, 3, 2, 17)
	ct := tr.encrypt(t, 9)
	a, b := tr.partial(t, 1, ct), tr.partial(t, 1, ct) // two valid proofs of the same share
	if _, err := Combine(ctx, 2, ct, []*PartialDecryption{a, b}, tr.vks); !errors.Is(err, ErrTooFewPartials) {
		t.Fatalf("one trustee counted twice: %v", err)
	}
	got, err := Combine(ctx, 2, ct, []*PartialDecryption{a, b, tr.partial(t, 3, ct)}, tr.vks)
	if err != nil || got.Equal(tr.mK(9)) != 1 {
		t.Fatal(err)
	}
}

func TestLagrangeAgainstCircl(t *testing.T) {
	for _, set := range [][]int{{1}, {1, 2}, {2, 5, 7}, {3, 1, 255, 17}} {
		lambda, err := LagrangeCoefficients(set)
		if err != nil {
			t.Fatal(err)
		}
		xs := make([]circlgroup.Scalar, len(set))
		for i, j := range set {
			xs[i] = group.Circl.NewScalar().SetUint64(uint64(j))
		}
		for i, j := range set {
			want := polynomial.LagrangeBase(uint(i), xs, group.Circl.NewScalar())
			if !bytes.Equal(lambda[j].Bytes(), mustMarshal(t, want)) {
				t.Fatalf("set %v: λ_%d differs from circl's", set, j)
			}
		}
	}
	for _, bad := range [][]int{{1, 1}, {0, 2}, {256}} {
		if _, err := LagrangeCoefficients(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func mustMarshal(t *testing.T, s circlgroup.Scalar) []byte {
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncoding(t *testing.T) {
	tr := ceremony(t, 3, 2, 18)
	ct := tr.encrypt(t, 3)
	pd := tr.partial(t, 3, ct)
	enc := pd.Bytes()
	if len(enc) != PartialDecryptionSize || PartialDecryptionSize != 98 || !bytes.Equal(enc[:2], []byte{0, 3}) {
		t.Fatalf("encoding %x", enc)
	}
	got, err := ParsePartialDecryption(enc)
	if err != nil || !bytes.Equal(got.Bytes(), enc) || got.Verify(ctx, ct, tr.vks[3]) != nil {
		t.Fatalf("round trip: %v", err)
	}
	mut := func(f func([]byte)) []byte { b := bytes.Clone(enc); f(b); return b }
	for name, b := range map[string][]byte{
		"short":               enc[:97],
		"long":                append(bytes.Clone(enc), 0),
		"trustee 0":           mut(func(b []byte) { b[1] = 0 }),
		"trustee 256":         mut(func(b []byte) { b[0], b[1] = 1, 0 }),
		"non-canonical share": mut(func(b []byte) { b[33] |= 0x80 }),
		"non-canonical c":     mut(func(b []byte) { copy(b[34:66], bytes.Repeat([]byte{0xff}, 32)) }),
		"non-canonical z":     mut(func(b []byte) { copy(b[66:], bytes.Repeat([]byte{0xff}, 32)) }),
		"empty":               nil,
	} {
		if _, err := ParsePartialDecryption(b); !errors.Is(err, ErrPartialEncoding) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParsePartialDecryption(f *testing.F) {
	tr := ceremony(f, 3, 2, 19)
	ct := tr.encrypt(f, 3)
	pd, _ := PartiallyDecrypt(ctx, tr.ks[1], ct, nil)
	f.Add(pd.Bytes())
	f.Add(make([]byte, PartialDecryptionSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		pd, err := ParsePartialDecryption(b)
		if err != nil {
			return
		}
		if !bytes.Equal(pd.Bytes(), b) {
			t.Fatalf("accepted %x, which re-encodes to %x", b, pd.Bytes())
		}
		if pd.Verify(ctx, ct, tr.vks[pd.Trustee]) == nil &&
			pd.Share.Equal(group.NewElement().ScalarMult(&tr.ks[pd.Trustee].Secret, &ct.A)) != 1 {
			t.Fatal("a fuzzed partial decryption with a wrong share verified")
		}
	})
}

package dkg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cloudflare/circl/secretsharing"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/zkp"
)

var election = []byte("election-0123456789abcdef0123456")

func testRand(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

// ceremony is the public and private state of a run of the protocol, as a test sees it.
type ceremony struct {
	p       Params
	dealers map[int]*Dealer
	commits map[int]*Commitment
	// shares[to][from] is the share trustee to received from dealer from.
	shares map[int]map[int]*group.Scalar
}

func newCeremony(t testing.TB, p Params, seed uint64) *ceremony {
	t.Helper()
	r := testRand(seed)
	c := &ceremony{p: p, dealers: map[int]*Dealer{}, commits: map[int]*Commitment{}, shares: map[int]map[int]*group.Scalar{}}
	for i := 1; i <= p.N; i++ {
		d, err := NewDealer(p, i, r)
		if err != nil {
			t.Fatal(err)
		}
		c.dealers[i] = d
		c.commits[i] = d.Commitment()
	}
	for to := 1; to <= p.N; to++ {
		c.shares[to] = map[int]*group.Scalar{}
		for from := 1; from <= p.N; from++ {
			c.shares[to][from] = c.dealers[from].Share(to)
		}
	}
	return c
}

// complaints returns the complaints every trustee makes after checking its shares, with answers from answer
// (the honest dealer's answer is its true share).
func (c *ceremony) complaints(answer func(dealer, complainant int) *group.Scalar) []Complaint {
	var out []Complaint
	for to := 1; to <= c.p.N; to++ {
		for from := 1; from <= c.p.N; from++ {
			if from == to {
				continue
			}
			if VerifyShare(c.p, c.commits[from], to, c.shares[to][from]) != nil {
				out = append(out, Complaint{Complainant: to, Dealer: from, Revealed: answer(from, to)})
			}
		}
	}
	return out
}

func (c *ceremony) honestAnswer(dealer, complainant int) *group.Scalar {
	return c.dealers[dealer].Share(complainant)
}

// finish runs the qualification and combination steps and checks the result: every trustee's key share matches
// its verification key, and any T of them reconstruct the secret of the joint key.
func (c *ceremony) finish(t *testing.T, complaints []Complaint, wantQualified []int) (*group.Element, map[int]*KeyShare) {
	t.Helper()
	q, dq, err := Qualified(c.p, c.commits, complaints)
	if err != nil {
		t.Fatalf("Qualified: %v", err)
	}
	if !slices.Equal(q, wantQualified) {
		t.Fatalf("qualified = %v, want %v (disqualified: %v)", q, wantQualified, dq)
	}
	if len(q)+len(dq) != c.p.N {
		t.Fatalf("qualified %v and disqualified %v do not partition the trustees", q, dq)
	}
	// A complainant whose complaint was answered correctly uses the revealed share.
	for _, cp := range complaints {
		if slices.Contains(q, cp.Dealer) && cp.Revealed != nil && cp.Complainant != cp.Dealer && c.shares[cp.Complainant] != nil {
			c.shares[cp.Complainant][cp.Dealer] = cp.Revealed
		}
	}
	K, err := JointKey(q, c.commits)
	if err != nil {
		t.Fatal(err)
	}
	vks, err := VerificationKeys(c.p, q, c.commits)
	if err != nil {
		t.Fatal(err)
	}
	keyShares := map[int]*KeyShare{}
	for j := 1; j <= c.p.N; j++ {
		ks, err := CombineShares(c.p, j, q, c.shares[j], c.commits)
		if err != nil {
			t.Fatalf("trustee %d: CombineShares: %v", j, err)
		}
		keyShares[j] = ks
		vk, err := VerificationKey(c.p, q, c.commits, j)
		if err != nil {
			t.Fatal(err)
		}
		if vk.Equal(ks.VerificationKey()) != 1 || vks[j].Equal(vk) != 1 {
			t.Fatalf("trustee %d: K_j != s_j·g", j)
		}
	}
	// The joint secret is the sum of the qualified dealers' constant terms (known here because the test holds
	// every dealer); any T key shares must interpolate to it.
	secret := group.NewScalar()
	for _, i := range q {
		secret.Add(secret, &c.dealers[i].coeffs[0])
	}
	if group.NewElement().ScalarBaseMult(secret).Equal(K) != 1 {
		t.Fatal("K is not the sum of the qualified constant terms times g")
	}
	forSubsets(c.p.N, c.p.T, func(set []int) {
		if got := interpolate(keyShares, set); got.Equal(secret) != 1 {
			t.Fatalf("shares %v do not reconstruct the secret", set)
		}
		if got := circlRecover(t, c.p.T, keyShares, set); got.Equal(secret) != 1 {
			t.Fatalf("circl's Recover on shares %v does not give the secret", set)
		}
	})
	if c.p.T > 1 {
		// T-1 shares: the interpolation of fewer shares is some other value.
		set := make([]int, c.p.T-1)
		for i := range set {
			set[i] = i + 1
		}
		if interpolate(keyShares, set).Equal(secret) == 1 {
			t.Fatal("T-1 shares gave the secret")
		}
	}
	return K, keyShares
}

// forSubsets calls f with every subset of [1, n] of size k, in increasing order.
func forSubsets(n, k int, f func([]int)) {
	set := make([]int, 0, k)
	var rec func(start int)
	rec = func(start int) {
		if len(set) == k {
			f(slices.Clone(set))
			return
		}
		for i := start; i <= n; i++ {
			set = append(set, i)
			rec(i + 1)
			set = set[:len(set)-1]
		}
	}
	rec(1)
}

// interpolate returns Σ_{j in set} λ_j·s_j with λ_j = Π_{m != j} m/(m-j).
func interpolate(ks map[int]*KeyShare, set []int) *group.Scalar {
	out := group.NewScalar()
	for _, j := range set {
		num, den := group.NewScalar().SetUint64(1), group.NewScalar().SetUint64(1)
		for _, m := range set {
			if m != j {
				num.Multiply(num, group.NewScalar().SetInt64(int64(m)))
				den.Multiply(den, group.NewScalar().SetInt64(int64(m-j)))
			}
		}
		l := num.Multiply(num, den.Invert(den))
		out.MultiplyAdd(l, &ks[j].Secret, out)
	}
	return out
}

func circlRecover(t *testing.T, threshold int, ks map[int]*KeyShare, set []int) *group.Scalar {
	var shares []secretsharing.Share
	for _, j := range set {
		shares = append(shares, secretsharing.Share{
			ID:    group.Circl.NewScalar().SetUint64(uint64(j)),
			Value: ks[j].Secret.ToCircl(),
		})
	}
	s, err := secretsharing.Recover(uint(threshold-1), shares)
	if err != nil {
		t.Fatal(err)
	}
	var out group.Scalar
	if _, err := out.FromCircl(s); err != nil {
		t.Fatal(err)
	}
	return &out
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func without(n int, drop ...int) []int {
	var out []int
	for i := 1; i <= n; i++ {
		if !slices.Contains(drop, i) {
			out = append(out, i)
		}
	}
	return out
}

func TestHonestCeremony(t *testing.T) {
	for _, nt := range [][2]int{{1, 1}, {3, 2}, {5, 3}, {4, 4}, {4, 1}} {
		p := Params{N: nt[0], T: nt[1], Election: election}
		t.Run(fmt.Sprintf("n=%d,t=%d", p.N, p.T), func(t *testing.T) {
			c := newCeremony(t, p, 1)
			for i, cm := range c.commits {
				if err := cm.Verify(p); err != nil {
					t.Fatalf("dealer %d's commitment: %v", i, err)
				}
			}
			complaints := c.complaints(c.honestAnswer)
			if len(complaints) != 0 {
				t.Fatalf("honest ceremony has complaints: %v", complaints)
			}
			c.finish(t, nil, all(p.N))
		})
	}
}

func TestDeterministic(t *testing.T) {
	p := Params{N: 3, T: 2, Election: election}
	a, b := newCeremony(t, p, 7), newCeremony(t, p, 7)
	for i := 1; i <= p.N; i++ {
		if !bytes.Equal(a.commits[i].Bytes(), b.commits[i].Bytes()) {
			t.Fatal("same seed, different commitments: some randomness does not come from the reader")
		}
	}
}

// A dealer sends a wrong share to one trustee. The trustee complains; the dealer either stands by the wrong
// share, gives no answer, or reveals the right one.
func TestBadShare(t *testing.T) {
	p := Params{N: 5, T: 3, Election: election}
	const cheat, victim = 2, 4
	for _, answer := range []string{"wrong", "none", "correct"} {
		t.Run(answer, func(t *testing.T) {
			c := newCeremony(t, p, 2)
			bad := group.NewScalar().Add(c.shares[victim][cheat], group.NewScalar().SetUint64(1))
			c.shares[victim][cheat] = bad
			if err := VerifyShare(p, c.commits[cheat], victim, bad); !errors.Is(err, ErrInvalidShare) {
				t.Fatalf("VerifyShare accepted the wrong share: %v", err)
			}
			if _, err := CombineShares(p, victim, all(p.N), c.shares[victim], c.commits); !errors.Is(err, ErrInvalidShare) {
				t.Fatalf("CombineShares accepted the wrong share: %v", err)
			}
			complaints := c.complaints(func(dealer, complainant int) *group.Scalar {
				switch answer {
				case "wrong":
					return bad
				case "none":
					return nil
				}
				return c.honestAnswer(dealer, complainant)
			})
			if len(complaints) != 1 || complaints[0].Dealer != cheat || complaints[0].Complainant != victim {
				t.Fatalf("complaints = %v, want one by %d against %d", complaints, victim, cheat)
			}
			guilty := ResolveComplaint(p, c.commits[cheat], victim, complaints[0].Revealed)
			if guilty != (answer != "correct") {
				t.Fatalf("ResolveComplaint = %v with answer %s", guilty, answer)
			}
			if answer == "correct" {
				c.finish(t, complaints, all(p.N))
				return
			}
			c.finish(t, complaints, without(p.N, cheat))
		})
	}
}

// A trustee complains against an honest dealer that sent it a good share.
func TestFalseComplaint(t *testing.T) {
	p := Params{N: 3, T: 2, Election: election}
	c := newCeremony(t, p, 3)
	complaints := []Complaint{{Complainant: 3, Dealer: 1, Revealed: c.honestAnswer(1, 3)}}
	if ResolveComplaint(p, c.commits[1], 3, complaints[0].Revealed) {
		t.Fatal("false complaint upheld")
	}
	// Void complaints: by the dealer against itself, from outside [1, N].
	for _, who := range []int{1, 0, 4, -1} {
		if ResolveComplaint(p, c.commits[1], who, nil) {
			t.Fatalf("void complaint by %d upheld", who)
		}
	}
	// Without an answer even a false complaint is upheld: the dealer had to answer.
	if !ResolveComplaint(p, c.commits[1], 3, nil) {
		t.Fatal("unanswered complaint not upheld")
	}
	if !ResolveComplaint(p, nil, 3, c.honestAnswer(1, 3)) {
		t.Fatal("complaint against a dealer without commitment not upheld")
	}
	c.finish(t, append(complaints, Complaint{Complainant: 1, Dealer: 1}, Complaint{Complainant: 9, Dealer: 2},
		Complaint{Complainant: 2, Dealer: 9}), all(p.N))
}

// Each way of breaking a commitment is caught by Verify, and the dealer is left out of the qualified set.
func TestBadCommitment(t *testing.T) {
	p := Params{N: 5, T: 3, Election: election}
	const cheat = 3
	// decodes: whether the broken commitment still decodes (its defect is in the proofs, which only Verify checks).
	cases := []struct {
		name    string
		decodes bool
		breakIt func(c *ceremony)
	}{
		{"coefficient replaced", true, func(c *ceremony) {
			cm := c.commits[cheat]
			cm.Coefficients[1].Add(&cm.Coefficients[1], group.Generator())
		}},
		{"proof of one coefficient", true, func(c *ceremony) {
			cm := c.commits[cheat]
			cm.Proofs[2].Z.Add(&cm.Proofs[2].Z, group.NewScalar().SetUint64(1))
		}},
		{"proofs swapped", true, func(c *ceremony) {
			cm := c.commits[cheat]
			cm.Proofs[0], cm.Proofs[1] = cm.Proofs[1], cm.Proofs[0]
		}},
		{"too few coefficients", false, func(c *ceremony) {
			cm := c.commits[cheat]
			cm.Coefficients, cm.Proofs = cm.Coefficients[:p.T-1], cm.Proofs[:p.T-1]
		}},
		{"too many coefficients", false, func(c *ceremony) {
			// A dealer with a degree-T polynomial (T+1 coefficients, all proven).
			d, err := NewDealer(Params{N: p.N, T: p.T + 1, Election: election}, cheat, testRand(99))
			if err != nil {
				panic(err)
			}
			c.commits[cheat] = d.Commitment()
			for to := 1; to <= p.N; to++ {
				c.shares[to][cheat] = d.Share(to)
			}
		}},
		{"identity coefficient", false, func(c *ceremony) {
			cm := c.commits[cheat]
			cm.Coefficients[2].Set(group.NewElement())
		}},
		{"mismatched proofs", false, func(c *ceremony) {
			cm := c.commits[cheat]
			cm.Proofs = cm.Proofs[:p.T-1]
		}},
		// Another dealer's commitment, copied under the cheat's number (a rogue-key attempt on C_0): the proofs
		// are bound to the dealer's number.
		{"copied from dealer 1", true, func(c *ceremony) {
			cm := c.commits[1].clone()
			cm.Dealer = cheat
			c.commits[cheat] = cm
			for to := 1; to <= p.N; to++ {
				c.shares[to][cheat] = c.dealers[1].Share(to)
			}
		}},
		{"proof from another election", true, func(c *ceremony) {
			d, err := NewDealer(Params{N: p.N, T: p.T, Election: []byte("another election")}, cheat, testRand(98))
			if err != nil {
				panic(err)
			}
			c.commits[cheat] = d.Commitment()
			for to := 1; to <= p.N; to++ {
				c.shares[to][cheat] = d.Share(to)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCeremony(t, p, 4)
			tc.breakIt(c)
			if err := c.commits[cheat].Verify(p); !errors.Is(err, ErrInvalidCommitment) {
				t.Fatalf("Verify: %v, want ErrInvalidCommitment", err)
			}
			if enc := c.commits[cheat].Bytes(); enc != nil {
				if _, err := ParseCommitment(enc, p); (err == nil) != tc.decodes {
					t.Fatalf("ParseCommitment: %v", err)
				}
			}
			// Anyone's complaint against the cheat is upheld, whatever it answers.
			if !ResolveComplaint(p, c.commits[cheat], 1, c.shares[1][cheat]) {
				t.Fatal("complaint against a dealer with an invalid commitment not upheld")
			}
			q, dq, err := Qualified(p, c.commits, nil)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(q, cheat) || len(dq) != 1 || dq[0].Dealer != cheat || !errors.Is(dq[0].Reason, ErrInvalidCommitment) {
				t.Fatalf("qualified %v, disqualified %v", q, dq)
			}
			c.finish(t, c.complaints(c.honestAnswer), without(p.N, cheat))
		})
	}
}

func TestQualifiedEdgeCases(t *testing.T) {
	p := Params{N: 3, T: 2, Election: election}
	c := newCeremony(t, p, 5)
	commits := map[int]*Commitment{1: c.commits[1], 2: c.commits[2]}
	q, dq, err := Qualified(p, commits, nil)
	if err != nil || !slices.Equal(q, []int{1, 2}) || len(dq) != 1 || !errors.Is(dq[0].Reason, ErrMissingCommitment) {
		t.Fatalf("missing commitment: %v %v %v", q, dq, err)
	}
	// A commitment filed under the wrong number.
	commits[3] = c.commits[1]
	if q, _, _ := Qualified(p, commits, nil); !slices.Equal(q, []int{1, 2}) {
		t.Fatalf("misfiled commitment qualified: %v", q)
	}
	// Two upheld complaints leave one dealer: below the threshold.
	complaints := []Complaint{{Complainant: 3, Dealer: 1}, {Complainant: 3, Dealer: 2}}
	commits[3] = c.commits[3]
	q, dq, err = Qualified(p, commits, complaints)
	if !errors.Is(err, ErrTooFewQualified) || !slices.Equal(q, []int{3}) || len(dq) != 2 {
		t.Fatalf("too few: %v %v %v", q, dq, err)
	}
	if _, _, err := Qualified(Params{N: 3, T: 4, Election: election}, commits, nil); !errors.Is(err, ErrParams) {
		t.Fatal("bad params accepted")
	}
}

func TestParamsAndIndices(t *testing.T) {
	for _, p := range []Params{{0, 0, election}, {3, 0, election}, {2, 3, election}, {256, 2, election}, {3, 2, nil}} {
		if err := p.Validate(); !errors.Is(err, ErrParams) {
			t.Errorf("%+v accepted", p)
		}
		if _, err := NewDealer(p, 1, nil); err == nil {
			t.Errorf("NewDealer with %+v accepted", p)
		}
	}
	if err := (Params{255, 255, election}).Validate(); err != nil {
		t.Error(err)
	}
	p := Params{N: 3, T: 2, Election: election}
	for _, i := range []int{0, 4, -1} {
		if _, err := NewDealer(p, i, nil); err == nil {
			t.Errorf("dealer %d accepted", i)
		}
	}
	c := newCeremony(t, p, 6)
	d := c.dealers[1]
	if d.Share(0) != nil || d.Share(4) != nil {
		t.Error("share for a non-trustee")
	}
	if err := VerifyShare(p, c.commits[1], 4, d.Share(3)); err == nil {
		t.Error("VerifyShare for a non-trustee")
	}
	if err := VerifyShare(p, c.commits[1], 2, nil); err == nil {
		t.Error("VerifyShare with no share")
	}
	if err := VerifyShare(p, nil, 2, d.Share(2)); err == nil {
		t.Error("VerifyShare with no commitment")
	}
	if _, err := NewDealer(p, 1, bytes.NewReader(make([]byte, 100))); err == nil {
		t.Error("short randomness accepted")
	}
	q := all(3)
	for _, bad := range [][]int{nil, {1, 1}, {0, 1}, {1, 4}} {
		if _, err := JointKey(bad, c.commits); !errors.Is(err, ErrQualified) {
			t.Errorf("JointKey accepted %v", bad)
		}
		if _, err := VerificationKey(p, bad, c.commits, 1); !errors.Is(err, ErrQualified) {
			t.Errorf("VerificationKey accepted qualified set %v: %v", bad, err)
		}
		if _, err := CombineShares(p, 1, bad, c.shares[1], c.commits); !errors.Is(err, ErrQualified) {
			t.Errorf("CombineShares accepted qualified set %v: %v", bad, err)
		}
	}
	if _, err := VerificationKey(p, q, c.commits, 4); err == nil {
		t.Error("verification key of a non-trustee")
	}
	if _, err := CombineShares(p, 1, q, map[int]*group.Scalar{1: c.shares[1][1]}, c.commits); !errors.Is(err, ErrInvalidShare) {
		t.Errorf("CombineShares with missing shares: %v", err)
	}
	if _, err := JointKey(q, map[int]*Commitment{1: c.commits[1]}); !errors.Is(err, ErrQualified) {
		t.Errorf("JointKey with missing commitments: %v", err)
	}
	// Commitments whose constant terms cancel give the identity as joint key.
	neg := c.commits[1].clone()
	neg.Dealer = 2
	neg.Coefficients[0].Negate(&neg.Coefficients[0])
	if _, err := JointKey([]int{1, 2}, map[int]*Commitment{1: c.commits[1], 2: neg}); !errors.Is(err, group.ErrIdentity) {
		t.Errorf("identity joint key: %v", err)
	}
	d.Erase()
	if d.Share(1) != nil {
		t.Error("erased dealer still shares")
	}
}

func TestCoefficientContext(t *testing.T) {
	p := Params{N: 3, T: 2, Election: election}
	ctx := CoefficientContext(p, 258, 3)
	if !bytes.Equal(ctx.Bind, []byte{'d', 'k', 'g', 1, 2, 0, 3}) || !bytes.Equal(ctx.Election, election) {
		t.Fatalf("context %+v", ctx)
	}
}

func TestCommitmentEncoding(t *testing.T) {
	p := Params{N: 3, T: 2, Election: election}
	c := newCeremony(t, p, 8)
	enc := c.commits[2].Bytes()
	if len(enc) != CommitmentSize(p.T) || len(enc) != 4+96*2 {
		t.Fatalf("length %d", len(enc))
	}
	if !bytes.Equal(enc[:4], []byte{0, 2, 0, 2}) {
		t.Fatalf("header %x", enc[:4])
	}
	got, err := ParseCommitment(enc, p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), enc) || got.Verify(p) != nil {
		t.Fatal("round trip")
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(enc)) }
	bad := map[string][]byte{
		"short":                  enc[:len(enc)-1],
		"long":                   append(bytes.Clone(enc), 0),
		"dealer 0":               mutate(func(b []byte) []byte { b[1] = 0; return b }),
		"dealer 4":               mutate(func(b []byte) []byte { b[1] = 4; return b }),
		"dealer 256+2":           mutate(func(b []byte) []byte { b[0] = 1; return b }),
		"T field":                mutate(func(b []byte) []byte { b[3] = 3; return b }),
		"identity C_1":           mutate(func(b []byte) []byte { copy(b[4+96:4+96+32], make([]byte, 32)); return b }),
		"non-canonical C_0":      mutate(func(b []byte) []byte { b[4+31] |= 0x80; return b }),
		"non-canonical z_0":      mutate(func(b []byte) []byte { copy(b[4+64:4+96], bytes.Repeat([]byte{0xff}, 32)); return b }),
		"non-canonical c_1":      mutate(func(b []byte) []byte { copy(b[4+96+32:4+96+64], bytes.Repeat([]byte{0xff}, 32)); return b }),
		"empty":                  nil,
		"length of T=3 ceremony": make([]byte, CommitmentSize(3)),
	}
	for name, b := range bad {
		if _, err := ParseCommitment(b, p); !errors.Is(err, ErrCommitmentEncoding) {
			t.Errorf("%s: %v, want ErrCommitmentEncoding", name, err)
		}
	}
	if _, err := ParseCommitment(enc, Params{N: 3, T: 0, Election: election}); !errors.Is(err, ErrParams) {
		t.Error("bad params")
	}
	// A decoded commitment with a tampered proof decodes but does not verify.
	tampered := mutate(func(b []byte) []byte { b[4+32] ^= 1; return b })
	if cm, err := ParseCommitment(tampered, p); err == nil && cm.Verify(p) == nil {
		t.Error("tampered proof verified")
	}
	if (&Commitment{Dealer: 1, Coefficients: make([]group.Element, 2), Proofs: make([]zkp.SchnorrProof, 1)}).Bytes() != nil {
		t.Error("mismatched lengths encoded")
	}
	if (&Commitment{Dealer: -1}).Bytes() != nil {
		t.Error("negative dealer encoded")
	}
}

func TestKeyShareEncoding(t *testing.T) {
	ks := &KeyShare{Index: 7}
	s, _ := group.RandomScalar(nil)
	ks.Secret.Set(s)
	enc := ks.Bytes()
	if len(enc) != KeyShareSize || !bytes.Equal(enc[:2], []byte{0, 7}) {
		t.Fatalf("encoding %x", enc)
	}
	got, err := ParseKeyShare(enc)
	if err != nil || got.Index != 7 || got.Secret.Equal(s) != 1 {
		t.Fatalf("round trip: %v", err)
	}
	for name, b := range map[string][]byte{
		"short":         enc[:33],
		"long":          append(bytes.Clone(enc), 0),
		"index 0":       append([]byte{0, 0}, enc[2:]...),
		"index 256":     append([]byte{1, 0}, enc[2:]...),
		"non-canonical": append([]byte{0, 1}, bytes.Repeat([]byte{0xff}, 32)...),
	} {
		if _, err := ParseKeyShare(b); !errors.Is(err, ErrKeyShareEncoding) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
	ks.Erase()
	if !ks.Secret.IsZero() {
		t.Error("Erase")
	}
}

// The Feldman check through circl agrees with the direct computation Σ_k to^k·C_k.
func TestVerifyShareAgainstDirect(t *testing.T) {
	p := Params{N: 5, T: 3, Election: election}
	c := newCeremony(t, p, 9)
	for to := 1; to <= p.N; to++ {
		cm := c.commits[2]
		d := make([]*group.Element, p.T)
		for k := range d {
			d[k] = &cm.Coefficients[k]
		}
		direct := group.NewElement().VarTimeMultiScalarMult(powers(to, p.T), d)
		if direct.Equal(group.NewElement().ScalarBaseMult(c.shares[to][2])) != 1 {
			t.Fatalf("share to %d: direct check fails", to)
		}
		if err := VerifyShare(p, cm, to, c.shares[to][2]); err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzParseCommitment(f *testing.F) {
	p := Params{N: 3, T: 2, Election: election}
	d, err := NewDealer(p, 2, testRand(10))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(d.Commitment().Bytes())
	f.Add(make([]byte, CommitmentSize(2)))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommitment(b, p)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatalf("accepted %x, which re-encodes to %x", b, c.Bytes())
		}
		_ = c.Verify(p)
		_ = VerifyShare(p, c, 1, group.NewScalar())
	})
}

func FuzzParseKeyShare(f *testing.F) {
	f.Add((&KeyShare{Index: 1}).Bytes())
	f.Add(make([]byte, KeyShareSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := ParseKeyShare(b)
		if err != nil {
			return
		}
		if !bytes.Equal(ks.Bytes(), b) {
			t.Fatalf("accepted %x, which re-encodes to %x", b, ks.Bytes())
		}
	})
}

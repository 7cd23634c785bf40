package zkp

// Batch verification of range proofs, measured (issue 15): a prototype, in a test file only, of the proof form
// that batch verification needs and of its verifier, with the benchmark that compares it with today's verifier on
// the demo's ballot. Adopting the committed form would change the record's format (election/, docs/record.md,
// verify, the vectors): issue 15 decides it from this benchmark's figures.
//
// Today's proofs are (c_j, v_j) per value: the verifier recomputes each commitment a_j, b_j with its own
// multiplication, because the challenge hashes them. To check all the equations of a ballot (or of many) with one
// multi-scalar multiplication, as hdevalence/ed25519consensus does for signatures, the verifier must be given the
// commitments: the prototype's proof is a_j || b_j || c_j || v_j per value (128 bytes instead of 64). The verifier
// decodes every a_j and b_j, checks Σ c_j against the challenge over the commitments as sent, and then checks, for
// random 128-bit weights α_j, β_j, the one equation
//
//	Σ_j α_j·a_j + β_j·b_j - (Σ_j α_j·v_j)·g - (Σ_j β_j·(v_j + j·c_j))·K + Σ_ct (Σ α_j·c_j)·A_ct + (Σ β_j·c_j)·B_ct = 0
//
// (the weights go on the commitments, so that their scalars stay 128 bits long; a contest-total proof's A and B
// are sums of the options' ciphertexts, so its coefficients are added to each option's instead of adding points).

import (
	"crypto/ed25519"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/fastpath"
	"github.com/recount-vote/recount/crypto/signature"
	"github.com/recount-vote/recount/internal/drbg"
)

// proveRangeCommitted is ProveRange, returning the proof in the prototype's committed form:
// a_j || b_j || c_j || v_j for j = min, ..., max.
func proveRangeCommitted(ctx Context, pk *elgamal.PublicKey, ct *elgamal.Ciphertext, m uint64, nonce *group.Scalar, min, max uint64) ([]byte, error) {
	n, err := checkProverInput(m, min, max)
	if err != nil {
		return nil, err
	}
	rnd, err := readRandomness(nil, 128*n)
	if err != nil {
		return nil, err
	}
	p := &rangeProver{min: min, max: max, m: m}
	p.nonce.Set(nonce)
	uHalf, tHalf := p.commit(rnd)
	gPts, kPts := commitments(pk, uHalf, tHalf)
	pts := make([]*group.Element, 0, 2*n)
	for i := range gPts {
		pts = append(pts, gPts[i], kPts[i])
	}
	enc := fastpath.AppendDoubledBytes(make([]byte, 0, 64*n), pts...)
	t := rangeTranscript(ctx, pk.AppendBytes(nil), ct.A.Bytes(), ct.B.Bytes(), min, max)
	proof := p.respond(t, enc)
	out := make([]byte, 0, 128*n)
	for i := 0; i < n; i++ {
		out = append(out, enc[64*i:64*i+64]...)
		out = append(out, proof.c[i].Bytes()...)
		out = append(out, proof.v[i].Bytes()...)
	}
	return out, nil
}

// rangeBatch accumulates the equations of committed range proofs into one multi-scalar multiplication.
// Ciphertexts are registered with addCiphertext; a proof is over the sum of one or more of them.
type rangeBatch struct {
	pk     *elgamal.PublicKey
	rng    *rand.ChaCha8
	g, k   group.Scalar     // coefficients of g and K
	cts    []*group.Element // A_0, B_0, A_1, B_1, ...
	ctCoef []group.Scalar   // their coefficients
	pts    []*group.Element // the commitments a_j, b_j
	weight []group.Scalar   // their weights α_j, β_j
}

func newRangeBatch(pk *elgamal.PublicKey) *rangeBatch {
	var seed [32]byte
	crand.Read(seed[:])
	return &rangeBatch{pk: pk, rng: rand.NewChaCha8(seed)}
}

// addCiphertext registers ct and returns its index for add.
func (bt *rangeBatch) addCiphertext(ct *elgamal.Ciphertext) int {
	bt.cts = append(bt.cts, &ct.A, &ct.B)
	bt.ctCoef = append(bt.ctCoef, group.Scalar{}, group.Scalar{})
	return len(bt.cts)/2 - 1
}

func (bt *rangeBatch) randomWeight(s *group.Scalar) {
	var b [32]byte
	bt.rng.Read(b[:16])
	if _, err := s.SetCanonicalBytes(b[:]); err != nil {
		panic(err) // unreachable: below 2^128
	}
}

var errBatch = errors.New("zkp: batch: invalid proof")

// add decodes the committed proof, checks its challenge, and adds its equations to the batch. ct is the
// ciphertext the proof is about (for the transcript), the sum of the registered ciphertexts sum.
func (bt *rangeBatch) add(ctx Context, ct *elgamal.Ciphertext, sum []int, proof []byte, min, max uint64) error {
	n, err := rangeSize(min, max)
	if err != nil {
		return err
	}
	if len(proof) != 128*n {
		return ErrProofEncoding
	}
	t := rangeTranscript(ctx, bt.pk.AppendBytes(nil), ct.A.Bytes(), ct.B.Bytes(), min, max)
	sumC := group.NewScalar()
	var c, v, alpha, beta, tmp, j group.Scalar
	var aCoef, bCoef group.Scalar
	for i := 0; i < n; i++ {
		rec := proof[128*i : 128*i+128]
		a, err := group.NewElement().SetCanonicalBytes(rec[0:32])
		if err != nil {
			return err
		}
		b, err := group.NewElement().SetCanonicalBytes(rec[32:64])
		if err != nil {
			return err
		}
		if _, err := c.SetCanonicalBytes(rec[64:96]); err != nil {
			return ErrProofEncoding
		}
		if _, err := v.SetCanonicalBytes(rec[96:128]); err != nil {
			return ErrProofEncoding
		}
		t.AppendBytes("a", rec[0:32])
		t.AppendBytes("b", rec[32:64])
		sumC.Add(sumC, &c)
		bt.randomWeight(&alpha)
		bt.randomWeight(&beta)
		bt.pts = append(bt.pts, a, b)
		bt.weight = append(bt.weight, alpha, beta)
		// g: -α·v; A: +α·c; K: -β·(v + j·c); B: +β·c.
		tmp.Multiply(&alpha, &v)
		bt.g.Subtract(&bt.g, &tmp)
		aCoef.MultiplyAdd(&alpha, &c, &aCoef)
		bCoef.MultiplyAdd(&beta, &c, &bCoef)
		tmp.MultiplyAdd(&c, j.SetUint64(min+uint64(i)), &v)
		tmp.Multiply(&tmp, &beta)
		bt.k.Subtract(&bt.k, &tmp)
	}
	if t.Challenge("c").Equal(sumC) != 1 {
		return fmt.Errorf("%w: challenge mismatch", errBatch)
	}
	for _, i := range sum {
		bt.ctCoef[2*i].Add(&bt.ctCoef[2*i], &aCoef)
		bt.ctCoef[2*i+1].Add(&bt.ctCoef[2*i+1], &bCoef)
	}
	return nil
}

// verify checks the batch's one equation.
func (bt *rangeBatch) verify() error {
	n := 2 + len(bt.cts) + len(bt.pts)
	scalars := make([]*group.Scalar, 0, n)
	points := make([]*group.Element, 0, n)
	scalars = append(scalars, &bt.g, &bt.k)
	points = append(points, group.Generator(), bt.pk.Element())
	for i := range bt.cts {
		scalars = append(scalars, &bt.ctCoef[i])
		points = append(points, bt.cts[i])
	}
	for i := range bt.pts {
		scalars = append(scalars, &bt.weight[i])
		points = append(points, bt.pts[i])
	}
	if !group.NewElement().VarTimeMultiScalarMult(scalars, points).IsIdentity() {
		return errBatch
	}
	return nil
}

// The demo's ballot (cmd/recount/demo.go): an exactly-1 of 4, an approval of 0 to 3 of 6, and a score 0..5 of 4
// options with a total of at most 12. Every option has a range proof [0, OptionMax], and each contest a total
// proof (the approval's and score's totals are limited below what the options allow): 62 values in all.
type demoContest struct {
	options            int
	optionMax          uint64
	totalMin, totalMax uint64
	choices            []uint64
}

var demoShape = []demoContest{
	{options: 4, optionMax: 1, totalMin: 1, totalMax: 1, choices: []uint64{0, 1, 0, 0}},
	{options: 6, optionMax: 1, totalMin: 0, totalMax: 3, choices: []uint64{1, 0, 1, 0, 0, 1}},
	{options: 4, optionMax: 5, totalMin: 0, totalMax: 12, choices: []uint64{5, 2, 0, 4}},
}

// demoBallot is the demo's ballot in both proof forms, with what the verifier gets as bytes: the ciphertexts'
// encodings, the proofs, and a signature by the credential over all of it (the ballot's body).
type demoBallot struct {
	cts       [][][]byte // cts[c][o]: 64-byte ciphertext
	proofs    [][][]byte // today's form: option proofs, then the total proof last
	committed [][][]byte // the committed form, same order
	body, sig []byte
	pub       ed25519.PublicKey
}

func bindContext(c, o int) Context {
	return Context{Election: testCtx.Election, Bind: []byte{byte(c), byte(o)}}
}

func makeDemoBallot(tb testing.TB, pk *elgamal.PublicKey, r *drbg.DRBG) *demoBallot {
	d := &demoBallot{}
	pub, priv, _ := ed25519.GenerateKey(r)
	d.pub = pub
	for c, dc := range demoShape {
		sum := elgamal.NewCiphertext()
		sumNonce := group.NewScalar()
		var total uint64
		var cts, proofs, committed [][]byte
		for o, m := range dc.choices {
			ct, nonce, err := pk.EncryptRandom(m, r)
			if err != nil {
				tb.Fatal(err)
			}
			p, err := ProveRange(bindContext(c, o), pk, ct, m, nonce, 0, dc.optionMax, r)
			if err != nil {
				tb.Fatal(err)
			}
			cp, err := proveRangeCommitted(bindContext(c, o), pk, ct, m, nonce, 0, dc.optionMax)
			if err != nil {
				tb.Fatal(err)
			}
			cts = append(cts, ct.Bytes())
			proofs = append(proofs, p.Bytes())
			committed = append(committed, cp)
			sum.Add(sum, ct)
			sumNonce.Add(sumNonce, nonce)
			total += m
		}
		p, err := ProveRange(bindContext(c, 255), pk, sum, total, sumNonce, dc.totalMin, dc.totalMax, r)
		if err != nil {
			tb.Fatal(err)
		}
		cp, err := proveRangeCommitted(bindContext(c, 255), pk, sum, total, sumNonce, dc.totalMin, dc.totalMax)
		if err != nil {
			tb.Fatal(err)
		}
		d.cts = append(d.cts, cts)
		d.proofs = append(d.proofs, append(proofs, p.Bytes()))
		d.committed = append(d.committed, append(committed, cp))
	}
	d.signBody(priv, false)
	return d
}

// signBody sets the body to the ciphertexts and the proofs of one form, and signs it.
func (d *demoBallot) signBody(priv ed25519.PrivateKey, committed bool) {
	d.body = nil
	src := d.proofs
	if committed {
		src = d.committed
	}
	for c := range d.cts {
		for _, ct := range d.cts[c] {
			d.body = append(d.body, ct...)
		}
		for _, p := range src[c] {
			d.body = append(d.body, p...)
		}
	}
	d.sig = ed25519.Sign(priv, d.body)
}

func (d *demoBallot) decodeCiphertexts() ([][]*elgamal.Ciphertext, error) {
	out := make([][]*elgamal.Ciphertext, len(d.cts))
	for c := range d.cts {
		for _, b := range d.cts[c] {
			ct, err := new(elgamal.Ciphertext).SetCanonicalBytes(b)
			if err != nil {
				return nil, err
			}
			out[c] = append(out[c], ct)
		}
	}
	return out, nil
}

// verifySingle is today's check of the ballot: signature, ciphertexts decoded, each proof parsed and verified.
func (d *demoBallot) verifySingle(pk *elgamal.PublicKey) error {
	if err := signature.Verify(d.pub, d.body, d.sig); err != nil {
		return err
	}
	cts, err := d.decodeCiphertexts()
	if err != nil {
		return err
	}
	for c, dc := range demoShape {
		sum := elgamal.NewCiphertext()
		for o, ct := range cts[c] {
			p, err := ParseRangeProof(d.proofs[c][o], 0, dc.optionMax)
			if err != nil {
				return err
			}
			if err := p.Verify(bindContext(c, o), pk, ct, 0, dc.optionMax); err != nil {
				return err
			}
			sum.Add(sum, ct)
		}
		p, err := ParseRangeProof(d.proofs[c][dc.options], dc.totalMin, dc.totalMax)
		if err != nil {
			return err
		}
		if err := p.Verify(bindContext(c, 255), pk, sum, dc.totalMin, dc.totalMax); err != nil {
			return err
		}
	}
	return nil
}

// addTo checks the ballot's signature and challenges and adds its proofs' equations to bt.
func (d *demoBallot) addTo(bt *rangeBatch) error {
	if err := signature.Verify(d.pub, d.body, d.sig); err != nil {
		return err
	}
	cts, err := d.decodeCiphertexts()
	if err != nil {
		return err
	}
	for c, dc := range demoShape {
		sum := elgamal.NewCiphertext()
		idx := make([]int, 0, dc.options)
		for o, ct := range cts[c] {
			i := bt.addCiphertext(ct)
			idx = append(idx, i)
			if err := bt.add(bindContext(c, o), ct, []int{i}, d.committed[c][o], 0, dc.optionMax); err != nil {
				return err
			}
			sum.Add(sum, ct)
		}
		if err := bt.add(bindContext(c, 255), sum, idx, d.committed[c][dc.options], dc.totalMin, dc.totalMax); err != nil {
			return err
		}
	}
	return nil
}

// verifyBatched is the ballot's check with its proofs batched into one multiplication.
func (d *demoBallot) verifyBatched(pk *elgamal.PublicKey) error {
	bt := newRangeBatch(pk)
	if err := d.addTo(bt); err != nil {
		return err
	}
	return bt.verify()
}

func demoBallots(tb testing.TB, n int) (*elgamal.PublicKey, []*demoBallot, []*demoBallot) {
	r := drbg.New("zkp batch benchmark")
	_, pk, err := elgamal.GenerateKey(r)
	if err != nil {
		tb.Fatal(err)
	}
	pk.VarTimeTable()
	single := make([]*demoBallot, n)
	batched := make([]*demoBallot, n)
	for i := range single {
		d := makeDemoBallot(tb, pk, r)
		single[i] = d
		// The same ballot signed over its committed-form body (about twice the bytes of proofs).
		priv := ed25519.NewKeyFromSeed(drbgSeed(r))
		cp := *d
		cp.pub = priv.Public().(ed25519.PublicKey)
		cp.signBody(priv, true)
		batched[i] = &cp
	}
	return pk, single, batched
}

func drbgSeed(r *drbg.DRBG) []byte {
	b := make([]byte, ed25519.SeedSize)
	r.Read(b)
	return b
}

// TestRangeBatch checks the prototype: honest ballots pass, alone and together, and a ballot with one scalar or
// one commitment changed fails, alone and inside a batch of honest ones.
func TestRangeBatch(t *testing.T) {
	pk, single, batched := demoBallots(t, 3)
	for i := range single {
		if err := single[i].verifySingle(pk); err != nil {
			t.Fatalf("ballot %d, today's form: %v", i, err)
		}
		if err := batched[i].verifyBatched(pk); err != nil {
			t.Fatalf("ballot %d, committed form: %v", i, err)
		}
	}
	bt := newRangeBatch(pk)
	for _, d := range batched {
		if err := d.addTo(bt); err != nil {
			t.Fatal(err)
		}
	}
	if err := bt.verify(); err != nil {
		t.Fatalf("three honest ballots in one batch: %v", err)
	}

	// A changed response v_j leaves the challenge as it was (v_j is not hashed) and breaks only the batched
	// equation; a changed commitment breaks the challenge (or the decoding).
	bad := *batched[1]
	bad.committed = cloneProofs(bad.committed)
	bad.committed[2][1][100] ^= 1 // a low byte of v_min
	if err := bad.verifyBatched(pk); err == nil {
		t.Fatal("a changed response passed the batched check")
	}
	bt = newRangeBatch(pk)
	for _, d := range []*demoBallot{batched[0], &bad, batched[2]} {
		if err := d.addTo(bt); err != nil {
			t.Fatal(err)
		}
	}
	if err := bt.verify(); err == nil {
		t.Fatal("a changed response passed inside a batch of honest ballots")
	}
	bad2 := *batched[1]
	bad2.committed = cloneProofs(bad2.committed)
	bad2.committed[0][0][10] ^= 1 // a byte of a_min
	if err := bad2.verifyBatched(pk); err == nil {
		t.Fatal("a changed commitment passed the batched check")
	}
}

func cloneProofs(p [][][]byte) [][][]byte {
	out := make([][][]byte, len(p))
	for c := range p {
		for _, b := range p[c] {
			out[c] = append(out[c], append([]byte(nil), b...))
		}
	}
	return out
}

// report reports ballots/s (wall clock), ballots per CPU-second (the process's CPU time: with -cpu 1 the
// benchmark's own work, steadier than the wall clock on a shared machine) and the ballot's size, for a loop
// that checked perOp ballots per iteration since the process had used cpu0 ns of CPU.
func report(b *testing.B, perOp int, cpu0 int64, size int) {
	ballots := float64(perOp * b.N)
	b.ReportMetric(ballots/b.Elapsed().Seconds(), "ballots/s")
	if cpu := processCPUTime() - cpu0; cpu0 != 0 && cpu > 0 {
		b.ReportMetric(ballots/(float64(cpu)/1e9), "ballots/cpu-s")
	}
	b.ReportMetric(float64(size), "bytes/ballot")
}

// BenchmarkDemoBallotVerify compares, on the demo's ballot (62 range-proof values), today's check with the
// prototype's batched one: per ballot, the credential's signature, the 14 ciphertexts decoded, and the 17 range
// proofs parsed and verified (one at a time; or all in one multi-scalar multiplication; or, for batched64, the
// proofs of 64 ballots in one). ballots/s is per core: run with -cpu 1.
//
//	go test -run '^$' -bench DemoBallotVerify -cpu 1 -count 6 ./crypto/zkp | tee /tmp/batch.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /form /tmp/batch.txt
func BenchmarkDemoBallotVerify(b *testing.B) {
	const many = 64
	pk, single, batched := demoBallots(b, many)
	b.Run("form=single", func(b *testing.B) {
		i, cpu0 := 0, processCPUTime()
		for b.Loop() {
			if err := single[i%many].verifySingle(pk); err != nil {
				b.Fatal(err)
			}
			i++
		}
		report(b, 1, cpu0, len(single[0].body))
	})
	b.Run("form=batched", func(b *testing.B) {
		i, cpu0 := 0, processCPUTime()
		for b.Loop() {
			if err := batched[i%many].verifyBatched(pk); err != nil {
				b.Fatal(err)
			}
			i++
		}
		report(b, 1, cpu0, len(batched[0].body))
	})
	b.Run("form=batched64", func(b *testing.B) {
		cpu0 := processCPUTime()
		for b.Loop() {
			bt := newRangeBatch(pk)
			for _, d := range batched {
				if err := d.addTo(bt); err != nil {
					b.Fatal(err)
				}
			}
			if err := bt.verify(); err != nil {
				b.Fatal(err)
			}
		}
		report(b, many, cpu0, len(batched[0].body))
	})
}

package zkp

// RangeBatch against the one-at-a-time verifiers (RangeProof.Verify, and refVerifyRange, the verifier of the
// challenge form that recomputes every commitment), on the demo's ballot; and the benchmark that decided issue
// 15's adoption of the committed form.

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/signature"
	"github.com/recount-vote/recount/internal/drbg"
)

// The demo's ballot (cmd/recount/demo.go): an exactly-1 of 4, an approval of 0 to 3 of 6, and a score 0..5 of 4
// options with a total of at most 12. Every option has a range proof [0, OptionMax], and each contest a total
// proof (the approval's and score's totals are limited below what the options allow): 17 proofs, 62 values.
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

// demoBallot is the demo's ballot as the verifier gets it: the ciphertexts' encodings, the proofs' (options
// first, then the contest's total), and a signature by the credential over all of it (the ballot's body).
type demoBallot struct {
	cts       [][][]byte // cts[c][o]: 64-byte ciphertext
	proofs    [][][]byte // proofs[c][o]; proofs[c][options] is the total's
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
		var cts, proofs [][]byte
		for o, m := range dc.choices {
			ct, nonce, p, err := EncryptInRange(bindContext(c, o), pk, m, 0, dc.optionMax, r)
			if err != nil {
				tb.Fatal(err)
			}
			cts = append(cts, ct.Bytes())
			proofs = append(proofs, p.Bytes())
			sum.Add(sum, ct)
			sumNonce.Add(sumNonce, nonce)
			total += m
		}
		p, err := ProveRange(bindContext(c, 255), pk, sum, total, sumNonce, dc.totalMin, dc.totalMax, r)
		if err != nil {
			tb.Fatal(err)
		}
		d.cts = append(d.cts, cts)
		d.proofs = append(d.proofs, append(proofs, p.Bytes()))
	}
	for c := range d.cts {
		for _, ct := range d.cts[c] {
			d.body = append(d.body, ct...)
		}
		for _, p := range d.proofs[c] {
			d.body = append(d.body, p...)
		}
	}
	d.sig = ed25519.Sign(priv, d.body)
	return d
}

// rangeStatement is one proof of a ballot with its statement: ct (the sum of parts) encrypts a value in
// [min, max] in ctx.
type rangeStatement struct {
	ctx      Context
	p        *RangeProof
	ct       *elgamal.Ciphertext
	enc      []byte // ct's encoding as the ballot carries it, for an option's proof
	parts    []*elgamal.Ciphertext
	min, max uint64
}

// statements decodes the ballot's ciphertexts and proofs, in the ballot's order.
func (d *demoBallot) statements() ([]rangeStatement, error) {
	var out []rangeStatement
	for c, dc := range demoShape {
		var cts []*elgamal.Ciphertext
		sum := elgamal.NewCiphertext()
		for o, b := range d.cts[c] {
			ct, err := new(elgamal.Ciphertext).SetCanonicalBytes(b)
			if err != nil {
				return nil, err
			}
			p, err := ParseRangeProof(d.proofs[c][o], 0, dc.optionMax)
			if err != nil {
				return nil, err
			}
			cts = append(cts, ct)
			sum.Add(sum, ct)
			out = append(out, rangeStatement{bindContext(c, o), p, ct, b, []*elgamal.Ciphertext{ct}, 0, dc.optionMax})
		}
		p, err := ParseRangeProof(d.proofs[c][dc.options], dc.totalMin, dc.totalMax)
		if err != nil {
			return nil, err
		}
		out = append(out, rangeStatement{bindContext(c, 255), p, sum, nil, cts, dc.totalMin, dc.totalMax})
	}
	return out, nil
}

// verifyEach checks the statements one at a time with RangeProof.Verify and returns the first that fails.
func verifyEach(pk *elgamal.PublicKey, sts []rangeStatement) (int, error) {
	for i, s := range sts {
		if err := s.p.Verify(s.ctx, pk, s.ct, s.min, s.max); err != nil {
			return i, err
		}
	}
	return -1, nil
}

// verifyReference is verifyEach with refVerifyRange.
func verifyReference(pk *elgamal.PublicKey, sts []rangeStatement) (int, error) {
	for i, s := range sts {
		if err := refVerifyRange(s.p, s.ctx, pk, s.ct, s.min, s.max); err != nil {
			return i, err
		}
	}
	return -1, nil
}

// verifyBatched checks the statements with one RangeBatch, as election checks a ballot: a proof whose challenge
// fails is reported after the proofs before it, so that the first failing proof is named.
func verifyBatched(bt *RangeBatch, sts []rangeStatement) (int, error) {
	for i, s := range sts {
		var err error
		if len(s.parts) == 1 && s.parts[0] == s.ct {
			err = bt.Add(s.ctx, s.p, s.ct, s.enc, s.min, s.max)
		} else {
			err = bt.AddSum(s.ctx, s.p, s.parts, s.min, s.max)
		}
		if err != nil {
			if j, berr := bt.Verify(); berr != nil {
				return j, berr
			}
			return i, err
		}
	}
	return bt.Verify()
}

func (d *demoBallot) verifySingle(pk *elgamal.PublicKey) error {
	if err := signature.Verify(d.pub, d.body, d.sig); err != nil {
		return err
	}
	sts, err := d.statements()
	if err != nil {
		return err
	}
	_, err = verifyEach(pk, sts)
	return err
}

func (d *demoBallot) verifyBatched(bt *RangeBatch) error {
	if err := signature.Verify(d.pub, d.body, d.sig); err != nil {
		return err
	}
	sts, err := d.statements()
	if err != nil {
		return err
	}
	_, err = verifyBatched(bt, sts)
	return err
}

func demoBallots(tb testing.TB, n int) (*elgamal.PublicKey, []*demoBallot) {
	r := drbg.New("zkp batch benchmark")
	_, pk, err := elgamal.GenerateKey(r)
	if err != nil {
		tb.Fatal(err)
	}
	pk.VarTimeTable()
	ballots := make([]*demoBallot, n)
	for i := range ballots {
		ballots[i] = makeDemoBallot(tb, pk, r)
	}
	return pk, ballots
}

func (p *RangeProof) clone() *RangeProof {
	return &RangeProof{commitments: append([]byte(nil), p.commitments...), a: append([]group.Element(nil), p.a...),
		b: append([]group.Element(nil), p.b...), c: append([]group.Scalar(nil), p.c...), v: append([]group.Scalar(nil), p.v...)}
}

// setCommitment replaces a_i (b false) or b_i (b true) with e, encoding included.
func (p *RangeProof) setCommitment(i int, b bool, e *group.Element) {
	k := 0
	if b {
		k = 1
	}
	[]*group.Element{&p.a[i], &p.b[i]}[k].Set(e)
	copy(p.commitments[64*i+32*k:64*i+32*k+32], e.Bytes())
}

func bumped(e *group.Element) *group.Element { return group.NewElement().Add(e, group.Generator()) }

// mutation changes one input of a ballot's statements, in place (the statements are fresh copies).
type mutation struct {
	name  string
	apply func(sts []rangeStatement)
}

// proofMutations changes, in proof k, each commitment, challenge and response of its first and last values,
// and moves weight between two challenges (their sum, so the challenge check, unchanged).
func proofMutations(k int, n int) []mutation {
	var ms []mutation
	for _, i := range []int{0, n - 1} {
		ms = append(ms,
			mutation{fmt.Sprintf("proof %d a[%d]", k, i), func(sts []rangeStatement) { sts[k].p.setCommitment(i, false, bumped(&sts[k].p.a[i])) }},
			mutation{fmt.Sprintf("proof %d b[%d]", k, i), func(sts []rangeStatement) { sts[k].p.setCommitment(i, true, bumped(&sts[k].p.b[i])) }},
			mutation{fmt.Sprintf("proof %d c[%d]", k, i), func(sts []rangeStatement) { sts[k].p.c[i].Set(other(&sts[k].p.c[i])) }},
			mutation{fmt.Sprintf("proof %d v[%d]", k, i), func(sts []rangeStatement) { sts[k].p.v[i].Set(other(&sts[k].p.v[i])) }},
		)
	}
	if n > 1 {
		ms = append(ms, mutation{fmt.Sprintf("proof %d c[0]+1, c[1]-1", k), func(sts []rangeStatement) {
			one := group.NewScalar().SetUint64(1)
			sts[k].p.c[0].Add(&sts[k].p.c[0], one)
			sts[k].p.c[1].Subtract(&sts[k].p.c[1], one)
		}})
		ms = append(ms, mutation{fmt.Sprintf("proof %d a[0], b[0] swapped with a[1], b[1]", k), func(sts []rangeStatement) {
			p := sts[k].p
			a0, b0 := *group.NewElement().Set(&p.a[0]), *group.NewElement().Set(&p.b[0])
			p.setCommitment(0, false, &p.a[1])
			p.setCommitment(0, true, &p.b[1])
			p.setCommitment(1, false, &a0)
			p.setCommitment(1, true, &b0)
		}})
	}
	return ms
}

// statementMutations changes the statement of proof k: its ciphertext (A, then B: for an option's proof, the
// ciphertext as the total's proof sees it too), its context (election, then position), its range.
func statementMutations(k int, st rangeStatement) []mutation {
	ms := []mutation{
		{fmt.Sprintf("proof %d election", k), func(sts []rangeStatement) {
			sts[k].ctx = Context{Election: []byte("another election"), Bind: sts[k].ctx.Bind}
		}},
		{fmt.Sprintf("proof %d position", k), func(sts []rangeStatement) {
			sts[k].ctx = Context{Election: sts[k].ctx.Election, Bind: []byte{9, 9}}
		}},
		{fmt.Sprintf("proof %d min+1", k), func(sts []rangeStatement) {
			if sts[k].min < sts[k].max {
				sts[k].min++
			} else {
				sts[k].max++
			}
		}},
	}
	if len(st.parts) == 1 {
		for _, which := range []string{"A", "B"} {
			ms = append(ms, mutation{fmt.Sprintf("proof %d ciphertext %s", k, which), func(sts []rangeStatement) {
				old := sts[k].ct
				ct := &elgamal.Ciphertext{}
				ct.A.Set(&old.A)
				ct.B.Set(&old.B)
				if which == "A" {
					ct.A.Set(bumped(&ct.A))
				} else {
					ct.B.Set(bumped(&ct.B))
				}
				// The ciphertext changes for every statement that uses it: its own and its contest's total.
				for j := range sts {
					for q, part := range sts[j].parts {
						if part == old {
							sts[j].parts[q] = ct
							sum := elgamal.NewCiphertext()
							for _, x := range sts[j].parts {
								sum.Add(sum, x)
							}
							sts[j].ct = sum
						}
					}
				}
				sts[k].ct = ct
				sts[k].enc = nil // encoded by Add
			}})
		}
	}
	return ms
}

// cloneStatements copies the statements deeply enough for a mutation.
func cloneStatements(sts []rangeStatement) []rangeStatement {
	out := make([]rangeStatement, len(sts))
	for i, s := range sts {
		s.p = s.p.clone()
		s.parts = append([]*elgamal.Ciphertext(nil), s.parts...)
		out[i] = s
	}
	return out
}

// checkAgree checks that the batched verifier, RangeProof.Verify one at a time, and the reference verifier name
// the same failing proof (or none), and that the first two give the same error.
func checkAgree(t *testing.T, what string, pk *elgamal.PublicKey, sts []rangeStatement, wantFail bool) {
	t.Helper()
	bi, berr := verifyBatched(NewRangeBatch(pk), sts)
	ei, eerr := verifyEach(pk, sts)
	ri, rerr := verifyReference(pk, sts)
	if (berr != nil) != wantFail || (eerr != nil) != wantFail || (rerr != nil) != wantFail {
		t.Fatalf("%s: want failure %v; batched: %v, one at a time: %v, reference: %v", what, wantFail, berr, eerr, rerr)
	}
	if bi != ei || ei != ri {
		t.Fatalf("%s: failing proof: batched %d, one at a time %d, reference %d", what, bi, ei, ri)
	}
	if wantFail && (berr.Error() != eerr.Error() || !errors.Is(berr, ErrInvalidProof)) {
		t.Fatalf("%s: batched error %q, one at a time %q", what, berr, eerr)
	}
}

// TestRangeBatchAgrees checks RangeBatch against RangeProof.Verify and the reference verifier on the demo's
// ballot: the honest ballot passes; changing each input in turn (each commitment, challenge and response of the
// first and last values of each proof, each ciphertext, the election, the position, the range) fails, with the
// same proof named and the same error, the changed proof in the middle of the ballot's 16 honest ones; and so
// does a ballot with two changes (mixed), naming the first. Under -short, a sample of the proofs; under -race,
// of the first contest's (the reference verifier is slow under the race detector).
func TestRangeBatchAgrees(t *testing.T) {
	pk, ballots := demoBallots(t, 1)
	sts, err := ballots[0].statements()
	if err != nil {
		t.Fatal(err)
	}
	proofs := []int{0, 4, 5, 11, 15, 16} // option proofs of each contest and the totals of 1 to 1, 0 to 3, 0 to 12
	switch {
	case raceEnabled: // the first contest only: its 4 option proofs and its total
		sts = sts[:5]
		proofs = []int{1, 4}
	case testing.Short():
		proofs = []int{0, 16}
	}
	checkAgree(t, "honest ballot", pk, sts, false)
	var all []mutation
	for _, k := range proofs {
		all = append(all, proofMutations(k, len(sts[k].p.c))...)
		all = append(all, statementMutations(k, sts[k])...)
	}
	for _, m := range all {
		bad := cloneStatements(sts)
		m.apply(bad)
		checkAgree(t, m.name, pk, bad, true)
	}
	// Two changes in one ballot: the first changed proof is named, whichever check catches each.
	for i := 0; i+1 < len(all); i += 3 {
		bad := cloneStatements(sts)
		all[i+1].apply(bad)
		all[i].apply(bad)
		checkAgree(t, all[i].name+" and "+all[i+1].name, pk, bad, true)
	}
}

// TestRangeBatchManyBallots checks several ballots in one batch: honest ones pass; a changed response in the
// second fails, with its proof named.
func TestRangeBatchManyBallots(t *testing.T) {
	pk, ballots := demoBallots(t, 3)
	var sts []rangeStatement
	for _, d := range ballots {
		s, err := d.statements()
		if err != nil {
			t.Fatal(err)
		}
		sts = append(sts, s...)
	}
	checkAgree(t, "three honest ballots", pk, sts, false)
	bad := cloneStatements(sts)
	k := len(sts)/3 + 7
	bad[k].p.v[1].Set(other(&bad[k].p.v[1]))
	checkAgree(t, "a changed response in the second ballot", pk, bad, true)
	if i, err := verifyBatched(NewRangeBatch(pk), bad); i != k || err == nil {
		t.Fatalf("named proof %d (%v), want %d", i, err, k)
	}
}

// TestRangeBatchEmpties checks that Verify empties the batch: a failed batch does not fail the next one, and an
// empty batch holds.
func TestRangeBatchEmpties(t *testing.T) {
	pk, ballots := demoBallots(t, 1)
	sts, _ := ballots[0].statements()
	bt := NewRangeBatch(pk)
	if i, err := bt.Verify(); i != -1 || err != nil {
		t.Fatalf("empty batch: %d, %v", i, err)
	}
	bad := cloneStatements(sts)
	bad[3].p.v[0].Set(other(&bad[3].p.v[0]))
	if i, err := verifyBatched(bt, bad); i != 3 || err == nil {
		t.Fatalf("bad ballot: %d, %v", i, err)
	}
	if bt.Len() != 0 || bt.Values() != 0 {
		t.Fatalf("after Verify: %d proofs, %d values queued", bt.Len(), bt.Values())
	}
	if i, err := verifyBatched(bt, sts); i != -1 || err != nil {
		t.Fatalf("honest ballot after a bad one: %d, %v", i, err)
	}
	if err := bt.AddSum(testCtx, sts[0].p, nil, 0, 1); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("AddSum of no ciphertexts: %v", err)
	}
	if err := bt.Add(sts[0].ctx, sts[0].p, sts[0].ct, sts[0].enc[:63], 0, 1); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("Add with a 63-byte encoding: %v", err)
	}
	if bt.Len() != 0 {
		t.Fatal("refused proofs were added")
	}
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

// BenchmarkDemoBallotVerify checks the demo's ballot (62 range-proof values): the credential's signature, the 14
// ciphertexts decoded, the 17 range proofs parsed, and their equations checked one at a time (form=single:
// RangeProof.Verify), or all in one multi-scalar multiplication (form=batched: RangeBatch, what election does),
// or, for batched64, the proofs of 64 ballots in one (slower per ballot: edwards25519's multiplication is
// Straus', without Pippenger's buckets, so it gains nothing from more terms). ballots/s is per core: run with
// -cpu 1.
//
// Before issue 15 adopted the committed form, form=single checked the proof in challenge form (64 bytes per
// value, commitments recomputed and encoded to hash them): 166 ballots/cpu-s against 344 for the batched
// committed form (+106%, n=8, commit 18d875c). election's BenchmarkVerifyBallotDemo is the real check.
//
//	go test -run '^$' -bench DemoBallotVerify -cpu 1 -count 6 ./crypto/zkp | tee /tmp/batch.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /form /tmp/batch.txt
func BenchmarkDemoBallotVerify(b *testing.B) {
	const many = 64
	pk, ballots := demoBallots(b, many)
	b.Run("form=single", func(b *testing.B) {
		i, cpu0 := 0, processCPUTime()
		for b.Loop() {
			if err := ballots[i%many].verifySingle(pk); err != nil {
				b.Fatal(err)
			}
			i++
		}
		report(b, 1, cpu0, len(ballots[0].body))
	})
	b.Run("form=batched", func(b *testing.B) {
		bt := NewRangeBatch(pk)
		i, cpu0 := 0, processCPUTime()
		for b.Loop() {
			if err := ballots[i%many].verifyBatched(bt); err != nil {
				b.Fatal(err)
			}
			i++
		}
		report(b, 1, cpu0, len(ballots[0].body))
	})
	b.Run("form=batched64", func(b *testing.B) {
		bt := NewRangeBatch(pk)
		cpu0 := processCPUTime()
		for b.Loop() {
			for _, d := range ballots {
				if err := signature.Verify(d.pub, d.body, d.sig); err != nil {
					b.Fatal(err)
				}
				sts, err := d.statements()
				if err != nil {
					b.Fatal(err)
				}
				for _, s := range sts {
					if len(s.parts) == 1 {
						err = bt.Add(s.ctx, s.p, s.ct, s.enc, s.min, s.max)
					} else {
						err = bt.AddSum(s.ctx, s.p, s.parts, s.min, s.max)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			if _, err := bt.Verify(); err != nil {
				b.Fatal(err)
			}
		}
		report(b, many, cpu0, len(ballots[0].body))
	})
}

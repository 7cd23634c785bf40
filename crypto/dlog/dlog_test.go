package dlog

import (
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"filippo.io/edwards25519/field"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/edwards"
)

func randomBase(t testing.TB) *group.Element {
	s, err := group.RandomScalar(nil)
	if err != nil {
		t.Fatal(err)
	}
	return group.NewElement().ScalarBaseMult(s)
}

func mul(x uint64, base *group.Element) *group.Element {
	return group.NewElement().VarTimeScalarMult(group.NewScalar().SetUint64(x), base)
}

func TestExhaustiveSmall(t *testing.T) {
	base := randomBase(t)
	for _, c := range []struct{ limit, m uint64 }{
		{2000, defaultBabySteps(2000)}, {2000, 2001}, {2000, 5000},
		{200, 1}, {200, 2}, {200, 7}, {200, 64}, {200, 200},
	} {
		exhaustive(t, base, c.limit, c.m)
	}
	if defaultBabySteps(2000) != minBabySteps || defaultBabySteps(10) != 11 || defaultBabySteps(1<<63) != maxBabySteps {
		t.Fatal("defaultBabySteps")
	}
}

func exhaustive(t *testing.T, base *group.Element, limit, m uint64) {
	tab := newTableSize(base, limit, m)
	// x·base for every x, by repeated addition (an arithmetic path independent of the table's).
	y := group.NewElement()
	for x := uint64(0); x <= limit; x++ {
		got, err := tab.Log(y)
		if err != nil || got != x {
			t.Fatalf("m = %d: Log(%d·K) = %d, %v", m, x, got, err)
		}
		y.Add(y, base)
	}
	for _, bad := range []*group.Element{
		y, // (limit+1)·K
		mul(limit+2, base),
		group.NewElement().Negate(base), // -1·K
		group.NewElement().Negate(mul(5, base)),
		randomBase(t),
		group.Generator(),
	} {
		if got, err := tab.Log(bad); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("m = %d: out of range element gave %d, %v", m, got, err)
		}
	}
}

func TestSmallBounds(t *testing.T) {
	base := randomBase(t)
	for limit := uint64(0); limit < 5; limit++ {
		tab := newTable(base, limit)
		for x := uint64(0); x <= limit+2; x++ {
			got, err := tab.Log(mul(x, base))
			if x <= limit && (err != nil || got != x) {
				t.Fatalf("max %d: Log(%d·K) = %d, %v", limit, x, got, err)
			}
			if x > limit && !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("max %d: Log(%d·K) = %d, %v", limit, x, got, err)
			}
		}
	}
}

// billion is the bound Recount must decode in well under a second. The test uses the process-wide cache, as a
// tally does; the benchmarks time the build.
const billion = 1_000_000_000

func TestUpToBillion(t *testing.T) {
	base := randomBase(t)
	tab := Cached(base, billion)
	if Cached(base, billion) != tab {
		t.Fatal("the cache built the table twice")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, tab.m - 1, tab.m, tab.m + 1, billion - 1, billion}
	for i := 0; i < 8; i++ {
		values = append(values, rng.Uint64N(billion+1))
	}
	for _, x := range values {
		got, err := tab.Log(mul(x, base))
		if err != nil || got != x {
			t.Fatalf("Log(%d·K) = %d, %v", x, got, err)
		}
	}
	if _, err := tab.Log(mul(billion+1, base)); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("10^9+1: %v", err)
	}
	if tab.max != billion || tab.base.Equal(base) != 1 {
		t.Fatal("accessors")
	}
}

func TestConcurrent(t *testing.T) {
	base := randomBase(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			tab := Cached(base, 100_000)
			for x := uint64(g); x < 100_000; x += 9973 {
				if got, err := tab.Log(mul(x, base)); err != nil || got != x {
					t.Errorf("Log(%d·K) = %d, %v", x, got, err)
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestCacheEviction(t *testing.T) {
	base := randomBase(t)
	first := Cached(base, 10)
	for i := uint64(0); i < maxCached; i++ {
		Cached(base, 100+i)
	}
	if Cached(base, 10) == first {
		t.Fatal("the oldest table was not dropped")
	}
	recent := Cached(base, 100+maxCached-1)
	if again := Cached(base, 100+maxCached-1); again != recent {
		t.Fatal("recent table dropped")
	}
}

func TestIdentityBase(t *testing.T) {
	tab := newTable(group.NewElement(), 100)
	if x, err := tab.Log(group.NewElement()); err != nil || x != 0 {
		t.Fatal("identity")
	}
	if _, err := tab.Log(group.Generator()); !errors.Is(err, ErrOutOfRange) {
		t.Fatal("g in base identity")
	}
	if _, err := tab.Log(nil); err == nil {
		t.Fatal("nil")
	}
}

// The key is the same for the four representatives of an element and differs between elements.
func TestKeyInvariant(t *testing.T) {
	sqrtM1 := mustFE("b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b")
	var check field.Element
	check.Square(sqrtM1)
	check.Add(&check, new(field.Element).One())
	if check.Equal(new(field.Element)) != 1 {
		t.Fatal("sqrt(-1) constant")
	}
	keyOf := func(p *edwards.Extended) (uint32, field.Element) {
		var kb keyBatch
		kb.set(0, p)
		kb.keys(1)
		var f, inv field.Element
		inv.Invert(&kb.den[0])
		f.Multiply(&kb.num[0], &inv)
		return kb.key[0], f
	}
	seen := map[[32]byte]bool{}
	for i := 0; i < 200; i++ {
		e := randomBase(t)
		p := affine(e)
		k0, f0 := keyOf(&p)
		var reps [3]edwards.Extended
		reps[0].X.Negate(&p.X) // (-x, -y)
		reps[0].Y.Negate(&p.Y)
		reps[1].X.Multiply(&p.Y, sqrtM1) // (iy, ix)
		reps[1].Y.Multiply(&p.X, sqrtM1)
		reps[2].X.Negate(&reps[1].X) // (-iy, -ix)
		reps[2].Y.Negate(&reps[1].Y)
		for r := range reps {
			reps[r].Z.One()
			reps[r].T.Multiply(&reps[r].X, &reps[r].Y)
			if k, f := keyOf(&reps[r]); k != k0 || f.Equal(&f0) != 1 {
				t.Fatalf("representative %d has another key", r)
			}
		}
		// The negation (-x, y) has f = -f(P): a different element, a different key.
		neg := p
		neg.X.Negate(&neg.X)
		if _, f := keyOf(&neg); f.Equal(&f0) == 1 {
			t.Fatal("P and -P have the same f")
		}
		var b [32]byte
		copy(b[:], f0.Bytes())
		if seen[b] {
			t.Fatal("two random elements with the same f")
		}
		seen[b] = true
	}
}

// The keys computed in one batch are those computed one at a time, including across identities.
func TestBatchKeys(t *testing.T) {
	base := randomBase(t)
	p := affine(base)
	var kn edwards.AffineCached
	kn.FromAffine(&p.X, &p.Y)
	var kb keyBatch
	var pts []edwards.Extended
	cur := p
	for i := 0; i < 10; i++ {
		pts = append(pts, cur)
		cur.AddAffine(&kn)
	}
	id := affine(group.NewElement())
	pts[4] = id
	for i := range pts {
		kb.set(i, &pts[i])
	}
	kb.keys(len(pts))
	for i := range pts {
		var one keyBatch
		one.set(0, &pts[i])
		one.keys(1)
		if one.key[0] != kb.key[i] || one.identity[0] != kb.identity[i] {
			t.Fatalf("point %d: batch and single keys differ", i)
		}
	}
	if !kb.identity[4] || kb.identity[3] {
		t.Fatal("identity flag")
	}
}

func mustFE(hexLE string) *field.Element {
	b, err := hex.DecodeString(hexLE)
	if err != nil {
		panic(err)
	}
	fe, err := new(field.Element).SetBytes(b)
	if err != nil {
		panic(err)
	}
	return fe
}

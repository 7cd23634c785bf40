// Package dlog recovers small discrete logarithms: given a base K and y = x·K with 0 <= x <= max, it finds x,
// by baby-step giant-step with a precomputed table per base. Recount uses it to read a decrypted tally m·K.
//
// A Table for (K, max) with m baby steps holds a key for each j·K, j in [1, m). Log(y) walks the giant steps
// y - i·m·K for i = 0, 1, ..., floor(max/m), and looks each up; a hit at j gives x = i·m + j once confirmed by
// checking that j·K is the element y - i·m·K (a key is only 32 bits, so a hit can be false; the check, a short
// double-and-add, rejects it and the search goes on). Building costs m additions, spread over the available
// cores; Log costs at most floor(max/m)+1.
//
// The key of an element is not its RFC 9496 encoding, whose inverse square root per point would dominate the
// cost, but a canonical invariant that batches: for any extended-coordinates representative (X:Y:Z:T) of a
// ristretto255 element P other than the identity,
//
//	f(P) = (X² + Y²) / (X·Y) = x/y + y/x
//
// is the same for all four representatives (x, y), (-x, -y), (iy, ix), (-iy, -ix) of P, and differs between
// different elements (it determines y/x up to inversion, which determines the representative up to those four).
// The divisions of a batch share one field inversion (Montgomery's trick). The key is the first four bytes of the
// canonical encoding of f(P), read as a little-endian integer.
//
// docs/protocol.md (section 12, "Discrete logarithm") defines the result.
package dlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"

	"filippo.io/edwards25519/field"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/edwards"
	"github.com/recount-vote/recount/crypto/internal/groupaccess"
)

// ErrOutOfRange is returned by Log when y is not x·base for any x in [0, max].
var ErrOutOfRange = errors.New("dlog: no discrete logarithm in range")

// Table finds discrete logarithms in one base up to one bound: Cached returns the table for (base, max). It is
// immutable once built and safe for concurrent use.
type Table struct {
	base  group.Element
	max   uint64
	m     uint64               // baby steps: the table covers j·base for j in [1, m)
	giant edwards.AffineCached // -(m·base)
	k     edwards.AffineCached // base
	slots []slot               // open addressing, linear probing; j == 0 marks an empty slot
	mask  uint64
	// trivial is set when base is the identity: only the identity has a logarithm (0).
	trivial bool
}

type slot struct{ key, j uint32 }

const (
	// batch is the number of points whose keys share one field inversion.
	batch = 256
	// minBabySteps and maxBabySteps bound the table size chosen by newTable.
	minBabySteps = 1 << 10
	maxBabySteps = 1 << 20
	// babyStepFactor is how many times sqrt(max+1) newTable's table holds: a larger table makes each Log faster
	// (at most (max+1)/m giant steps) for a build m/sqrt(max+1) times longer than the balanced one. A tally is
	// many Logs with the same table.
	babyStepFactor = 16
)

// newTable builds the table for base and max. Its size is about 16·sqrt(max+1) baby steps, between 2^10 and 2^20
// (and never more than max+1): for max = 10^9, about 500 000 steps, 8 MiB and about a tenth of a second to
// build, then at most about 2 000 giant steps per Log.
func newTable(base *group.Element, max uint64) *Table {
	return newTableSize(base, max, defaultBabySteps(max))
}

func defaultBabySteps(limit uint64) uint64 {
	m := uint64(math.Ceil(math.Sqrt(float64(limit)+1))) * babyStepFactor
	m = min(max(m, minBabySteps), maxBabySteps)
	if limit < m {
		m = limit + 1
	}
	return m
}

// newTableSize builds the table for base and max with m baby steps (m is clamped to [1, 2^31]): Log then costs
// at most max/m+1 group additions.
func newTableSize(base *group.Element, limit, m uint64) *Table {
	m = min(max(m, 1), 1<<31)
	t := &Table{max: limit, m: m}
	t.base.Set(base)
	if base.IsIdentity() {
		t.trivial = true
		return t
	}
	k := affine(base)

	// Giant step: -(m·base).
	g := affine(group.NewElement().VarTimeScalarMult(group.NewScalar().SetUint64(m), base))
	g.X.Negate(&g.X)
	t.giant.FromAffine(&g.X, &g.Y)

	size := uint64(1)
	for size < 2*m {
		size <<= 1
	}
	t.slots = make([]slot, size)
	t.mask = size - 1

	// keys[j] is the key of j·base, computed in parallel over disjoint ranges of j.
	keys := make([]uint32, m)
	t.k.FromAffine(&k.X, &k.Y)
	kn := t.k
	workers := uint64(runtime.GOMAXPROCS(0))
	workers = min(workers, max(m/(1<<14), 1))
	var wg sync.WaitGroup
	per := (m + workers - 1) / workers
	for lo := uint64(1); lo < m; lo += per {
		hi := min(lo+per, m)
		wg.Add(1)
		go func(lo, hi uint64) {
			defer wg.Done()
			p := affine(group.NewElement().VarTimeScalarMult(group.NewScalar().SetUint64(lo), base))
			var kb keyBatch
			for j := lo; j < hi; {
				n := 0
				for ; n < batch && j+uint64(n) < hi; n++ {
					kb.set(n, &p)
					p.AddAffine(&kn)
				}
				kb.keys(n)
				for i := 0; i < n; i++ {
					keys[j+uint64(i)] = kb.key[i]
				}
				j += uint64(n)
			}
		}(lo, hi)
	}
	wg.Wait()
	for j := uint64(1); j < m; j++ {
		idx := uint64(keys[j]) & t.mask
		for t.slots[idx].j != 0 {
			idx = (idx + 1) & t.mask
		}
		t.slots[idx] = slot{key: keys[j], j: uint32(j)}
	}
	return t
}

// Log returns the x in [0, max] with x·base = y, for the table's base and max, or ErrOutOfRange if there is
// none. It takes at most max/m+1 giant steps, for the table's m baby steps (see newTable). It is not constant time:
// y and x must be public (a decrypted tally is).
func (t *Table) Log(y *group.Element) (uint64, error) {
	if y == nil {
		return 0, errors.New("dlog: nil element")
	}
	if y.IsIdentity() {
		return 0, nil
	}
	if t.trivial {
		return 0, ErrOutOfRange
	}
	p := affine(y)
	giants := t.max / t.m // i in [0, giants)
	if giants < math.MaxUint64 {
		giants++
	}
	var kb keyBatch
	// The batches start small and grow: most tallies are far below max, and found in the first steps.
	size := 8
	for i := uint64(0); i < giants; size = min(2*size, batch) {
		n := 0
		for ; n < size && i+uint64(n) < giants; n++ {
			kb.set(n, &p)
			p.AddAffine(&t.giant)
		}
		kb.keys(n)
		for b := 0; b < n; b++ {
			base := (i + uint64(b)) * t.m // <= max
			if kb.identity[b] {
				return base, nil
			}
			key := kb.key[b]
			for idx := uint64(key) & t.mask; t.slots[idx].j != 0; idx = (idx + 1) & t.mask {
				s := t.slots[idx]
				if s.key != key || uint64(s.j) > t.max-base {
					continue
				}
				if t.confirm(s.j, &kb.num[b], &kb.den[b]) {
					return base + uint64(s.j), nil
				}
			}
		}
		i += uint64(n)
	}
	return 0, fmt.Errorf("%w [0, %d]", ErrOutOfRange, t.max)
}

// confirm reports whether j·base is the element Q with f(Q) = num/den (Q not the identity, den != 0), by
// comparing f(j·base) with num/den exactly: f determines the element.
func (t *Table) confirm(j uint32, num, den *field.Element) bool {
	var p edwards.Extended
	p.Identity()
	for bit := bits.Len32(j) - 1; bit >= 0; bit-- {
		p.Double()
		if j>>bit&1 == 1 {
			p.AddAffine(&t.k)
		}
	}
	var pNum, pDen, x2, l, r field.Element
	pNum.Square(&p.Y)
	x2.Square(&p.X)
	pNum.Add(&pNum, &x2)
	pDen.Multiply(&p.X, &p.Y)
	if pDen.Equal(new(field.Element)) == 1 {
		return false // j·base is the identity: j is a multiple of the order, never for 1 <= j < 2^31
	}
	l.Multiply(&pNum, den)
	r.Multiply(num, &pDen)
	return l.Equal(&r) == 1
}

// keyBatch computes the keys of up to batch points with one inversion.
type keyBatch struct {
	num, den [batch]field.Element // X²+Y² and X·Y
	prefix   [batch]field.Element
	key      [batch]uint32
	identity [batch]bool
}

func (kb *keyBatch) set(i int, p *edwards.Extended) {
	var x2 field.Element
	kb.num[i].Square(&p.Y)
	x2.Square(&p.X)
	kb.num[i].Add(&kb.num[i], &x2)
	kb.den[i].Multiply(&p.X, &p.Y)
}

// keys computes key[i] = the key of f = num[i]/den[i] for i in [0, n), and identity[i] = (den[i] == 0): X·Y = 0
// only for the four representatives of the identity.
func (kb *keyBatch) keys(n int) {
	var zero, acc, inv, f field.Element
	acc.One()
	for i := 0; i < n; i++ {
		kb.prefix[i].Set(&acc)
		acc.Multiply(&acc, &kb.den[i])
	}
	if acc.Equal(&zero) == 1 {
		// Some point is the identity (rare: only when y is a multiple of m·base): mark it, set its den to 1, and
		// start again.
		acc.One()
		for i := 0; i < n; i++ {
			kb.identity[i] = kb.den[i].Equal(&zero) == 1
			if kb.identity[i] {
				kb.den[i].One()
			}
			kb.prefix[i].Set(&acc)
			acc.Multiply(&acc, &kb.den[i])
		}
	} else {
		clear(kb.identity[:n])
	}
	inv.Invert(&acc)
	for i := n - 1; i >= 0; i-- {
		// inv = 1/(den[0]···den[i]); prefix[i] = den[0]···den[i-1].
		f.Multiply(&inv, &kb.prefix[i]) // 1/den[i]
		inv.Multiply(&inv, &kb.den[i])
		f.Multiply(&f, &kb.num[i])
		kb.key[i] = binary.LittleEndian.Uint32(f.Bytes()[:4])
	}
}

// affine returns a curve representative of e in extended coordinates with Z = 1. Which of e's representatives
// it is does not matter: the keys and the confirmation below are the same for all of them.
func affine(e *group.Element) edwards.Extended {
	X, Y, Z, T := groupaccess.ElementPoint(e).ExtendedCoordinates() // read only
	var p edwards.Extended
	var zInv field.Element
	zInv.Invert(Z)
	p.X.Multiply(X, &zInv)
	p.Y.Multiply(Y, &zInv)
	p.T.Multiply(T, &zInv)
	p.Z.One()
	return p
}

// The process-wide cache of tables, keyed by base and max. It keeps the most recently built maxCached tables.
const maxCached = 8

type cacheKey struct {
	base [group.ElementSize]byte
	max  uint64
}

type cacheEntry struct {
	once  sync.Once
	table *Table
}

var cache struct {
	sync.Mutex
	entries map[cacheKey]*cacheEntry
	order   []cacheKey // oldest first
}

// Cached returns the table for base and max, building it on first use (about 16·sqrt(max+1) baby steps, see newTable) and keeping it for later
// calls from anywhere in the process. Concurrent first calls build it once. At most 8 tables are kept; the
// oldest is dropped first.
func Cached(base *group.Element, max uint64) *Table {
	var k cacheKey
	copy(k.base[:], base.Bytes())
	k.max = max
	cache.Lock()
	if cache.entries == nil {
		cache.entries = map[cacheKey]*cacheEntry{}
	}
	e, ok := cache.entries[k]
	if !ok {
		e = &cacheEntry{}
		cache.entries[k] = e
		cache.order = append(cache.order, k)
		if len(cache.order) > maxCached {
			delete(cache.entries, cache.order[0])
			cache.order = cache.order[1:]
		}
	}
	cache.Unlock()
	e.once.Do(func() { e.table = newTable(base, max) })
	return e.table
}

package fastpath

import (
	"encoding/binary"
	"sync"

	"filippo.io/edwards25519/field"

	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/edwards"
)

// Variable-time multiplication with precomputed tables, for verifiers (public data only).
//
// A scalar s < 2^256 is split into vtChunks chunks of vtChunkBits bits, s = Σ_k s_k·2^(64k), so that
// s·P = Σ_k s_k·(2^(64k)·P). A VarTimeTable holds, for each k, the odd multiples 1, 3, ..., 2^(w-1) - 1 of
// 2^(64k)·P, and VarTimeTableMult evaluates Σ_i s_i·P_i by Straus' method over the w-NAF digits of each s_i with
// a single chain of 64 doublings (instead of 253) shared by all terms and chunks. The 192 doublings that make
// 2^(64k)·P are paid once per table: that pays off when a point is multiplied several times, as the ciphertext
// of a range proof is (once per value in the range), and always for the long-lived bases g and K.

const (
	vtChunks    = 4
	vtChunkBits = 64
)

// VarTimeTable holds precomputed multiples of a public element for VarTimeTableMult. It is safe for concurrent
// use once built.
type VarTimeTable struct {
	w uint
	// cached, or affine for a normalized table, holds the points: cached[k][i] = (2i+1)·2^(64k)·P.
	cached [vtChunks][]edwards.Cached
	affine [vtChunks][]edwards.AffineCached
}

// NewVarTimeTable precomputes the multiples of the public element p that VarTimeTableMult uses, with NAF window
// w in [2, 8]. Wider windows mean fewer additions per multiplication and a bigger, slower-to-build table:
// 4·2^(w-2) points. With normalize, the points are made affine (one inversion for the whole table), which saves
// a field multiplication per addition; that pays for long-lived tables (w = 8 for g and K), not for a table
// used a few times.
func NewVarTimeTable(p *group.Element, w uint, normalize bool) *VarTimeTable {
	if w < 2 || w > 8 {
		panic("fastpath: NewVarTimeTable: window out of range")
	}
	n := 1 << (w - 2)
	t := &VarTimeTable{w: w}
	// multiples[k*n+i] = (2i+1)·2^(64k)·P, kept in extended coordinates only to be normalized.
	var multiples []edwards.Extended
	if normalize {
		multiples = make([]edwards.Extended, 0, vtChunks*n)
	}
	put := func(k int, p *edwards.Extended) {
		if normalize {
			multiples = append(multiples, *p)
		} else {
			t.cached[k] = append(t.cached[k], *new(edwards.Cached).FromExtended(p))
		}
	}
	var base edwards.Extended
	base.FromPoint(point(p))
	for k := 0; k < vtChunks; k++ {
		var p2 edwards.Projective
		var p1 edwards.Completed
		if k > 0 { // base = 2^64·base
			p2.FromExtended(&base)
			for i := 0; i < vtChunkBits-1; i++ {
				p2.FromCompleted(p1.Double(&p2))
			}
			base.FromCompleted(p1.Double(&p2))
		}
		if !normalize {
			t.cached[k] = make([]edwards.Cached, 0, n)
		}
		put(k, &base)
		if n > 1 {
			var twice edwards.Extended
			var twiceCached edwards.Cached
			twice.FromCompleted(p1.Double(p2.FromExtended(&base)))
			twiceCached.FromExtended(&twice)
			acc := base
			for i := 1; i < n; i++ {
				acc.FromCompleted(p1.Add(&acc, &twiceCached))
				put(k, &acc)
			}
		}
	}
	if !normalize {
		return t
	}
	zs := make([]field.Element, len(multiples))
	for i := range multiples {
		zs[i] = multiples[i].Z
	}
	edwards.BatchInvert(zs)
	for k := range t.affine {
		t.affine[k] = make([]edwards.AffineCached, n)
		for i := range t.affine[k] {
			t.affine[k][i].FromExtended(&multiples[k*n+i], &zs[k*n+i])
		}
	}
	return t
}

// VarTimeTableMult sets e = Σ s[i]·P_i, where tables[i] was built for P_i, and returns e. It is not constant
// time: public values only.
func VarTimeTableMult(e *group.Element, s []*group.Scalar, tables []*VarTimeTable) *group.Element {
	if len(s) != len(tables) {
		panic("fastpath: VarTimeTableMult: mismatched lengths")
	}
	var stack [4][256]int8
	nafs := stack[:0]
	if len(s) > len(stack) {
		nafs = make([][256]int8, 0, len(s))
	}
	top := -1 // the highest position within a chunk where some digit is not zero
	for i := range s {
		nafs = append(nafs, nonAdjacentForm(s[i], tables[i].w))
		for k := 0; k < vtChunks; k++ {
			for t := vtChunkBits - 1; t > top; t-- {
				if nafs[i][k*vtChunkBits+t] != 0 {
					top = t
					break
				}
			}
		}
	}
	var acc edwards.Projective
	acc.X.Zero()
	acc.Y.One()
	acc.Z.One()
	var p1 edwards.Completed
	var v edwards.Extended
	for t := top; t >= 0; t-- {
		p1.Double(&acc)
		for i := range nafs {
			tab := tables[i]
			for k := 0; k < vtChunks; k++ {
				d := nafs[i][k*vtChunkBits+t]
				if d == 0 {
					continue
				}
				v.FromCompleted(&p1)
				switch {
				case tab.affine[k] != nil && d > 0:
					p1.AddAffine(&v, &tab.affine[k][d>>1])
				case tab.affine[k] != nil:
					p1.SubtractAffine(&v, &tab.affine[k][(-d)>>1])
				case d > 0:
					p1.Add(&v, &tab.cached[k][d>>1])
				default:
					p1.Subtract(&v, &tab.cached[k][(-d)>>1])
				}
			}
		}
		acc.FromCompleted(&p1)
	}
	var out edwards.Extended
	out.FromProjective(&acc)
	if _, err := out.ToPoint(point(e)); err != nil {
		panic("fastpath: computed a point off the curve: " + err.Error())
	}
	return e
}

// nonAdjacentForm returns the width-w NAF of s: digits d[i], each zero or odd with |d[i]| < 2^(w-1), with
// s = Σ d[i]·2^i and at most one non-zero digit in any w consecutive positions. s is reduced, so below 2^253,
// and 256 positions hold its NAF (at most 254 digits).
func nonAdjacentForm(s *group.Scalar, w uint) [256]int8 {
	b := s.Bytes()
	var limbs [5]uint64
	for i := 0; i < 4; i++ {
		limbs[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	width := uint64(1) << w
	mask := width - 1
	var naf [256]int8
	carry := uint64(0)
	for pos := uint(0); pos < 256; {
		idx, bit := pos/64, pos%64
		window := limbs[idx] >> bit
		if bit > 64-w {
			window |= limbs[idx+1] << (64 - bit)
		}
		window = carry + window&mask
		if window&1 == 0 {
			pos++
			continue
		}
		if window < width/2 {
			carry = 0
			naf[pos] = int8(window)
		} else {
			carry = 1
			naf[pos] = int8(int64(window) - int64(width))
		}
		pos += w
	}
	return naf
}

var (
	generatorTableOnce sync.Once
	generatorTable     *VarTimeTable
)

// GeneratorVarTimeTable returns the VarTimeTable of the generator g (window 8, affine), built on first use.
func GeneratorVarTimeTable() *VarTimeTable {
	generatorTableOnce.Do(func() { generatorTable = NewVarTimeTable(group.Generator(), 8, true) })
	return generatorTable
}

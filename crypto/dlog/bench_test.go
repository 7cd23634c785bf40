package dlog

import (
	"fmt"
	"testing"
)

// BenchmarkNewTable times building the default table (newTable) for each bound.
func BenchmarkNewTable(b *testing.B) {
	base := randomBase(b)
	for _, limit := range []uint64{1_000_000, billion} {
		b.Run(fmt.Sprintf("max=%d", limit), func(b *testing.B) {
			var tab *Table
			for b.Loop() {
				tab = newTable(base, limit)
			}
			b.ReportMetric(float64(tab.m), "baby-steps")
			b.ReportMetric(float64(len(tab.slots)*8)/(1<<20), "MiB")
		})
	}
}

// BenchmarkLog times Log with the table already built (amortised over a tally): for x = max, the slowest, and
// for a small x in a large table, the common case of a tally far below its bound.
func BenchmarkLog(b *testing.B) {
	base := randomBase(b)
	for _, c := range []struct{ x, limit uint64 }{{1_000_000, 1_000_000}, {billion, billion}, {1000, billion}} {
		b.Run(fmt.Sprintf("x=%d,max=%d", c.x, c.limit), func(b *testing.B) {
			tab := Cached(base, c.limit)
			y := mul(c.x, base)
			for b.Loop() {
				if got, err := tab.Log(y); err != nil || got != c.x {
					b.Fatal(got, err)
				}
			}
		})
	}
}

// BenchmarkLogWithBuild times a first Log of x = max, table build included: the cost when a process decodes a
// single result.
func BenchmarkLogWithBuild(b *testing.B) {
	base := randomBase(b)
	for _, limit := range []uint64{1_000_000, billion} {
		b.Run(fmt.Sprintf("x=max=%d", limit), func(b *testing.B) {
			y := mul(limit, base)
			for b.Loop() {
				if got, err := newTable(base, limit).Log(y); err != nil || got != limit {
					b.Fatal(got, err)
				}
			}
		})
	}
}

func BenchmarkConfirm(b *testing.B) {
	base := randomBase(b)
	tab := newTableSize(base, 1<<20, 1<<20)
	p := affine(mul(1<<20-1, base))
	var kb keyBatch
	kb.set(0, &p)
	for b.Loop() {
		if !tab.confirm(1<<20-1, &kb.num[0], &kb.den[0]) {
			b.Fatal("confirm")
		}
	}
}

func BenchmarkAffine(b *testing.B) {
	e := randomBase(b)
	for b.Loop() {
		affine(e)
	}
}

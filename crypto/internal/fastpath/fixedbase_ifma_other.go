//go:build !amd64 || !recount_ifma || purego

package fastpath

const useIFMA = false

func fixedBasePairIFMA(st *ifmaState, table *uint64, digits *ifmaDigits) {
	panic("fastpath: no vector code on this platform")
}

func feMul8IFMA(out, a, b *fe8) { panic("fastpath: no vector code on this platform") }

//go:build !amd64 || !recount_ifma || purego

package group

const useIFMA = false

func fixedBasePairIFMA(st *ifmaState, table *uint64, digits *ifmaDigits) {
	panic("group: no vector code on this platform")
}

func feMul8IFMA(out, a, b *fe8) { panic("group: no vector code on this platform") }

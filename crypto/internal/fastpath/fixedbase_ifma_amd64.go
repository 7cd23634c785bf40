//go:build amd64 && recount_ifma && !purego

package fastpath

import "golang.org/x/sys/cpu"

// useIFMA says whether FixedBasePair runs the vector code of fixedbase_ifma_amd64.s: it needs AVX-512F (and the
// operating system's support for its registers), IFMA and DQ (VBROADCASTI64X2, VPMULLQ).
var useIFMA = cpu.X86.HasAVX512F && cpu.X86.HasAVX512IFMA && cpu.X86.HasAVX512DQ

//go:noescape
func fixedBasePairIFMA(st *ifmaState, table *uint64, digits *ifmaDigits)

//go:noescape
func feMul8IFMA(out, a, b *fe8)

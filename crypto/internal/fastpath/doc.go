// Package fastpath holds the specialised multiplications and encodings of ristretto255 (package group) that
// Recount's provers and verifiers run in their inner loops, for packages elgamal and zkp. They are not part of
// group's API: each gives the same results as group's plain operations, only faster for one use.
//
//   - FixedBase multiplies one fixed element (g, the election key K) by secret scalars with a precomputed table,
//     in constant time; FixedBasePair multiplies two fixed elements by many secret scalars in one call. It calls
//     FixedBase.ScalarMult for each scalar. Built with the opt-in tag recount_ifma, on amd64 with AVX-512 IFMA it
//     runs eight multiplications at once instead (fixedbase_ifma_amd64.s, about 2.5 µs per multiplication
//     against 12 µs). The default build has no assembly of this project's: the vector code speeds up only the
//     voter's prover, whose phones and browsers lack AVX-512, and what a verifier or the node runs must be pure
//     Go on filippo.io/edwards25519. CI tests the tagged build against the plain one;
//   - AppendDoubledBytes encodes the doubles of a batch of points with one field inversion for the whole batch
//     instead of one inverse square root per point;
//   - VarTimeTable and VarTimeTableMult multiply public points by public scalars with one chain of 64 doublings
//     shared by all terms, paying 192 doublings once per point.
//
// Each is tested against group's plain operations. Their point formulas (extended, projective and cached
// coordinates) are those of crypto/internal/edwards, which package dlog shares. They work on the curve point
// inside a group.Element, which group keeps unexported; they reach it through crypto/internal/groupaccess, once
// per element an operation takes or returns.
package fastpath

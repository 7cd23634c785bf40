// Package group is the prime-order group Recount computes in: ristretto255 (RFC 9496), with its scalar field
// of order l = 2^252 + 27742317777372353535851937790883648493.
//
// Elements and scalars have exactly one encoding each, of 32 bytes:
//
//   - an Element is the RFC 9496 encoding; decoding rejects every string that RFC 9496 rejects (non-canonical
//     field elements, negative s, non-square x², negative xy, y = 0) and any length other than 32;
//   - a Scalar is the little-endian integer in [0, l); decoding rejects values not below l.
//
// The arithmetic runs on filippo.io/edwards25519 (the field and curve code of Go's crypto/ed25519), which measures
// faster here than circl's ristretto255 (fixed-base 11.6 µs against 14.3 µs, variable-base 40 µs against 50 µs
// on the 2-core AMD EPYC of this project's machines); the encodings are cross-checked against
// github.com/cloudflare/circl's group.Ristretto255 in the tests, and circl's types convert through the 32-byte
// encodings (see ToCircl and FromCircl).
//
// Every operation is constant time in its scalar unless its name has VarTime in it; those are for public data
// only (verification).
//
// For the provers and verifiers of package zkp, beyond the plain operations:
//
//   - FixedBasePair multiplies two fixed elements (g and the election key K) by many secret scalars in one call;
//     it calls FixedBase.ScalarMult for each scalar. Built with the opt-in tag recount_ifma, on amd64 with
//     AVX-512 IFMA it runs eight multiplications at once instead (fixedbase_ifma_amd64.s, about 2.5 µs per
//     multiplication against 12 µs). The default build has no assembly of this project's: the vector code speeds
//     up only the voter's prover, whose phones and browsers lack AVX-512, and what a verifier or the node runs
//     must be pure Go on filippo.io/edwards25519. CI tests the tagged build against the plain one;
//   - AppendDoubledBytes encodes the doubles of a batch of points with one field inversion for the whole batch
//     instead of one inverse square root per point;
//   - VarTimeTable and VarTimeTableMult multiply public points by public scalars with one chain of 64 doublings
//     shared by all terms, paying 192 doublings once per point.
//
// Each is tested against the plain operations, and none changes a result. Their point formulas (extended,
// projective and cached coordinates) are those of crypto/internal/edwards, which package dlog shares.
package group

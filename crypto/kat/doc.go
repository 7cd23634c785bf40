// Package kat holds Recount's known-answer vectors (in testdata/vectors/primitives), made reproducible by the deterministic
// stream of internal/drbg. The vectors are written and checked by this package's tests:
//
//	go test ./crypto/kat             checks that the code reproduces every vector byte for byte
//	go test ./crypto/kat -update     rewrites them
//
// docs/protocol.md describes the vectors' format.
package kat

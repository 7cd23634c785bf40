// Package groupaccess gives the packages under crypto/internal the edwards25519 point inside a group.Element,
// which package group keeps unexported so that its public API is the ristretto255 group and nothing of the curve
// beneath it.
//
// The fast paths of crypto/internal/fastpath (precomputed tables, batched encodings) and the baby-step
// giant-step walk of crypto/dlog do their own arithmetic on that point, so they need to read and write it. They
// cannot live in package group without being its public API, and group cannot export the point either. This
// package is the one door between them: package group sets ElementPoint when it is initialized, and only
// packages inside crypto/ can import this one. The alternatives were worse: moving Element into an internal
// package with group's names as aliases would put the fast paths' methods in group's documentation, and a cast
// through unsafe would tie the callers to group's memory layout without the compiler's checks.
//
// The hook costs an indirect call and a type assertion, about 3.5 ns here (fastpath's BenchmarkElementPoint),
// once per element an operation reads or writes: nothing next to the microseconds of a scalar multiplication or
// an encoding. One other cost: the compiler cannot see through a function variable, so an element passed to it
// escapes to the heap. Recount's callers hold their elements on the heap already (their allocations per operation
// did not change when the fast paths moved here), but a new caller that keeps an element on its stack pays an
// allocation.
package groupaccess

import "filippo.io/edwards25519"

// ElementPoint returns a pointer to the curve point that represents e, which must be a *group.Element (it
// panics otherwise). Writing through the pointer sets e; the point written must be in ristretto255's subgroup,
// as every result of group's own operations is. Package group sets ElementPoint in its initialization, which
// runs before that of any package that imports group.
var ElementPoint func(e any) *edwards25519.Point

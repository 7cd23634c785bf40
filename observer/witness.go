package observer

import (
	"path/filepath"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/witness"
)

// WitnessFileName is the observer-witness's state file in the observer's directory: the latest checkpoint it
// cosigned (witness.Open's file).
const WitnessFileName = "witness.db"

// VerifiedCheckpoint reports whether cp is a checkpoint of the history the observer holds and verified: cp is
// of the mirror's board (origin), every entry up to cp.Size is Verified, and the mirror's tree of cp.Size
// entries has root cp.Root. The root is checked against the mirror's latest checkpoint with a consistency proof
// built from the mirror's stored subtrees (O(log n) reads), so the answer is quick enough for a witness's hook.
// A checkpoint of the right size but another root (a second history) is not verified, whatever its signature.
func (o *Observer) VerifiedCheckpoint(cp tlog.Checkpoint) bool {
	if cp.Origin != o.mirror.Origin() || !o.Verified(cp.Size) {
		return false
	}
	held := o.mirror.Latest()
	if cp.Size > held.Size {
		return false // cannot happen while Verified(cp.Size) holds: the mirror never shrinks
	}
	if cp.Size == 0 {
		return cp.Root == tlog.EmptyRoot()
	}
	if cp.Size == held.Size {
		return cp.Root == held.Root
	}
	proof, err := o.mirror.ConsistencyProof(cp.Size, held.Size)
	if err != nil {
		o.logger.Warn("observer: the mirror's consistency proof for the witness", "size", cp.Size, "error", err)
		return false
	}
	return tlog.VerifyConsistency(cp, held, proof) == nil
}

// OpenWitness opens (creating it on first use) the observer-witness of this observer's board: a witness.Witness
// with the signer key skey (witness.GenerateKey), whose state is DIR/witness.db and whose Verified hook is
// VerifiedCheckpoint, so that it cosigns a checkpoint only if the observer has mirrored and verified every entry
// up to it, under that root, with no failed check, and only if it extends the latest checkpoint it cosigned. The
// caller serves it (witness.NewHandler) and closes it before the Observer.
func (o *Observer) OpenWitness(skey string) (*witness.Witness, error) {
	return witness.Open(filepath.Join(o.cfg.Dir, WitnessFileName), witness.Config{
		Key:  skey,
		Logs: []witness.Log{{VerifierKey: o.mirror.VerifierKey(), Verified: o.VerifiedCheckpoint}},
	})
}

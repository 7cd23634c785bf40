package observer

import (
	"bytes"
	"errors"
	"path/filepath"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/witness"
	"github.com/recount-vote/recount/witness/policy"
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

// anyPolicy is the witness policy that requires no witness: CheckLog with it verifies the board's signature of a
// cosigned checkpoint and parses it, whatever cosignatures follow (a verifier checks those against its policy).
var anyPolicy = func() *policy.Policy {
	p, err := policy.Parse([]byte("quorum none\n"))
	if err != nil {
		panic(err) // a constant
	}
	return p
}()

// noteCosigned keeps the node's latest witnessed checkpoint (GetCheckpoint's cosigned_checkpoint) as a candidate
// to serve, once its board signature verifies; Cosigned checks it against the mirror before serving it.
func (o *Observer) noteCosigned(cosigned []byte) {
	if len(cosigned) == 0 {
		return
	}
	v, err := tlog.NewVerifier(o.mirror.VerifierKey())
	if err != nil {
		return
	}
	cp, _, err := anyPolicy.CheckLog(cosigned, v)
	if err != nil {
		o.met.refused.WithLabelValues("checkpoint").Inc()
		o.logger.Warn("observer: the node's cosigned checkpoint does not verify", "error", err)
		return
	}
	o.cosignedMu.Lock()
	defer o.cosignedMu.Unlock()
	if cp.Size >= o.cosignedCand.Size {
		o.cosignedCand = cp
	}
}

// Cosigned returns the latest witnessed checkpoint the node showed (the board's checkpoint and the witnesses'
// cosignature lines, docs/witness.md section 3) that is of the mirror's history: of a size the mirror holds, with
// the mirror's root at that size. The observer serves it as its own GetCheckpoint's cosigned_checkpoint, so that a
// verifier reading an observer's mirror (recount verify --node OBSERVER --witness-policy) checks the same
// cosignatures; it checks them against its policy itself. nil if there is none yet.
func (o *Observer) Cosigned() []byte {
	o.cosignedMu.Lock()
	defer o.cosignedMu.Unlock()
	cand := o.cosignedCand
	if len(cand.Signed) > 0 && !bytes.Equal(cand.Signed, o.cosignedOK.Signed) && cand.Size >= o.cosignedOK.Size && cand.Size <= o.mirror.Size() {
		held := o.mirror.Latest()
		var err error
		if cand.Size < held.Size {
			var proof [][]byte
			if proof, err = o.mirror.ConsistencyProof(cand.Size, held.Size); err == nil {
				err = tlog.VerifyConsistency(cand, held, proof)
			}
		} else if cand.Root != held.Root {
			err = errors.New("another root than the mirror's")
		}
		if err != nil {
			o.logger.Warn("observer: the node's cosigned checkpoint is not of the mirror's history: not served", "size", cand.Size, "error", err)
			o.cosignedCand = o.cosignedOK
		} else {
			o.cosignedOK = cand
			if err := o.store.saveCosigned(cand.Signed); err != nil {
				o.logger.Warn("observer: recording the cosigned checkpoint served", "size", cand.Size, "error", err)
			}
		}
	}
	return o.cosignedOK.Signed
}

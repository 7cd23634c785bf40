// Package witness is a witness of Recount boards in the C2SP formats (docs/witness.md): a Witness that cosigns a
// board's checkpoint (c2sp.org/tlog-cosignature, cosignature/v1, Ed25519) only if it extends the latest one it
// cosigned, keeping that checkpoint durably in a bbolt file; its HTTP interface (c2sp.org/tlog-witness,
// add-checkpoint and the monitoring endpoint, NewHandler and NewServer); and the Client the node uses to ask a
// witness for a cosignature. Witness keys are made by GenerateKey. The witness policy, and the check of a cosigned
// checkpoint against it, are in witness/policy, which is pure and which the verifiers use.
//
// The add-checkpoint body's format (AddCheckpoint, ParseAddCheckpoint) and the checks of a checkpoint are pure;
// the Witness adds the state file, and the handler and the client the network.
package witness

// Package observer is an election observer's process: it follows a node's board over gRPC, keeps its own copy
// of it (a ledger mirror, in which an entry is stored only once it hashes to a checkpoint the node signed),
// replays each entry through election's replay pipeline as it arrives, and keeps the verified state: ballots
// checked, cast, superseded and spoiled, and every failed check named with its entry. It detects a node that
// shows it two histories (a signed checkpoint that does not extend the last one it mirrored) and writes a
// portable proof of it (an Alarm). It serves its copy read-only over the node's BoardService and the receipt
// lookups of VoterService, so that voters can check their receipts against a copy the operator does not
// control.
//
// Layout of an observer's directory:
//
//	DIR/mirror/      the mirror: a ledger board built by Import of the node's export, extended by AppendSigned
//	DIR/observer.db  the observer's own bbolt file: how far the mirror was replayed, and every failed check
//	DIR/alarm-*.json the proofs of misbehaviour it found (see Alarm and CheckAlarm)
//	DIR/witness.db   the observer-witness's state, if it also witnesses (OpenWitness)
//
// It never imports package node: it talks to a node through client/grpcnode's stubs only, as anyone can.
package observer

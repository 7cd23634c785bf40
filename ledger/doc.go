// Package ledger is Recount's bulletin board: an append-only, tamper-evident log of typed entries, stored in a
// bbolt file, in the manner of a Certificate Transparency log (RFC 9162).
//
// The board is in two packages, in the manner of golang.org/x/mod/sumdb/tlog: package tlog (ledger/tlog) holds
// what a verifier needs and nothing else (entries, leaf hashing, checkpoints, proof verification, the export
// reader), with no storage; this package holds the Log, which stores a board in bbolt, signs its checkpoints and
// serves its entries, proofs and export, and imports tlog for every format. A program that only verifies imports
// tlog alone and links no database.
//
// The board knows nothing of elections. An entry (tlog.Entry) is a tlog.Kind (a uint32 whose values the caller
// defines) and an opaque payload. Entries get consecutive indexes 0, 1, 2, ...; the API offers no update and no
// delete.
//
// # Tree and checkpoints
//
// Each entry is a leaf of an RFC 9162 Merkle tree, hashed as package tlog specifies. The board keeps the hash of
// every perfect subtree in its database, so inclusion and consistency proofs are O(log n) reads.
//
// Every commit (a group of appends written in one transaction) signs one checkpoint (tlog.Checkpoint) with the
// board's Ed25519 key, whose name is the origin. All checkpoints are kept and can be fetched by size
// (CheckpointAt). A verifier holding the board's verifier key (VerifierKey) checks them with tlog.ParseCheckpoint,
// tlog.VerifyInclusion and tlog.VerifyConsistency.
//
// # Durability and concurrency
//
// Append and AppendMany return only after the entries, their tree nodes and the checkpoint of their commit are
// committed by bbolt (fsync), and the checkpoint is recorded in board.checkpoint (fdatasync). A single committer
// goroutine writes: appends that arrive while a commit is under way are gathered into the next transaction (group
// commit), so many writers share each sync. After a crash, the board holds every entry whose append returned, and
// its later checkpoints are consistent with every checkpoint it signed before.
//
// The board never signs two histories: it signs a checkpoint only if it extends the last one signed, and Open
// refuses (ErrRolledBack) a board.db that is behind the checkpoint recorded in board.checkpoint, as happens when
// bbolt falls back to its older meta page after the newer one was damaged, or when an older backup of board.db is
// restored. Appending to such a board would lose receipted entries and sign a second checkpoint of a size already
// signed.
//
// # Files
//
// A board lives in a directory: board.db (the bbolt database, see DBFileName), board.key (the signing key, mode
// 0600, see KeyFileName) and board.checkpoint (the latest checkpoint signed, see CheckpointFileName). Open refuses
// damaged, truncated or foreign files, an origin mismatch, a key file that others can read, and a rolled-back
// board.db.
//
// # Integrity at start
//
// Open checks that the board's entries hash to its latest signed checkpoint (CheckIntegrity): it re-hashes every
// entry, recomputes the tree and compares every stored tree node with it, and refuses a board that does not match,
// naming the first damaged entry or node. It reads the whole board on every start rather than trusting a mark of
// what an earlier start checked, because a damaged disk changes old entries as readily as new ones; the cost is
// about two SHA-256 hashes per entry (0.2 s for 51,000 ballot-sized entries, 1.5 s for 10^6 small ones: see
// BENCHMARKS.md). With Options.DeferIntegrityCheck, Open skips it and the caller runs CheckIntegrity (with
// progress) before serving; appends are refused until it passes. Verify re-checks everything, bbolt's pages and
// every kept checkpoint included.
//
// # Export
//
// Export writes the whole board as one byte stream (format in tlog's export.go and docs/board.md);
// tlog.VerifyExport and tlog.ExportReader read it as a stream, rebuild the tree, and check the final signed
// checkpoint, so that any changed byte is detected; Import does the same while writing it into a new board.
package ledger

// Package ledger is Recount's bulletin board: an append-only, tamper-evident log of typed entries, stored in a
// bbolt file, in the manner of a Certificate Transparency log (RFC 9162).
//
// The board knows nothing of elections. An entry is a Kind (a uint32 whose values the caller defines) and an
// opaque payload. Entries get consecutive indexes 0, 1, 2, ...; the API offers no update and no delete.
//
// # Tree
//
// Each entry is a leaf of an RFC 9162 Merkle tree (SHA-256):
//
//	leaf data = uint32be(kind) || payload
//	leaf hash = SHA-256(0x00 || leaf data)
//	node hash = SHA-256(0x01 || left || right)
//	root of the empty tree = SHA-256("")
//
// The tree over n leaves is split, as in RFC 9162, at the largest power of two smaller than n. The board keeps
// the hash of every perfect subtree in its database, so inclusion and consistency proofs (RFC 9162 sections
// 2.1.3 and 2.1.4) are O(log n) reads. The hashing and proof logic are those of
// github.com/transparency-dev/merkle.
//
// # Checkpoints
//
// Every commit (a group of appends written in one transaction) signs one checkpoint: the transparency-dev
// checkpoint body "<origin>\n<size>\n<base64 root>\n", signed as a golang.org/x/mod/sumdb/note with the
// board's Ed25519 key, whose name is the origin (see Checkpoint). All checkpoints are kept and can be fetched by
// size (CheckpointAt). A verifier holding the board's verifier key (VerifierKey) checks a checkpoint with
// ParseCheckpoint, an entry with VerifyInclusion, and that a newer checkpoint extends an older one with
// VerifyConsistency.
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
// Export writes the whole board as one byte stream (format in export.go and docs/board.md); VerifyExport,
// ExportReader and Import read it as a stream, rebuild the tree, and check the final signed checkpoint, so that
// any changed byte is detected.
package ledger

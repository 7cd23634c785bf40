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
// committed by bbolt (fsync). A single committer goroutine writes: appends that arrive while a commit is under
// way are gathered into the next transaction (group commit), so many writers share each fsync. After a crash,
// the board holds every entry whose append returned, and its later checkpoints are consistent with every
// checkpoint it signed before.
//
// # Files
//
// A board lives in a directory: board.db (the bbolt database, see DBFileName) and board.key (the signing key,
// mode 0600, see KeyFileName). Open refuses damaged, truncated or foreign files, an origin mismatch, and a key
// file that others can read. Verify re-checks everything.
//
// # Export
//
// Export writes the whole board as one byte stream (format in export.go and docs/board.md); VerifyExport,
// ExportReader and Import read it as a stream, rebuild the tree, and check the final signed checkpoint, so that
// any changed byte is detected.
package ledger

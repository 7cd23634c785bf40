// Package tlog is the pure half of Recount's bulletin board: the formats of a tamper-evident log and their
// verification, with no storage. It defines entries (a Kind and an opaque payload), how they are hashed into an
// RFC 9162 Merkle tree, the signed checkpoint, inclusion and consistency proofs, and the export format (a whole
// board as one byte stream) with its streaming reader. Package ledger stores a board in a bbolt file and builds on
// this package, as golang.org/x/mod/sumdb/tlog is the log half of the checksum database, separate from any server.
//
// A verifier (recount verify, a voter checking a receipt, an observer) imports tlog alone: it reads only from an
// io.Reader or from bytes it is given, and depends on no database, filesystem, gRPC or metrics package
// (election/deps_test.go checks this). The board knows nothing of elections: what kinds mean is the caller's.
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
// The tree over n leaves is split, as in RFC 9162, at the largest power of two smaller than n. The hashing and
// proof logic are those of github.com/transparency-dev/merkle; proofs are those of RFC 9162 sections 2.1.3 and
// 2.1.4. LeafTree holds a tree of leaf hashes in memory, for a verifier that has read an export.
//
// # Checkpoints
//
// After every commit the board signs one checkpoint: the transparency-dev checkpoint body
// "<origin>\n<size>\n<base64 root>\n", signed as a golang.org/x/mod/sumdb/note with the board's Ed25519 key,
// whose name is the origin (see Checkpoint). A verifier holding the board's verifier key checks a checkpoint with
// ParseCheckpoint, an entry with VerifyInclusion, and that a newer checkpoint extends an older one with
// VerifyConsistency.
//
// # Export
//
// An export is the whole board in one byte stream (format in export.go and docs/board.md). NewExportReader and
// VerifyExport read it as a stream, rebuild the tree, and check the final signed checkpoint, so that any changed
// byte is detected; AppendExportHeader, AppendExportEntry and AppendExportTrailer write it.
//
// Errors begin with "ledger:", the name users know the board by, as they did before this package was split from
// package ledger; they wrap the sentinel errors of errors.go, which package ledger returns too.
package tlog

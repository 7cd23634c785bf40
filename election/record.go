package election

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
)

// Kind is the kind of a board entry, the ledger kind of the entry. Its values are those of recordv1.EntryKind.
type Kind = recordv1.EntryKind

// The entry kinds, in the order an election writes them.
const (
	KindManifest          = recordv1.EntryKind_ENTRY_KIND_MANIFEST
	KindCredentials       = recordv1.EntryKind_ENTRY_KIND_CREDENTIALS
	KindKeyCommitment     = recordv1.EntryKind_ENTRY_KIND_KEY_COMMITMENT
	KindKeyVerdict        = recordv1.EntryKind_ENTRY_KIND_KEY_VERDICT
	KindKeyReveal         = recordv1.EntryKind_ENTRY_KIND_KEY_REVEAL
	KindElectionKey       = recordv1.EntryKind_ENTRY_KIND_ELECTION_KEY
	KindOpen              = recordv1.EntryKind_ENTRY_KIND_OPEN
	KindBallot            = recordv1.EntryKind_ENTRY_KIND_BALLOT
	KindSpoiledBallot     = recordv1.EntryKind_ENTRY_KIND_SPOILED_BALLOT
	KindClose             = recordv1.EntryKind_ENTRY_KIND_CLOSE
	KindEncryptedTally    = recordv1.EntryKind_ENTRY_KIND_ENCRYPTED_TALLY
	KindPartialDecryption = recordv1.EntryKind_ENTRY_KIND_PARTIAL_DECRYPTION
	KindResult            = recordv1.EntryKind_ENTRY_KIND_RESULT
)

// Entry is one board entry as this package sees it: its index on the board, its kind and its payload bytes.
type Entry struct {
	Index   uint64
	Kind    Kind
	Payload []byte
}

// Draft is an entry not yet on the board: what a step of the election asks the board to append.
type Draft struct {
	Kind    Kind
	Payload []byte
}

// ID is a 32-byte SHA-256 digest: an election's identity, or a ballot's tracking code.
type ID [32]byte

// String returns the hexadecimal digest.
func (id ID) String() string { return fmt.Sprintf("%x", id[:]) }

// hashPayload returns SHA-256 of payload bytes exactly as they are stored.
func hashPayload(payload []byte) ID { return sha256.Sum256(payload) }

// ErrNotCanonical is returned for a payload that decodes but is not the canonical encoding of what it holds.
var ErrNotCanonical = errors.New("not the canonical encoding of its message (docs/record.md, section 2)")

// unmarshal decodes payload into m, refusing unknown fields (a record must hold nothing a verifier would skip)
// and any encoding but the canonical one (see marshal).
//
// Every payload has exactly one encoding because every hash on the board is over bytes as stored: a tracking code
// is SHA-256 of the SignedBallot bytes, which no signature covers. If readers took any field order, a repeated
// field or an overlong varint, anyone could re-encode a ballot already on the board (a voter's superseded ballot,
// or a challenged one whose choices are public) into new bytes with a new tracking code, the same valid signature
// and the same valid proofs, and cast it again to override the voter's last ballot.
func unmarshal(payload []byte, m proto.Message) error {
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(payload, m); err != nil {
		return err
	}
	if err := checkNoUnknown(m.ProtoReflect()); err != nil {
		return err
	}
	// The canonical encoding is the one marshal writes: a payload is canonical exactly when it re-encodes to
	// itself. This also refuses what decoding silently drops: a uint32 varint's bits above 32, the earlier of two
	// values of a field, the other members of a oneof.
	if !bytes.Equal(marshal(m), payload) {
		return fmt.Errorf("%s: %w", m.ProtoReflect().Descriptor().Name(), ErrNotCanonical)
	}
	return nil
}

func checkNoUnknown(m protoreflect.Message) error {
	if len(m.GetUnknown()) != 0 {
		return fmt.Errorf("unknown fields in %s", m.Descriptor().Name())
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = checkNoUnknown(l.Get(i).Message())
			}
		} else if !fd.IsMap() {
			err = checkNoUnknown(v.Message())
		}
		return err == nil
	})
	return err
}

// marshal encodes m in the canonical encoding of docs/record.md, section 2: protobuf's deterministic encoding,
// fields in increasing number order, each present field once, defaults left out, repeated numbers packed,
// varints and lengths minimal.
func marshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic("election: marshal " + string(m.ProtoReflect().Descriptor().Name()) + ": " + err.Error())
	}
	return b
}

// orRand returns r, or crypto/rand when r is nil.
func orRand(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

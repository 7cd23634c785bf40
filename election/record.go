package election

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
)

// Kind is the kind of a board entry, the ledger kind of the entry. Its values are those of recountv1.EntryKind.
type Kind = recountv1.EntryKind

// The entry kinds, in the order an election writes them.
const (
	KindManifest          = recountv1.EntryKind_ENTRY_KIND_MANIFEST
	KindCredentials       = recountv1.EntryKind_ENTRY_KIND_CREDENTIALS
	KindKeyCommitment     = recountv1.EntryKind_ENTRY_KIND_KEY_COMMITMENT
	KindKeyVerdict        = recountv1.EntryKind_ENTRY_KIND_KEY_VERDICT
	KindKeyReveal         = recountv1.EntryKind_ENTRY_KIND_KEY_REVEAL
	KindElectionKey       = recountv1.EntryKind_ENTRY_KIND_ELECTION_KEY
	KindOpen              = recountv1.EntryKind_ENTRY_KIND_OPEN
	KindBallot            = recountv1.EntryKind_ENTRY_KIND_BALLOT
	KindSpoiledBallot     = recountv1.EntryKind_ENTRY_KIND_SPOILED_BALLOT
	KindClose             = recountv1.EntryKind_ENTRY_KIND_CLOSE
	KindEncryptedTally    = recountv1.EntryKind_ENTRY_KIND_ENCRYPTED_TALLY
	KindPartialDecryption = recountv1.EntryKind_ENTRY_KIND_PARTIAL_DECRYPTION
	KindResult            = recountv1.EntryKind_ENTRY_KIND_RESULT
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

// unmarshal decodes payload into m, refusing unknown fields: a record must hold nothing a verifier would skip.
func unmarshal(payload []byte, m proto.Message) error {
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(payload, m); err != nil {
		return err
	}
	return checkNoUnknown(m.ProtoReflect())
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

// marshal encodes m deterministically.
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

package electiontest

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base32"
	"fmt"
	"github.com/recount-vote/recount/crypto/signature"
	"strings"

	"filippo.io/edwards25519"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
)

// The replays an attacker can build from what the board shows: a ballot already there (a voter's superseded
// ballot, or a challenged one whose choices are public) made into new bytes that still carry the credential's
// valid signature and valid proofs. Each must be refused, by the node and by every
// verifier.

// ReencodedSignedBallots returns encodings of a SignedBallot payload other than the canonical one that a lenient
// protobuf reader decodes to the same ballot and signature, by name: its two fields in reverse order, the ballot
// field given twice (a reader keeps the last), and the ballot's length as an overlong varint. None of them
// changes a byte that the signature covers.
func ReencodedSignedBallots(payload []byte) (map[string][]byte, error) {
	var sb recordv1.SignedBallot
	if err := proto.Unmarshal(payload, &sb); err != nil {
		return nil, fmt.Errorf("reencode: %w", err)
	}
	ballot := func(b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), sb.Ballot)
	}
	signature := func(b []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), sb.Signature)
	}
	overlong := protowire.AppendTag(nil, 1, protowire.BytesType)
	overlong = protowire.AppendVarint(overlong, uint64(len(sb.Ballot)))
	overlong[len(overlong)-1] |= 0x80 // one more 7-bit group, all zero: the same length in one byte more
	overlong = append(overlong, 0x00)
	overlong = signature(append(overlong, sb.Ballot...))
	return map[string][]byte{
		"fields swapped":         ballot(signature(nil)),
		"ballot field twice":     signature(ballot(ballot(nil))),
		"overlong length prefix": overlong,
	}, nil
}

// SignedBallotOf returns the SignedBallot a SpoiledBallot payload carries: the ballot that was challenged.
func SignedBallotOf(spoiled []byte) ([]byte, error) {
	var sp recordv1.SpoiledBallot
	if err := proto.Unmarshal(spoiled, &sp); err != nil {
		return nil, fmt.Errorf("spoiled ballot: %w", err)
	}
	return sp.SignedBallot, nil
}

// SignAgain returns the SignedBallot payload with the same Ballot bytes signed anew by cred under a fresh random
// nonce: a second valid Ed25519 signature of the same content, which only the credential's holder can make
// (Ed25519 signing is deterministic, so an honest client never does). It stands for every way of giving a ballot
// already on the board new bytes with its Ballot unchanged. The signature is for casting.
func SignAgain(cred *election.Credential, payload []byte) ([]byte, error) {
	var sb recordv1.SignedBallot
	if err := proto.Unmarshal(payload, &sb); err != nil {
		return nil, fmt.Errorf("sign again: %w", err)
	}
	seed, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(cred.Code(), "-", ""))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("sign again: the credential's code does not hold a seed")
	}
	h := sha512.Sum512(seed)
	s, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		return nil, err
	}
	pub := cred.PublicKey()
	msg := append([]byte("recount/ballot/v1\x00"), sb.Ballot...)
	var nonce [64]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	r, err := edwards25519.NewScalar().SetUniformBytes(nonce[:])
	if err != nil {
		return nil, err
	}
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
	kh := sha512.New()
	kh.Write(R)
	kh.Write(pub[:])
	kh.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	if err != nil {
		return nil, err
	}
	S := edwards25519.NewScalar().MultiplyAdd(k, s, r)
	sig := append(R, S.Bytes()...)
	if signature.Verify(pub[:], msg, sig) != nil {
		return nil, fmt.Errorf("sign again: the new signature does not verify")
	}
	if string(sig) == string(sb.Signature) {
		return nil, fmt.Errorf("sign again: the same signature came out")
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(&recordv1.SignedBallot{Ballot: sb.Ballot, Signature: sig})
}

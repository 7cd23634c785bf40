package witness

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
)

// sigTypeCosignatureV1 is the signed-note signature type of timestamped Ed25519 checkpoint cosignatures
// (c2sp.org/tlog-cosignature, cosignature/v1).
const sigTypeCosignatureV1 = 0x04

// GenerateKey makes a new witness key named name, with randomness from rand (crypto/rand.Reader outside tests).
// It returns the signer key, "PRIVATE+KEY+<name>+<key ID>+<base64(0x04 || 32-byte Ed25519 seed)>", to keep
// secret, and the verifier key, "<name>+<key ID>+<base64(0x04 || 32-byte Ed25519 public key)>", to publish (in a
// witness policy). The key ID is SHA-256(name || "\n" || 0x04 || public key)[:4] in lowercase hex. The name
// follows the board origin's rules (tlog.CheckOrigin); a schema-less URL such as "witness.example/w1" is usual.
func GenerateKey(name string, rand io.Reader) (skey, vkey string, err error) {
	if err := tlog.CheckOrigin(name); err != nil {
		return "", "", fmt.Errorf("witness: key name: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return "", "", fmt.Errorf("witness: generating a key: %w", err)
	}
	typed := func(key []byte) string {
		return base64.StdEncoding.EncodeToString(append([]byte{sigTypeCosignatureV1}, key...))
	}
	id := keyID(name, pub)
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, id, typed(priv.Seed())), fmt.Sprintf("%s+%08x+%s", name, id, typed(pub)), nil
}

func keyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write([]byte{sigTypeCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// NewSigner returns the cosignature/v1 signer of a witness signer key made by GenerateKey. The signatures are
// made by github.com/transparency-dev/formats/note, timestamped with the current time.
func NewSigner(skey string) (note.Signer, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return nil, fmt.Errorf("witness: the signer key is not of the form PRIVATE+KEY+<name>+<key ID>+<key>")
	}
	name, id, key64 := parts[2], parts[3], parts[4]
	key, err := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != sigTypeCosignatureV1 {
		return nil, fmt.Errorf("witness: the signer key of %q is not a cosignature/v1 Ed25519 key (type 0x04, 32-byte seed)", name)
	}
	if err := tlog.CheckOrigin(name); err != nil {
		return nil, fmt.Errorf("witness: signer key name: %w", err)
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	if want := fmt.Sprintf("%08x", keyID(name, pub)); id != want {
		return nil, fmt.Errorf("witness: the signer key of %q has key ID %s, but its key's is %s", name, id, want)
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("witness: signer key of %q: %v", name, err)
	}
	return s, nil
}

// VerifierKey returns the verifier key (to publish) of a witness signer key made by GenerateKey.
func VerifierKey(skey string) (string, error) {
	if _, err := NewSigner(skey); err != nil {
		return "", err
	}
	parts := strings.SplitN(skey, "+", 5)
	key, _ := base64.StdEncoding.DecodeString(parts[4])
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	return fmt.Sprintf("%s+%s+%s", parts[2], parts[3], base64.StdEncoding.EncodeToString(append([]byte{sigTypeCosignatureV1}, pub...))), nil
}

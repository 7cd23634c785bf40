package tlog

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"github.com/recount-vote/recount/crypto/signature"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// CheckOrigin reports whether origin can name a board: it is the note key name and the checkpoint's first
// line, so it must be non-empty, valid UTF-8, at most 255 bytes, without spaces, control characters or '+'. An
// error wraps ErrInvalid.
func CheckOrigin(origin string) error {
	switch {
	case origin == "":
		return fmt.Errorf("ledger: %w: the origin is empty: set Options.Origin (for example \"recount.example/board\")", ErrInvalid)
	case len(origin) > maxOriginLen:
		return fmt.Errorf("ledger: %w: the origin is %d bytes long, at most %d are allowed", ErrInvalid, len(origin), maxOriginLen)
	case !utf8.ValidString(origin):
		return fmt.Errorf("ledger: %w: the origin %q is not valid UTF-8", ErrInvalid, origin)
	case strings.ContainsRune(origin, '+'):
		return fmt.Errorf("ledger: %w: the origin %q contains '+', which note key names cannot", ErrInvalid, origin)
	case strings.IndexFunc(origin, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("ledger: %w: the origin %q contains a space or control character", ErrInvalid, origin)
	}
	return nil
}

// NewVerifier parses a note verifier key and requires its canonical form
// "<name>+<8 lowercase hex digits>+<standard base64 of 0x01 || 32-byte Ed25519 public key>", whose name passes
// CheckOrigin and whose key passes signature.CheckKey (canonical, in the prime-order subgroup, not the identity:
// the rule of every key the record holds). An error wraps ErrBadKey.
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("ledger: verifier key %q: %w: %v", vkey, ErrBadKey, err)
	}
	name, rest, _ := strings.Cut(vkey, "+")
	_, key64, _ := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("ledger: verifier key %q: %w: not an Ed25519 key", vkey, ErrBadKey)
	}
	if err := signature.CheckKey(key[1:]); err != nil {
		return nil, fmt.Errorf("ledger: verifier key %q: %w: %v", vkey, ErrBadKey, err)
	}
	canon, err := note.NewEd25519VerifierKey(name, key[1:])
	if err != nil || canon != vkey {
		return nil, fmt.Errorf("ledger: verifier key %q: %w: not in canonical form (want %q)", vkey, ErrBadKey, canon)
	}
	if err := CheckOrigin(name); err != nil {
		return nil, fmt.Errorf("ledger: verifier key %q: %w: %v", vkey, ErrBadKey, err)
	}
	return v, nil
}

// KeyFingerprint returns a short text that identifies a verifier key, for people to compare out of band:
// "sha256:" followed by the lowercase hex SHA-256 of the verifier key string.
func KeyFingerprint(verifierKey string) string {
	sum := sha256.Sum256([]byte(verifierKey))
	return "sha256:" + hex.EncodeToString(sum[:])
}

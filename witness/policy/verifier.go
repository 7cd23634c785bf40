package policy

import (
	"encoding/base64"
	"fmt"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// CosignatureVerifier returns the verifier of a witness's cosignatures from its verifier key
// "<name>+<key ID>+<base64(type || public key)>", of signature type 0x04 (cosignature/v1, Ed25519) or 0x06
// (ML-DSA-44) (c2sp.org/tlog-cosignature), made by github.com/transparency-dev/formats/note. Unlike formats, it
// checks that the key ID is the key's, so that a mistyped key, or a log's Ed25519 key (type 0x01), is refused
// rather than silently never matching a cosignature.
func CosignatureVerifier(vkey string) (note.Verifier, error) {
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("policy: witness key %q: %v", vkey, err)
	}
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || parts[1] != fmt.Sprintf("%08x", v.KeyHash()) {
		return nil, fmt.Errorf("policy: witness key %q: the key ID is not the key's (want %08x; a log's Ed25519 key, type 0x01, is not a cosignature key)", vkey, v.KeyHash())
	}
	if canon := base64.StdEncoding.EncodeToString(mustDecode(parts[2])); canon != parts[2] {
		return nil, fmt.Errorf("policy: witness key %q: the key is not in canonical base64", vkey)
	}
	return v, nil
}

// publicKey returns the public key material of a verifier key (after the signature type byte), which identifies
// the key whatever its name and type: tlog-policy forbids two entries with the same one.
func publicKey(vkey string) string {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return ""
	}
	k := mustDecode(parts[2])
	if len(k) == 0 {
		return ""
	}
	return string(k[1:])
}

func mustDecode(s string) []byte {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

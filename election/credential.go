package election

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/recount-vote/recount/crypto/signature"
	"io"
	"strings"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
)

// A credential is what makes a ballot count (as in Belenios): an Ed25519 key pair made by the registrar. The
// registrar hands the secret to one voter out of band (a file or a printed code) and publishes only the public
// key, in a CredentialList entry. Nothing on the board links a credential to a person; the number of public
// credentials bounds, visibly, the number of ballots that can count.

// Credential is a voter's secret credential.
type Credential struct {
	Election ID
	key      ed25519.PrivateKey
}

// PublicKey returns the credential's public key, as published on the board.
func (c *Credential) PublicKey() [32]byte {
	var pk [32]byte
	copy(pk[:], c.key.Public().(ed25519.PublicKey))
	return pk
}

// GenerateCredentials makes n credentials for the election, with randomness from r (crypto/rand when nil), and
// the CredentialList entries that publish them, in batches of at most batch keys (0: one entry).
func GenerateCredentials(election ID, n, batch int, r io.Reader) ([]*Credential, []Draft, error) {
	if r == nil {
		r = rand.Reader
	}
	if n <= 0 || n > MaxCredentials {
		return nil, nil, fmt.Errorf("credentials: count %d, want 1 to %d", n, MaxCredentials)
	}
	if batch <= 0 {
		batch = n
	}
	creds := make([]*Credential, n)
	var drafts []Draft
	list := &recordv1.CredentialList{}
	for i := range creds {
		var seed [ed25519.SeedSize]byte
		if _, err := io.ReadFull(r, seed[:]); err != nil {
			return nil, nil, fmt.Errorf("credentials: reading randomness: %w", err)
		}
		creds[i] = &Credential{Election: election, key: ed25519.NewKeyFromSeed(seed[:])}
		pk := creds[i].PublicKey()
		list.PublicKeys = append(list.PublicKeys, pk[:])
		if len(list.PublicKeys) == batch || i == n-1 {
			drafts = append(drafts, DraftCredentials(list.PublicKeys))
			list = &recordv1.CredentialList{}
		}
	}
	return creds, drafts, nil
}

// DraftCredentials returns the CredentialList entry that publishes these public keys (Ed25519, 32 bytes each),
// in the canonical encoding. It does not check them: the board's check of the entry (check 4) does, as it does for
// any list.
func DraftCredentials(publicKeys [][]byte) Draft {
	return Draft{Kind: KindCredentials, Payload: marshal(&recordv1.CredentialList{PublicKeys: publicKeys})}
}

// credentialCode is the alphabet of printed credentials: RFC 4648 base32 without padding.
var credentialCode = base32.StdEncoding.WithPadding(base32.NoPadding)

// Code returns the secret as a code a person can type: 52 base32 characters in groups of four.
func (c *Credential) Code() string { return groups(credentialCode.EncodeToString(c.key.Seed())) }

// groups splits s into groups of four separated by dashes.
func groups(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// ParseCredentialCode reads a code made by Code, ignoring dashes, spaces and case.
func ParseCredentialCode(election ID, code string) (*Credential, error) {
	clean := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	seed, err := credentialCode.DecodeString(clean)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("credential: the code is not 52 base32 characters (A-Z, 2-7)")
	}
	return &Credential{Election: election, key: ed25519.NewKeyFromSeed(seed)}, nil
}

// credentialFile is the JSON form of a credential file.
type credentialFile struct {
	Format   string `json:"format"`
	Election string `json:"election"`
	Code     string `json:"code"`
}

const credentialFormat = "recount-credential/v1"

// MarshalFile returns the credential as a small JSON file for the voter.
func (c *Credential) MarshalFile() []byte {
	b, _ := json.MarshalIndent(credentialFile{Format: credentialFormat, Election: c.Election.String(), Code: c.Code()}, "", "  ")
	return append(b, '\n')
}

// ParseCredentialFile reads a file made by MarshalFile.
func ParseCredentialFile(data []byte) (*Credential, error) {
	var f credentialFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("credential file: %w", err)
	}
	if f.Format != credentialFormat {
		return nil, fmt.Errorf("credential file: format is %q, want %q", f.Format, credentialFormat)
	}
	id, err := ParseID(f.Election)
	if err != nil {
		return nil, fmt.Errorf("credential file: election: %w", err)
	}
	c, err := ParseCredentialCode(id, f.Code)
	if err != nil {
		return nil, fmt.Errorf("credential file: %w", err)
	}
	return c, nil
}

// ParseID reads a 64-digit hexadecimal identity.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%q is not 64 hexadecimal digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// sign signs msg with the credential.
func (c *Credential) sign(msg []byte) []byte { return ed25519.Sign(c.key, msg) }

// parseCredentialList decodes a CredentialList entry: every key 32 bytes and valid (signature.CheckKey).
func parseCredentialList(payload []byte) ([][32]byte, error) {
	var pb recordv1.CredentialList
	if err := unmarshal(payload, &pb); err != nil {
		return nil, err
	}
	if len(pb.PublicKeys) == 0 {
		return nil, errors.New("the list is empty")
	}
	out := make([][32]byte, len(pb.PublicKeys))
	at := make(map[[32]byte]int, len(pb.PublicKeys))
	for i, k := range pb.PublicKeys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("public_keys[%d] is %d bytes, want 32", i, len(k))
		}
		if err := signature.CheckKey(k); err != nil {
			return nil, fmt.Errorf("public_keys[%d]: %v", i, err)
		}
		copy(out[i][:], k)
		// No key twice on the whole board (record.md 3.2): within a list as across lists.
		if j, dup := at[out[i]]; dup {
			return nil, fmt.Errorf("public_keys[%d] repeats public_keys[%d]", i, j)
		}
		at[out[i]] = i
	}
	return out, nil
}

package ledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// KeyFileName is the board's signing key file inside the board directory. It holds one line: the
// golang.org/x/mod/sumdb/note private key text "PRIVATE+KEY+<origin>+<hash>+<base64>" and a newline. It is
// created with mode 0600 on the board's first start, and Open refuses a key file that the group or others can
// read or write (like ssh does): fix it with chmod 600.
const KeyFileName = "board.key"

// maxKeyFileSize bounds board.key; a real one is under 400 bytes.
const maxKeyFileSize = 4096

// parseSignerKey parses the private key text and returns the signer and its verifier key.
func parseSignerKey(skey string) (note.Signer, string, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("%w: not a note private key: %v", ErrBadKey, err)
	}
	// "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>"; NewSigner checked the shape and the hash.
	rest := strings.TrimPrefix(skey, "PRIVATE+KEY+")
	_, rest, _ = strings.Cut(rest, "+") // the name (which cannot contain '+')
	_, key64, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, "", fmt.Errorf("%w: not an Ed25519 note private key", ErrBadKey)
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return s, vkey, nil
}

// readKeyFile reads and checks dir/board.key. It returns an error wrapping fs.ErrNotExist if there is none.
func readKeyFile(path string) (note.Signer, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("ledger: signing key %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("ledger: signing key %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, "", fmt.Errorf("ledger: signing key %s: %w: not a regular file", path, ErrBadKey)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, "", fmt.Errorf("ledger: signing key %s: %w: its mode is %04o, so others can read or change it; run: chmod 600 %s (and consider whether the key has leaked)", path, ErrBadKey, st.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("ledger: signing key %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, "", fmt.Errorf("ledger: signing key %s: %w: the file is too large to be a key", path, ErrBadKey)
	}
	text := strings.TrimSuffix(string(data), "\n")
	s, vkey, err := parseSignerKey(text)
	if err != nil {
		return nil, "", fmt.Errorf("ledger: signing key %s: %w", path, err)
	}
	return s, vkey, nil
}

// generateKey generates a new signing key named origin; it returns the private key text, the signer and the
// verifier key.
func generateKey(origin string) (string, note.Signer, string, error) {
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", nil, "", fmt.Errorf("ledger: generating the signing key: %w", err)
	}
	s, vkey, err := parseSignerKey(skey)
	if err != nil {
		return "", nil, "", fmt.Errorf("ledger: generating the signing key: %w", err)
	}
	return skey, s, vkey, nil
}

// writeFileAtomic writes data to path through a temporary file in the same directory, then renames it and
// syncs the directory, so that path either does not exist or holds all of data.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory so that a rename or a new file in it is durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

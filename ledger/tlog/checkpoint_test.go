package tlog

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestCheckpointFormat(t *testing.T) {
	t.Parallel()
	s, vkey := fixedKey(t, testOrigin, 1)
	var root [HashSize]byte
	for i := range root {
		root[i] = byte(i)
	}
	cp, err := SignCheckpoint(s, testOrigin, 1234, root)
	if err != nil {
		t.Fatal(err)
	}
	body := testOrigin + "\n1234\n" + base64.StdEncoding.EncodeToString(root[:]) + "\n"
	if cp.Body() != body {
		t.Fatalf("body %q, want %q", cp.Body(), body)
	}
	text := string(cp.Signed)
	if !strings.HasPrefix(text, body+"\n— "+testOrigin+" ") || !strings.HasSuffix(text, "\n") || strings.Count(text, "\n") != 5 {
		t.Fatalf("signed checkpoint is not body, blank line, one signature line:\n%s", text)
	}
	// The standard note package verifies it.
	v, _ := note.NewVerifier(vkey)
	n, err := note.Open(cp.Signed, note.VerifierList(v))
	if err != nil || n.Text != body {
		t.Fatalf("note.Open: %v", err)
	}
	got, err := ParseCheckpoint(cp.Signed, vkey)
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != testOrigin || got.Size != 1234 || got.Root != root || !bytes.Equal(got.Signed, cp.Signed) {
		t.Fatalf("parsed %+v", got)
	}
	// Another key: bad signature.
	_, other := fixedKey(t, testOrigin, 2)
	_, err = ParseCheckpoint(cp.Signed, other)
	wantErr(t, err, ErrBadSignature, "checkpoint checked with another key")
	// A key of another name.
	_, otherName := fixedKey(t, "other.example", 1)
	_, err = ParseCheckpoint(cp.Signed, otherName)
	wantErr(t, err, ErrBadSignature, "checkpoint checked with a key of another name")
	_, err = ParseCheckpoint(cp.Signed, "not a key")
	wantErr(t, err, ErrBadKey, "malformed verifier key")
}

// TestCheckpointEveryByte changes each byte of a signed checkpoint in several ways; each change must be refused.
func TestCheckpointEveryByte(t *testing.T) {
	t.Parallel()
	s, vkey := fixedKey(t, testOrigin, 1)
	cp, err := SignCheckpoint(s, testOrigin, 77, LeafHash(1, []byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	for i := range cp.Signed {
		for _, x := range byteChanges() {
			b := bytes.Clone(cp.Signed)
			b[i] ^= x
			if _, err := ParseCheckpoint(b, vkey); err == nil {
				t.Fatalf("changing byte %d (xor %#x) of the checkpoint was not detected", i, x)
			}
		}
	}
	for i := range len(cp.Signed) {
		if _, err := ParseCheckpoint(cp.Signed[:i], vkey); err == nil {
			t.Fatalf("truncation to %d bytes was not detected", i)
		}
	}
	if _, err := ParseCheckpoint(append(bytes.Clone(cp.Signed), '\n'), vkey); err == nil {
		t.Fatal("an added newline was not detected")
	}
}

// TestCheckpointNonCanonical signs non-canonical bodies with the right key: they must still be refused.
func TestCheckpointNonCanonical(t *testing.T) {
	t.Parallel()
	s, vkey := fixedKey(t, testOrigin, 1)
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, body := range []string{
		testOrigin + "\n012\n" + root + "\n",                                               // leading zero
		testOrigin + "\n+12\n" + root + "\n",                                               // sign
		testOrigin + "\n12\n" + root + "\nextra line\n",                                    // extension line
		testOrigin + "\n12\n" + strings.TrimRight(root, "=") + "\n",                        // unpadded base64
		testOrigin + "\n12\n" + base64.StdEncoding.EncodeToString(make([]byte, 31)) + "\n", // short root
		"other.example\n12\n" + root + "\n",                                                // origin is not the key's name
		testOrigin + "\n18446744073709551616\n" + root + "\n",                              // size overflows
	} {
		signed, err := note.Sign(&note.Note{Text: body}, s)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseCheckpoint(signed, vkey)
		wantErr(t, err, ErrBadCheckpoint, "non-canonical body "+strings.ReplaceAll(body, "\n", `\n`))
	}
	// Two signatures (the board's and another key's).
	s2, _ := fixedKey(t, "witness.example", 3)
	signed, err := note.Sign(&note.Note{Text: testOrigin + "\n12\n" + root + "\n"}, s, s2)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseCheckpoint(signed, vkey)
	wantErr(t, err, ErrBadCheckpoint, "a second signature")
	// A verifier key whose hash is written in upper case is not canonical.
	name, rest, _ := strings.Cut(vkey, "+")
	hash, key, _ := strings.Cut(rest, "+")
	upper := name + "+" + strings.ToUpper(hash) + "+" + key
	if upper != vkey {
		_, err = ParseCheckpoint(signed, upper)
		wantErr(t, err, ErrBadKey, "upper-case verifier key hash")
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	s, vkey := fixedKey(f, testOrigin, 1)
	for _, size := range []uint64{0, 1, 1 << 40} {
		cp, err := SignCheckpoint(s, testOrigin, size, LeafHash(Kind(size), nil))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cp.Signed)
	}
	f.Add([]byte("test.example/board\n1\nAAAA\n\n— test.example/board AAAA\n"))
	f.Fuzz(func(t *testing.T, signed []byte) {
		cp, err := ParseCheckpoint(signed, vkey)
		if err != nil {
			return
		}
		// Only the canonical encoding of a checkpoint is accepted.
		if !bytes.Equal(signed, cp.Signed) || string(signed[:len(cp.Body())]) != cp.Body() {
			t.Fatalf("accepted a checkpoint that is not canonical: %q", signed)
		}
	})
}

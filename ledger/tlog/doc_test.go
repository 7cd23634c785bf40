package tlog

import (
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
)

// docExample builds the worked example of docs/board.md section 8.
func docExample(t *testing.T) (vkey string, export []byte, cp Checkpoint) {
	s, vkey := fixedKey(t, "example.org/board", 1)
	entries := []Entry{{Kind: 1, Payload: []byte("hello")}, {Kind: 2, Payload: []byte{}}}
	export = buildExport(t, s, vkey, entries)
	cp, err := VerifyExport(strings.NewReader(string(export)), vkey)
	if err != nil {
		t.Fatal(err)
	}
	return vkey, export, cp
}

// TestDocExample checks that the worked example in docs/board.md is what the code produces.
func TestDocExample(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/board.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	vkey, export, cp := docExample(t)
	h0, h1 := LeafHash(1, []byte("hello")), LeafHash(2, nil)
	abc := LeafHash(1, []byte("abc"))
	empty := EmptyRoot()
	for _, want := range []string{
		"verifier key: " + vkey,
		"leaf hash 0:  " + hex.EncodeToString(h0[:]),
		"leaf hash 1:  " + hex.EncodeToString(h1[:]),
		"root:         " + hex.EncodeToString(cp.Root[:]),
		"Its export, " + strconv.Itoa(len(export)) + " bytes",
		indent(hex.Dump(export), ""),
		indent(string(cp.Signed), "    "),
		hex.EncodeToString(abc[:]),
		hex.EncodeToString(empty[:]),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("docs/board.md does not contain:\n%s", want)
		}
	}
}

// indent prefixes every non-empty line with p.
func indent(s, p string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = p + l
		}
	}
	return strings.Join(lines, "\n")
}

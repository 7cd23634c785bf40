package kat

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestPrimitiveFilesDocumented: the files of testdata/vectors/primitives are exactly those that docs/vectors.md's
// layout and docs/protocol.md's table of section 9 name.
func TestPrimitiveFilesDocumented(t *testing.T) {
	entries, err := os.ReadDir(testdata)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	vectorsDoc, err := os.ReadFile("../../docs/vectors.md")
	if err != nil {
		t.Fatal(err)
	}
	protocolDoc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	// vectors.md: the layout block, from "primitives/" to "records/".
	layout := string(vectorsDoc)
	start, end := strings.Index(layout, "  primitives/"), strings.Index(layout, "  records/")
	if start < 0 || end < start {
		t.Fatal("docs/vectors.md has no layout block listing primitives/ then records/")
	}
	// protocol.md: the table rows "| `name.json` | ...".
	section := string(protocolDoc)
	start9, end9 := strings.Index(section, "## 9. "), strings.Index(section, "## 10. ")
	if start9 < 0 || end9 < start9 {
		t.Fatal("docs/protocol.md has no section 9")
	}
	for doc, text := range map[string]string{
		"docs/vectors.md's layout":     layout[start:end],
		"docs/protocol.md's section 9": section[start9:end9],
	} {
		named := regexp.MustCompile(`[a-z0-9_]+\.json`).FindAllString(text, -1)
		slices.Sort(named)
		named = slices.Compact(named)
		if !slices.Equal(named, files) {
			t.Errorf("%s names %v; testdata/vectors/primitives holds %v", doc, named, files)
		}
	}
}

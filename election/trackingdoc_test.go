package election_test

import (
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/recount-vote/recount/election"
)

// TestTrackingCodeDisplayDocumented: the display form's vectors in docs/verification.md are what
// HumanTrackingCode writes and ParseTrackingCode reads back (in lower case and without dashes too).
func TestTrackingCodeDisplayDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/verification.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([0-9a-f]{64})` \\| `([A-Z2-7-]+)` \\|$")
	rows := row.FindAllStringSubmatch(string(doc), -1)
	if len(rows) < 2 {
		t.Fatalf("docs/verification.md has %d tracking code vectors, want at least 2", len(rows))
	}
	for _, r := range rows {
		b, err := hex.DecodeString(r[1])
		if err != nil {
			t.Fatal(err)
		}
		id := election.ID(b)
		if got := election.HumanTrackingCode(id); got != r[2] {
			t.Errorf("HumanTrackingCode(%s) = %s, the document says %s", r[1], got, r[2])
		}
		if len(r[2]) != 64 || strings.Count(r[2], "-") != 12 {
			t.Errorf("%s: not 13 groups of 4 joined by dashes", r[2])
		}
		for _, form := range []string{r[2], strings.ToLower(r[2]), strings.ReplaceAll(r[2], "-", ""), strings.ReplaceAll(r[2], "-", " "), r[1]} {
			if got, err := election.ParseTrackingCode(form); err != nil || got != id {
				t.Errorf("ParseTrackingCode(%q) = %x, %v; want %s", form, got, err, r[1])
			}
		}
	}
	for _, bad := range []string{"AAAQ-EAYE", rows[0][2] + "A", strings.Replace(rows[0][2], "A", "1", 1)} {
		if _, err := election.ParseTrackingCode(bad); err == nil {
			t.Errorf("ParseTrackingCode(%q) accepted", bad)
		}
	}
}

package verify_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/verify"
)

// receiptDocFields reads the table under "### The receipt file" in docs/verification.md: each field's name and
// type, in order.
func receiptDocFields(t *testing.T) (names, types []string) {
	t.Helper()
	doc, err := os.ReadFile("../docs/verification.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### The receipt file\n")
	if !ok {
		t.Fatal("docs/verification.md has no section \"The receipt file\"")
	}
	if i := strings.Index(section, "\n#"); i >= 0 {
		section = section[:i]
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| ([a-z ]+) \\|")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		typ, opt := strings.CutPrefix(m[2], "optional ")
		names, types = append(names, m[1]), append(types, typ)
		optional[m[1]] = opt
	}
	return names, types
}

// optional holds the fields documented as optional (type "optional ..."), which Marshal writes only when set.
var optional = map[string]bool{}

// TestReceiptFileDocumented: Marshal writes exactly the fields docs/verification.md lists for a receipt file,
// in its order and of its types, indented by two spaces and ending in a newline; the documented values of format,
// election, tracking_code and kind are those written; and ParseReceipt reads it back.
func TestReceiptFileDocumented(t *testing.T) {
	names, types := receiptDocFields(t)
	if len(names) == 0 {
		t.Fatal("no fields documented")
	}
	var elec, code election.ID
	for i := range elec {
		elec[i], code[i] = byte(i), byte(255-i)
	}
	r := &verify.Receipt{Election: elec, TrackingCode: code, Index: 7, Kind: election.KindSpoiledBallot,
		Checkpoint: []byte("example.org/board\n8\nAAAA\n\n— example.org/board abcd\n"),
		Inclusion:  [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}, BoardKey: "example.org/board+01234567+AAAA"}
	// A receipt without a witness policy writes no optional field: the file is as it was before witnesses.
	plain := r.Marshal()
	for _, name := range names {
		if optional[name] && bytes.Contains(plain, []byte(`"`+name+`"`)) {
			t.Errorf("a receipt with no witnessing writes the optional field %s", name)
		}
	}
	if _, err := verify.ParseReceipt(plain); err != nil {
		t.Fatal(err)
	}
	// With every field: a cosigned checkpoint (unwitnessed is shown here too, though a real receipt never has both).
	r.Cosigned = append(append([]byte(nil), r.Checkpoint...), "— witness.example/w1 efgh\n"...)
	r.Unwitnessed = true
	data := r.Marshal()
	r.Unwitnessed = false
	if !bytes.HasSuffix(data, []byte("}\n")) || !bytes.HasPrefix(data, []byte("{\n  \"")) {
		t.Errorf("not an object indented by two spaces ending in a newline:\n%s", data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %v %v", tok, err)
	}
	var got []string
	values := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		key := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, key)
		values[key] = v
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("Marshal writes the fields %v, docs/verification.md lists %v", got, names)
	}
	for i, name := range names {
		ok := false
		switch v := values[name].(type) {
		case string:
			ok = types[i] == "string"
		case bool:
			ok = types[i] == "boolean"
		case float64:
			ok = types[i] == "integer" && v == float64(uint64(v))
		case []any:
			ok = types[i] == "array of string"
			for _, e := range v {
				_, isString := e.(string)
				ok = ok && isString
			}
		}
		if !ok {
			t.Errorf("field %s: %T (%v), documented as %s", name, values[name], values[name], types[i])
		}
	}
	want := map[string]any{"format": verify.ReceiptFormat, "election": elec.String(),
		"tracking_code": election.HumanTrackingCode(code), "kind": "spoiled", "index": float64(7)}
	for k, v := range want {
		if values[k] != v {
			t.Errorf("%s = %v, want %v", k, values[k], v)
		}
	}
	if _, err := verify.ParseReceipt(data); err == nil {
		t.Error("ParseReceipt read a receipt both cosigned and unwitnessed")
	}
	data = r.Marshal()
	back, err := verify.ParseReceipt(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Cosigned, r.Cosigned) || back.Unwitnessed {
		t.Errorf("ParseReceipt read back the cosigned checkpoint %q, unwitnessed %v", back.Cosigned, back.Unwitnessed)
	}
	if back.Election != elec || back.TrackingCode != code || back.Index != 7 || back.Kind != election.KindSpoiledBallot || back.BoardKey != r.BoardKey || len(back.Inclusion) != 2 {
		t.Errorf("ParseReceipt read back %+v", back)
	}
}

// TestReceiptCosignedForm: a receipt file's cosigned checkpoint must be its checkpoint plus signature lines.
func TestReceiptCosignedForm(t *testing.T) {
	cp := "example.org/board\n8\nAAAA\n\n— example.org/board abcd\n"
	r := &verify.Receipt{Index: 7, Kind: election.KindBallot, Checkpoint: []byte(cp), Inclusion: [][]byte{make([]byte, 32)}, BoardKey: "k"}
	for _, bad := range []string{
		cp,              // no cosignature line
		cp + "— w abcd", // not newline-terminated
		cp + "w abcd\n", // not a signature line
		"other\n8\nAAAA\n\n— o abcd\n— w abcd\n", // not the receipt's checkpoint
		cp + "— w abcd\n\n",                      // an empty line
	} {
		r.Cosigned = []byte(bad)
		if _, err := verify.ParseReceipt(r.Marshal()); err == nil {
			t.Errorf("ParseReceipt accepted the cosigned checkpoint %q", bad)
		}
	}
	r.Cosigned = []byte(cp + "— w1 abcd\n— w2 efgh\n")
	if _, err := verify.ParseReceipt(r.Marshal()); err != nil {
		t.Errorf("two cosignature lines: %v", err)
	}
}

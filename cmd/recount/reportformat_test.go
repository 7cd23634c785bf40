package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The `recount verify --json` report is specified field by field in docs/report.md. TestVerifyJSONFormat reads
// that document's tables and checks the reports of the conformance vectors (testdata/vectors/records) against
// them, so that the document is the format a program can rely on.

const (
	reportDoc  = "../../docs/report.md"
	vectorsDir = "../../testdata/vectors/records"
)

// docField is one row of a table of docs/report.md.
type docField struct {
	name, typ string
	always    bool
}

// reportFormat reads the objects of docs/report.md: for each "### Object `Name`" heading, the rows of the table
// under it, in order.
func reportFormat(t *testing.T) map[string][]docField {
	t.Helper()
	heading := regexp.MustCompile("^### Object `([A-Za-z]+)`$")
	row := regexp.MustCompile("^\\| `([a-z_]+)` \\| ([^|]+) \\| (always|optional) \\|")
	objects := map[string][]docField{}
	current := ""
	for line := range strings.Lines(string(readFile(t, reportDoc))) {
		line = strings.TrimRight(line, "\n")
		if m := heading.FindStringSubmatch(line); m != nil {
			current = m[1]
			objects[current] = nil
			continue
		}
		if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "# ") {
			current = ""
		}
		if m := row.FindStringSubmatch(line); m != nil && current != "" {
			objects[current] = append(objects[current], docField{name: m[1], typ: strings.TrimSpace(m[2]), always: m[3] == "always"})
		}
	}
	if len(objects["Report"]) == 0 {
		t.Fatalf("%s has no table for the object Report", reportDoc)
	}
	return objects
}

// jsonValue is a JSON value with its objects' members in their order.
type jsonValue struct {
	kind    string // "object", "array", "string", "number", "bool", "null"
	members []jsonMember
	items   []jsonValue
	str     string
	num     json.Number
}

type jsonMember struct {
	name  string
	value jsonValue
}

// parseJSON reads one JSON value from d, keeping the order of objects' members.
func parseJSON(d *json.Decoder) (jsonValue, error) {
	tok, err := d.Token()
	if err != nil {
		return jsonValue{}, err
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '{':
			v := jsonValue{kind: "object"}
			for d.More() {
				name, err := d.Token()
				if err != nil {
					return v, err
				}
				mv, err := parseJSON(d)
				if err != nil {
					return v, err
				}
				v.members = append(v.members, jsonMember{name.(string), mv})
			}
			_, err := d.Token()
			return v, err
		case '[':
			v := jsonValue{kind: "array"}
			for d.More() {
				iv, err := parseJSON(d)
				if err != nil {
					return v, err
				}
				v.items = append(v.items, iv)
			}
			_, err := d.Token()
			return v, err
		}
	case string:
		return jsonValue{kind: "string", str: tok}, nil
	case json.Number:
		return jsonValue{kind: "number", num: tok}, nil
	case bool:
		return jsonValue{kind: "bool"}, nil
	case nil:
		return jsonValue{kind: "null"}, nil
	}
	return jsonValue{}, fmt.Errorf("unexpected token %v", tok)
}

// reportChecker checks reports against the format, and remembers which fields it saw.
type reportChecker struct {
	format map[string][]docField
	seen   map[string]bool // "Object.field"
}

// check checks v against the type typ of docs/report.md, at path, and returns what is wrong.
func (rc *reportChecker) check(v jsonValue, typ, path string) []string {
	bad := func(format string, args ...any) []string {
		return []string{path + ": " + fmt.Sprintf(format, args...)}
	}
	switch {
	case typ == "boolean":
		if v.kind != "bool" {
			return bad("%s, not a boolean", v.kind)
		}
	case typ == "string":
		if v.kind != "string" {
			return bad("%s, not a string", v.kind)
		}
	case typ == "integer":
		if v.kind != "number" {
			return bad("%s, not an integer", v.kind)
		}
		if _, err := strconv.ParseUint(v.num.String(), 10, 64); err != nil {
			return bad("%s is not an integer from 0 to 2^64-1", v.num)
		}
	case typ == "status":
		if v.kind != "string" || !slices.Contains([]string{"pass", "fail", "not run", "none"}, v.str) {
			return bad("%s %q is not a status", v.kind, v.str)
		}
	case strings.HasPrefix(typ, "array of "):
		if v.kind != "array" {
			return bad("%s, not an array", v.kind)
		}
		var errs []string
		for i, item := range v.items {
			errs = append(errs, rc.check(item, strings.TrimPrefix(typ, "array of "), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	default:
		name := strings.Trim(strings.TrimPrefix(typ, "object "), "`")
		fields, ok := rc.format[name]
		if !ok {
			return bad("the document's type %q is not one it defines", typ)
		}
		if v.kind != "object" {
			return bad("%s, not an object %s", v.kind, name)
		}
		var errs []string
		next := 0 // members must come in the document's order
		for _, m := range v.members {
			i := slices.IndexFunc(fields, func(f docField) bool { return f.name == m.name })
			if i < 0 {
				errs = append(errs, fmt.Sprintf("%s: field %q is not in object %s of %s", path, m.name, name, reportDoc))
				continue
			}
			if i < next {
				errs = append(errs, fmt.Sprintf("%s: field %q out of order, or given twice", path, m.name))
			}
			next = i + 1
			rc.seen[name+"."+m.name] = true
			errs = append(errs, rc.check(m.value, fields[i].typ, path+"."+m.name)...)
		}
		for _, f := range fields {
			if f.always && !slices.ContainsFunc(v.members, func(m jsonMember) bool { return m.name == f.name }) {
				errs = append(errs, fmt.Sprintf("%s: field %q, always present, is missing", path, f.name))
			}
		}
		return errs
	}
	return nil
}

// TestVerifyJSONFormat: `recount verify --json` on each conformance vector (and the small record) prints a report
// that follows docs/report.md, the vector's .json but for the source; every field the document lists is seen.
func TestVerifyJSONFormat(t *testing.T) {
	rc := &reportChecker{format: reportFormat(t), seen: map[string]bool{}}
	records, err := filepath.Glob(filepath.Join(vectorsDir, "*.record"))
	if err != nil || len(records) == 0 {
		t.Fatalf("no vectors in %s (%v)", vectorsDir, err)
	}
	for _, path := range append(records, smallRecord) {
		code, out, errs := runCmd(t, "verify", "--json", path)
		name := filepath.Base(path)
		if code != 0 && code != 1 {
			t.Errorf("%s: exit %d: %s", name, code, errs)
			continue
		}
		d := json.NewDecoder(strings.NewReader(out))
		d.UseNumber()
		v, err := parseJSON(d)
		if err != nil {
			t.Errorf("%s: the report is not JSON: %v", name, err)
			continue
		}
		if _, err := d.Token(); err != io.EOF {
			t.Errorf("%s: more than one JSON value on stdout", name)
		}
		if !strings.HasSuffix(out, "}\n") {
			t.Errorf("%s: the report does not end with a newline", name)
		}
		for _, e := range rc.check(v, "object `Report`", name) {
			t.Error(e)
		}
		if path == smallRecord {
			continue
		}
		// The vector's .json is this report, its source the vector's file name.
		stem := strings.TrimSuffix(path, ".record")
		want := readFile(t, stem+".json")
		// A failure's reason may quote an error of the protobuf runtime, which puts a no-break space in place
		// of a space in some builds (on purpose, so that programs do not match its messages): the vectors have
		// spaces.
		got := strings.ReplaceAll(strings.Replace(out, fmt.Sprintf("%q", path), fmt.Sprintf("%q", name), 1), "\u00a0", " ")
		if !bytes.Equal([]byte(got), want) {
			t.Errorf("%s: recount verify --json does not print %s.json", name, filepath.Base(stem))
		}
		var ok struct{ OK bool }
		if err := json.Unmarshal(want, &ok); err == nil && ok.OK != (code == 0) {
			t.Errorf("%s: exit %d with ok %v", name, code, ok.OK)
		}
	}
	// A report with a witness policy's verdict (the vectors have none).
	w := newWitnessedRecord(t)
	code, out, errs := runCmd(t, "verify", "--json", w.record, "--witness-policy", w.policyFile, "--cosigned", w.file("c", w.cosigned(w.final.Size, "alice", "bob")))
	if code != 0 {
		t.Errorf("a witnessed record: exit %d: %s", code, errs)
	}
	d := json.NewDecoder(strings.NewReader(out))
	d.UseNumber()
	if v, err := parseJSON(d); err != nil {
		t.Errorf("a witnessed record: the report is not JSON: %v", err)
	} else {
		for _, e := range rc.check(v, "object `Report`", "a witnessed record") {
			t.Error(e)
		}
	}
	for obj, fields := range rc.format {
		for _, f := range fields {
			if !rc.seen[obj+"."+f.name] {
				t.Errorf("%s lists the field %s.%s, which no report printed", reportDoc, obj, f.name)
			}
		}
	}
}

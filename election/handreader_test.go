package election_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// A canonical-encoding reader written from docs/record.md section 2 alone, as an outside verifier would write it
// (bytes read by hand; the record's messages give only the schema: each field's number, type and whether it is
// repeated or in a oneof, which record.md section 3 tabulates). It must agree with election's strict decoder on
// every entry of the published records and on every re-encoding and edit of them: the text is then complete
// enough to implement without a protobuf library.

// handVarint reads a varint as record.md 2.1 rule 4 allows it: at most 10 bytes, in the fewest bytes, below 2^64.
func handVarint(b []byte) (uint64, int, error) {
	var x uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		if i == 9 && c > 1 {
			return 0, 0, errors.New("a varint of 2^64 or more")
		}
		x |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, errors.New("a varint not in its fewest bytes")
			}
			return x, i + 1, nil
		}
	}
	return 0, 0, errors.New("a varint cut short or longer than 10 bytes")
}

// handCanonical checks that b is the canonical encoding of a message of type md.
func handCanonical(md protoreflect.MessageDescriptor, b []byte) error {
	lastNum := uint64(0)
	oneofs := map[protoreflect.FullName]bool{}
	for len(b) > 0 {
		tag, n, err := handVarint(b)
		if err != nil {
			return fmt.Errorf("tag: %v", err)
		}
		b = b[n:]
		num, wire := tag>>3, tag&7
		if num == 0 || num >= 1<<29 {
			return fmt.Errorf("field number %d", num)
		}
		fd := md.Fields().ByNumber(protoreflect.FieldNumber(num))
		if fd == nil {
			return fmt.Errorf("%s has no field %d", md.Name(), num)
		}
		scalar := fd.Kind() != protoreflect.StringKind && fd.Kind() != protoreflect.BytesKind && fd.Kind() != protoreflect.MessageKind
		wantWire := uint64(2)
		if scalar && !fd.IsList() {
			wantWire = 0
		}
		if wire != wantWire {
			return fmt.Errorf("%s: wire type %d, want %d", fd.Name(), wire, wantWire)
		}
		// Ascending field numbers, each field once, but a repeated string, bytes or message field's elements are
		// consecutive fields of the same number.
		if num < lastNum || num == lastNum && (scalar || !fd.IsList()) {
			return fmt.Errorf("%s: out of order or given twice", fd.Name())
		}
		lastNum = num
		if o := fd.ContainingOneof(); o != nil {
			if oneofs[o.FullName()] {
				return fmt.Errorf("%s: a second member of oneof %s", fd.Name(), o.Name())
			}
			oneofs[o.FullName()] = true
		}
		x, n, err := handVarint(b)
		if err != nil {
			return fmt.Errorf("%s: %v", fd.Name(), err)
		}
		b = b[n:]
		if wire == 0 {
			if x == 0 {
				return fmt.Errorf("%s: a default value written", fd.Name())
			}
			if fd.Kind() == protoreflect.Uint32Kind && x >= 1<<32 {
				return fmt.Errorf("%s: a uint32 of 2^32 or more", fd.Name())
			}
			continue
		}
		if x > uint64(len(b)) {
			return fmt.Errorf("%s: length %d beyond the end", fd.Name(), x)
		}
		v := b[:x]
		b = b[x:]
		switch {
		case scalar: // packed
			if len(v) == 0 {
				return fmt.Errorf("%s: an empty packed field", fd.Name())
			}
			for len(v) > 0 {
				e, n, err := handVarint(v)
				if err != nil {
					return fmt.Errorf("%s: %v", fd.Name(), err)
				}
				if fd.Kind() == protoreflect.Uint32Kind && e >= 1<<32 {
					return fmt.Errorf("%s: a uint32 of 2^32 or more", fd.Name())
				}
				v = v[n:]
			}
		case fd.Kind() == protoreflect.MessageKind:
			if err := handCanonical(fd.Message(), v); err != nil {
				return fmt.Errorf("%s: %v", fd.Name(), err)
			}
		default:
			if len(v) == 0 && !fd.IsList() {
				return fmt.Errorf("%s: a default value written", fd.Name())
			}
			if fd.Kind() == protoreflect.StringKind && !utf8.Valid(v) {
				return fmt.Errorf("%s: not UTF-8", fd.Name())
			}
		}
	}
	return nil
}

// handCanonicalEntry checks an entry of kind and each message carried inside it as bytes.
func handCanonicalEntry(kind election.Kind, payload []byte) error {
	newMsg, ok := entryMessages[kind]
	if !ok {
		return fmt.Errorf("kind %d", kind)
	}
	// The strict and the hand-written readers agree on the outer message before the inner ones are looked at;
	// the inner bytes are taken with a lenient read of a payload the hand reader accepted.
	m := newMsg()
	if err := handCanonical(m.ProtoReflect().Descriptor(), payload); err != nil {
		return err
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		return err
	}
	check := func(b []byte, inner proto.Message) error {
		if err := handCanonical(inner.ProtoReflect().Descriptor(), b); err != nil {
			return err
		}
		return proto.Unmarshal(b, inner)
	}
	switch pb := m.(type) {
	case *recordv1.TrusteeSigned:
		body := map[election.Kind]proto.Message{
			election.KindKeyCommitment: &recordv1.KeyCommitment{}, election.KindKeyVerdict: &recordv1.KeyVerdict{},
			election.KindKeyReveal: &recordv1.KeyReveal{}, election.KindPartialDecryption: &recordv1.PartialDecryption{},
		}[kind]
		return check(pb.Body, body)
	case *recordv1.SignedBallot:
		return check(pb.Ballot, &recordv1.Ballot{})
	case *recordv1.SpoiledBallot:
		var sb recordv1.SignedBallot
		if err := check(pb.SignedBallot, &sb); err != nil {
			return err
		}
		return check(sb.Ballot, &recordv1.Ballot{})
	}
	return nil
}

// publishedEntries reads every entry of testdata/small.record and of the conformance records.
func publishedEntries(t *testing.T) []election.Entry {
	files, err := filepath.Glob("../testdata/vectors/records/*.record")
	if err != nil {
		t.Fatal(err)
	}
	var out []election.Entry
	for _, name := range append(files, "../testdata/small.record") {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		x, err := tlog.NewExportReader(f)
		if err != nil {
			t.Fatal(name, err)
		}
		for e, err := range x.Entries() {
			if err != nil {
				break // a vector of a broken export: the entries before the break are kept
			}
			out = append(out, election.FromBoard(e))
		}
		f.Close()
	}
	return out
}

// TestHandReaderAgrees: the reader written from docs/record.md section 2 and election's strict decoder accept
// exactly the same payloads among the published records' entries, their re-encodings and byte edits.
func TestHandReaderAgrees(t *testing.T) {
	entries := publishedEntries(t)
	if len(entries) < 1000 {
		t.Fatalf("only %d published entries read", len(entries))
	}
	stride := 1
	if testing.Short() || raceEnabled {
		stride = 7 // the full run without -race covers every entry
	}
	var accepted, refused int
	agree := func(e election.Entry, payload []byte) {
		if _, ok := entryMessages[e.Kind]; !ok {
			return
		}
		_, strict := decodeDeep(e.Kind, payload, election.StrictUnmarshal)
		hand := handCanonicalEntry(e.Kind, payload)
		if (strict == nil) != (hand == nil) {
			t.Fatalf("entry %d (%s) %x: election says %v, the hand reader %v", e.Index, e.Kind, payload, strict, hand)
		}
		if hand == nil {
			accepted++
		} else {
			refused++
		}
	}
	for i, e := range entries {
		agree(e, e.Payload)
		if i%stride != 0 {
			continue
		}
		for op := range byte(80) {
			for _, at := range []byte{0, 1, 2, 3, 5, 0x80, 0x83} {
				agree(e, mutate(e.Payload, op, at, 0))
			}
		}
	}
	if accepted < len(entries) || refused < 1000 {
		t.Errorf("%d accepted, %d refused: the comparison has too little on one side", accepted, refused)
	}
	t.Logf("%d payloads accepted and %d refused by both", accepted, refused)
}

package election_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
)

// No entry the node writes can be re-encoded into another accepted byte string (issue 11): whatever bytes carry
// the same values as an honest entry (its fields reordered, given twice, unpacked, with overlong varints or
// default values written, at any depth, including inside the bytes fields that carry a message: a ballot inside
// its SignedBallot, a SignedBallot inside a SpoiledBallot, a body inside a TrusteeSigned), the strict decoder
// refuses, unless they are the honest bytes themselves.

// decodeDeep decodes payload as an entry of kind with the strict decoder, and each message carried inside it as
// bytes, returning the messages, outermost first, with those bytes fields cleared (their values are the messages
// after them): two payloads with equal lists hold the same values.
func decodeDeep(kind election.Kind, payload []byte, unmarshal func([]byte, proto.Message) error) ([]proto.Message, error) {
	newMsg, ok := entryMessages[kind]
	if !ok {
		return nil, nil
	}
	m := newMsg()
	if err := unmarshal(payload, m); err != nil {
		return nil, err
	}
	out := []proto.Message{m}
	// inner decodes b as msg and appends what it holds.
	inner := func(b []byte, msg proto.Message) error {
		if err := unmarshal(b, msg); err != nil {
			return err
		}
		out = append(out, msg)
		return nil
	}
	switch pb := m.(type) {
	case *recordv1.TrusteeSigned:
		body := map[election.Kind]proto.Message{
			election.KindKeyCommitment: &recordv1.KeyCommitment{}, election.KindKeyVerdict: &recordv1.KeyVerdict{},
			election.KindKeyReveal: &recordv1.KeyReveal{}, election.KindPartialDecryption: &recordv1.PartialDecryption{},
		}[kind]
		b := pb.Body
		pb.Body = nil
		if err := inner(b, body); err != nil {
			return nil, err
		}
	case *recordv1.SignedBallot:
		b := pb.Ballot
		pb.Ballot = nil
		if err := inner(b, &recordv1.Ballot{}); err != nil {
			return nil, err
		}
	case *recordv1.SpoiledBallot:
		sb := &recordv1.SignedBallot{}
		b := pb.SignedBallot
		pb.SignedBallot = nil
		if err := inner(b, sb); err != nil {
			return nil, err
		}
		b = sb.Ballot
		sb.Ballot = nil
		if err := inner(b, &recordv1.Ballot{}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func lenientUnmarshal(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }

func sameValues(a, b []proto.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// wireField is one field of a message as written: its number, wire type and value bytes (after the tag).
type wireField struct {
	num   protowire.Number
	typ   protowire.Type
	value []byte
}

// parseFields splits b into fields, or reports false if it is not a sequence of well-formed fields.
func parseFields(b []byte) ([]wireField, bool) {
	var fs []wireField
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, false
		}
		fs = append(fs, wireField{num, typ, b[n : n+m]})
		b = b[n+m:]
	}
	return fs, true
}

// overlong encodes x as a varint one byte longer than it need be.
func overlong(x uint64) []byte {
	v := protowire.AppendVarint(nil, x)
	if len(v) == 10 {
		return v // no room: 10 bytes is the most a varint may have
	}
	v[len(v)-1] |= 0x80
	return append(v, 0)
}

func appendFields(b []byte, fs []wireField) []byte {
	for _, f := range fs {
		b = protowire.AppendTag(b, f.num, f.typ)
		b = append(b, f.value...)
	}
	return b
}

// mutate applies the mutation that op and at name to the message encoding b: one of the ways of writing the
// same values otherwise (at the top level or, for a LEN field, inside it), or a raw byte edit. It returns b
// unchanged when the mutation does not apply.
func mutate(b []byte, op, at byte, depth int) []byte {
	fs, ok := parseFields(b)
	if !ok || len(fs) == 0 {
		if len(b) == 0 {
			return b
		}
		return rawEdit(b, op, at)
	}
	i := int(at) % len(fs)
	f := fs[i]
	switch op % 10 {
	case 0: // two fields swapped
		j := (i + 1) % len(fs)
		fs[i], fs[j] = fs[j], fs[i]
	case 1: // a field given twice
		fs = append(fs[:i+1], append([]wireField{f}, fs[i+1:]...)...)
	case 2: // an overlong tag
		out := appendFields(nil, fs[:i])
		out = append(out, overlong(protowire.EncodeTag(f.num, f.typ))...)
		out = append(out, f.value...)
		return appendFields(out, fs[i+1:])
	case 3: // an overlong length or varint value
		var out []byte
		switch f.typ {
		case protowire.VarintType:
			x, _ := protowire.ConsumeVarint(f.value)
			out = overlong(x)
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(f.value)
			if n < 0 {
				return b
			}
			out = append(overlong(uint64(len(v))), v...)
		default:
			return b
		}
		fs[i].value = out
	case 4: // a packed field unpacked
		v, _ := protowire.ConsumeBytes(f.value)
		var elems []wireField
		for len(v) > 0 {
			x, n := protowire.ConsumeVarint(v)
			if n < 0 {
				return b
			}
			elems = append(elems, wireField{f.num, protowire.VarintType, protowire.AppendVarint(nil, x)})
			v = v[n:]
		}
		if f.typ != protowire.BytesType || len(elems) == 0 {
			return b
		}
		fs = append(fs[:i], append(elems, fs[i+1:]...)...)
	case 5: // a default value written: field number at%8+1, as a zero varint or an empty LEN
		num := protowire.Number(at%8 + 1)
		z := wireField{num, protowire.VarintType, []byte{0}}
		if at&0x80 != 0 {
			z = wireField{num, protowire.BytesType, []byte{0}}
		}
		fs = append(fs, z)
		// keep numbers ascending, so that the order is not what gives it away
		for k := len(fs) - 1; k > 0 && fs[k-1].num > fs[k].num; k-- {
			fs[k-1], fs[k] = fs[k], fs[k-1]
		}
	case 6: // a varint value with bits above 32 set (a uint32 reader drops them)
		if f.typ != protowire.VarintType {
			return b
		}
		x, _ := protowire.ConsumeVarint(f.value)
		fs[i].value = protowire.AppendVarint(nil, x|1<<32)
	case 7, 8: // the same, inside a LEN field (a packed field, an embedded message or a message carried as bytes)
		if f.typ != protowire.BytesType || depth > 4 {
			return b
		}
		v, _ := protowire.ConsumeBytes(f.value)
		inner := mutate(v, at, op/10, depth+1)
		fs[i].value = protowire.AppendBytes(nil, inner)
	default:
		return rawEdit(b, op, at)
	}
	return appendFields(nil, fs)
}

// rawEdit flips, inserts or deletes a byte.
func rawEdit(b []byte, op, at byte) []byte {
	if len(b) == 0 {
		return []byte{at}
	}
	k := int(binary.LittleEndian.Uint16([]byte{at, op})) % len(b)
	out := bytes.Clone(b)
	switch op / 10 % 3 {
	case 0:
		out[k] ^= 1 << (at % 8)
		return out
	case 1:
		return append(out[:k], append([]byte{at}, b[k:]...)...)
	default:
		return append(out[:k], out[k+1:]...)
	}
}

// FuzzNoReencoding mutates an honest entry of each kind by a sequence of (op, at) pairs and requires that the
// strict decoder accepts no other bytes with the entry's values, and that it agrees with the reader written from
// docs/record.md (handreader_test.go). The seed corpus (every entry, each mutation
// alone) runs with the normal tests.
func FuzzNoReencoding(f *testing.F) {
	e := fuzzElection(f)
	for i := range e.Entries {
		for op := range byte(10) {
			for _, at := range []byte{0, 1, 2, 0x83} {
				f.Add(uint16(i), []byte{op, at})
			}
		}
		f.Add(uint16(i), []byte{7, 1, 0, 1})
	}
	f.Fuzz(func(t *testing.T, index uint16, ops []byte) {
		entry := e.Entries[int(index)%len(e.Entries)]
		want, err := decodeDeep(entry.Kind, entry.Payload, election.StrictUnmarshal)
		if err != nil || want == nil {
			t.Fatalf("the honest entry %d (%s) is refused: %v", entry.Index, entry.Kind, err)
		}
		b := entry.Payload
		for k := 0; k+1 < len(ops) && k < 16; k += 2 {
			b = mutate(b, ops[k], ops[k+1], 0)
		}
		got, err := decodeDeep(entry.Kind, b, election.StrictUnmarshal)
		if hand := handCanonicalEntry(entry.Kind, b); (hand == nil) != (err == nil) {
			t.Fatalf("entry %d (%s) %x: election says %v, the reader written from docs/record.md %v", entry.Index, entry.Kind, b, err, hand)
		}
		if err != nil || bytes.Equal(b, entry.Payload) {
			return
		}
		if sameValues(got, want) {
			t.Fatalf("entry %d (%s): %x, not the honest bytes %x, is accepted with the same values", entry.Index, entry.Kind, b, entry.Payload)
		}
	})
}

// TestReencodingsRefused: each way of writing an honest entry's values otherwise, at each depth, that a lenient
// protobuf reader reads back to the same values is refused by the strict decoder. This is what makes the fuzz
// test above able to fail: its mutations do produce the same values in other bytes, and often.
func TestReencodingsRefused(t *testing.T) {
	e := fuzzElection(t)
	same := 0
	for _, entry := range e.Entries {
		want, err := decodeDeep(entry.Kind, entry.Payload, lenientUnmarshal)
		if err != nil {
			t.Fatal(err)
		}
		for op := range byte(80) {
			if op%10 == 9 {
				continue // raw byte edits change the values
			}
			for _, at := range []byte{0, 1, 2, 3, 4, 5, 6, 7, 0x80, 0x81, 0x82, 0x83} {
				b := mutate(entry.Payload, op, at, 0)
				if bytes.Equal(b, entry.Payload) {
					continue
				}
				got, err := decodeDeep(entry.Kind, b, lenientUnmarshal)
				if err != nil || !sameValues(got, want) {
					continue
				}
				same++
				if _, err := decodeDeep(entry.Kind, b, election.StrictUnmarshal); err == nil {
					t.Fatalf("entry %d (%s): %x, with the values of %x, is accepted", entry.Index, entry.Kind, b, entry.Payload)
				}
			}
		}
	}
	if same < 100 {
		t.Errorf("only %d re-encodings with the same values were made; the mutations have stopped doing their job", same)
	}
	t.Logf("%d re-encodings with an honest entry's values, all refused", same)
}

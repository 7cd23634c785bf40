package election

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
)

// TestUnmarshalCanonicalOnly: every way of encoding the same values other than the canonical one (docs/record.md,
// section 2) is refused, including those a protobuf reader silently folds into the canonical values.
func TestUnmarshalCanonicalOnly(t *testing.T) {
	v := func(b []byte, num protowire.Number, x uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), x)
	}
	packed := func(xs ...uint64) []byte {
		var inner []byte
		for _, x := range xs {
			inner = protowire.AppendVarint(inner, x)
		}
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), inner)
	}
	exactly := marshal(&recordv1.Contest{Id: "c", Rule: &recordv1.Contest_Exactly{Exactly: &recordv1.ExactlyRule{K: 1}}})
	approval := marshal(&recordv1.Contest{Rule: &recordv1.Contest_Approval{Approval: &recordv1.ApprovalRule{Max: 1}}})
	for _, c := range []struct {
		name      string
		payload   []byte
		msg       proto.Message
		canonical bool
	}{
		{"varint", v(nil, 1, 5), &recordv1.PollsOpen{}, true},
		{"overlong varint", []byte{0x08, 0x85, 0x00}, &recordv1.PollsOpen{}, false},
		{"default written", v(nil, 1, 0), &recordv1.PollsOpen{}, false},
		{"field twice", v(v(nil, 1, 4), 1, 5), &recordv1.PollsOpen{}, false},
		{"packed", packed(1, 3), &recordv1.Result{}, true},
		{"unpacked", v(v(nil, 1, 1), 1, 3), &recordv1.Result{}, false},
		{"uint32 above 2^32-1", packed(1<<32+1, 3), &recordv1.Result{}, false},
		{"empty packed field", packed(), &recordv1.Result{}, false},
		{"one rule", exactly, &recordv1.Contest{}, true},
		{"two rules of a oneof", append(exactly, approval...), &recordv1.Contest{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := unmarshal(c.payload, c.msg)
			if c.canonical && err != nil {
				t.Fatalf("the canonical encoding %x refused: %v", c.payload, err)
			}
			if !c.canonical && !errors.Is(err, ErrNotCanonical) {
				t.Fatalf("%x: got %v, want ErrNotCanonical", c.payload, err)
			}
		})
	}
}

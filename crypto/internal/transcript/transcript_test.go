package transcript

import (
	"bytes"
	"crypto/sha512"
	"testing"

	"github.com/recount-vote/recount/crypto/group"
)

// TestKnownAnswer pins the byte layout documented in the package comment and in docs/protocol.md.
func TestKnownAnswer(t *testing.T) {
	tr := New("test/v1", bytes.Repeat([]byte{0xaa}, 32))
	tr.AppendBytes("x", []byte("hello"))
	tr.AppendUint64("n", 7)
	got := tr.Challenge("c")

	var in []byte
	frame := func(name, value []byte) {
		in = append(in, byte(len(name)>>24), byte(len(name)>>16), byte(len(name)>>8), byte(len(name)))
		in = append(in, name...)
		in = append(in, byte(len(value)>>24), byte(len(value)>>16), byte(len(value)>>8), byte(len(value)))
		in = append(in, value...)
	}
	frame([]byte("recount-transcript-v1"), []byte("test/v1"))
	frame([]byte("election"), bytes.Repeat([]byte{0xaa}, 32))
	frame([]byte("x"), []byte("hello"))
	frame([]byte("n"), []byte{0, 0, 0, 0, 0, 0, 0, 7})
	frame([]byte("challenge"), []byte("c"))
	d := sha512.Sum512(in)
	want, _ := group.NewScalar().SetUniformBytes(d[:])
	if got.Equal(want) != 1 {
		t.Fatalf("challenge %x, want %x", got.Bytes(), want.Bytes())
	}
}

// TestEveryInputMatters changes each input in turn and sees the challenge change.
func TestEveryInputMatters(t *testing.T) {
	base := func(protocol string, election []byte, name string, value []byte, cname string) *group.Scalar {
		tr := New(protocol, election)
		tr.AppendBytes(name, value)
		return tr.Challenge(cname)
	}
	e := []byte("election-1")
	ref := base("p", e, "n", []byte("v"), "c")
	variants := map[string]*group.Scalar{
		"protocol":       base("q", e, "n", []byte("v"), "c"),
		"election":       base("p", []byte("election-2"), "n", []byte("v"), "c"),
		"field name":     base("p", e, "m", []byte("v"), "c"),
		"field value":    base("p", e, "n", []byte("w"), "c"),
		"challenge name": base("p", e, "n", []byte("v"), "d"),
		// moving a byte between name and value must not collide: that is what the length prefixes are for
		"boundary": base("p", e, "nv", nil, "c"),
	}
	for what, c := range variants {
		if c.Equal(ref) == 1 {
			t.Errorf("changing the %s did not change the challenge", what)
		}
	}
}

func TestSecondChallengeDiffers(t *testing.T) {
	tr := New("p", nil)
	c1 := tr.Challenge("c")
	c2 := tr.Challenge("c")
	if c1.Equal(c2) == 1 {
		t.Fatal("two successive challenges are equal")
	}
}

func TestClone(t *testing.T) {
	tr := New("p", nil)
	tr.AppendBytes("a", []byte("1"))
	cl := tr.Clone()
	tr.AppendBytes("b", []byte("2"))
	cl.AppendBytes("b", []byte("2"))
	if tr.Challenge("c").Equal(cl.Challenge("c")) != 1 {
		t.Fatal("clone diverged on identical input")
	}
	cl2 := tr.Clone()
	cl2.AppendBytes("x", nil)
	if tr.Challenge("c").Equal(cl2.Challenge("c")) == 1 {
		t.Fatal("clone is not independent")
	}
}

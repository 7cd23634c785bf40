package trustee

import (
	"bytes"
	"os"
	"testing"

	"github.com/recount-vote/recount/election"
)

// TestBoardCopy: the ballots come back as they were copied, other entries are not copied, entries must come in
// board order, and remove leaves nothing behind.
func TestBoardCopy(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	c, err := newBoardCopy()
	if err != nil {
		t.Fatal(err)
	}
	entries := []election.Entry{
		{Index: 0, Kind: election.KindManifest, Payload: []byte("manifest")},
		{Index: 1, Kind: election.KindBallot, Payload: []byte("first ballot")},
		{Index: 2, Kind: election.KindSpoiledBallot, Payload: []byte("challenged")},
		{Index: 3, Kind: election.KindBallot, Payload: nil},
		{Index: 4, Kind: election.KindBallot, Payload: bytes.Repeat([]byte{7}, 70000)},
	}
	for _, e := range entries {
		if err := c.add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.add(election.Entry{Index: 9, Kind: election.KindBallot}); err == nil {
		t.Error("entry 9 copied after entry 4")
	}
	for _, e := range entries[1:] {
		got, err := c.ReadEntry(e.Index)
		if err != nil || got.Index != e.Index || got.Kind != e.Kind || !bytes.Equal(got.Payload, e.Payload) {
			t.Errorf("entry %d read back as %d %v %d bytes, %v", e.Index, got.Index, got.Kind, len(got.Payload), err)
		}
	}
	for _, i := range []uint64{0, 5} {
		if _, err := c.ReadEntry(i); err == nil {
			t.Errorf("entry %d read back, but it was not copied", i)
		}
	}
	c.remove()
	if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
		t.Errorf("left %v behind", left)
	}
}

package trustee

import (
	"fmt"
	"os"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// boardCopy is the trustee's copy of the board's ballots, in a temporary file, so that its election state reads a
// superseded ballot back rather than keep every ballot's ciphertexts in memory (election.NewStateReading): the
// trustee follows the board over the network and keeps no board of its own. It costs the ballots' size on disk,
// in $TMPDIR, until Run returns, and 8 bytes of memory per entry. Entries other than ballots are not copied.
//
// Each copied entry is written before it is applied (add, then the replay), with one write: a state only reads
// back entries it has applied, so every read finds its entry whole.
type boardCopy struct {
	f      *os.File
	size   int64
	frames []int64 // where entry i's kind, length and payload start, or -1 for an entry not copied
}

func newBoardCopy() (*boardCopy, error) {
	f, err := os.CreateTemp("", "recount-trustee-ballots-*")
	if err != nil {
		return nil, fmt.Errorf("trustee: a temporary file for the ballots (set TMPDIR to a directory with room for them): %w", err)
	}
	return &boardCopy{f: f}, nil
}

// add copies e, the board's next entry, if it is a ballot.
func (c *boardCopy) add(e election.Entry) error {
	if e.Index != uint64(len(c.frames)) {
		return fmt.Errorf("trustee: copying entry %d after %d entries", e.Index, len(c.frames))
	}
	if e.Kind != election.KindBallot && e.Kind != election.KindSpoiledBallot {
		c.frames = append(c.frames, -1)
		return nil
	}
	frame := tlog.AppendExportEntry(nil, tlog.Kind(e.Kind), e.Payload)
	if _, err := c.f.WriteAt(frame, c.size); err != nil {
		return fmt.Errorf("trustee: copying entry %d to %s: %w", e.Index, c.f.Name(), err)
	}
	c.frames = append(c.frames, c.size)
	c.size += int64(len(frame))
	return nil
}

// ReadEntry reads entry i back, for the election state.
func (c *boardCopy) ReadEntry(i uint64) (election.Entry, error) {
	if i >= uint64(len(c.frames)) || c.frames[i] < 0 {
		return election.Entry{}, fmt.Errorf("trustee: entry %d is not in the copy of the ballots", i)
	}
	e, err := tlog.ReadExportEntryAt(c.f, c.frames[i], i)
	if err != nil {
		return election.Entry{}, fmt.Errorf("trustee: the copy of the ballots %s: %w", c.f.Name(), err)
	}
	return election.FromBoard(e), nil
}

// remove closes and deletes the copy.
func (c *boardCopy) remove() {
	c.f.Close()
	os.Remove(c.f.Name())
}

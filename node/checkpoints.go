package node

import (
	"sync"

	"github.com/recount-vote/recount/ledger/tlog"
)

// recentCheckpointsKept is how many of the latest commits' checkpoints the node keeps in memory: at 64 clients a
// commit holds a few ballots, so a client asks, right after its receipt, for a checkpoint some tens of commits old
// at most.
const recentCheckpointsKept = 256

// recentCheckpoints holds the checkpoints of the node's latest commits, by size. A voter's client asks, right
// after its ballot's receipt, for the consistency proof from the last checkpoint it saw to the receipt's
// (client.Client.Submit), which names the receipt's checkpoint; served from the board, each such checkpoint is
// read back from board.db and its signature verified again (about 60 µs, 6% of the node's CPU with 64 clients:
// issue 15). Kept here, it is the checkpoint the commit signed, as the board hands it out (Log.Latest,
// AppendResult): a board signs one checkpoint per commit and never two of one size, so a kept one never goes
// stale.
type recentCheckpoints struct {
	mu   sync.Mutex
	ring [recentCheckpointsKept]tlog.Checkpoint // ring[size % recentCheckpointsKept]; Signed is nil in an empty slot
}

// add keeps cp, in place of the one of a size recentCheckpointsKept smaller or larger.
func (r *recentCheckpoints) add(cp tlog.Checkpoint) {
	r.mu.Lock()
	r.ring[cp.Size%recentCheckpointsKept] = cp
	r.mu.Unlock()
}

// at returns the kept checkpoint of exactly size, if there is one.
func (r *recentCheckpoints) at(size uint64) (tlog.Checkpoint, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := r.ring[size%recentCheckpointsKept]
	return cp, cp.Signed != nil && cp.Size == size
}

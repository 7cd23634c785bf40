package node

import (
	"context"
	"errors"
	"io"
	"iter"

	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// The board's reads, for anyone. They need only an open board (see notReady).

// boardError turns a ledger error into a refusal; a context's error is returned as it is.
func boardError(err error) error {
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return refuse(FaultNotFound, ReasonNotFound, nil, "%v", err)
	case errors.Is(err, ledger.ErrInvalid):
		return refuse(FaultInvalid, ReasonBadRequest, nil, "%v", err)
	case errors.Is(err, ledger.ErrClosed):
		return refuse(FaultUnavailable, ReasonShuttingDown, nil, "the node is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return refuse(FaultInternal, ReasonBoardFailed, nil, "%v", err)
}

// Checkpoint returns the board's latest checkpoint (size 0) or the one of exactly size.
func (n *Node) Checkpoint(size uint64) (tlog.Checkpoint, error) {
	if size == 0 {
		return n.log.Latest(), nil
	}
	if cp, ok := n.recent.at(size); ok {
		return cp, nil
	}
	if cp := n.log.Latest(); cp.Size == size {
		return cp, nil
	}
	cp, err := n.log.CheckpointAt(size)
	if err != nil {
		return cp, boardError(err)
	}
	return cp, nil
}

// CheckpointAfter returns the checkpoint of the board's commit that holds entry index: the kept checkpoint of the
// smallest size above index.
func (n *Node) CheckpointAfter(index uint64) (tlog.Checkpoint, error) {
	cp, err := n.log.NextCheckpoint(index)
	if err != nil {
		return cp, boardError(err)
	}
	return cp, nil
}

// InclusionProof returns the checkpoint of treeSize (the latest when 0) and the proof that entry index is in its
// tree.
func (n *Node) InclusionProof(index, treeSize uint64) (tlog.Checkpoint, [][]byte, error) {
	cp, err := n.Checkpoint(treeSize)
	if err != nil {
		return cp, nil, err
	}
	p, err := n.log.InclusionProof(index, cp.Size)
	if err != nil {
		return cp, nil, boardError(err)
	}
	return cp, p, nil
}

// ConsistencyProof returns the checkpoint of newSize (the latest when 0) and the proof that the tree of oldSize
// is a prefix of its tree.
func (n *Node) ConsistencyProof(oldSize, newSize uint64) (tlog.Checkpoint, [][]byte, error) {
	cp, err := n.Checkpoint(newSize)
	if err != nil {
		return cp, nil, err
	}
	p, err := n.log.ConsistencyProof(oldSize, cp.Size)
	if err != nil {
		return cp, nil, boardError(err)
	}
	return cp, p, nil
}

// Entries yields the board's entries from index from on; with follow it then waits for new ones, until ctx ends
// or the node shuts down (a refusal SHUTTING_DOWN: reconnect and go on from the next index). A from beyond the
// board's size is refused with FaultOutOfRange, with follow too: a follower goes on from at most the size it
// saw. It yields at most one error, last.
func (n *Node) Entries(ctx context.Context, from uint64, follow bool) iter.Seq2[tlog.Entry, error] {
	return func(yield func(tlog.Entry, error) bool) {
		next := from
		if size := n.log.Size(); next > size {
			yield(tlog.Entry{}, refuse(FaultOutOfRange, ReasonNotFound, nil, "from %d: the board has %d entries", next, size))
			return
		}
		for {
			// next is at most the board's size, far below 2^64-1, so next+1 does not wrap.
			for e, err := range n.log.Entries(ctx, next) {
				if err != nil {
					yield(tlog.Entry{}, n.streamEnd(err))
					return
				}
				if !yield(e, nil) {
					return
				}
				next = e.Index + 1
			}
			if !follow {
				return
			}
			if err := n.log.WaitSize(ctx, next+1); err != nil {
				yield(tlog.Entry{}, n.streamEnd(err))
				return
			}
		}
	}
}

// streamEnd is the error that ends a stream of entries: SHUTTING_DOWN when the node is shutting down.
func (n *Node) streamEnd(err error) error {
	select {
	case <-n.stopping:
		return refuse(FaultUnavailable, ReasonShuttingDown, nil, "the node is shutting down: reconnect and go on from the next index")
	default:
		return boardError(err)
	}
}

// Export writes the board to w in the export format (ledger.Log.Export).
func (n *Node) Export(ctx context.Context, w io.Writer) error {
	if err := n.log.Export(ctx, w); err != nil {
		return boardError(err)
	}
	return nil
}

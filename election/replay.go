package election

import (
	"context"
	"errors"
	"iter"
	"runtime"

	"github.com/recount-vote/recount/ledger/tlog"
)

// The replay pipeline: the one way a board's entries become a State. The node replays its board through it at
// start, the trustee daemon and the voting client follow the node's board with it, and Verify checks a record
// with it. Ballot checks that need no state (shape, election, signature, proofs, openings) run in parallel; the
// rest runs in order, through State.apply, the same code the node uses to admit entries.

// FromBoard returns the board's entry e (as ledger/tlog and the node's board stream hold it) as this package
// sees it. It is the one place a board entry becomes an election Entry: the board gives kinds no meaning, and
// this package reads them as recordv1.EntryKind values.
func FromBoard(e tlog.Entry) Entry {
	return Entry{Index: e.Index, Kind: Kind(e.Kind), Payload: e.Payload}
}

// FromBoardSeq returns entries as this package sees them (FromBoard), with their errors.
func FromBoardSeq(entries iter.Seq2[tlog.Entry, error]) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for e, err := range entries {
			if err != nil {
				yield(Entry{}, err)
				return
			}
			if !yield(FromBoard(e), nil) {
				return
			}
		}
	}
}

// At returns the entry d becomes once the board puts it at index.
func (d Draft) At(index uint64) Entry { return Entry{Index: index, Kind: d.Kind, Payload: d.Payload} }

// ReplayOptions tune a Replayer.
type ReplayOptions struct {
	// Workers is the number of goroutines checking ballots; 0 means GOMAXPROCS. At most 8 times as many ballots
	// are checked ahead of the entry being applied.
	Workers int
	// ShapeOnly, if set, names the cast ballot entries (KindBallot) whose stateless checks were done before they
	// were appended (a node admits a ballot through AdmitBallot first): of those, only the shape is checked
	// again, to decode the ballot. Spoiled ballots, rare, are always checked in full. It is called in order, from
	// the goroutine that feeds the Replayer, before the entries ahead of it are all applied; the state's manifest
	// and key are set by then.
	ShapeOnly func(Entry) bool
	// Applied, if set, is called with each entry once it is applied, in order, and the checks it failed (none for
	// a valid entry). If it returns an error, Feed stops there and returns it: the state holds that entry and
	// those before it, and none after it.
	Applied func(e Entry, errs []*CheckError) error
}

// A Replayer checks and applies a board's entries into a State, in order. It is incremental: entries can be fed
// as they arrive, one by one or in batches, and each Feed returns once every entry it was given is applied. It
// starts from the state it is given, which may hold entries already (a saved position): those are not checked
// again, and the next entry fed must be the state's next one (State.Size).
//
// A Replayer is not safe for concurrent use. Between calls to Feed, the caller may read the state, or apply
// entries to it by other means (State.Apply, Admit): the next entry fed is then the state's next one.
type Replayer struct {
	s    *State
	opts ReplayOptions
}

// NewReplayer returns a Replayer that applies entries to s.
func NewReplayer(s *State, opts ReplayOptions) *Replayer {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	return &Replayer{s: s, opts: opts}
}

// State returns the state the Replayer applies entries to.
func (r *Replayer) State() *State { return r.s }

// Feed checks and applies entries, in order. See FeedSeq.
func (r *Replayer) Feed(ctx context.Context, entries ...Entry) error {
	return r.FeedSeq(ctx, func(yield func(Entry, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	})
}

// FeedSeq checks and applies entries, in order, and returns once each one is applied. An entry that fails a check
// is applied all the same (State.Apply: the state moves on) and its failures passed to ReplayOptions.Applied.
// FeedSeq stops early, returning the error, if entries yields an error, if ctx ends, or if Applied returns an
// error; the state then holds the entries applied so far, a prefix of those fed.
func (r *Replayer) FeedSeq(ctx context.Context, entries iter.Seq2[Entry, error]) error {
	s := r.s
	workers := r.opts.Workers
	var jobs chan ballotJob     // started at the first ballot, so that feeding other entries starts no goroutine
	quit := make(chan struct{}) // closed on return: the workers skip the ballots still queued
	defer func() {
		close(quit)
		if jobs != nil {
			close(jobs)
		}
	}()
	var pending []ballotJob
	applyOldest := func() error {
		j := pending[0]
		pending = pending[1:]
		res := <-j.done
		if res.err != nil {
			return res.err
		}
		errs := s.apply(j.e, res.bc)
		if err := s.Err(); err != nil {
			return err
		}
		if r.opts.Applied != nil {
			return r.opts.Applied(j.e, errs)
		}
		return nil
	}
	for e, err := range entries {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if (e.Kind == KindBallot || e.Kind == KindSpoiledBallot) && s.key != nil && s.manifest != nil {
			if jobs == nil {
				jobs = make(chan ballotJob, 4*workers)
				// The manifest and the key, read by the workers, never change once set.
				m, pk := s.manifest, s.key.PublicKey
				for range workers {
					go func() {
						for j := range jobs {
							var res ballotResult
							select {
							case <-quit:
								res.err = errFeedEnded
							default:
							}
							switch {
							case res.err != nil:
							case j.shapeOnly:
								res.bc = CheckBallotShapeOnly(m, j.e)
							default:
								res.bc, res.err = checkBallotStages(ctx, m, pk, j.e, nil, false)
							}
							j.done <- res
						}
					}()
				}
			}
			j := ballotJob{e: e, done: make(chan ballotResult, 1)}
			j.shapeOnly = e.Kind == KindBallot && r.opts.ShapeOnly != nil && r.opts.ShapeOnly(e)
			jobs <- j
			pending = append(pending, j)
			if len(pending) >= 8*workers {
				if err := applyOldest(); err != nil {
					return err
				}
			}
			continue
		}
		for len(pending) > 0 {
			if err := applyOldest(); err != nil {
				return err
			}
		}
		errs := s.apply(e, nil)
		if err := s.Err(); err != nil {
			return err
		}
		if r.opts.Applied != nil {
			if err := r.opts.Applied(e, errs); err != nil {
				return err
			}
		}
	}
	for len(pending) > 0 {
		if err := applyOldest(); err != nil {
			return err
		}
	}
	return nil
}

// errFeedEnded is a worker's answer for a ballot it skipped because FeedSeq had returned; no one reads it.
var errFeedEnded = errors.New("election: the feed ended before this ballot was checked")

type ballotJob struct {
	e         Entry
	shapeOnly bool
	done      chan ballotResult
}

// ballotResult is a worker's answer: the ballot's stateless checks, or ctx's error if ctx ended during them.
type ballotResult struct {
	bc  *ballotCheck
	err error
}

// Package node is Recount's server: a Node owns one board (a ledger.Log) and the election.State that replays
// it, and Server serves it as the gRPC services of api/recount/v1 (VoterService, TrusteeService, AdminService
// and BoardService).
//
// # Core and gRPC side
//
// The Node's methods (node.go, voter.go, admin.go, trusteesvc.go, board.go) are the core: admission, appends,
// checkpoints and reads, with domain values in and out (election and ledger types, and a *Refusal, errors.go,
// for a refused call). The files grpc_*.go alone know gRPC: the services translate requests and answers to and
// from the messages of api/recount/v1 and a Refusal to a status (grpc_errors.go), and the server's interceptors
// bound and authorize the calls. A test keeps gRPC out of the core's imports.
//
// # One board, one election
//
// A node's data directory holds one board, and a board holds one election: entry 0 is its manifest. The state is
// kept in step with the board: every appended entry is applied to it in index order, and on start the node
// replays the board.
//
// # Starting
//
// Opening a board and replaying it takes time in proportion to its size (seconds for tens of thousands of
// entries), so a server can be serving before its node is ready: New makes a node that has not opened its board,
// and Start opens it and replays it. Meanwhile the node's Server answers health (NOT_SERVING) and reflection,
// serves BoardService as soon as the board is open, and refuses every other call with Unavailable and reason
// STARTING, whose message tells how far the replay got. Open is New then Start, for callers that wait.
//
// # What the node accepts
//
// election.State decides. A ballot is checked first without any lock (election.CheckBallot: shape, election,
// signature, proofs: the costly part, so concurrent ballots use every core); then, under the read side of the
// node's phase lock, against the state (State.CheckBallotAdmission: credential, window, uniqueness), with its
// tracking code reserved so that a concurrent duplicate is refused; then it is appended (the board groups
// concurrent appends into one fsync) and applied in index order. Every other entry (the manifest, credentials,
// the trustees' entries, opening and closing the polls, the tally and the result) is admitted by State.Admit
// under the write side of the phase lock, which waits for the ballots in flight: the close is appended after
// every ballot admitted before it. A refused request appends nothing.
//
// # Durability
//
// A receipt, like every answer that reports an entry, is given only once the append returned, that is once the
// entry and the checkpoint that covers it are on disk. Appends run detached from the caller's context, so a
// client that gives up cannot leave an entry in doubt; the client asks for its receipt by tracking code instead.
//
// # Witnesses
//
// With a witness policy (Options.Witnesses, witnessing.go) the node asks the policy's witnesses to cosign each new
// checkpoint in the background, stores the latest checkpoint the quorum cosigned (board.witnessed, synced before
// it is published) and hands it out in receipts and the latest-checkpoint answer. No append waits for a witness.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/replica"
	"github.com/recount-vote/recount/ledger/tlog"
)

// Options configure Open.
type Options struct {
	// Origin names the board (the first line of its checkpoints). Required to create a board; when set for an
	// existing board it must match.
	Origin string
	// Logger receives the node's logs; nil means none.
	Logger *slog.Logger
	// Metrics, when set, is updated by the node (see NewMetrics).
	Metrics *Metrics
	// Now is the node's clock (time.Now when nil): it stamps the open and close entries and bounds the voting
	// window of the manifest.
	Now func() time.Time
	// AutoClose makes the node close the polls by itself once its clock reaches the manifest's closes_at, so
	// that the record shows the polls closing when the window ends rather than whenever the commission gets to it.
	AutoClose bool
	// Witnesses, with a Policy, makes the node ask the policy's witnesses to cosign its checkpoints
	// (witnessing.go); without one the node asks no witness.
	Witnesses WitnessOptions
	// Cluster, when set, makes the node a member of a cluster that replicates the board with Raft (cluster.go);
	// nil: the node keeps its board alone.
	Cluster *ClusterOptions
}

// autoCloseEvery is how often the node looks whether the voting window has ended.
var autoCloseEvery = time.Second

// Node is an open board and the election state it holds. Its methods are safe for concurrent use; all but Start,
// Ready, Broken, BeginShutdown, Stopping and Close need a node that Start has made ready.
type Node struct {
	dir     string
	opts    Options
	log     *ledger.Log // set by Start before it closes boardOpen
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time

	startMu     sync.Mutex // held by Start while it runs, and by Close to wait for it
	started     bool       // guarded by startMu
	boardOpen   chan struct{}
	ready       chan struct{}
	startFailed atomic.Bool
	checking    atomic.Bool   // the board is open and its integrity being checked
	checked     atomic.Uint64 // entries whose integrity was checked so far, of replayTotal
	replayed    atomic.Uint64 // entries replayed so far, of replayTotal
	replayTotal atomic.Uint64
	// beforeReplay, if set, is called before each entry is replayed (a test hook).
	beforeReplay func(index uint64)

	// phase orders the board's appends. A ballot holds it for reading from its admission until it is applied;
	// every other entry holds it for writing, so that it sees a state with every entry applied.
	phase sync.RWMutex

	stateMu sync.RWMutex // guards state
	state   *election.State

	resMu    sync.Mutex // guards inflight
	inflight map[election.ID]struct{}

	applyMu sync.Mutex // guards pending and applied
	pending map[uint64]*pendingEntry
	applied uint64 // the number of entries applied to state

	broken   atomic.Pointer[error]
	brokenCh chan struct{} // closed when broken is set
	stopping chan struct{} // closed by Close (and Shutdown): followers stop
	stopOnce sync.Once

	// recent keeps the checkpoints of the latest commits, which clients ask for right after their receipts.
	recent recentCheckpoints

	witness    *witnessing // nil without a witness policy
	witnessErr error       // the witness policy cannot be used: Start fails

	// A cluster member's replication (cluster.go); all nil or zero without Options.Cluster.
	rep         *replica.Replica
	applierMu   sync.Mutex    // held while entries are applied from the board
	applierNext uint64        // the next board index the applier looks at; guarded by applierMu
	appliedMu   sync.Mutex    // guards appliedCh
	appliedCh   chan struct{} // closed and replaced whenever the applier advances
	applierDone chan struct{} // closed when the applier stops
}

// pendingEntry is an appended ballot waiting for the entries before it to be applied.
type pendingEntry struct {
	e     election.Entry
	bc    *election.BallotCheck
	errs  []*election.CheckError
	ready chan struct{}
}

// Open opens (or creates) the board in dir and replays it: New then Start. It refuses a board whose entries the
// election state does not accept: the node never appends such entries, so the board was damaged or written by
// something else.
func Open(dir string, opts Options) (*Node, error) {
	n := New(dir, opts)
	if err := n.Start(); err != nil {
		return nil, err
	}
	return n, nil
}

// New returns a node for the board in dir that has not opened it yet; Start opens it. New does no I/O.
func New(dir string, opts Options) *Node {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	n := &Node{dir: dir, opts: opts, logger: logger, metrics: opts.Metrics, now: now,
		inflight: map[election.ID]struct{}{}, pending: map[uint64]*pendingEntry{},
		boardOpen: make(chan struct{}), ready: make(chan struct{}), brokenCh: make(chan struct{}), stopping: make(chan struct{}),
		appliedCh: make(chan struct{})}
	n.state = n.newState()
	n.metrics.setStarting(true)
	if opts.Witnesses.Policy != nil {
		n.witness, n.witnessErr = newWitnessing(n, opts.Witnesses)
	}
	return n
}

// errStopped is returned by Start when the node was shut down before it was ready.
var errStopped = errors.New("node: stopped before the board was replayed")

// Start opens (or creates) the board and replays it, and returns once the node is ready (Ready is closed) or has
// failed to start. It refuses a board whose entries the election state does not accept: the node never appends
// such entries, so the board was damaged or written by something else. BeginShutdown (or Close) during the replay
// makes Start return early with an error; the board is then closed. Start may be called once.
func (n *Node) Start() error {
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.started {
		return errors.New("node: Start called twice")
	}
	n.started = true
	err := n.start()
	if err != nil {
		n.startFailed.Store(true)
	}
	return err
}

func (n *Node) start() error {
	select {
	case <-n.stopping:
		return errStopped
	default:
	}
	if n.witnessErr != nil {
		return n.witnessErr
	}
	start := time.Now()
	n.logger.Info("node: opening the board", "dir", n.dir)
	// The integrity check reads the whole board: run it here, where a shutdown can stop it and a refused call can
	// tell how far it got, rather than inside ledger.Open.
	lopts := ledger.Options{Origin: n.opts.Origin, Logger: n.logger, DeferIntegrityCheck: true}
	if c := n.opts.Cluster; c != nil {
		if err := checkNewMemberKey(n.dir, c); err != nil {
			return err
		}
		lopts.Replica, lopts.SigningKey = true, c.SigningKey
	}
	l, err := ledger.Open(n.dir, lopts)
	if err != nil {
		return err
	}
	n.log = l
	n.replayTotal.Store(l.Size())
	n.checking.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	err = l.CheckIntegrity(ctx, func(checked, _ uint64) { n.checked.Store(checked) })
	if errors.Is(err, context.Canceled) {
		err = errStopped
	}
	if err != nil {
		l.Close()
		return err
	}
	n.logger.Info("node: the board's entries hash to its latest signed checkpoint", "dir", n.dir, "entries", l.Size(),
		"took", time.Since(start).Round(time.Millisecond))
	if n.witness != nil {
		if err := n.witness.open(); err != nil {
			l.Close()
			return err
		}
	}
	close(n.boardOpen)
	if err := n.replay(); err != nil {
		l.Close()
		return err
	}
	n.applied = n.state.Size()
	n.applierNext = n.applied
	if n.opts.Cluster != nil {
		if err := n.openCluster(); err != nil {
			l.Close()
			return err
		}
	}
	n.metrics.boardSize(n.applied)
	n.metrics.setStarting(false)
	n.logger.Info("node: board replayed", "dir", n.dir, "entries", n.applied, "took", time.Since(start).Round(time.Millisecond),
		"verifier_key", l.VerifierKey())
	close(n.ready)
	if n.opts.AutoClose {
		go n.autoClose()
	}
	if n.witness != nil {
		n.witness.start()
	}
	return nil
}

// Ready returns a channel closed once Start has opened and replayed the board: the node serves every call.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Broken returns a channel closed once an append failed: the node refuses every change until it is restarted.
func (n *Node) Broken() <-chan struct{} { return n.brokenCh }

// notReady returns the refusal (STARTING) of a call while the node is not ready: for a board read (boardRead)
// only until the board is open, for any other call until the board is replayed. It returns nil once the node is
// ready.
func (n *Node) notReady(boardRead bool) error {
	select {
	case <-n.ready:
		return nil
	default:
	}
	switch {
	case n.startFailed.Load():
		return refuse(FaultUnavailable, ReasonStarting, nil, "the node failed to start: see its log")
	case !n.checking.Load():
		return refuse(FaultUnavailable, ReasonStarting, nil, "the node is starting: it is opening its board; try again shortly")
	case !isClosed(n.boardOpen):
		return refuse(FaultUnavailable, ReasonStarting, nil, "the node is starting: it has checked %d of the board's %d entries against its signed checkpoint; try again shortly",
			n.checked.Load(), n.replayTotal.Load())
	case boardRead:
		return nil
	}
	return refuse(FaultUnavailable, ReasonStarting, nil, "the node is starting: it has replayed %d of the board's %d entries; try again shortly",
		n.replayed.Load(), n.replayTotal.Load())
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// autoClose closes the polls once the node's clock reaches the manifest's closes_at, until the node stops.
func (n *Node) autoClose() {
	tick := time.NewTicker(autoCloseEvery)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-n.stopping:
			return
		case <-tick.C:
		}
		if n.rep != nil && !n.rep.IsLeader() {
			continue // the leader closes the polls
		}
		due := false
		n.View(func(s *election.State) {
			if m := s.Manifest(); m != nil && s.IsOpen() {
				due = n.now().Unix() >= m.Proto().ClosesAt
			}
		})
		if !due {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		index, err := n.ClosePolls(ctx)
		cancel()
		if err != nil {
			if !failing {
				n.logger.Error("node: the voting window has ended but the polls could not be closed; retrying", "err", err)
			}
			failing = true
			continue
		}
		n.logger.Info("node: the voting window has ended: polls closed", "entry", index)
		failing = false
	}
}

// replayProgressEvery is how many replayed entries go between two updates of the board size metric.
const replayProgressEvery = 4096

// replay applies the board's entries to the state, unless the node is shut down first. On a board the node signs,
// ballots were fully checked before they were appended, so only their shape is checked again (spoiled ballots,
// rare, are checked in full). A read-only board (built by ledger.Import from an export) holds entries this node
// never admitted: its ballots are checked in full.
func (n *Node) replay() error {
	admitted := !n.log.ReadOnly()
	var logErr error
	entries := func(yield func(election.Entry, error) bool) {
		for e, err := range election.FromBoardSeq(n.log.Entries(context.Background(), 0)) {
			if err != nil {
				logErr = err
				yield(e, err)
				return
			}
			if isClosed(n.stopping) {
				yield(e, errStopped)
				return
			}
			if n.beforeReplay != nil {
				n.beforeReplay(e.Index)
			}
			if !yield(e, nil) {
				return
			}
		}
	}
	r := election.NewReplayer(n.state, election.ReplayOptions{
		ShapeOnly: func(election.Entry) bool { return admitted },
		Applied: func(e election.Entry, errs []*election.CheckError) error {
			if len(errs) > 0 {
				return fmt.Errorf("node: the board in %s holds an entry the election does not accept (%v); the node never appends one: check the board with `recount verify`", n.log.Dir(), errs[0])
			}
			n.replayed.Store(e.Index + 1)
			if (e.Index+1)%replayProgressEvery == 0 {
				n.metrics.boardSize(e.Index + 1)
			}
			return nil
		},
	})
	err := r.FeedSeq(context.Background(), entries)
	if err != nil && logErr != nil {
		return fmt.Errorf("node: replaying the board: %w", logErr)
	}
	return err
}

// Log returns the node's board.
func (n *Node) Log() *ledger.Log { return n.log }

// Stopping returns a channel closed once the node starts to shut down; long-running streams end then.
func (n *Node) Stopping() <-chan struct{} { return n.stopping }

// BeginShutdown tells the node's followers (StreamEntries with follow) to end. Call it before stopping the
// gRPC server gracefully, then Close.
func (n *Node) BeginShutdown() { n.stopOnce.Do(func() { close(n.stopping) }) }

// Close ends the followers, stops a Start in progress (a board being opened is opened first), waits for the
// appends in flight to be committed, and closes the board.
func (n *Node) Close() error {
	n.BeginShutdown()
	n.startMu.Lock()
	defer n.startMu.Unlock()
	if n.witness != nil {
		n.witness.wait() // it asks the board for proofs and writes board.witnessed
	}
	if n.log == nil || n.startFailed.Load() {
		return nil // never opened, or closed by Start
	}
	if n.rep != nil {
		err := n.rep.Close()
		<-n.applierDone
		if cerr := n.log.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return n.log.Close()
}

// View calls fn with the election state, under the node's read lock. fn must not keep the state or call the
// node.
func (n *Node) View(fn func(s *election.State)) {
	n.stateMu.RLock()
	defer n.stateMu.RUnlock()
	fn(n.state)
}

// usable returns the error to answer every change with once an append failed.
func (n *Node) usable() error {
	if p := n.broken.Load(); p != nil {
		return refuse(FaultUnavailable, ReasonBoardFailed, nil, "%v: %v", errNodeBroken, *p)
	}
	if n.log.ReadOnly() {
		// Refused before the state admits anything: on a read-only board the append would fail after Admit
		// changed the state, and break the node (found by review).
		return refuse(FaultPhase, ReasonWrongPhase, nil, "this node serves a read-only board (imported from an export): it takes no new entries")
	}
	return nil
}

// appendFailed turns a failed append into a refusal; any failure but a shutdown breaks the node.
func (n *Node) appendFailed(err error) error {
	if errors.Is(err, ledger.ErrClosed) {
		return refuse(FaultUnavailable, ReasonShuttingDown, nil, "the node is shutting down; nothing was appended: try again")
	}
	return n.breakOn(err)
}

// breakOn records err as the reason the node is broken: it refuses every change from now on, until a restart
// replays the board.
func (n *Node) breakOn(err error) error {
	if n.broken.CompareAndSwap(nil, &err) {
		close(n.brokenCh)
		n.metrics.setBoardFailed()
	}
	n.logger.Error("node: an append failed; refusing every change until restarted", "err", err)
	return refuse(FaultUnavailable, ReasonBoardFailed, nil, "%v: %v", errNodeBroken, err)
}

// appendDetached appends one entry without the caller's context: once queued, an entry is always committed (or
// the board fails), so no entry is left in doubt by a client that went away.
func (n *Node) appendDetached(ctx context.Context, kind election.Kind, payload []byte) (ledger.AppendResult, error) {
	start := time.Now()
	if n.rep != nil {
		res, err := n.clusterAppend(ctx, kind, payload)
		n.metrics.appended(time.Since(start), err)
		return res, err
	}
	res, err := n.log.Append(context.WithoutCancel(ctx), tlog.Kind(kind), payload)
	n.metrics.appended(time.Since(start), err)
	if err == nil {
		n.recent.add(res.Checkpoint)
	}
	return res, err
}

// exclusive admits and appends an entry under the write side of the phase lock: draft computes it from a state
// that has every appended entry applied (or returns the refusal); State.Admit checks it.
func (n *Node) exclusive(ctx context.Context, draft func(s *election.State) (election.Draft, error)) (ledger.AppendResult, error) {
	n.phase.Lock()
	defer n.phase.Unlock()
	if err := n.usable(); err != nil {
		return ledger.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return ledger.AppendResult{}, err
	}
	if n.rep != nil {
		// The state must hold every entry on the board, and the board every entry handed to Raft before (an
		// entry admitted now is checked against all of them): the entry is admitted at the board's next index.
		// Entries other than ballots are few (the commission's and the trustees'), so a barrier each is cheap.
		if err := n.clusterUsable(ctx); err != nil {
			return ledger.AppendResult{}, err
		}
		if err := n.rep.Settle(ctx); err != nil {
			return ledger.AppendResult{}, n.clusterAppendFailed(err)
		}
		if err := n.waitApplied(ctx, n.log.Size()); err != nil {
			return ledger.AppendResult{}, err
		}
	}
	// No ballot is in flight and no other entry can come: the state changes only under this lock. The draft
	// (which may be long: the result's discrete logarithms) is made under the read lock, so that receipts and
	// the status are still served meanwhile.
	var d election.Draft
	var err error
	n.View(func(s *election.State) { d, err = draft(s) })
	if err != nil {
		return ledger.AppendResult{}, err
	}
	n.stateMu.Lock()
	idx := n.state.Size()
	errs := n.state.Admit(d.At(idx))
	n.stateMu.Unlock()
	if len(errs) > 0 {
		return ledger.AppendResult{}, checkRefusal(FaultInvalid, errs[0])
	}
	// From here the state holds the entry: if the append fails, the node is broken (until a restart replays
	// the board) and refuses every change, so that it never builds on an entry the board does not hold.
	res, err := n.appendDetached(ctx, d.Kind, d.Payload)
	if err == nil && res.Index != idx {
		err = fmt.Errorf("node: the board put entry %d at index %d: another writer?", idx, res.Index)
	}
	if err != nil && n.rep != nil {
		// The state holds an entry that the board may never hold: once it is settled, build the state again
		// from the board. (If the entry is committed after all and was not settled, the applier applies it when
		// it reaches the board.)
		n.settle(ctx)
		if rerr := n.rebuildState(context.WithoutCancel(ctx)); rerr != nil {
			return ledger.AppendResult{}, n.breakOn(fmt.Errorf("%v; and rebuilding the state failed: %w", err, rerr))
		}
		return ledger.AppendResult{}, n.clusterAppendFailed(err)
	}
	if err != nil {
		if errors.Is(err, ledger.ErrClosed) {
			err = fmt.Errorf("%w (the node was closing)", err)
		}
		return ledger.AppendResult{}, n.breakOn(err)
	}
	if n.rep != nil {
		n.logger.Info("node: appended", "index", idx, "kind", d.Kind.String())
		return res, nil // the applier records it as applied when it reaches the board
	}
	n.applyMu.Lock()
	n.applied = idx + 1
	n.metrics.boardSize(n.applied)
	n.applyMu.Unlock()
	n.logger.Info("node: appended", "index", idx, "kind", d.Kind.String())
	return res, nil
}

// newState returns an empty election state that reads ballots back from the board rather than keep their
// ciphertexts (election.NewStateReading): what the node keeps per ballot does not depend on the ballot's size.
// The state reads only entries it has applied, which are on the board by then (the board is open before the
// first entry is applied).
func (n *Node) newState() *election.State {
	return election.NewStateReading(election.EntryReaderFunc(func(i uint64) (election.Entry, error) {
		e, err := n.log.Entry(i)
		return election.FromBoard(e), err
	}))
}

// applyInOrder applies an appended ballot once every entry before it is applied, and returns the checks it
// failed (none: it passed them before the append).
func (n *Node) applyInOrder(p *pendingEntry) []*election.CheckError {
	p.ready = make(chan struct{})
	n.applyMu.Lock()
	n.pending[p.e.Index] = p
	if q := n.pending[n.applied]; q != nil {
		n.stateMu.Lock()
		for q != nil {
			delete(n.pending, n.applied)
			q.errs = n.state.ApplyChecked(q.e, q.bc)
			if err := n.state.Err(); err != nil {
				// The board did not give back a ballot it holds: the state's sums are wrong from here.
				n.breakOn(fmt.Errorf("reading the board back into the election state: %w", err))
			}
			n.applied++
			close(q.ready)
			q = n.pending[n.applied]
		}
		n.stateMu.Unlock()
		n.metrics.boardSize(n.applied)
	}
	n.applyMu.Unlock()
	<-p.ready
	return p.errs
}

// reserve claims a ballot's tracking code (its identity for check 14) while the ballot is in flight; it reports
// false if another ballot holds it.
func (n *Node) reserve(code election.ID) bool {
	n.resMu.Lock()
	defer n.resMu.Unlock()
	if _, ok := n.inflight[code]; ok {
		return false
	}
	n.inflight[code] = struct{}{}
	return true
}

func (n *Node) release(code election.ID) {
	n.resMu.Lock()
	delete(n.inflight, code)
	n.resMu.Unlock()
}

// Package replica keeps one board on several machines with Raft (github.com/hashicorp/raft, its log in
// github.com/hashicorp/raft-boltdb/v2): a commission's cluster of 3 or 5 members, so that the election goes on when
// one dies and a receipted ballot survives the loss of any one machine, disk included.
//
// Appending happens in two Raft entries. The leader first commits a batch of records (a batch entry: one per
// Append call; Raft's leader writes every entry waiting to its log in one fsync and ships them together, so
// concurrent appends share their fsyncs). Only once a batch is committed, so held by a majority, does the leader
// sign, with the board's one key, the checkpoint of the board extended by every committed batch, and commit it
// in a seal entry. Every member's state machine appends the sealed records to its board under that checkpoint
// (ledger.Log.AppendReplicated: the records must hash to its root; one synced bbolt transaction, which also
// records the last sealed batch's Raft index, so that a restart does not apply a batch twice). A checkpoint is
// therefore never signed for a size a majority does not hold: a leader that dies after signing leaves a seal that
// any later leader would sign identically (Ed25519 signatures are deterministic), never a second history. Append
// returns, and the node gives a receipt, only once the seal is committed and applied to this member's board.
//
// Snapshots are bbolt's consistent copy of the board (ledger.Log.Copy) with the batches not sealed yet; restoring
// one never replaces a board, it appends what the board lacks once the snapshot's board is proven to extend it
// (a consistency proof between their signed checkpoints), so a wiped member catches up and no member's board
// ever goes back.
package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// ErrNotLeader: this member is not the cluster's leader, so it appends nothing; the error is a *NotLeaderError
// naming the leader when one is known.
var ErrNotLeader = errors.New("not the cluster's leader")

// A NotLeaderError says that this member cannot append, and which member can (if known).
type NotLeaderError struct {
	LeaderID   string // empty if no leader is known
	LeaderAddr string // the leader's Raft address
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "replica: " + ErrNotLeader.Error() + ": no leader is known (an election is under way, or no majority is reachable)"
	}
	return fmt.Sprintf("replica: %v: the leader is %s (%s)", ErrNotLeader, e.LeaderID, e.LeaderAddr)
}

func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// Config configures a member.
type Config struct {
	// ID is the member's Raft server ID, unique in the cluster and kept across restarts.
	ID string
	// Dir holds the member's Raft state: raft.db (the log and its terms, raft-boltdb) and snapshots/.
	Dir string
	// Board is the member's board, opened with ledger.Options.Replica. The caller keeps it open while the
	// Replica runs and closes it after Close.
	Board *ledger.Log
	// Transport carries Raft's messages (raft.NewTCPTransport; raft.NewInmemTransport in tests).
	Transport raft.Transport
	// Logger receives the member's and Raft's messages (nil: none).
	Logger *slog.Logger
	// HeartbeatTimeout is Raft's heartbeat and election timeout (0: 1s). A leader's death is noticed after
	// about this long, and a new leader is elected soon after.
	HeartbeatTimeout time.Duration
	// SnapshotThreshold is the number of log entries after which Raft takes a snapshot (0: 8192); TrailingLogs
	// is how many it keeps after one (0: 10240), so that a member briefly away catches up from the log.
	SnapshotThreshold uint64
	TrailingLogs      uint64
}

// A Replica is a running member of the cluster.
type Replica struct {
	cfg    Config
	raft   *raft.Raft
	fsm    *fsm
	store  *raftboltdb.BoltStore
	logger *slog.Logger

	readyMu   sync.Mutex
	ready     bool   // this member leads, and every batch committed before its term is sealed on its board
	readySize uint64 // the board's size when it became ready

	kick     chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
	closeErr error
	once     sync.Once
}

// Open starts the member: it opens the Raft log in cfg.Dir and replays it onto the board. A new cluster is then
// formed by Bootstrap on one member; a member added later joins when the leader adds it (AddVoter).
func Open(cfg Config) (*Replica, error) {
	if cfg.ID == "" || cfg.Dir == "" || cfg.Board == nil || cfg.Transport == nil {
		return nil, fmt.Errorf("replica: %w: Config needs ID, Dir, Board and Transport", ledger.ErrInvalid)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	f, err := newFSM(cfg.Board, cfg.Dir, logger)
	if err != nil {
		return nil, err
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("replica: opening %s: %w", filepath.Join(cfg.Dir, "raft.db"), err)
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{logger}, DisableTime: true})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("replica: %w", err)
	}
	logs, err := raft.NewLogCache(1024, store)
	if err != nil {
		store.Close()
		return nil, err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		rc.ElectionTimeout = cfg.HeartbeatTimeout
		// A leader steps down after this long without a majority's answer: as long as the heartbeat timeout,
		// so that a loaded machine (fsyncs, ballot checks) does not make it step down needlessly.
		rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout
	}
	rc.CommitTimeout = 5 * time.Millisecond
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = 8192
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	r := &Replica{cfg: cfg, fsm: f, store: store, logger: logger, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	f.onApply = r.wake
	r.raft, err = raft.NewRaft(rc, f, logs, store, snaps, cfg.Transport)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("replica: starting Raft: %w", err)
	}
	go r.sealer()
	return r, nil
}

// A Member is a cluster member: its server ID and Raft address.
type Member struct {
	ID, Addr string
}

// Bootstrap forms a new cluster of members (which must include this one), once: on a member that already has
// a cluster's state it returns an error wrapping raft.ErrCantBootstrap and changes nothing.
func (r *Replica) Bootstrap(members []Member) error {
	var c raft.Configuration
	for _, m := range members {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Addr)})
	}
	return r.raft.BootstrapCluster(c).Error()
}

// HasState reports whether the Raft directory dir already holds a cluster's state (a log or a snapshot).
func HasState(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "raft.db"))
	return err == nil
}

func (r *Replica) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// sealer runs on every member and acts while it leads: whenever batches are pending, it signs the board
// extended by all of them and commits the seal, one seal at a time (so that one seal, one board transaction and
// its fsyncs cover every batch committed while the previous seal was in flight).
func (r *Replica) sealer() {
	defer close(r.stopped)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	leader := r.raft.LeaderCh()
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
		case <-tick.C:
		case isLeader := <-leader:
			r.setReady(false, 0)
			if isLeader {
				r.becomeReady()
			}
			continue
		}
		if r.raft.State() != raft.Leader {
			continue
		}
		r.seal()
	}
}

// seal signs the pending batches and commits their seal; it reports whether nothing was pending.
func (r *Replica) seal() (none bool, err error) {
	cp, ok, err := r.fsm.signPending()
	if err != nil {
		r.logger.Error("replica: signing the pending batches failed", "err", err)
		return false, err
	}
	if !ok {
		return true, nil
	}
	if err := r.raft.Apply(append([]byte{kindSeal}, cp.Signed...), 0).Error(); err != nil {
		r.logger.Warn("replica: committing a seal failed; the next leader seals the batches", "size", cp.Size, "err", err)
		return false, err
	}
	return false, nil
}

// becomeReady runs when this member becomes leader: a barrier applies every entry committed before its term
// (Raft commits them with the term's first entry), then the batches they left unsealed are sealed, and only then
// does WriteReady say yes, so that the node admits nothing against a state missing a committed entry.
func (r *Replica) becomeReady() {
	if err := r.raft.Barrier(0).Error(); err != nil {
		r.logger.Warn("replica: a new leader's barrier failed", "err", err)
		return
	}
	for {
		none, err := r.seal()
		if err != nil {
			return
		}
		if none {
			break
		}
	}
	if r.raft.State() == raft.Leader {
		r.setReady(true, r.cfg.Board.Size())
		r.logger.Info("replica: leading", "id", r.cfg.ID, "board_size", r.cfg.Board.Size())
	}
}

func (r *Replica) setReady(ok bool, size uint64) {
	r.readyMu.Lock()
	r.ready, r.readySize = ok, size
	r.readyMu.Unlock()
}

// Settle settles every entry handed to Raft before it: a barrier makes each committed (and applied) or dropped,
// and then Settle waits until every committed batch is sealed on this member's board. After it, a record whose
// Append was in doubt is on the board or will never be. It fails (a *NotLeaderError, or ctx's error) if this
// member stops leading or ctx ends first.
func (r *Replica) Settle(ctx context.Context) error {
	if !r.IsLeader() {
		return r.notLeader()
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	if err := r.raft.Barrier(timeout).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return r.notLeader()
		}
		return fmt.Errorf("replica: settling: %w", err)
	}
	for r.fsm.pendingCount() > 0 {
		if !r.IsLeader() {
			return r.notLeader()
		}
		r.wake()
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return nil
}

// WriteReady reports whether this member leads and holds every entry committed before its term on its board,
// so that it may admit new entries; size is then the board's size it must have applied first.
func (r *Replica) WriteReady() (size uint64, ok bool) {
	r.readyMu.Lock()
	defer r.readyMu.Unlock()
	return r.readySize, r.ready && r.raft.State() == raft.Leader
}

// Append appends recs to the cluster's board, with consecutive indexes, and returns once their seal is
// committed and applied to this member's board (so a majority holds them, and this board has them synced). It
// returns a *NotLeaderError (nothing appended) if this member is not the leader. If ctx ends, or leadership is
// lost, after the batch was handed to Raft, the error wraps ledger.ErrMaybeAppended: the records may still be
// committed, and the caller must look for them before appending them again.
func (r *Replica) Append(ctx context.Context, recs []ledger.Record) ([]ledger.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, nil
	}
	for i, rec := range recs {
		if len(rec.Payload) > tlog.MaxPayloadSize {
			return nil, fmt.Errorf("replica: append: %w: record %d has a payload of %d bytes", ledger.ErrTooLarge, i, len(rec.Payload))
		}
	}
	if r.raft.State() != raft.Leader {
		return nil, r.notLeader()
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(d), time.Millisecond)
	}
	fut := r.raft.Apply(encodeBatch(recs), timeout)
	done := make(chan struct{})
	go func() { fut.Error(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("replica: append: %w: %w", ledger.ErrMaybeAppended, ctx.Err())
	}
	switch err := fut.Error(); {
	case errors.Is(err, raft.ErrNotLeader):
		return nil, r.notLeader()
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return nil, fmt.Errorf("replica: append: %w", err)
	case err != nil:
		return nil, fmt.Errorf("replica: append: %w: %w", ledger.ErrMaybeAppended, err)
	}
	var res batchResult
	switch v := fut.Response().(type) {
	case batchResult:
		res = v
	case error:
		return nil, fmt.Errorf("replica: append: %w: %w", ledger.ErrMaybeAppended, v)
	default:
		return nil, fmt.Errorf("replica: append: %w: the batch was not applied (%T)", ledger.ErrMaybeAppended, v)
	}
	r.wake()
	if err := r.cfg.Board.WaitSize(ctx, res.end); err != nil {
		return nil, fmt.Errorf("replica: append: the batch was committed at [%d, %d) but is not sealed on this member's board: %w: %w", res.first, res.end, ledger.ErrMaybeAppended, err)
	}
	cp := r.cfg.Board.Latest()
	out := make([]ledger.AppendResult, len(recs))
	for i := range out {
		out[i] = ledger.AppendResult{Index: res.first + uint64(i), Checkpoint: cp}
	}
	return out, nil
}

func (r *Replica) notLeader() error {
	addr, id := r.raft.LeaderWithID()
	return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
}

// IsLeader reports whether this member is the cluster's leader now.
func (r *Replica) IsLeader() bool { return r.raft.State() == raft.Leader }

// Leader returns the leader's ID and Raft address, empty if none is known.
func (r *Replica) Leader() (id, addr string) {
	a, i := r.raft.LeaderWithID()
	return string(i), string(a)
}

// Status is a member's view of the cluster.
type Status struct {
	ID          string
	State       string // Leader, Follower, Candidate, Shutdown
	LeaderID    string
	LeaderAddr  string
	Members     []Member
	CommitIndex uint64 // the Raft log's commit index known to this member
	AppliedIdx  uint64 // the last entry applied to this member's state machine
	BoardSize   uint64
	Pending     uint64 // committed records awaiting their seal
	Ready       bool   // this member leads and takes changes (WriteReady)
}

// Status returns the member's view of the cluster.
func (r *Replica) Status() (Status, error) {
	s := Status{ID: r.cfg.ID, State: r.raft.State().String(), CommitIndex: r.raft.CommitIndex(), AppliedIdx: r.raft.AppliedIndex(), BoardSize: r.cfg.Board.Size(), Pending: r.fsm.pendingCount()}
	s.LeaderID, s.LeaderAddr = r.Leader()
	_, s.Ready = r.WriteReady()
	f := r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return s, err
	}
	for _, sv := range f.Configuration().Servers {
		s.Members = append(s.Members, Member{ID: string(sv.ID), Addr: string(sv.Address)})
	}
	return s, nil
}

// AddVoter adds a member (on the leader; a *NotLeaderError elsewhere). It returns once the configuration change
// is committed; the new member then catches up from the log or a snapshot.
func (r *Replica) AddVoter(m Member, timeout time.Duration) error {
	if !r.IsLeader() {
		return r.notLeader()
	}
	return r.raft.AddVoter(raft.ServerID(m.ID), raft.ServerAddress(m.Addr), 0, timeout).Error()
}

// RemoveServer removes a member (on the leader).
func (r *Replica) RemoveServer(id string, timeout time.Duration) error {
	if !r.IsLeader() {
		return r.notLeader()
	}
	return r.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
}

// Snapshot makes Raft take a snapshot now (and compact its log).
func (r *Replica) Snapshot() error { return r.raft.Snapshot().Error() }

// Close stops the member (the cluster goes on without it) and closes its Raft log. It does not close the board.
func (r *Replica) Close() error {
	r.once.Do(func() {
		close(r.stop)
		<-r.stopped
		r.closeErr = r.raft.Shutdown().Error()
		if err := r.store.Close(); r.closeErr == nil {
			r.closeErr = err
		}
	})
	return r.closeErr
}

// slogWriter passes hclog's lines to a slog.Logger.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

var _ io.Writer = slogWriter{}

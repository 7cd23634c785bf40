package observer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// Config configures Open.
type Config struct {
	// Dir holds the observer's files (see the package doc); created on first start.
	Dir string
	// Board is the node's BoardService: the observer reads the node through it alone.
	Board recountv1.BoardServiceClient
	// BoardKey, if set, is the node's note verifier key the observer requires (from the election's published
	// documents), or its fingerprint (tlog.KeyFingerprint, "sha256:..."); unset, the first start takes the key
	// of the node's export, and the mirror keeps it.
	BoardKey string
	Logger   *slog.Logger
	// Workers is the number of goroutines checking ballots (GOMAXPROCS when 0).
	Workers int
	// PollInterval is how often the observer asks the node for its latest checkpoint (1 s when 0): how soon it
	// sees a node that stops streaming or shows another history. The entries themselves go under the
	// checkpoints the node's stream carries, as they arrive.
	PollInterval time.Duration
	// MaxPendingBytes bounds the entries held in memory past the mirror, waiting for a signed checkpoint that
	// covers them (256 MiB when 0; each entry counts its payload and 64 bytes): beyond it the observer stops
	// reading the stream, and takes the entries it holds under a checkpoint of the node's that ends among them.
	MaxPendingBytes int
	// OnAlarm, if set, is called with each alarm once its file is written.
	OnAlarm func(a *Alarm, path string)
	// OpenProgress, if set, is called now and then while Open replays the mirror (its whole copy of the board
	// at a first start), with the entries replayed and the mirror's size.
	OpenProgress func(done, total uint64)
}

// An Observer is an open observer's directory: its mirror, its replayed state, and the follower of the node.
type Observer struct {
	cfg    Config
	logger *slog.Logger
	mirror *ledger.Log
	store  *store
	met    *metrics

	mu         sync.RWMutex // guards the fields below and the state
	state      *election.State
	replay     *election.Replayer
	verified   uint64                    // entries replayed and their failures recorded
	failures   []*election.CheckError    // the first failures found, at most keptFailures
	failed     map[election.Check]uint64 // every failure, counted per check
	failedAt   map[uint64]bool           // entries that failed a check, re-checked in full at restart
	failKeys   map[failID]bool           // every failure recorded, by entry and check
	batchFails []*election.CheckError    // failures of the batch being replayed
	checked    uint64                    // ballots checked in full since Open
	restoredN  uint64                    // ballots replayed with their shape only at Open
	restoring  bool                      // Open is replaying the mirror
	restoreTo  uint64                    // while restoring, the verified size recorded: ballots before it are not checked again
	nodeCP     tlog.Checkpoint           // the latest checkpoint the node showed, signature verified
	// unreached lists, in increasing size, the checkpoints the node showed that the verified state has not
	// reached yet, each with when it was first seen: the lag in seconds is the first one's age.
	unreached []seenCheckpoint
	alarms    []*Alarm        // raised since Open
	alarmSeen map[string]bool // the shown checkpoints already alarmed about
	restored  time.Duration   // how long restoring the state took

	// rootAt is the mirror's root at one size smaller than its own, once computed (used by follow alone).
	rootAt struct {
		size uint64
		root [tlog.HashSize]byte
		ok   bool
	}

	// cosignedCand is the latest witnessed checkpoint the node showed (board signature verified), cosignedOK the
	// latest found of the mirror's history, which is served (witness.go).
	cosignedMu               sync.Mutex
	cosignedCand, cosignedOK tlog.Checkpoint

	beforeReplay func() // test hook: called before each batch is replayed
}

// keptFailures bounds the failures an Observer keeps in memory (all are in observer.db, counted in Status).
const keptFailures = 100

// ErrAlarm is wrapped by the error of a follow session that ended because the node showed another history.
var ErrAlarm = errors.New("the node showed two histories")

// Open opens the observer's directory, creating it on first start from the node's export (which Import
// verifies), and restores the verified state from the mirror: entries already replayed are replayed again
// with the ballots' shape only (their signatures and proofs were checked before, and their failures are read
// back from observer.db), the rest in full.
func Open(ctx context.Context, cfg Config) (*Observer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("observer: Config.Dir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = 256 << 20
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	mirrorDir := filepath.Join(cfg.Dir, "mirror")
	fingerprint := ""
	if strings.HasPrefix(cfg.BoardKey, "sha256:") {
		// A fingerprint: the key itself is the node's, if its fingerprint matches (checked again on the mirror).
		fingerprint, cfg.BoardKey = strings.ToLower(cfg.BoardKey), ""
		if cfg.Board != nil {
			cctx, cancel := context.WithTimeout(ctx, client.DefaultCallTimeout)
			resp, err := cfg.Board.GetCheckpoint(cctx, &recountv1.GetCheckpointRequest{})
			cancel()
			if err != nil {
				return nil, fmt.Errorf("observer: the node's board key: %w", grpcnode.Err(err))
			}
			if tlog.KeyFingerprint(resp.VerifierKey) != fingerprint {
				return nil, fmt.Errorf("observer: the node's board key %s has fingerprint %s, not the required %s", resp.VerifierKey, tlog.KeyFingerprint(resp.VerifierKey), fingerprint)
			}
			cfg.BoardKey = resp.VerifierKey
		}
	}
	if _, err := os.Stat(filepath.Join(mirrorDir, ledger.DBFileName)); errors.Is(err, fs.ErrNotExist) {
		if cfg.Board == nil {
			return nil, fmt.Errorf("observer: %s holds no mirror and no node is given to copy", cfg.Dir)
		}
		if err := importExport(ctx, cfg, mirrorDir); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	mirror, err := ledger.OpenMirror(mirrorDir, ledger.Options{VerifierKey: cfg.BoardKey, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("observer: the mirror: %w", err)
	}
	if fingerprint != "" && tlog.KeyFingerprint(mirror.VerifierKey()) != fingerprint {
		mirror.Close()
		return nil, fmt.Errorf("observer: the mirror's board key has fingerprint %s, not the required %s", tlog.KeyFingerprint(mirror.VerifierKey()), fingerprint)
	}
	st, err := openStore(filepath.Join(cfg.Dir, storeFileName))
	if err != nil {
		mirror.Close()
		return nil, err
	}
	o := &Observer{cfg: cfg, logger: cfg.Logger, mirror: mirror, store: st,
		// The state reads ballots back from the mirror, which holds every entry before it is replayed
		// (appendAndReplay), rather than keep their ciphertexts.
		state: election.NewStateReading(election.EntryReaderFunc(func(i uint64) (election.Entry, error) {
			e, err := mirror.Entry(i)
			return election.FromBoard(e), err
		})),
		failed: map[election.Check]uint64{}, failedAt: map[uint64]bool{}, failKeys: map[failID]bool{}, alarmSeen: map[string]bool{}}
	o.met = newMetrics(o)
	if err := o.restore(ctx); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// importExport creates the mirror from the node's export.
func importExport(ctx context.Context, cfg Config, mirrorDir string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := cfg.Board.Export(ctx, &recountv1.ExportRequest{})
	if err != nil {
		return fmt.Errorf("observer: the node's export: %w", grpcnode.Err(err))
	}
	l, err := ledger.Import(mirrorDir, &exportReader{stream: stream}, ledger.Options{VerifierKey: cfg.BoardKey, Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("observer: copying the node's board: %w", err)
	}
	cfg.Logger.Info("observer: copied the node's board", "size", l.Size(), "board_key", l.VerifierKey(), "fingerprint", tlog.KeyFingerprint(l.VerifierKey()))
	return l.Close()
}

// exportReader reads an Export stream's data.
type exportReader struct {
	stream interface {
		Recv() (*recountv1.ExportResponse, error)
	}
	buf []byte
}

func (r *exportReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		m, err := r.stream.Recv()
		if err != nil {
			if err != io.EOF {
				err = grpcnode.Err(err)
			}
			return 0, err
		}
		r.buf = m.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// restore replays the mirror into a fresh state: entries before the recorded verified size with the ballots'
// shape only (except those that failed a check, checked in full again), the others in full.
func (o *Observer) restore(ctx context.Context) error {
	start := time.Now()
	verified, failures, err := o.store.load()
	if err != nil {
		return err
	}
	if size := o.mirror.Size(); verified > size {
		return fmt.Errorf("observer: %s records %d entries verified, but the mirror holds %d: it is not this mirror's", storeFileName, verified, size)
	}
	for _, f := range failures {
		o.noteFailure(f)
		o.failedAt[f.Entry] = true
	}
	o.restoreTo, o.restoring = verified, true
	o.replay = election.NewReplayer(o.state, election.ReplayOptions{Workers: o.cfg.Workers, Applied: o.applied, ShapeOnly: o.restoredBallot})
	o.verified = 0
	o.mu.Lock()
	err = o.replay.FeedSeq(ctx, election.FromBoardSeq(o.mirror.Entries(ctx, 0)))
	// Failures found again among the entries already verified (stateful checks run again) were skipped by
	// applied: they were read back from observer.db.
	fresh := o.batchFails
	o.batchFails = nil
	o.restoreTo, o.restoring = 0, false
	if o.cfg.OpenProgress != nil {
		o.cfg.OpenProgress(o.state.Size(), o.mirror.Size())
	}
	o.mu.Unlock()
	if err != nil {
		return fmt.Errorf("observer: replaying the mirror: %w", err)
	}
	o.replay = election.NewReplayer(o.state, election.ReplayOptions{Workers: o.cfg.Workers, Applied: o.applied})
	if err := o.store.save(o.state.Size(), fresh); err != nil {
		return fmt.Errorf("observer: %s: %w", storeFileName, err)
	}
	o.mu.Lock()
	o.verified = o.state.Size()
	o.restored = time.Since(start)
	o.mu.Unlock()
	o.met.update()
	o.logger.Info("observer: restored the verified state", "entries", o.verified, "verified_before", verified, "took", o.restored.Round(time.Millisecond))
	// The cosigned checkpoint served before the restart, checked again as one the node shows (board signature,
	// the mirror's history), so that it is served before the node is reached.
	cosigned, err := o.store.loadCosigned()
	if err != nil {
		return fmt.Errorf("observer: %s: %w", storeFileName, err)
	}
	if cosigned != nil {
		o.noteCosigned(cosigned)
		o.Cosigned()
	}
	return nil
}

// restoredBallot says whether a cast ballot replayed at restore was checked in full before (the Replayer's
// ShapeOnly): it was if it is before the recorded verified size and failed no check (a failed one is checked
// again, so that the state does not count it).
func (o *Observer) restoredBallot(e election.Entry) bool {
	return e.Kind == election.KindBallot && e.Index < o.restoreTo && !o.failedAt[e.Index]
}

// applied is the Replayer's Applied: it counts checked ballots and records failures. Called with o.mu held.
func (o *Observer) applied(e election.Entry, errs []*election.CheckError) error {
	if o.restoring && o.cfg.OpenProgress != nil && (e.Index+1)%256 == 0 {
		o.cfg.OpenProgress(e.Index+1, o.mirror.Size())
	}
	switch {
	case o.restoredBallot(e):
		o.restoredN++
	case e.Kind == election.KindBallot || e.Kind == election.KindSpoiledBallot:
		o.checked++
		o.met.ballotsChecked.Inc()
	}
	for _, f := range errs {
		if o.hasFailure(f) {
			continue // read back from observer.db at restore
		}
		o.noteFailure(f)
		o.failedAt[f.Entry] = true
		o.batchFails = append(o.batchFails, f)
		o.met.checksFailed.Inc()
		o.logger.Warn("observer: an entry fails a check", "entry", f.Entry, "check", f.Check.String(), "reason", f.Reason)
	}
	return nil
}

// failID names a failure: a check at an entry.
type failID struct {
	entry uint64
	check election.Check
}

func (o *Observer) hasFailure(f *election.CheckError) bool {
	return o.failKeys[failID{f.Entry, f.Check}]
}

func (o *Observer) noteFailure(f *election.CheckError) {
	o.failKeys[failID{f.Entry, f.Check}] = true
	o.failed[f.Check] += 1 + f.More
	if len(o.failures) < keptFailures {
		o.failures = append(o.failures, f)
	}
}

// Close closes the mirror and observer.db.
func (o *Observer) Close() error {
	err := o.mirror.Close()
	if e := o.store.close(); err == nil {
		err = e
	}
	return err
}

// Mirror returns the observer's copy of the board (for reading).
func (o *Observer) Mirror() *ledger.Log { return o.mirror }

// Verified reports whether every entry of the board up to size (the first size entries) is in the mirror,
// under a checkpoint the node signed, and passed every check. It is what a witness that is also an observer
// asks before it co-signs a checkpoint of that size.
func (o *Observer) Verified(size uint64) bool {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if size > o.verified {
		return false
	}
	for _, f := range o.failures {
		if f.Entry < size {
			return false
		}
	}
	if len(o.failures) >= keptFailures {
		// Failures past those kept are only counted: be conservative.
		for e := range o.failedAt {
			if e < size {
				return false
			}
		}
	}
	return true
}

// Status is the observer's account of where it stands.
type Status struct {
	// Mirrored is the number of entries in the mirror, Checkpoint its latest checkpoint (signed by the node).
	Mirrored   uint64
	Checkpoint tlog.Checkpoint
	// Verified is the number of entries replayed through every check.
	Verified uint64
	// NodeSize is the size of the last checkpoint the node showed; LagEntries how many entries the verified
	// state is behind it; Lag how long ago the observer first saw the oldest checkpoint the verified state has
	// not reached (0 when it is not behind).
	NodeSize   uint64
	LagEntries uint64
	Lag        time.Duration
	// BallotsChecked counts the ballots checked in full since Open; BallotsRestored those replayed with their
	// shape only at Open, checked in full before a restart.
	BallotsChecked, BallotsRestored uint64
	// Cast, Voters and Spoiled are the state's counts (election.State.Counts); Superseded is Cast-Voters, the
	// ballots replaced by a later one of the same credential.
	Cast, Voters, Spoiled, Superseded int
	Phase                             client.Phase
	// Failures are the first failed checks (in the order found), FailureCount all of them.
	Failures     []*election.CheckError
	FailureCount uint64
	Alarms       []*Alarm
	// Restored is how long restoring the state at Open took.
	Restored time.Duration
}

// Status returns the observer's current status.
func (o *Observer) Status() Status {
	o.mu.RLock()
	defer o.mu.RUnlock()
	st := Status{Mirrored: o.mirror.Size(), Checkpoint: o.mirror.Latest(), Verified: o.verified, NodeSize: o.nodeCP.Size,
		BallotsChecked: o.checked, BallotsRestored: o.restoredN, Failures: append([]*election.CheckError(nil), o.failures...),
		Alarms: append([]*Alarm(nil), o.alarms...), Restored: o.restored, Phase: phaseOf(o.state)}
	st.Cast, st.Voters, st.Spoiled = o.state.Counts()
	st.Superseded = st.Cast - st.Voters
	for _, n := range o.failed {
		st.FailureCount += n
	}
	if st.NodeSize > o.verified {
		st.LagEntries = st.NodeSize - o.verified
	}
	if len(o.unreached) > 0 {
		st.Lag = time.Since(o.unreached[0].at)
	}
	return st
}

func phaseOf(s *election.State) client.Phase {
	switch {
	case s.Manifest() == nil:
		return client.PhaseEmpty
	case s.HasResult():
		return client.PhaseDone
	case s.HasEncryptedTally():
		return client.PhaseTallying
	case s.IsClosed():
		return client.PhaseClosed
	case s.IsOpen():
		return client.PhaseOpen
	}
	return client.PhaseSetup
}

// Run follows the node's board until ctx ends, reconnecting when the stream breaks or the node misbehaves
// (after a pause that grows to 10 s). It returns ctx's error. An alarm does not stop it: the mirror and the
// state stay as they were, and the observer goes on asking, refusing every checkpoint that does not extend
// its mirror.
func (o *Observer) Run(ctx context.Context) error {
	if o.cfg.Board == nil {
		return errors.New("observer: no node to follow")
	}
	backoff := 100 * time.Millisecond
	for {
		before := o.mirror.Size()
		err := o.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if o.mirror.Size() > before {
			backoff = 100 * time.Millisecond
		}
		o.logger.Warn("observer: following the node stopped; will try again", "err", err, "after", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// received is one entry read from the node's stream, or the stream's end.
type received struct {
	e   tlog.Entry
	cp  *tlog.Checkpoint // the checkpoint e carried as the last entry of one of the node's commits, if any
	err error
}

// maxChunk bounds the entries appended and replayed under one of the checkpoints the node's stream carries:
// consecutive commits are taken together up to this many entries, so that an observer that fell behind catches
// up in few synced writes, and its verified size still moves on every maxChunk entries.
const maxChunk = 128

// follow is one session: a stream of the node's entries from the mirror's size, appended to the mirror under
// the node's signed checkpoints and replayed. It returns why it ended.
func (o *Observer) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The node's checkpoint first: a node that rolled back refuses a stream from the mirror's size, and must
	// not escape the alarm by refusing.
	target, err := o.nodeCheckpoint(ctx)
	if err != nil {
		return err
	}
	if err := o.consistent(ctx, target); err != nil {
		return err
	}
	from := o.mirror.Size()
	stream, err := o.cfg.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{From: from, Follow: true})
	if err != nil {
		return err
	}
	in := make(chan received, 1024)
	budget := newBudget(o.cfg.MaxPendingBytes)
	go func() {
		next := from
		for {
			m, err := stream.Recv()
			var r received
			switch {
			case err != nil:
				r.err = err
			case m.Index != next:
				r.err = fmt.Errorf("the node sent entry %d where %d was expected", m.Index, next)
			case len(m.Payload) > tlog.MaxPayloadSize:
				r.err = fmt.Errorf("the node sent entry %d with a payload of %d bytes, more than the %d a board holds", m.Index, len(m.Payload), tlog.MaxPayloadSize)
			default:
				r.e = grpcnode.StreamedEntry(m)
				if len(m.Checkpoint) > 0 {
					cp, err := tlog.ParseCheckpoint(m.Checkpoint, o.mirror.VerifierKey())
					switch {
					case err != nil:
						r.err = fmt.Errorf("the node sent entry %d with a checkpoint that does not verify: %v", m.Index, err)
					case cp.Size != m.Index+1:
						r.err = fmt.Errorf("the node sent entry %d with a checkpoint of size %d, not %d", m.Index, cp.Size, m.Index+1)
					default:
						r.cp = &cp
						o.mu.Lock()
						if cp.Size > o.nodeCP.Size {
							o.nodeCP = cp // the node's, as if asked: it counts in the lag
						}
						o.noteUnreached(cp.Size, time.Now())
						o.mu.Unlock()
					}
					if r.err != nil {
						break
					}
				}
				next++
				// Stop reading (and let the node's stream stall) while the entries held reach the budget.
				if err := budget.acquire(ctx, entryCost(r.e)); err != nil {
					return
				}
			}
			select {
			case in <- r:
			case <-ctx.Done():
				return
			}
			if r.err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(o.cfg.PollInterval)
	defer tick.Stop()
	var pending []tlog.Entry // entries received, past the mirror; target is the checkpoint they are gathered for
	// carried are the checkpoints the pending entries carried (commit ends), in increasing size. Once the node
	// has sent one, the observer appends under those and asks for the node's checkpoint on its ticks only (to
	// look for forks and know the node's size): a node that sends none is followed by asking after each batch.
	var carried []tlog.Checkpoint
	streamed := false
	take := func(r received) error {
		if r.err != nil {
			o.met.refused.WithLabelValues("stream").Inc()
			return r.err
		}
		pending = append(pending, r.e)
		if r.cp != nil {
			carried = append(carried, *r.cp)
			streamed = true
		}
		return nil
	}
	// appendPending appends and replays the first n pending entries under cp and lets go of them.
	appendPending := func(n uint64, cp tlog.Checkpoint) error {
		if err := o.appendAndReplay(ctx, pending[:n], cp); err != nil {
			return err
		}
		freed := 0
		for _, e := range pending[:n] {
			freed += entryCost(e)
		}
		pending = pending[n:]
		budget.release(freed)
		for len(carried) > 0 && carried[0].Size <= cp.Size {
			carried = carried[1:]
		}
		return nil
	}
	for {
		ask := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case r := <-in:
			if err := take(r); err != nil {
				return err
			}
		case <-tick.C:
			ask = true
		}
	drain:
		for {
			select {
			case r := <-in:
				if err := take(r); err != nil {
					return err
				}
			default:
				break drain
			}
		}
		// The commits whose checkpoints the stream carried, several together up to maxChunk entries.
		appended := len(carried) > 0
		for len(carried) > 0 {
			size := o.mirror.Size()
			k := 0
			for k+1 < len(carried) && carried[k+1].Size-size <= maxChunk {
				k++
			}
			if err := appendPending(carried[k].Size-size, carried[k]); err != nil {
				return err
			}
		}
		have := o.mirror.Size() + uint64(len(pending))
		if ask || target.Size == 0 || !streamed && have >= target.Size {
			cp, err := o.nodeCheckpoint(ctx)
			if err != nil {
				return err
			}
			if err := o.consistent(ctx, cp); err != nil {
				return err
			}
			if cp.Size > target.Size {
				target = cp
			}
		}
		size := o.mirror.Size()
		cp := target
		if have < target.Size && budget.blocked() && (!streamed || ask && !appended) {
			// The entries held fill the budget and the latest checkpoint lies beyond them: take them under the
			// checkpoint the node signed at the end of one of its commits among them, if any.
			if cp, err = o.checkpointWithin(ctx, size, have); err != nil {
				return err
			}
		}
		if cp.Size > size && have >= cp.Size {
			if err := appendPending(cp.Size-size, cp); err != nil {
				return err
			}
		}
	}
}

// maxProbes bounds the checkpoints of exact sizes checkpointWithin asks for.
const maxProbes = 4096

// checkpointWithin returns the node's checkpoint of the largest size in (size, have] that it signed (one per
// commit of the node), asking for each size from have down. None within maxProbes sizes is an error: the node
// streamed more than the observer holds without signing any of it.
func (o *Observer) checkpointWithin(ctx context.Context, size, have uint64) (tlog.Checkpoint, error) {
	for s, probes := have, 0; s > size && probes < maxProbes; s, probes = s-1, probes+1 {
		cctx, cancel := context.WithTimeout(ctx, client.DefaultCallTimeout)
		resp, err := o.cfg.Board.GetCheckpoint(cctx, &recountv1.GetCheckpointRequest{Size: s})
		cancel()
		if status.Code(err) == codes.NotFound {
			continue
		}
		if err != nil {
			return tlog.Checkpoint{}, fmt.Errorf("the node's checkpoint of size %d: %w", s, grpcnode.Err(err))
		}
		cp, err := tlog.ParseCheckpoint(resp.Checkpoint, o.mirror.VerifierKey())
		if err != nil || cp.Size != s {
			o.met.refused.WithLabelValues("checkpoint").Inc()
			return tlog.Checkpoint{}, fmt.Errorf("the node's checkpoint of size %d: %v", s, err)
		}
		return cp, nil
	}
	o.met.refused.WithLabelValues("pending").Inc()
	return tlog.Checkpoint{}, fmt.Errorf("the node streamed %d entries past the mirror, more than the observer holds (%d bytes), and signed no checkpoint among the last %d of them", have-size, o.cfg.MaxPendingBytes, maxProbes)
}

// entryCost is what an entry held in memory counts against the budget.
func entryCost(e tlog.Entry) int { return len(e.Payload) + 64 }

// budget bounds the bytes of the entries held in memory past the mirror.
type budget struct {
	mu      sync.Mutex
	used    int
	max     int
	waiting bool
	freed   chan struct{} // closed and replaced at each release
}

func newBudget(max int) *budget { return &budget{max: max, freed: make(chan struct{})} }

// acquire takes n bytes, waiting while they would exceed the budget (an entry alone larger than the budget is
// taken when nothing else is held).
func (b *budget) acquire(ctx context.Context, n int) error {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.waiting = false
			b.mu.Unlock()
			return nil
		}
		b.waiting = true
		ch := b.freed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// blocked reports whether the receiver waits for the budget.
func (b *budget) blocked() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiting
}

// seenCheckpoint is the size of a checkpoint the node showed, and when the observer first saw it.
type seenCheckpoint struct {
	size uint64
	at   time.Time
}

// maxUnreached bounds Observer.unreached: past it, the newest entry takes the larger sizes (keeping the
// oldest times, which make the lag).
const maxUnreached = 1024

// noteUnreached records a checkpoint of size seen at (none when size is 0), and drops those the verified state
// has reached. Called with o.mu held.
func (o *Observer) noteUnreached(size uint64, at time.Time) {
	n := len(o.unreached)
	switch {
	case size <= o.verified || n > 0 && size <= o.unreached[n-1].size:
	case n == maxUnreached:
		o.unreached[n-1].size = size
	default:
		o.unreached = append(o.unreached, seenCheckpoint{size, at})
	}
	i := 0
	for i < len(o.unreached) && o.unreached[i].size <= o.verified {
		i++
	}
	o.unreached = o.unreached[i:]
}

// nodeCheckpoint asks the node for its latest checkpoint and verifies its signature.
func (o *Observer) nodeCheckpoint(ctx context.Context) (tlog.Checkpoint, error) {
	cctx, cancel := context.WithTimeout(ctx, client.DefaultCallTimeout)
	defer cancel()
	resp, err := o.cfg.Board.GetCheckpoint(cctx, &recountv1.GetCheckpointRequest{})
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("the node's checkpoint: %w", grpcnode.Err(err))
	}
	cp, err := tlog.ParseCheckpoint(resp.Checkpoint, o.mirror.VerifierKey())
	if err != nil {
		o.met.refused.WithLabelValues("checkpoint").Inc()
		return tlog.Checkpoint{}, fmt.Errorf("the node's checkpoint: %w", err)
	}
	o.noteCosigned(resp.CosignedCheckpoint)
	o.mu.Lock()
	o.nodeCP = cp
	o.noteUnreached(cp.Size, time.Now())
	o.mu.Unlock()
	o.met.update()
	return cp, nil
}

// consistent checks that the node's checkpoint cp can extend the mirror: not smaller than the mirror's latest,
// nor of its size with another root. Otherwise it raises an alarm.
func (o *Observer) consistent(ctx context.Context, cp tlog.Checkpoint) error {
	held := o.mirror.Latest()
	switch {
	case cp.Size == held.Size && cp.Root != held.Root:
		return o.alarm(&Alarm{Kind: AlarmSameSize, Held: string(held.Signed), Shown: string(cp.Signed),
			Explanation: fmt.Sprintf("the node signed two checkpoints of size %d with different roots", cp.Size)})
	case cp.Size < held.Size:
		root, err := o.mirrorRoot(ctx, cp.Size)
		if err != nil {
			return err
		}
		if root == cp.Root {
			// The node shows an older checkpoint of the same history (a lagging replica): no fork, nothing new.
			return nil
		}
		p, err := o.mirror.ConsistencyProof(cp.Size, held.Size)
		if err != nil {
			return err
		}
		return o.alarm(&Alarm{Kind: AlarmRollback, Held: string(held.Signed), Shown: string(cp.Signed), HeldRootAtShownSize: root[:], Proof: p,
			Explanation: fmt.Sprintf("the node showed a checkpoint of size %d whose root is not that of the tree of size %d it signed before: it rolled back its board and wrote another history", cp.Size, held.Size)})
	}
	return nil
}

// mirrorRoot returns the root of the mirror's tree at size, hashing its first size entries. The last answer is
// kept: a node behind a replica shows the same smaller checkpoint at every poll.
func (o *Observer) mirrorRoot(ctx context.Context, size uint64) ([tlog.HashSize]byte, error) {
	if o.rootAt.ok && o.rootAt.size == size {
		return o.rootAt.root, nil
	}
	root, err := o.hashMirror(ctx, size)
	if err == nil {
		o.rootAt.size, o.rootAt.root, o.rootAt.ok = size, root, true
	}
	return root, err
}

func (o *Observer) hashMirror(ctx context.Context, size uint64) ([tlog.HashSize]byte, error) {
	rng := (&compact.RangeFactory{Hash: tlog.HashChildren}).NewEmptyRange(0)
	if size > 0 {
		for e, err := range o.mirror.Entries(ctx, 0) {
			if err != nil {
				return [tlog.HashSize]byte{}, err
			}
			h := tlog.LeafHash(e.Kind, e.Payload)
			if err := rng.Append(h[:], nil); err != nil {
				return [tlog.HashSize]byte{}, err
			}
			if rng.End() == size {
				break
			}
		}
	}
	return tlog.RangeRoot(rng), nil
}

// appendAndReplay appends entries to the mirror under cp, then replays them and records the outcome.
func (o *Observer) appendAndReplay(ctx context.Context, entries []tlog.Entry, cp tlog.Checkpoint) error {
	recs := make([]ledger.Record, len(entries))
	for i, e := range entries {
		recs[i] = ledger.Record{Kind: e.Kind, Payload: e.Payload}
	}
	held := o.mirror.Latest()
	if _, err := o.mirror.AppendSigned(ctx, recs, cp.Signed); err != nil {
		if !errors.Is(err, ledger.ErrBadCheckpoint) {
			return err
		}
		// The entries do not hash to cp: either the node streamed entries that are not those it signed, or cp
		// does not extend the mirror. The node's consistency proof tells which it claims.
		return o.notExtending(ctx, held, cp, err)
	}
	o.met.mirrored.Set(float64(o.mirror.Size()))
	if o.beforeReplay != nil {
		o.beforeReplay()
	}
	o.mu.Lock()
	err := o.replay.FeedSeq(ctx, func(yield func(election.Entry, error) bool) {
		for _, e := range entries {
			if !yield(election.FromBoard(e), nil) {
				return
			}
		}
	})
	fails := o.batchFails
	o.batchFails = nil
	o.mu.Unlock()
	if err != nil {
		return err
	}
	size := o.state.Size()
	if err := o.store.save(size, fails); err != nil {
		return fmt.Errorf("observer: %s: %w", storeFileName, err)
	}
	o.mu.Lock()
	o.verified = size
	o.noteUnreached(0, time.Time{})
	o.mu.Unlock()
	o.met.update()
	return nil
}

// notExtending handles entries that do not hash to the node's checkpoint cp, the mirror being at held.
func (o *Observer) notExtending(ctx context.Context, held, cp tlog.Checkpoint, appendErr error) error {
	cctx, cancel := context.WithTimeout(ctx, client.DefaultCallTimeout)
	defer cancel()
	var p [][]byte
	resp, err := o.cfg.Board.GetConsistencyProof(cctx, &recountv1.GetConsistencyProofRequest{OldSize: held.Size, NewSize: cp.Size})
	if err == nil {
		p = resp.Proof
		if tlog.VerifyConsistency(held, cp, p) == nil {
			o.met.refused.WithLabelValues("entries").Inc()
			return fmt.Errorf("the node streamed entries that are not those it signed: %w", appendErr)
		}
	} else if st, ok := status.FromError(err); ok && (st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded || st.Code() == codes.Canceled) {
		return fmt.Errorf("the node's consistency proof: %w", err)
	}
	// The node could not prove cp extends held. If it also signed another checkpoint of held's size, that is
	// the stronger proof.
	if resp, err := o.cfg.Board.GetCheckpoint(cctx, &recountv1.GetCheckpointRequest{Size: held.Size}); err == nil {
		if other, err := tlog.ParseCheckpoint(resp.Checkpoint, o.mirror.VerifierKey()); err == nil && other.Size == held.Size && other.Root != held.Root {
			return o.alarm(&Alarm{Kind: AlarmSameSize, Held: string(held.Signed), Shown: string(other.Signed),
				Explanation: fmt.Sprintf("the node signed two checkpoints of size %d with different roots", held.Size)})
		}
	}
	return o.alarm(&Alarm{Kind: AlarmNotExtending, Held: string(held.Signed), Shown: string(cp.Signed), Proof: p,
		Explanation: fmt.Sprintf("the node showed a checkpoint of size %d that it cannot prove extends the checkpoint of size %d it signed before, and the entries it streamed do not hash to it", cp.Size, held.Size)})
}

// alarm fills in and records an alarm (once per shown checkpoint), and returns an error wrapping ErrAlarm.
func (o *Observer) alarm(a *Alarm) error {
	a.Origin, a.VerifierKey, a.DetectedAt = o.mirror.Origin(), o.mirror.VerifierKey(), time.Now()
	o.mu.Lock()
	seen := o.alarmSeen[a.Shown]
	o.alarmSeen[a.Shown] = true
	if !seen {
		o.alarms = append(o.alarms, a)
	}
	o.mu.Unlock()
	if !seen {
		o.met.alarms.Inc()
		path, err := writeAlarm(o.cfg.Dir, a)
		if err != nil {
			o.logger.Error("observer: could not write the alarm's proof", "err", err, "alarm", a.String())
		} else {
			o.logger.Error("observer: "+a.String(), "proof", path)
		}
		if o.cfg.OnAlarm != nil {
			o.cfg.OnAlarm(a, path)
		}
	}
	return fmt.Errorf("%w: %s", ErrAlarm, a.Explanation)
}

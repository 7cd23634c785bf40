package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/witness"
	"github.com/recount-vote/recount/witness/policy"
)

// WitnessOptions configure the witnessing of the board's checkpoints (docs/witness.md, section 9). With no Policy
// the node asks no witness and works as it always did.
type WitnessOptions struct {
	// Policy names the witnesses (their keys and submission URLs) and the quorum. Every witness must have a URL.
	// If the policy names logs, the board's key must be one of them.
	Policy *policy.Policy
	// HTTPClient makes the requests to the witnesses; nil means a default client.
	HTTPClient *http.Client
	// Timeout bounds one witness's answer to one checkpoint (its 409 retry included); 10 s when 0.
	Timeout time.Duration
	// RetryEvery is how long the node waits after a round that did not reach the quorum before it asks again
	// (with the board's newest checkpoint); 2 s when 0.
	RetryEvery time.Duration
	// ReceiptWait, if positive, makes SubmitBallot wait up to this long for a witnessed checkpoint that covers
	// the ballot, so that its receipt carries the cosignatures; a receipt given without one says it is
	// unwitnessed. It does not wait while the witnesses are known to be unreachable: the last round failed and
	// the checkpoints have gone unwitnessed for longer than ReceiptWait.
	ReceiptWait time.Duration
	// WarnEvery is how often, at most, the node logs that its checkpoints are unwitnessed; 1 min when 0.
	WarnEvery time.Duration
}

// WitnessedFileName holds, in the board's directory, the latest checkpoint whose cosignatures met the witness
// policy: the board's signed checkpoint followed by the witnesses' cosignature lines (docs/witness.md, section 3).
const WitnessedFileName = "board.witnessed"

// WitnessState is where one witness of the policy stands.
type WitnessState struct {
	Name       string    // the policy's name for it
	Size       uint64    // the size of the latest checkpoint it cosigned for this node (0 if none since start)
	LastOK     time.Time // when it last cosigned (zero if never since start)
	LastError  string    // its last refusal or failure, "" if its last answer was a cosignature
	LastErrorT time.Time // when that happened
}

// WitnessStatus is where the witnessing of the board's checkpoints stands.
type WitnessStatus struct {
	Quorum    string // the policy's quorum, e.g. "quorum (2 of 3)"
	BoardSize uint64 // the size of the board's latest checkpoint
	// WitnessedSize is the size of the latest checkpoint whose cosignatures meet the policy (0 if none), stored
	// at WitnessedAt.
	WitnessedSize uint64
	WitnessedAt   time.Time
	// UnwitnessedSince is when the board's checkpoints first went ahead of the witnessed one without being
	// witnessed since: zero when the latest checkpoint is witnessed.
	UnwitnessedSince time.Time
	Witnesses        []WitnessState // in the policy's order
}

// Unwitnessed reports how long the board's latest checkpoint has gone unwitnessed at now (0 if it is witnessed).
func (s WitnessStatus) Unwitnessed(now time.Time) time.Duration {
	if s.UnwitnessedSince.IsZero() {
		return 0
	}
	return now.Sub(s.UnwitnessedSince)
}

// witnessing asks the policy's witnesses to cosign the board's checkpoints, in the background, and keeps the
// latest checkpoint that met the quorum.
type witnessing struct {
	n        *Node
	opts     WitnessOptions
	pol      *policy.Policy
	clients  []*witness.Client // aligned with pol.Witnesses
	verifier note.Verifier     // the board's
	path     string

	mu               sync.Mutex
	witnessed        tlog.Checkpoint // the board's own checkpoint; Size 0 if none
	cosigned         []byte          // witnessed's note with the witnesses' cosignature lines
	witnessedAt      time.Time
	unwitnessedSince time.Time
	lastRoundFailed  bool
	lastWarn         time.Time
	warned           bool
	states           []WitnessState
	busy             []bool        // a request to that witness is in flight
	changed          chan struct{} // closed and replaced when witnessed changes

	running atomic.Bool   // run was started
	done    chan struct{} // closed when run returns
}

func newWitnessing(n *Node, opts WitnessOptions) (*witnessing, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = 2 * time.Second
	}
	if opts.WarnEvery <= 0 {
		opts.WarnEvery = time.Minute
	}
	w := &witnessing{n: n, opts: opts, pol: opts.Policy, path: filepath.Join(n.dir, WitnessedFileName), changed: make(chan struct{}),
		done: make(chan struct{})}
	for _, pw := range w.pol.Witnesses {
		if pw.URL == "" {
			return nil, fmt.Errorf("node: the witness policy gives no URL for witness %s: the node cannot ask it", pw.Name)
		}
		c, err := witness.NewClient(pw.URL, pw.VerifierKey, opts.HTTPClient)
		if err != nil {
			return nil, fmt.Errorf("node: the witness policy's witness %s: %w", pw.Name, err)
		}
		w.clients = append(w.clients, c)
		w.states = append(w.states, WitnessState{Name: pw.Name})
	}
	w.busy = make([]bool, len(w.clients))
	return w, nil
}

// open checks the policy against the board and loads the stored witnessed checkpoint.
func (w *witnessing) open() error {
	l := w.n.log
	v, err := tlog.NewVerifier(l.VerifierKey())
	if err != nil {
		return err
	}
	w.verifier = v
	if len(w.pol.Logs) > 0 {
		named := false
		for _, pl := range w.pol.Logs {
			named = named || pl.VerifierKey == l.VerifierKey()
		}
		if !named {
			return fmt.Errorf("node: the witness policy does not name this board's key %s among its logs", l.VerifierKey())
		}
	}
	data, err := os.ReadFile(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node: reading the witnessed checkpoint: %w", err)
	}
	cp, _, err := w.pol.CheckLog(data, v)
	if err != nil {
		// Another policy (other witnesses, another quorum): the stored checkpoint no longer counts.
		w.n.logger.Warn("node: the stored witnessed checkpoint does not meet the witness policy; starting unwitnessed", "file", w.path, "err", err)
		return nil
	}
	own, err := l.CheckpointAt(cp.Size)
	if err != nil || own.Root != cp.Root {
		return fmt.Errorf("node: %s holds a witnessed checkpoint of size %d that this board did not sign (%v): the board is not the one witnessed", w.path, cp.Size, err)
	}
	w.witnessed, w.cosigned = own, data
	if fi, err := os.Stat(w.path); err == nil {
		w.witnessedAt = fi.ModTime()
	}
	return nil
}

// Witnessed returns the latest checkpoint whose cosignatures meet the witness policy (the board's checkpoint)
// and the cosigned checkpoint (its note followed by the witnesses' cosignature lines), or nil if the node has no
// witness policy or no checkpoint was witnessed yet.
func (n *Node) Witnessed() (tlog.Checkpoint, []byte) {
	if n.witness == nil {
		return tlog.Checkpoint{}, nil
	}
	n.witness.mu.Lock()
	defer n.witness.mu.Unlock()
	return n.witness.witnessed, n.witness.cosigned
}

// WitnessStatus reports where the witnessing stands, and false if the node has no witness policy.
func (n *Node) WitnessStatus() (WitnessStatus, bool) {
	w := n.witness
	if w == nil {
		return WitnessStatus{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return WitnessStatus{Quorum: w.quorum(n.log.Latest().Signed), BoardSize: n.log.Size(), WitnessedSize: w.witnessed.Size, WitnessedAt: w.witnessedAt,
		UnwitnessedSince: w.unwitnessedSince, Witnesses: append([]WitnessState(nil), w.states...)}, true
}

// quorum describes the policy's quorum, reading its threshold off the board's signed checkpoint.
func (w *witnessing) quorum(signed []byte) string {
	r, err := w.pol.Witnessed(signed)
	if err != nil || w.pol.Quorum == "none" {
		return w.pol.Quorum
	}
	return fmt.Sprintf("%s (%d of %d)", w.pol.Quorum, r.K, r.N)
}

// start runs run in the background.
func (w *witnessing) start() {
	w.running.Store(true)
	go func() {
		defer close(w.done)
		w.run()
	}()
}

// wait returns once run has returned (at once if it never started): nothing is written to board.witnessed after.
func (w *witnessing) wait() {
	if w.running.Load() {
		<-w.done
	}
}

// run witnesses the board's checkpoints until the node stops.
func (w *witnessing) run() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.n.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	for ctx.Err() == nil {
		cp := w.n.log.Latest()
		w.mu.Lock()
		behind := cp.Size > w.witnessed.Size
		if behind && w.unwitnessedSince.IsZero() {
			w.unwitnessedSince = time.Now()
		}
		w.mu.Unlock()
		w.report()
		if !behind {
			if err := w.n.log.WaitSize(ctx, cp.Size+1); err != nil {
				return
			}
			continue
		}
		if w.round(ctx, cp) {
			continue
		}
		// Not witnessed: ask again after a pause, with the board's newest checkpoint then.
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.opts.RetryEvery):
		}
	}
}

// round asks every witness not already busy to cosign cp, and stores and publishes cp once the cosignatures meet
// the quorum. It returns once the quorum is met or every witness asked has answered or timed out; witnesses that
// answer later still update their state.
func (w *witnessing) round(ctx context.Context, cp tlog.Checkpoint) bool {
	type answer struct {
		i  int
		cs witness.Cosignature
	}
	answers := make(chan answer, len(w.clients))
	asked := 0
	for i, c := range w.clients {
		w.mu.Lock()
		if w.busy[i] || w.states[i].Size > cp.Size {
			w.mu.Unlock()
			continue
		}
		w.busy[i] = true
		old := w.states[i].Size
		w.mu.Unlock()
		asked++
		go func() {
			rctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
			defer cancel()
			cs, err := c.Cosign(rctx, cp.Signed, cp.Size, old, w.n.log.ConsistencyProof)
			w.mu.Lock()
			w.busy[i] = false
			st := &w.states[i]
			var ce *witness.ConflictError
			switch {
			case err == nil:
				st.Size, st.LastOK, st.LastError = cp.Size, time.Now(), ""
			case errors.As(err, &ce):
				// It cosigned a checkpoint we did not send it since its state: start from there next time.
				st.Size, st.LastError, st.LastErrorT = ce.Size, err.Error(), time.Now()
			default:
				st.LastError, st.LastErrorT = err.Error(), time.Now()
			}
			w.mu.Unlock()
			if err != nil {
				w.n.logger.Debug("node: a witness did not cosign", "witness", w.pol.Witnesses[i].Name, "size", cp.Size, "err", err)
			}
			answers <- answer{i, cs}
		}()
	}
	if asked == 0 {
		return false // every witness is still answering an earlier checkpoint: not a failure yet
	}
	lines := make([][]byte, len(w.clients))
	for range asked {
		var a answer
		select {
		case a = <-answers:
		case <-ctx.Done():
			return false
		}
		if a.cs.Line == nil {
			continue
		}
		lines[a.i] = a.cs.Line
		signed := bytes.Clone(cp.Signed)
		for _, l := range lines {
			signed = append(signed, l...)
		}
		r, err := w.pol.Witnessed(signed)
		if err != nil {
			w.n.logger.Error("node: the witnesses' cosignatures do not verify together", "size", cp.Size, "err", err)
			continue
		}
		if r.Met {
			return w.publish(cp, signed, r)
		}
	}
	w.mu.Lock()
	w.lastRoundFailed = true
	w.mu.Unlock()
	return false
}

// publish stores the cosigned checkpoint durably and then makes it the node's witnessed checkpoint.
func (w *witnessing) publish(cp tlog.Checkpoint, signed []byte, r policy.Result) bool {
	if err := writeFileSynced(w.path, signed); err != nil {
		w.n.logger.Error("node: storing the witnessed checkpoint failed; it is not published", "file", w.path, "err", err)
		w.mu.Lock()
		w.lastRoundFailed = true
		w.mu.Unlock()
		return false
	}
	w.mu.Lock()
	w.witnessed, w.cosigned = cp, signed
	w.witnessedAt = time.Now()
	w.lastRoundFailed = false
	if w.n.log.Latest().Size == cp.Size {
		w.unwitnessedSince = time.Time{}
	} else {
		w.unwitnessedSince = w.witnessedAt
	}
	if w.warned {
		w.n.logger.Info("node: checkpoints are witnessed again", "size", cp.Size, "witnesses", r.String())
		w.warned = false
	}
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	w.report()
	return true
}

// report updates the metrics and logs, at most every WarnEvery, that the checkpoints go unwitnessed.
func (w *witnessing) report() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	var behind time.Duration
	if !w.unwitnessedSince.IsZero() {
		behind = now.Sub(w.unwitnessedSince)
	}
	w.n.metrics.witnessing(w.witnessed.Size, w.witnessedAt, behind)
	if w.lastRoundFailed && now.Sub(w.lastWarn) >= w.opts.WarnEvery {
		w.lastWarn, w.warned = now, true
		args := []any{"board_size", w.n.log.Size(), "witnessed_size", w.witnessed.Size, "unwitnessed_for", behind.Round(time.Second)}
		for _, s := range w.states {
			if s.LastError != "" {
				args = append(args, "witness_"+s.Name, s.LastError)
			}
		}
		w.n.logger.Warn("node: the board's checkpoints are UNWITNESSED: the witness policy's quorum has not cosigned them", args...)
	}
}

// covering waits, up to d, for a witnessed checkpoint of more than index entries and returns it; false if none
// came. It does not wait when the witnesses are known to be unreachable: the last round failed and the board's
// checkpoints have gone unwitnessed for longer than d already, so that a voter is not kept waiting for them. (One
// failed round alone is no such sign: an observer-witness a moment behind answers 503 until it has verified the
// entries, and a busy witness is not asked; the next round comes RetryEvery later.)
func (w *witnessing) covering(ctx context.Context, index uint64, d time.Duration) (tlog.Checkpoint, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		w.mu.Lock()
		cp, ch := w.witnessed, w.changed
		down := w.lastRoundFailed && !w.unwitnessedSince.IsZero() && time.Since(w.unwitnessedSince) > d
		w.mu.Unlock()
		if cp.Size > index {
			return cp, true
		}
		if down || d <= 0 {
			return tlog.Checkpoint{}, false
		}
		select {
		case <-ch:
		case <-timer.C:
			return tlog.Checkpoint{}, false
		case <-ctx.Done():
			return tlog.Checkpoint{}, false
		}
	}
}

// writeFileSynced replaces path with data durably: a synced temporary file renamed over it, then the directory
// synced.
func writeFileSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

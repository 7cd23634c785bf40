package trustee

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/crypto/dkg"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/election"
)

// Config configures Run.
type Config struct {
	Store *Store
	// Client is the connection to the node; for a cluster (grpcnode.DialCluster), to every member: the trustee
	// then follows the board on any member that serves it, and posts to the leader.
	Client *grpcnode.Client
	Logger *slog.Logger
	// ShapeOnly makes the trustee check only each ballot's shape, trusting the node for its signature, proofs
	// and openings. By default (false) it checks every ballot in full on all cores, and refuses to decrypt a
	// tally that counts a ballot it finds invalid, whatever the node accepted: a node that counted a forged ballot
	// (a copy of a voter's ciphertext beside known ones, say) could otherwise make the trustees decrypt that
	// voter's vote. For tests, and for trustees that check the record themselves another way.
	ShapeOnly bool
	// Workers is the number of goroutines checking ballots (GOMAXPROCS when 0).
	Workers int
	// Grace is how long the trustee waits, once t trustees have committed, for the others before it gives its
	// verdict. 0 waits for all n.
	Grace time.Duration
	// Events, if set, is told of each step, from Run's goroutine, before Run takes the next one. A caller that
	// wants the trustee to stop at some step (to stay away from the decryption once its key share is stored)
	// cancels Run's context from Events: Run then posts nothing more and returns the context's error.
	Events func(Event)
}

// Event is a step a trustee took.
type Event struct {
	Trustee int
	Step    Step
	// Index is the board index of the entry the step posted, if any.
	Index uint64
}

// Step is a kind of step of a trustee, as Run reports it in an Event.
type Step int

const (
	// StepJoined: the trustee found itself in the manifest and bound its store to the election.
	StepJoined Step = iota + 1
	// StepCommitted: it posted its commitment and the shares it dealt, encrypted.
	StepCommitted
	// StepVerdict: it posted its verdict on the shares it received (complaints, if any).
	StepVerdict
	// StepRevealed: it posted a reveal answering a complaint against its shares.
	StepRevealed
	// StepKeyShare: it computed its key share, checked it against its verification key and stored it.
	StepKeyShare
	// StepDecrypted: it posted its partial decryption of the tally.
	StepDecrypted
	// StepDone: the result is on the board; Run returns nil.
	StepDone
)

var stepNames = [...]string{StepJoined: "joined", StepCommitted: "committed", StepVerdict: "verdict",
	StepRevealed: "revealed", StepKeyShare: "key share", StepDecrypted: "decrypted", StepDone: "done"}

// String returns the step's name as logs and `recount trustee run` print it: "joined", "committed", "verdict",
// "revealed", "key share", "decrypted", "done".
func (s Step) String() string {
	if s > 0 && int(s) < len(stepNames) {
		return stepNames[s]
	}
	return fmt.Sprintf("Step(%d)", int(s))
}

type runner struct {
	cfg     Config
	poster  int // the member the last post went to (a cluster's leader, last we knew)
	keys    *election.TrusteeKeys
	logger  *slog.Logger
	s       *election.State
	ballots *boardCopy         // the ballots s reads back
	replay  *election.Replayer // applies the board's entries to s
	// trustee is this trustee in the election, and index its index there: nil and 0 until the manifest is read.
	trustee *election.Trustee
	index   int
	// commitment is the trustee's KEY_COMMITMENT payload and dealt its shares, once made (or loaded from the
	// store).
	commitment []byte
	dealt      election.DealtShares
	share      *dkg.KeyShare
	// waitUntil: after a post at index i, the trustee waits until the board shows it (size > i) before it
	// considers its next step.
	waitUntil uint64
	quorumAt  time.Time // when t commitments were first seen
	revealed  map[string]bool
}

// ErrFault is wrapped in the error Run returns when the board holds an entry that fails a check: the trustee
// then stops, and decrypts nothing.
var ErrFault = errors.New("the board holds an invalid entry")

// Run is the trustee's node: it follows the board from its first entry (reconnecting when the node restarts),
// replays it, and takes its part when the board calls for it: its commitment once the manifest is there, its
// verdict once the others have committed, reveals answering complaints against it, its key share once the
// election key is posted, and its partial decryption once the encrypted tally is. Every secret is stored
// before the entry that depends on it is posted, so a trustee restarted at any point goes on where it was.
// It returns nil once the result is on the board, and the context's error once ctx is done.
func Run(ctx context.Context, cfg Config) error {
	keys, err := cfg.Store.Keys()
	if err != nil {
		return err
	}
	ballots, err := newBoardCopy()
	if err != nil {
		return err
	}
	defer ballots.remove()
	r := &runner{cfg: cfg, keys: keys, logger: cfg.Logger, s: election.NewStateReading(ballots), ballots: ballots, revealed: map[string]bool{}}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	if r.cfg.Workers <= 0 {
		r.cfg.Workers = runtime.GOMAXPROCS(0)
	}
	r.replay = election.NewReplayer(r.s, r.replayOptions())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	entries := make(chan *recountv1.StreamEntriesResponse, 4096)
	errc := make(chan error, 1)
	go r.receive(ctx, entries, errc)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		// Checked first, not only in the select below, so that a Config.Events callback that cancels ctx stops
		// Run before its next step.
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case e := <-entries:
			batch := []*recountv1.StreamEntriesResponse{e}
		drain:
			for len(batch) < 1024 {
				select {
				case e := <-entries:
					batch = append(batch, e)
				default:
					break drain
				}
			}
			if err := r.apply(ctx, batch); err != nil {
				return err
			}
			if len(entries) > 0 {
				continue
			}
		case <-tick.C:
		}
		done, err := r.act(ctx)
		if err != nil || done {
			return err
		}
	}
}

// members returns the connections to the board: a cluster's members (grpcnode.DialCluster), or the one node.
func (r *runner) members() []*grpcnode.Client {
	if len(r.cfg.Client.Members) > 0 {
		return r.cfg.Client.Members
	}
	return []*grpcnode.Client{r.cfg.Client}
}

func (r *runner) event(step Step, index uint64) {
	r.logger.Info("trustee: "+step.String(), "trustee", r.index, "index", index)
	if r.cfg.Events != nil {
		r.cfg.Events(Event{Trustee: r.index, Step: step, Index: index})
	}
}

// receive streams the board into entries, reconnecting from the next index when the stream breaks.
func (r *runner) receive(ctx context.Context, entries chan<- *recountv1.StreamEntriesResponse, errc chan<- error) {
	next := uint64(0)
	backoff := 100 * time.Millisecond
	members := r.members()
	cur := 0
	for ctx.Err() == nil {
		stream, err := members[cur].Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{From: next, Follow: true})
		for err == nil {
			var e *recountv1.StreamEntriesResponse
			if e, err = stream.Recv(); err != nil {
				break
			}
			if e.Index != next {
				errc <- fmt.Errorf("the node sent entry %d where %d was expected", e.Index, next)
				return
			}
			select {
			case entries <- e:
			case <-ctx.Done():
				return
			}
			next++
			backoff = 100 * time.Millisecond
		}
		if ctx.Err() != nil {
			return
		}
		reason, _ := grpcnode.Reason(err)
		switch code := status.Code(err); {
		case code == codes.Unavailable, code == codes.Canceled, code == codes.DeadlineExceeded:
		case code == codes.ResourceExhausted && reason == client.ReasonTooManyStreams:
			// The node has as many streams open as it allows (perhaps held by others): try again later.
		case code == codes.OutOfRange && len(members) > 1:
			// A cluster member behind the one followed so far: another, or this one later, has the entries.
		default:
			if !errors.Is(err, io.EOF) {
				errc <- fmt.Errorf("following the board: %w", err)
				return
			}
		}
		if len(members) > 1 {
			cur = (cur + 1) % len(members) // the same board on every member: go on from next on another
		}
		r.logger.Warn("trustee: the board stream broke; reconnecting", "next", next, "err", err, "after", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// apply replays a batch of entries into the state, checking the ballots on all cores: in full, or their shape
// only with ShapeOnly (spoiled ballots, rare, always in full).
func (r *runner) apply(ctx context.Context, batch []*recountv1.StreamEntriesResponse) error {
	return r.replay.FeedSeq(ctx, func(yield func(election.Entry, error) bool) {
		for _, m := range batch {
			e := election.FromBoard(grpcnode.StreamedEntry(m))
			if err := r.ballots.add(e); err != nil {
				yield(e, err)
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	})
}

// replayOptions stop the replay at the first entry that fails a check.
func (r *runner) replayOptions() election.ReplayOptions {
	opts := election.ReplayOptions{Workers: r.cfg.Workers, Applied: func(_ election.Entry, errs []*election.CheckError) error {
		if len(errs) > 0 {
			return fmt.Errorf("%w: %v; this trustee stops and decrypts nothing", ErrFault, errs[0])
		}
		return nil
	}}
	if r.cfg.ShapeOnly {
		opts.ShapeOnly = func(election.Entry) bool { return true }
	}
	return opts
}

// act takes the trustee's next step if the board calls for one. It reports done once the trustee has nothing
// more to do.
func (r *runner) act(ctx context.Context) (done bool, err error) {
	s := r.s
	m := s.Manifest()
	if m == nil {
		return false, nil
	}
	if r.index == 0 {
		if err := r.join(m); err != nil {
			return false, err
		}
	}
	if s.Size() < r.waitUntil {
		return false, nil
	}
	if s.Key() == nil {
		return false, r.ceremony(ctx, m)
	}
	if r.share == nil {
		if err := r.keyShare(m); err != nil {
			return false, err
		}
	}
	if s.HasResult() {
		r.event(StepDone, 0)
		return true, nil
	}
	if s.HasEncryptedTally() {
		valid, invalid := s.ValidPartials()
		if !slices.Contains(valid, r.index) && !slices.Contains(invalid, r.index) {
			d, err := r.trustee.DraftPartialDecryption(r.share, s, nil)
			if err != nil {
				return false, fmt.Errorf("partial decryption: %w", err)
			}
			return false, r.post(ctx, d, StepDecrypted)
		}
	}
	return false, nil
}

// join finds the trustee in the manifest and binds the store to the election.
func (r *runner) join(m *election.Manifest) error {
	t, err := election.NewTrustee(m, r.keys)
	if err != nil {
		return err
	}
	if err := r.cfg.Store.Bind(m.ID(), t.Index()); err != nil {
		return err
	}
	r.trustee, r.index = t, t.Index()
	r.event(StepJoined, 0)
	return nil
}

// ceremony takes the trustee's next step in the key ceremony.
func (r *runner) ceremony(ctx context.Context, m *election.Manifest) error {
	s := r.s
	p := s.Ceremony()
	payload, err := r.loadDealt()
	if err != nil {
		return err
	}
	if payload == nil {
		// The commitment is made once and stored with its shares before it is posted; after a crash the same
		// one is posted again, never a new one.
		d, dealt, err := r.trustee.DraftCommitment(nil)
		if err != nil {
			return err
		}
		if err := r.cfg.Store.SaveCommitment(d.Payload, dealt); err != nil {
			return err
		}
		payload, r.commitment, r.dealt = d.Payload, d.Payload, dealt
	}
	if !slices.Contains(p.Committed, r.index) {
		return r.post(ctx, election.Draft{Kind: election.KindKeyCommitment, Payload: payload}, StepCommitted)
	}
	if !slices.Contains(p.Verdicts, r.index) {
		n, t := m.Trustees()
		if len(p.Committed) >= t && r.quorumAt.IsZero() {
			r.quorumAt = time.Now()
		}
		if len(p.Committed) == n || (r.cfg.Grace > 0 && !r.quorumAt.IsZero() && time.Since(r.quorumAt) >= r.cfg.Grace) {
			payload, _, err := r.cfg.Store.Verdict()
			if err != nil {
				return err
			}
			if payload == nil {
				d, received, err := r.trustee.DraftVerdict(r.dealt, s)
				if err != nil {
					return err
				}
				if err := r.cfg.Store.SaveVerdict(d.Payload, received); err != nil {
					return err
				}
				payload = d.Payload
			}
			return r.post(ctx, election.Draft{Kind: election.KindKeyVerdict, Payload: payload}, StepVerdict)
		}
	}
	for _, d := range r.trustee.DraftReveals(r.dealt, s) {
		if r.revealed[string(d.Payload)] {
			continue
		}
		if err := r.post(ctx, d, StepRevealed); err != nil {
			return err
		}
		r.revealed[string(d.Payload)] = true
	}
	return nil
}

// loadDealt returns the commitment entry (nil if none yet), reading it and its shares from the store only until
// it is there: act runs at every tick and batch, and the shares are sealed.
func (r *runner) loadDealt() ([]byte, error) {
	if r.commitment != nil {
		return r.commitment, nil
	}
	payload, dealt, err := r.cfg.Store.Commitment()
	if err != nil {
		return nil, err
	}
	r.commitment, r.dealt = payload, dealt
	return payload, nil
}

// keyShare computes, checks and stores the trustee's key share once the election key is on the board.
func (r *runner) keyShare(m *election.Manifest) error {
	ks, err := r.cfg.Store.KeyShare()
	if err != nil {
		return err
	}
	if ks == nil {
		if _, err := r.loadDealt(); err != nil {
			return err
		}
		_, received, err := r.cfg.Store.Verdict()
		if err != nil {
			return err
		}
		if received == nil {
			received = map[int]*group.Scalar{}
		}
		// Shares from dealers that committed after the verdict (or every share, if the key was fixed before
		// this trustee gave one) are decrypted and checked now, the same way.
		_, now, err := r.trustee.DraftVerdict(r.dealt, r.s)
		if err != nil {
			return err
		}
		for i, sh := range now {
			if received[i] == nil && sh != nil {
				received[i] = sh
			}
		}
		if ks, err = r.trustee.KeyShare(received, r.s); err != nil {
			return fmt.Errorf("key share: %w", err)
		}
		if err := r.cfg.Store.SaveKeyShare(ks); err != nil {
			return err
		}
		r.event(StepKeyShare, 0)
	}
	r.share = ks
	return nil
}

// post posts an entry of the trustee's. A refusal because the entry is already there is no error; one because
// the node is not ready is retried at the next step.
func (r *runner) post(ctx context.Context, d election.Draft, step Step) error {
	if err := ctx.Err(); err != nil {
		// Run's context was cancelled, perhaps by the Events callback of the step before: post nothing more.
		return err
	}
	var index uint64
	var err error
	// A cluster's member that is not the leader refuses with NOT_LEADER, and one that is down does not answer:
	// the post goes to the next member, round the members once.
	members := r.members()
	for range members {
		m := members[r.poster%len(members)]
		cctx, cancel := context.WithTimeout(ctx, client.DefaultCallTimeout)
		if d.Kind == election.KindPartialDecryption {
			var resp *recountv1.PostPartialDecryptionResponse
			if resp, err = m.Trustee.PostPartialDecryption(cctx, &recountv1.PostPartialDecryptionRequest{Payload: d.Payload}); err == nil {
				index = resp.Index
			}
		} else {
			var resp *recountv1.PostCeremonyResponse
			if resp, err = m.Trustee.PostCeremony(cctx, &recountv1.PostCeremonyRequest{Kind: d.Kind, Payload: d.Payload}); err == nil {
				index = resp.Index
			}
		}
		cancel()
		reason, _ := grpcnode.Reason(err)
		if len(members) == 1 || ctx.Err() != nil || reason != client.ReasonNotLeader && status.Code(err) != codes.Unavailable {
			break
		}
		r.poster++
	}
	switch status.Code(err) {
	case codes.OK:
		r.waitUntil = index + 1
		r.event(step, index)
		return nil
	case codes.AlreadyExists:
		r.waitUntil = r.s.Size() + 1
		return nil
	case codes.FailedPrecondition, codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.logger.Warn("trustee: post not taken now; will try again", "trustee", r.index, "step", step.String(), "err", err)
		return nil
	default:
		return fmt.Errorf("the node refused our %s entry: %w", d.Kind, err)
	}
}

package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/replica"
	"github.com/recount-vote/recount/ledger/tlog"
)

// # A node in a cluster
//
// With Options.Cluster the node is one member of a commission's cluster (3 or 5 nodes) that keeps one board with
// Raft (package ledger/replica). Only the leader takes changes: the node's admission is the same as a single
// node's (the election state decides, under the phase lock), but the entry is appended through Raft, and the
// receipt is given once a majority holds the entry and its seal is on the leader's board. Every member, the
// leader included, applies the entries to its election state as they reach its board (clusterApplier), so that
// each serves the status, receipts and proofs at its own board's size; a follower refuses every change with
// FailedPrecondition, reason NOT_LEADER, naming the leader (Metadata "leader_id", and "leader" its gRPC address
// when ClusterOptions.Addrs knows it). A node that has just become leader takes changes only once its state holds
// every entry committed before its term (replica's WriteReady).
//
// Without Options.Cluster the node appends to its own board exactly as before: none of this runs.

// ReasonNotLeader refuses a change on a member that is not the cluster's leader: nothing was appended; send it to
// the leader (Metadata "leader_id" and, when known, "leader": its gRPC address).
const ReasonNotLeader = "NOT_LEADER"

// ReasonInDoubt answers a change whose append may or may not have been committed (the leader lost its majority
// while appending): look for it (a ballot by its tracking code) before trying again.
const ReasonInDoubt = "IN_DOUBT"

// ClusterOptions make the node a member of a cluster (see "A node in a cluster").
type ClusterOptions struct {
	// ID is this member's ID, unique in the cluster and kept for the life of its data directory.
	ID string
	// Transport carries Raft's messages (raft.NewTCPTransport on the member's Raft address).
	Transport raft.Transport
	// SigningKey is the board's private key text, which every member holds (the first member's board.key).
	// Needed to create a member's board; when the board exists it must be its key. Empty: the board's own, or a
	// new one for a new board (the cluster's first member).
	SigningKey string
	// Members are the cluster's members (this one included). If the member has no Raft state yet and Bootstrap
	// is set, it forms the cluster with them; a member with state refuses to start if they are given and differ
	// from the configuration it holds.
	Members   []replica.Member
	Bootstrap bool
	// Addrs maps member IDs to their gRPC addresses, named in NOT_LEADER refusals.
	Addrs map[string]string
	// HeartbeatTimeout, SnapshotThreshold and TrailingLogs are replica.Config's.
	HeartbeatTimeout                time.Duration
	SnapshotThreshold, TrailingLogs uint64
}

// RaftDirName is the directory, inside the node's data directory, of a cluster member's Raft state.
const RaftDirName = "raft"

// clusterAppendTimeout bounds an append through Raft: without a majority it cannot finish.
var clusterAppendTimeout = 15 * time.Second

// checkNewMemberKey refuses to create a board with a key of its own for a member that joins a cluster: with no
// Raft state and no board yet, only the member forming the cluster (Bootstrap) makes a new key; any other (a new
// member, or one whose data directory was wiped) needs the cluster's (SigningKey), or its board would sign under
// another key and never apply the leader's seals.
func checkNewMemberKey(dir string, co *ClusterOptions) error {
	if co.SigningKey != "" || co.Bootstrap || replica.HasState(filepath.Join(dir, RaftDirName)) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, ledger.KeyFileName)); !errors.Is(err, fs.ErrNotExist) {
		return nil // a board is there: ledger.Open and openCluster judge it
	}
	return fmt.Errorf("node: cluster: %s holds no board and no Raft state, and this member does not form the cluster: it needs the board's signing key, which every member holds (recountd --cluster-key-file, a copy of the first member's board.key); only the member that forms the cluster (--bootstrap) makes a new one", dir)
}

// openCluster starts the member's replication once its board is replayed, checks or forms the cluster's
// configuration, and starts applying the entries that reach the board.
func (n *Node) openCluster() error {
	co := n.opts.Cluster
	if co.ID == "" || co.Transport == nil {
		return fmt.Errorf("node: cluster: the member's ID and Raft transport are required")
	}
	if len(co.Members) > 0 && !slices.ContainsFunc(co.Members, func(m replica.Member) bool { return m.ID == co.ID }) {
		return fmt.Errorf("node: cluster: this member's ID %q is not among the members given %v", co.ID, co.Members)
	}
	raftDir := filepath.Join(n.dir, RaftDirName)
	hadState := replica.HasState(raftDir)
	if !hadState && !co.Bootstrap && n.log.Size() > 0 {
		return fmt.Errorf("node: cluster: the board in %s holds %d entries but there is no Raft state in %s: this data directory is not a member's", n.dir, n.log.Size(), raftDir)
	}
	rep, err := replica.Open(replica.Config{ID: co.ID, Dir: raftDir, Board: n.log, Transport: co.Transport, Logger: n.logger,
		HeartbeatTimeout: co.HeartbeatTimeout, SnapshotThreshold: co.SnapshotThreshold, TrailingLogs: co.TrailingLogs})
	if err != nil {
		return err
	}
	if hadState && len(co.Members) > 0 {
		st, err := rep.Status()
		if err == nil && len(st.Members) > 0 && !sameMembers(st.Members, co.Members) {
			err = fmt.Errorf("node: cluster: the members given %v disagree with the configuration stored in %s %v: give the stored members (they change only through the admin service's AddMember and RemoveMember)", co.Members, raftDir, st.Members)
		}
		if err == nil && len(st.Members) > 0 && !slices.ContainsFunc(st.Members, func(m replica.Member) bool { return m.ID == co.ID }) {
			err = fmt.Errorf("node: cluster: this member (%s) is not in the configuration stored in %s %v: the data directory belongs to another member or cluster", co.ID, raftDir, st.Members)
		}
		if err != nil {
			rep.Close()
			return err
		}
	}
	if !hadState && co.Bootstrap {
		if err := rep.Bootstrap(co.Members); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			rep.Close()
			return fmt.Errorf("node: cluster: bootstrapping: %w", err)
		}
		n.logger.Info("node: cluster: formed a new cluster", "members", co.Members)
	}
	n.rep = rep
	n.applierDone = make(chan struct{})
	go n.clusterApplier()
	return nil
}

func sameMembers(a, b []replica.Member) bool {
	key := func(ms []replica.Member) []string {
		var s []string
		for _, m := range ms {
			s = append(s, m.ID+"="+m.Addr)
		}
		slices.Sort(s)
		return s
	}
	return slices.Equal(key(a), key(b))
}

// clusterApplier applies the entries that reach the board to the election state, in order, until the node
// stops. Entries the node admitted itself (exclusive: the state holds them before the append) are skipped; a
// ballot was checked in full by the leader that admitted it, so only its shape is checked again (as in a
// replay). An entry the state refuses breaks the node: its board holds what the election does not accept.
func (n *Node) clusterApplier() {
	defer close(n.applierDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-n.stopping
		cancel()
	}()
	for {
		n.applierMu.Lock()
		next := n.applierNext
		n.applierMu.Unlock()
		if err := n.log.WaitSize(ctx, next+1); err != nil {
			return
		}
		if err := n.applyBoard(ctx); err != nil {
			if ctx.Err() == nil {
				n.breakOn(err)
			}
			return
		}
	}
}

// applyBoard applies the board's entries from applierNext to its current size.
func (n *Node) applyBoard(ctx context.Context) error {
	n.applierMu.Lock()
	defer n.applierMu.Unlock()
	end := n.log.Size()
	var entries []election.Entry
	for e, err := range election.FromBoardSeq(n.log.Entries(ctx, n.applierNext)) {
		if err != nil {
			return err
		}
		if e.Index >= end {
			break
		}
		entries = append(entries, e)
	}
	n.stateMu.Lock()
	var todo []election.Entry
	for _, e := range entries {
		if e.Index >= n.state.Size() {
			todo = append(todo, e)
		}
	}
	var err error
	if len(todo) > 0 {
		r := election.NewReplayer(n.state, election.ReplayOptions{
			ShapeOnly: func(election.Entry) bool { return true },
			Applied: func(e election.Entry, errs []*election.CheckError) error {
				if len(errs) > 0 {
					return fmt.Errorf("node: cluster: entry %d on the board is one the election does not accept (%v)", e.Index, errs[0])
				}
				return nil
			},
		})
		err = r.Feed(ctx, todo...)
	}
	n.stateMu.Unlock()
	if err != nil {
		return err
	}
	n.applierNext = end
	n.applyMu.Lock()
	n.applied = end
	n.metrics.boardSize(end)
	n.applyMu.Unlock()
	n.signalApplied()
	return nil
}

// signalApplied wakes the calls waiting for entries to be applied.
func (n *Node) signalApplied() {
	n.appliedMu.Lock()
	close(n.appliedCh)
	n.appliedCh = make(chan struct{})
	n.appliedMu.Unlock()
}

// waitApplied waits until the state holds the board's entries up to index size (exclusive) and the applier has
// looked at them.
func (n *Node) waitApplied(ctx context.Context, size uint64) error {
	for {
		n.appliedMu.Lock()
		ch := n.appliedCh
		n.appliedMu.Unlock()
		n.applierMu.Lock()
		done := n.applierNext >= size
		n.applierMu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.stopping:
			return refuse(FaultUnavailable, ReasonShuttingDown, nil, "the node is shutting down")
		case <-n.applierDone:
			return refuse(FaultUnavailable, ReasonBoardFailed, nil, "the node stopped applying its board")
		}
	}
}

// notLeader is the refusal of a change on a member that cannot take it now.
func (n *Node) notLeader() error {
	id, addr := n.rep.Leader()
	meta := map[string]string{}
	if id == "" {
		return refuse(FaultPhase, ReasonNotLeader, meta, "this node is not the cluster's leader, and no leader is known (an election is under way): try another node shortly")
	}
	meta["leader_id"] = id
	meta["leader_raft"] = addr
	if g := n.opts.Cluster.Addrs[id]; g != "" {
		meta["leader"] = g
		return refuse(FaultPhase, ReasonNotLeader, meta, "this node is not the cluster's leader: the leader is %s at %s", id, g)
	}
	return refuse(FaultPhase, ReasonNotLeader, meta, "this node is not the cluster's leader: the leader is %s (Raft address %s)", id, addr)
}

// clusterUsable refuses changes on a member that cannot take them: not the leader, or a new leader whose state
// does not hold every entry committed before its term yet (it waits for that, up to ctx). An append in doubt on
// this leader was settled before its call returned (settle), so the state it admits against holds it if it
// landed.
func (n *Node) clusterUsable(ctx context.Context) error {
	size, ok := n.rep.WriteReady()
	if !ok {
		return n.notLeader()
	}
	return n.waitApplied(ctx, size)
}

// clusterAppend appends one entry through Raft, detached from the caller's context (as a single node's append:
// a client that goes away does not leave the entry in doubt) but bounded in time.
func (n *Node) clusterAppend(ctx context.Context, kind election.Kind, payload []byte) (ledger.AppendResult, error) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), clusterAppendTimeout)
	defer cancel()
	res, err := n.rep.Append(actx, []ledger.Record{{Kind: tlog.Kind(kind), Payload: payload}})
	if err != nil {
		return ledger.AppendResult{}, err
	}
	return res[0], nil
}

// settle, after an append whose outcome is unknown, waits (for a bounded time) until the entry is on the board or
// never will be, and until the state holds the board: so that the same ballot, cast again on this leader, is
// refused as a duplicate if the first landed, and an entry admitted next is checked against every entry before
// it. If this member stops leading meanwhile, the next leader settles them before it takes changes.
func (n *Node) settle(ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), clusterAppendTimeout)
	defer cancel()
	if err := n.rep.Settle(sctx); err != nil {
		n.logger.Warn("node: cluster: could not settle an append in doubt", "err", err)
		return
	}
	if err := n.waitApplied(sctx, n.log.Size()); err != nil {
		n.logger.Warn("node: cluster: could not apply the settled entries", "err", err)
	}
}

// clusterAppendFailed turns a failed cluster append into a refusal; the node is not broken by it (its state
// holds what its board holds, once the applier or a rebuild has run).
func (n *Node) clusterAppendFailed(err error) error {
	switch {
	case errors.Is(err, replica.ErrNotLeader):
		return n.notLeader()
	case errors.Is(err, ledger.ErrMaybeAppended):
		return refuse(FaultUnavailable, ReasonInDoubt, nil, "the cluster may or may not have committed the entry (%v): look for it before trying again", err)
	case errors.Is(err, ledger.ErrClosed):
		return refuse(FaultUnavailable, ReasonShuttingDown, nil, "the node is shutting down; nothing was appended: try again")
	}
	return refuse(FaultUnavailable, ReasonInDoubt, nil, "the cluster did not append the entry (%v): look for it before trying again", err)
}

// rebuildState replays the board into a new election state, after an entry the node admitted (exclusive) failed
// to append: the state must not hold an entry the board may never hold. The caller holds the phase lock.
func (n *Node) rebuildState(ctx context.Context) error {
	n.applierMu.Lock()
	defer n.applierMu.Unlock()
	end := n.log.Size()
	s := n.newState()
	r := election.NewReplayer(s, election.ReplayOptions{ShapeOnly: func(election.Entry) bool { return true }})
	err := r.FeedSeq(ctx, func(yield func(election.Entry, error) bool) {
		for e, err := range election.FromBoardSeq(n.log.Entries(ctx, 0)) {
			if err != nil || e.Index >= end {
				if err != nil {
					yield(e, err)
				}
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	n.stateMu.Lock()
	n.state = s
	n.stateMu.Unlock()
	n.applierNext = end
	n.applyMu.Lock()
	n.applied = end
	n.applyMu.Unlock()
	n.signalApplied()
	n.logger.Warn("node: cluster: rebuilt the election state from the board after an append that did not complete", "entries", end)
	return nil
}

// ClusterStatus returns this member's view of the cluster; ok is false on a node without a cluster.
func (n *Node) ClusterStatus() (st replica.Status, ok bool, err error) {
	if n.rep == nil {
		return replica.Status{}, false, nil
	}
	st, err = n.rep.Status()
	return st, true, err
}

// AddMember adds a member to the cluster (on the leader; NOT_LEADER elsewhere). It returns once the change is
// committed; the new member catches up from the log or a snapshot.
func (n *Node) AddMember(ctx context.Context, id, raftAddr string) error {
	if n.rep == nil {
		return refuse(FaultPhase, ReasonWrongPhase, nil, "this node is not in a cluster")
	}
	if id == "" || raftAddr == "" {
		return refuse(FaultInvalid, ReasonBadRequest, nil, "a member needs an ID and a Raft address")
	}
	if err := n.rep.AddVoter(replica.Member{ID: id, Addr: raftAddr}, timeoutOf(ctx)); err != nil {
		if errors.Is(err, replica.ErrNotLeader) || errors.Is(err, raft.ErrNotLeader) {
			return n.notLeader()
		}
		return refuse(FaultUnavailable, ReasonInDoubt, nil, "adding member %s: %v", id, err)
	}
	return nil
}

// RemoveMember removes a member from the cluster (on the leader).
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	if n.rep == nil {
		return refuse(FaultPhase, ReasonWrongPhase, nil, "this node is not in a cluster")
	}
	if err := n.rep.RemoveServer(id, timeoutOf(ctx)); err != nil {
		if errors.Is(err, replica.ErrNotLeader) || errors.Is(err, raft.ErrNotLeader) {
			return n.notLeader()
		}
		return refuse(FaultUnavailable, ReasonInDoubt, nil, "removing member %s: %v", id, err)
	}
	return nil
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 30 * time.Second
}

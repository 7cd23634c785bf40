package observer

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger"
	"github.com/recount-vote/recount/ledger/tlog"
)

// TestFollowElection follows a board while an election is posted to it, commit after commit, and ends with
// the state election.Verify finds in the board's export; then it restarts from its mirror without checking a
// ballot again, and a voter checks receipts against its copy.
func TestFollowElection(t *testing.T) {
	e := sharedElection(t)
	src := sourceBoard(t, t.TempDir())
	post(t, src, e.Entries[:1], 1) // the manifest, before the observer starts: its first copy is an export
	fn := startFakeNode(t, src)
	dir := t.TempDir()
	o := openObserver(t, dir, fn.addr)
	stop := running(t, o)
	for i := 1; i < len(e.Entries); i += 3 {
		post(t, src, e.Entries[i:min(i+3, len(e.Entries))], 2)
	}
	total := uint64(len(e.Entries))
	waitFor(t, "the observer to verify the whole board", func() bool { return o.Status().Verified == total })

	rep, err := election.Verify(context.Background(), electiontest.Seq(e.Entries), election.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("the honest election fails: %v", rep.Failures)
	}
	st := o.Status()
	if st.Cast != rep.Cast || st.Voters != rep.Voters || st.Spoiled != rep.Spoiled || st.FailureCount != 0 || st.Phase.String() != "done" {
		t.Errorf("observer: cast %d voters %d spoiled %d failures %d phase %s; Verify: cast %d voters %d spoiled %d", st.Cast, st.Voters, st.Spoiled,
			st.FailureCount, st.Phase, rep.Cast, rep.Voters, rep.Spoiled)
	}
	if st.Superseded != e.Cfg.Revotes {
		t.Errorf("superseded %d, want %d", st.Superseded, e.Cfg.Revotes)
	}
	if st.Checkpoint.Root != src.Latest().Root || st.LagEntries != 0 {
		t.Errorf("mirror at %s, lag %d; node at %s", st.Checkpoint, st.LagEntries, src.Latest())
	}
	if !o.Verified(total) || o.Verified(total+1) {
		t.Error("Verified does not say the board up to its size, and no further, is verified")
	}
	reg := o.Registry()
	for name, want := range map[string]float64{"recount_observer_verified_entries": float64(total), "recount_observer_mirrored_entries": float64(total),
		"recount_observer_lag_entries": 0, "recount_observer_checks_failed_total": 0, "recount_observer_alarms_total": 0,
		"recount_observer_ballots_checked_total": float64(len(e.Tracking) + e.Cfg.Revotes + len(e.Spoiled))} {
		if got := metricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	stop()

	// Restart: every cast ballot was checked before, so none is checked in full again (challenged ones, rare,
	// always are: the Replayer checks their openings in full).
	var progress [][2]uint64
	o = openObserver(t, dir, fn.addr, func(c *Config) {
		c.OpenProgress = func(done, total uint64) { progress = append(progress, [2]uint64{done, total}) }
	})
	defer o.Close()
	if len(progress) == 0 || progress[len(progress)-1] != [2]uint64{total, total} {
		t.Errorf("Open's progress: %v", progress)
	}
	st2 := o.Status()
	if st2.Verified != total || st2.BallotsChecked != uint64(len(e.Spoiled)) || st2.BallotsRestored == 0 || st2.Cast != st.Cast || st2.Voters != st.Voters {
		t.Errorf("after restart: %+v", st2)
	}
	if err := o.Mirror().Verify(context.Background()); err != nil {
		t.Error(err)
	}
	var a, b bytes.Buffer
	o.Mirror().Export(context.Background(), &a)
	src.Export(context.Background(), &b)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the mirror's export differs from the node's")
	}

	// Receipts against the observer's copy, through the voter's client; casting there is refused.
	addr := serve(t, o.Register)
	c := dial(t, addr)
	for v, code := range e.Tracking {
		resp, err := c.Voter.GetReceipt(context.Background(), &recountv1.GetReceiptRequest{TrackingCode: code[:], SinceSize: 1})
		if err != nil {
			t.Fatalf("voter %d: %v", v, err)
		}
		if grpcnode.StatusOf(resp.Status) != election.StatusCounted {
			t.Errorf("voter %d: status %v", v, resp.Status)
		}
		cp, err := tlog.ParseCheckpoint(resp.Receipt.Checkpoint, src.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		en := e.Entries[resp.Receipt.Index]
		if err := tlog.VerifyInclusion(cp, tlog.Kind(en.Kind), en.Payload, resp.Receipt.Index, resp.Receipt.InclusionProof); err != nil {
			t.Error(err)
		}
	}
	for _, code := range e.Spoiled {
		resp, err := c.Voter.GetReceipt(context.Background(), &recountv1.GetReceiptRequest{TrackingCode: code[:]})
		if err != nil || grpcnode.StatusOf(resp.Status) != election.StatusSpoiled {
			t.Errorf("spoiled ballot: %v %v", resp, err)
		}
	}
	info, err := c.Election(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Manifest.ID() != e.Manifest.ID() {
		t.Error("the observer states another election")
	}
	_, err = c.Voter.CastBallot(context.Background(), &recountv1.CastBallotRequest{SignedBallot: []byte("x")})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a cast at the observer: %v", err)
	}
	if r, _ := grpcnode.Reason(err); r != ReasonReadOnly {
		t.Errorf("reason %q", r)
	}
}

// TestFailedChecksNamed: a board holding a ballot that fails a check is followed to its end; the failure is
// named with its entry, is found again after a restart (the failed entry is checked in full again), and the
// board is not Verified past it.
func TestFailedChecksNamed(t *testing.T) {
	e := sharedElection(t)
	entries := electiontest.Clone(e.Entries)
	bad := -1
	for i, en := range entries {
		if en.Kind == election.KindBallot {
			bad = i
			break
		}
	}
	entries[bad].Payload = bytes.Clone(entries[bad].Payload)
	entries[bad].Payload[len(entries[bad].Payload)-3] ^= 1
	rep, err := election.Verify(context.Background(), electiontest.Seq(entries), election.VerifyOptions{})
	if err != nil || rep.OK() {
		t.Fatalf("the tampered board verifies: %v", err)
	}
	src := sourceBoard(t, t.TempDir())
	post(t, src, entries, 5)
	fn := startFakeNode(t, src)
	dir := t.TempDir()
	o := openObserver(t, dir, fn.addr)
	check := func(o *Observer) {
		t.Helper()
		st := o.Status()
		var want uint64
		for _, n := range rep.FailureCounts {
			want += n
		}
		if st.FailureCount != want || len(st.Failures) == 0 || st.Failures[0].Entry != uint64(bad) {
			t.Errorf("failures %d %v, Verify found %d %v", st.FailureCount, st.Failures, want, rep.Failures)
		}
		if o.Verified(uint64(len(entries))) || !o.Verified(uint64(bad)) {
			t.Error("Verified passes the failed entry, or not the entries before it")
		}
	}
	check(o)
	o.Close()
	o = openObserver(t, dir, fn.addr)
	defer o.Close()
	check(o)
}

// TestRollbackAndFork: a node that shows a smaller checkpoint of another history, or one of the mirror's size
// with another root, raises an alarm whose proof file CheckAlarm accepts; the observer keeps its mirror and
// state. A node showing an older checkpoint of the same history (a lagging replica) raises none.
func TestRollbackAndFork(t *testing.T) {
	base := t.TempDir()
	aDir, oldDir, forkDir := filepath.Join(base, "a"), filepath.Join(base, "old"), filepath.Join(base, "fork")
	a := sourceBoard(t, aDir)
	post(t, a, filler('a', 6), 3)
	a.Close()
	copyBoard(t, aDir, oldDir)
	copyBoard(t, aDir, forkDir)
	a = sourceBoard(t, aDir)
	post(t, a, filler('A', 6), 2) // size 12
	old := sourceBoard(t, oldDir) // size 6, the same history
	fork := sourceBoard(t, forkDir)
	post(t, fork, filler('F', 6), 2) // size 12, another history from 6 on

	fn := startFakeNode(t, a)
	dir := t.TempDir()
	var alarmed []string
	o := openObserver(t, dir, fn.addr, func(c *Config) { c.OnAlarm = func(_ *Alarm, path string) { alarmed = append(alarmed, path) } })
	stop := running(t, o)
	waitFor(t, "the mirror to reach 12", func() bool { return o.Status().Verified == 12 })
	before := o.Status()

	fn.cur.Store(old) // a lagging replica: no alarm
	waitFor(t, "the observer to see the smaller checkpoint", func() bool { return o.Status().NodeSize == 6 })
	post(t, old, filler('R', 1), 1) // now size 7 of another history: a rollback
	waitFor(t, "a rollback alarm", func() bool { return len(o.Status().Alarms) == 1 })
	fn.cur.Store(fork)
	waitFor(t, "a fork alarm", func() bool { return len(o.Status().Alarms) == 2 })
	st := o.Status()
	stop()
	if st.Alarms[0].Kind != AlarmRollback || st.Alarms[1].Kind != AlarmSameSize {
		t.Errorf("alarms %s, %s", st.Alarms[0].Kind, st.Alarms[1].Kind)
	}
	if st.Verified != before.Verified || st.Checkpoint.Root != before.Checkpoint.Root || st.Cast != before.Cast {
		t.Errorf("the alarms changed the observer's state: %+v, was %+v", st, before)
	}
	if len(alarmed) != 2 {
		t.Fatalf("%d alarm files", len(alarmed))
	}
	for _, path := range alarmed {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := CheckAlarm(data); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		// The proof holds only as it is: one byte of it changed, it does not.
		for _, field := range []string{`"held"`, `"shown"`, `"held_root_at_shown_size"`} {
			i := bytes.Index(data, []byte(field))
			if i < 0 {
				continue
			}
			bad := bytes.Clone(data)
			j := i + len(field) + 5
			bad[j] ^= 1
			if _, err := CheckAlarm(bad); err == nil {
				t.Errorf("%s: the alarm holds with %s changed", filepath.Base(path), field)
			}
		}
	}
	// Two checkpoints of one history prove nothing.
	consistent := &Alarm{Kind: AlarmSameSize, Origin: testOrigin, VerifierKey: a.VerifierKey(), Held: string(a.Latest().Signed), Shown: string(a.Latest().Signed)}
	data, _ := jsonOf(consistent)
	if _, err := CheckAlarm(data); err == nil {
		t.Error("an alarm of one checkpoint twice holds")
	}
}

// TestGarbageRefused: a node that streams entries out of order, entries that are not those it signed, or a
// checkpoint whose signature does not verify is refused; the mirror and the state stay as they were, and no
// alarm is raised (none of these is a signed second history).
func TestGarbageRefused(t *testing.T) {
	src := sourceBoard(t, t.TempDir())
	post(t, src, filler('g', 4), 2)
	for _, tc := range []struct {
		name string
		bad  badBoard
		what string
	}{
		{"out of order", badBoard{skip: true}, "stream"},
		{"not the signed entries", badBoard{alter: true}, "entries"},
		{"bad signature", badBoard{forge: true}, "checkpoint"},
		{"oversized", badBoard{huge: true}, "stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.bad.BoardServiceServer = newBoardServer(func() *ledger.Log { return src })
			addr := serve(t, func(s *grpc.Server) { recountv1.RegisterBoardServiceServer(s, &tc.bad) })
			// The first copy is the honest export; what follows is the garbage.
			o := openObserver(t, t.TempDir(), addr)
			stop := running(t, o)
			post(t, src, filler('h', 2), 2)
			reg := o.Registry()
			waitFor(t, "a refusal", func() bool { return counterValue(t, reg, "recount_observer_refused_total", tc.what) > 0 })
			st := o.Status()
			stop()
			if st.Mirrored != st.Checkpoint.Size || len(st.Alarms) != 0 {
				t.Errorf("mirror %d under checkpoint %d, %d alarms", st.Mirrored, st.Checkpoint.Size, len(st.Alarms))
			}
			if tc.bad.alter || tc.bad.forge || tc.bad.huge {
				if st.Mirrored >= src.Size() {
					t.Errorf("the mirror took the garbage: size %d", st.Mirrored)
				}
			}
		})
	}
}

// TestBoardKey: an observer required to follow a board key (or its fingerprint) refuses a node signing with
// another, and copies nothing.
func TestBoardKey(t *testing.T) {
	src := sourceBoard(t, t.TempDir())
	post(t, src, filler('k', 3), 3)
	fn := startFakeNode(t, src)
	other := sourceBoard(t, t.TempDir())
	for _, key := range []string{other.VerifierKey(), tlog.KeyFingerprint(other.VerifierKey())} {
		dir := filepath.Join(t.TempDir(), "obs")
		_, err := Open(context.Background(), Config{Dir: dir, Board: dial(t, fn.addr).Board, BoardKey: key})
		if err == nil {
			t.Fatalf("an observer requiring %s followed a board signed by %s", key, src.VerifierKey())
		}
		if _, err := os.Stat(filepath.Join(dir, "mirror", "board.db")); err == nil {
			t.Errorf("a mirror was written for the wrong key (%v)", err)
		}
	}
	for _, key := range []string{src.VerifierKey(), tlog.KeyFingerprint(src.VerifierKey())} {
		o, err := Open(context.Background(), Config{Dir: t.TempDir(), Board: dial(t, fn.addr).Board, BoardKey: key})
		if err != nil {
			t.Fatalf("key %s: %v", key, err)
		}
		if o.Status().Mirrored != 3 {
			t.Errorf("mirrored %d", o.Status().Mirrored)
		}
		o.Close()
	}
}

// TestSlowObserverDoesNotSlowTheBoard: while the observer is stuck checking, the board goes on taking entries
// (megabytes more than the observer holds and the stream's buffers hold); once unstuck, the observer catches up,
// taking the entries it holds under the checkpoints of the node's commits among them.
func TestSlowObserverDoesNotSlowTheBoard(t *testing.T) {
	src := sourceBoard(t, t.TempDir())
	post(t, src, filler('s', 1), 1)
	fn := startFakeNode(t, src)
	// A budget of 2 MiB (twice a commit of 4 entries of 256 KiB, so that one always ends among those held): the
	// observer, stuck, stops reading the stream, which stalls on the node's side.
	o := openObserver(t, t.TempDir(), fn.addr, func(c *Config) { c.MaxPendingBytes = 2 << 20 })
	stuck, unstick := make(chan struct{}), make(chan struct{})
	var once sync.Once
	o.beforeReplay = func() {
		once.Do(func() { close(stuck) })
		<-unstick
	}
	stop := running(t, o)
	post(t, src, filler('t', 1), 1)
	<-stuck
	big := make([]election.Entry, 64)
	for i := range big {
		big[i] = election.Entry{Kind: election.Kind(99), Payload: bytes.Repeat([]byte{byte(i)}, 256<<10)}
	}
	post(t, src, big, 4) // 16 MiB while the observer is stuck: post returns, or the test times out here
	st := o.Status()
	if st.Verified > 2 {
		t.Fatalf("the observer verified %d entries while stuck", st.Verified)
	}
	if st.LagEntries == 0 || st.Lag <= 0 {
		t.Errorf("stuck, the observer reports a lag of %d entries, %s", st.LagEntries, st.Lag)
	}
	close(unstick)
	waitFor(t, "the observer to catch up", func() bool { return o.Status().Verified == src.Size() })
	if st := o.Status(); st.LagEntries != 0 || st.Lag != 0 {
		t.Errorf("caught up, the observer reports a lag of %d entries, %s", st.LagEntries, st.Lag)
	}
	stop()
}

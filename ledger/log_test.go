package ledger

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/recount-vote/recount/ledger/tlog"
)

func TestOpenCreatesBoard(t *testing.T) {
	t.Parallel()
	l, dir := newTestLog(t)
	for _, name := range []string{DBFileName, KeyFileName} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, st.Mode().Perm())
		}
	}
	if l.Size() != 0 {
		t.Fatalf("new board has size %d", l.Size())
	}
	cp := l.Latest()
	if cp.Size != 0 || cp.Root != tlog.EmptyRoot() || cp.Origin != testOrigin {
		t.Fatalf("new board's checkpoint is %v", cp)
	}
	parsed, err := tlog.ParseCheckpoint(cp.Signed, l.VerifierKey())
	if err != nil {
		t.Fatalf("ParseCheckpoint of the empty checkpoint: %v", err)
	}
	if parsed.Root != cp.Root || parsed.Size != 0 {
		t.Fatalf("parsed %v, want %v", parsed, cp)
	}
	if got, err := l.CheckpointAt(0); err != nil || !bytes.Equal(got.Signed, cp.Signed) {
		t.Fatalf("CheckpointAt(0) = %v, %v", got, err)
	}
	if err := l.Verify(context.Background()); err != nil {
		t.Fatalf("Verify of the empty board: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, DBFileName+".new")); !os.IsNotExist(err) {
		t.Errorf("the temporary creation file is left behind: %v", err)
	}
}

func TestAppendAndRead(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := context.Background()
	const n = 50
	cps := appendN(t, l, n)
	// An empty payload and a large one.
	big := bytes.Repeat([]byte{0xab}, 1<<20)
	for _, p := range [][]byte{nil, {}, big} {
		if _, err := l.Append(ctx, 9, p); err != nil {
			t.Fatal(err)
		}
	}
	if l.Size() != n+3 {
		t.Fatalf("size %d, want %d", l.Size(), n+3)
	}
	want := func(i uint64) (tlog.Kind, []byte) {
		switch {
		case i < n:
			return testKind(int(i)), testPayload(int(i))
		case i < n+2:
			return 9, []byte{}
		}
		return 9, big
	}
	for i := uint64(0); i < l.Size(); i++ {
		e, err := l.Entry(i)
		if err != nil {
			t.Fatalf("Entry(%d): %v", i, err)
		}
		k, p := want(i)
		if e.Index != i || e.Kind != k || !bytes.Equal(e.Payload, p) {
			t.Fatalf("Entry(%d) = %d/%d/%d bytes, want kind %d, %d bytes", i, e.Index, e.Kind, len(e.Payload), k, len(p))
		}
	}
	for _, from := range []uint64{0, 1, 17, n, n + 2, n + 3} {
		i := from
		for e, err := range l.Entries(ctx, from) {
			if err != nil {
				t.Fatalf("Entries(%d): %v", from, err)
			}
			k, p := want(i)
			if e.Index != i || e.Kind != k || !bytes.Equal(e.Payload, p) {
				t.Fatalf("Entries(%d): entry %d differs", from, i)
			}
			i++
		}
		if i != l.Size() {
			t.Fatalf("Entries(%d) stopped at %d, want %d", from, i, l.Size())
		}
	}
	for _, err := range l.Entries(ctx, l.Size()+1) {
		wantErr(t, err, ErrNotFound, "Entries beyond the end")
	}
	_, err := l.Entry(l.Size())
	wantErr(t, err, ErrNotFound, "Entry(Size())")
	for i, cp := range cps {
		got, err := l.CheckpointAt(uint64(i))
		if err != nil || !bytes.Equal(got.Signed, cp.Signed) {
			t.Fatalf("CheckpointAt(%d) = %v, %v; want %v", i, got, err, cp)
		}
	}
	_, err = l.CheckpointAt(l.Size() + 1)
	wantErr(t, err, ErrNotFound, "CheckpointAt beyond the end")
	var sizes []uint64
	for cp, err := range l.Checkpoints(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, cp.Size)
	}
	if len(sizes) != int(l.Size())+1 || sizes[len(sizes)-1] != l.Size() {
		t.Fatalf("Checkpoints: %d checkpoints ending at %d", len(sizes), sizes[len(sizes)-1])
	}
	if err := l.Verify(ctx); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestAppendMany(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := context.Background()
	appendN(t, l, 3)
	recs := []Record{{1, []byte("a")}, {2, nil}, {3, []byte("ccc")}}
	res, err := l.AppendMany(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Index != uint64(3+i) || r.Checkpoint.Size != 6 {
			t.Fatalf("result %d: %+v", i, r)
		}
		e, err := l.Entry(r.Index)
		if err != nil || e.Kind != recs[i].Kind || !bytes.Equal(e.Payload, recs[i].Payload) {
			t.Fatalf("entry %d: %+v, %v", r.Index, e, err)
		}
	}
	if res, err := l.AppendMany(ctx, nil); err != nil || res != nil || l.Size() != 6 {
		t.Fatalf("AppendMany(nil) = %v, %v; size %d", res, err, l.Size())
	}
	// A batch with one oversized record writes nothing.
	_, err = l.AppendMany(ctx, []Record{{1, []byte("ok")}, {1, make([]byte, tlog.MaxPayloadSize+1)}})
	wantErr(t, err, ErrTooLarge, "AppendMany with an oversized record")
	if l.Size() != 6 {
		t.Fatalf("a refused batch changed the size to %d", l.Size())
	}
	if _, err := l.Append(ctx, 1, make([]byte, tlog.MaxPayloadSize)); err != nil {
		t.Fatalf("Append of exactly MaxPayloadSize: %v", err)
	}
}

func TestAppendCopiesPayload(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	p := []byte("original")
	res, err := l.Append(context.Background(), 1, p)
	if err != nil {
		t.Fatal(err)
	}
	copy(p, "CHANGED!")
	e, _ := l.Entry(res.Index)
	if string(e.Payload) != "original" {
		t.Fatalf("the stored entry changed with the caller's buffer: %q", e.Payload)
	}
	e.Payload[0] = 'X'
	e2, _ := l.Entry(res.Index)
	if string(e2.Payload) != "original" {
		t.Fatalf("Entry returned a buffer shared with the database")
	}
}

func TestConcurrentAppends(t *testing.T) {
	t.Parallel()
	l, dir := newTestLog(t)
	ctx := context.Background()
	const writers, per = 16, 40
	var mu sync.Mutex
	got := map[uint64][]byte{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				p := []byte{byte(w), byte(i), byte(w ^ i)}
				var res []AppendResult
				var err error
				if i%4 == 3 {
					res, err = l.AppendMany(ctx, []Record{{tlog.Kind(w), p}, {tlog.Kind(w), append(p, 1)}})
				} else {
					var r AppendResult
					r, err = l.Append(ctx, tlog.Kind(w), p)
					res = []AppendResult{r}
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for j, r := range res {
					if r.Checkpoint.Size <= r.Index {
						errs <- errors.New("checkpoint does not cover the entry")
					}
					if j > 0 && r.Index != res[0].Index+uint64(j) {
						errs <- errors.New("AppendMany indexes are not consecutive")
					}
					pp := p
					if j == 1 {
						pp = append(p, 1)
					}
					if _, dup := got[r.Index]; dup {
						errs <- errors.New("index given twice")
					}
					got[r.Index] = append([]byte{byte(w)}, pp...)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := writers * (per + per/4)
	if l.Size() != uint64(total) || len(got) != total {
		t.Fatalf("size %d, %d results, want %d", l.Size(), len(got), total)
	}
	check := func(l *Log) {
		for i, want := range got {
			e, err := l.Entry(i)
			if err != nil || byte(e.Kind) != want[0] || !bytes.Equal(e.Payload, want[1:]) {
				t.Fatalf("entry %d: %+v %v, want %x", i, e, err, want)
			}
		}
		if err := l.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check(l)
	l.Close()
	check(openTest(t, dir))
}

func TestReopenContinues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTest(t, dir)
	first := appendN(t, l, 10)
	vkey := l.VerifierKey()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(dir, Options{Origin: testOrigin, VerifierKey: vkey})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.Size() != 10 || !bytes.Equal(l2.Latest().Signed, first[10].Signed) || l2.VerifierKey() != vkey {
		t.Fatalf("reopened board: size %d, latest %v", l2.Size(), l2.Latest())
	}
	appendN(t, l2, 5)
	newest := l2.Latest()
	for _, old := range first {
		p, err := l2.ConsistencyProof(old.Size, newest.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.VerifyConsistency(old, newest, p); err != nil {
			t.Fatalf("size %d -> %d: %v", old.Size, newest.Size, err)
		}
	}
	// The origin may be omitted on reopen.
	l2.Close()
	l3, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen without an origin: %v", err)
	}
	if l3.Origin() != testOrigin {
		t.Fatalf("origin %q", l3.Origin())
	}
	l3.Close()
}

func TestContextBeforeEnqueue(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Append(ctx, 1, []byte("x"))
	if err != context.Canceled {
		t.Fatalf("Append with a cancelled context: %v, want context.Canceled itself", err)
	}
	if _, err := l.AppendMany(ctx, []Record{{1, nil}}); err != context.Canceled {
		t.Fatalf("AppendMany with a cancelled context: %v", err)
	}
	if l.Size() != 0 {
		t.Fatalf("a cancelled append was written")
	}
}

func TestContextAfterEnqueue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTest(t, dir)
	l.Close()
	// Reopen with a hook that holds the committer inside the first commit.
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	l.beforeCommit = func() { once.Do(func() { close(entered); <-release }) }
	first := make(chan error)
	go func() {
		_, err := l.Append(context.Background(), 1, []byte("first"))
		first <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error)
	go func() {
		_, err := l.Append(ctx, 1, []byte("maybe"))
		second <- err
	}()
	for len(l.reqs) != 1 { // wait until the second append is queued
		time.Sleep(time.Millisecond)
	}
	cancel()
	err = <-second
	if !errors.Is(err, ErrMaybeAppended) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want ErrMaybeAppended and context.Canceled", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	// The queued entry still lands.
	if err := l.WaitSize(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if e, err := l.Entry(1); err != nil || string(e.Payload) != "maybe" {
		t.Fatalf("entry 1: %+v %v", e, err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := context.Background()
	appendN(t, l, 3)
	waited := make(chan error)
	go func() { waited <- l.WaitSize(ctx, 100) }()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, <-waited, ErrClosed, "WaitSize across Close")
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := l.Append(ctx, 1, nil)
	wantErr(t, err, ErrClosed, "Append after Close")
	_, err = l.Entry(0)
	wantErr(t, err, ErrClosed, "Entry after Close")
	_, err = l.InclusionProof(0, 3)
	wantErr(t, err, ErrClosed, "InclusionProof after Close")
	for _, err := range l.Entries(ctx, 0) {
		wantErr(t, err, ErrClosed, "Entries after Close")
	}
	wantErr(t, l.Verify(ctx), ErrClosed, "Verify after Close")
	wantErr(t, l.Export(ctx, &bytes.Buffer{}), ErrClosed, "Export after Close")
}

func TestCloseWaitsForQueuedAppends(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := context.Background()
	var mu sync.Mutex
	var acked []uint64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				res, err := l.Append(ctx, tlog.Kind(w), []byte{byte(i)})
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("Append: %v", err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, res.Index)
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for { // let some appends succeed, then close in the middle of the stream
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d appends succeeded in 30 s", n)
		}
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	l2 := openTest(t, dir)
	sort.Slice(acked, func(i, j int) bool { return acked[i] < acked[j] })
	if len(acked) == 0 {
		t.Fatal("no append succeeded")
	}
	for i, idx := range acked {
		if idx != uint64(i) {
			t.Fatalf("acknowledged indexes are not 0..n-1: %d at %d", idx, i)
		}
	}
	if l2.Size() != uint64(len(acked)) {
		t.Fatalf("reopened size %d, %d appends acknowledged", l2.Size(), len(acked))
	}
}

func TestWaitSize(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := context.Background()
	done := make(chan error)
	go func() { done <- l.WaitSize(ctx, 3) }()
	appendN(t, l, 2)
	select {
	case err := <-done:
		t.Fatalf("WaitSize(3) returned at size 2: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	appendN(t, l, 1)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := l.WaitSize(tctx, 10); err != context.DeadlineExceeded {
		t.Fatalf("WaitSize with a deadline: %v", err)
	}
	if err := l.WaitSize(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// TestWaitSizeHonoursContext: a caller that loops on WaitSize (a follower) must end when its context does, even
// when the size it waits for is already there or can never be reached. StreamEntries{from: 2^64-1, follow: true}
// once spun at a full core after its client had gone, because WaitSize(0) returned at once without looking at
// the context.
func TestWaitSizeHonoursContext(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	appendN(t, l, 2)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, size := range []uint64{0, 1, 2, 3, math.MaxUint64} {
		if err := l.WaitSize(cancelled, size); err != context.Canceled {
			t.Errorf("WaitSize(cancelled context, %d) = %v, want context.Canceled", size, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.WaitSize(ctx, math.MaxUint64) }()
	appendN(t, l, 1) // a commit wakes the waiter, which must go on waiting
	select {
	case err := <-done:
		t.Fatalf("WaitSize(2^64-1) returned at size 3: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("WaitSize(2^64-1) after cancel = %v, want context.Canceled", err)
	}
	l.Close()
	if err := l.WaitSize(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitSize on a closed Log = %v, want ErrClosed", err)
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := openTest(t, dir)
	cps := appendN(t, l, 5)
	l.Close()
	// Read-only needs no key.
	if err := os.Rename(filepath.Join(dir, KeyFileName), filepath.Join(dir, "moved.key")); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if !ro.ReadOnly() || ro.Size() != 5 || !bytes.Equal(ro.Latest().Signed, cps[5].Signed) {
		t.Fatalf("read-only board: size %d", ro.Size())
	}
	_, err = ro.Append(context.Background(), 1, nil)
	wantErr(t, err, ErrReadOnly, "Append to a read-only board")
	if err := ro.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.InclusionProof(2, 5); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.TempDir(), Options{ReadOnly: true})
	wantErr(t, err, ErrNotFound, "read-only Open of an empty directory")
}

// NextCheckpoint names, for each entry, the checkpoint of the commit that holds it: what a board stream sends
// with a commit's last entry.
func TestNextCheckpoint(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	ctx := context.Background()
	ends := map[uint64][]byte{}
	next := 0
	for _, n := range []int{3, 1, 5} {
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{Kind: testKind(next), Payload: testPayload(next)}
			next++
		}
		res, err := l.AppendMany(ctx, recs)
		if err != nil {
			t.Fatal(err)
		}
		ends[res[0].Checkpoint.Size] = res[0].Checkpoint.Signed
	}
	want := []uint64{3, 3, 3, 4, 9, 9, 9, 9, 9}
	for after, size := range want {
		cp, err := l.NextCheckpoint(uint64(after))
		if err != nil || cp.Size != size || !bytes.Equal(cp.Signed, ends[size]) {
			t.Fatalf("NextCheckpoint(%d) = size %d, %v; want the checkpoint of size %d", after, cp.Size, err, size)
		}
	}
	_, err := l.NextCheckpoint(l.Size())
	wantErr(t, err, ErrNotFound, "NextCheckpoint(Size())")
}

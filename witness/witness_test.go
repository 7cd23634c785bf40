package witness

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
)

// cosigned returns the checkpoint with the witness's cosignature lines appended, checking that the cosignature
// verifies with transparency-dev/formats' cosignature/v1 verifier built from the published verifier key (what
// any other implementation reads) and carries a timestamp close to now.
func cosigned(t *testing.T, w *Witness, cp []byte, cosig []byte) []byte {
	t.Helper()
	if !bytes.HasPrefix(cosig, []byte("— "+w.Name()+" ")) || !bytes.HasSuffix(cosig, []byte("\n")) || bytes.Count(cosig, []byte("\n")) != 1 {
		t.Fatalf("cosignature %q is not one signature line by %s", cosig, w.Name())
	}
	v, err := fnote.NewVerifierForCosignatureV1(w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	out := append(bytes.Clone(cp), cosig...)
	n, err := note.Open(out, note.VerifierList(v))
	if err != nil {
		t.Fatalf("the cosignature does not verify with the formats verifier: %v", err)
	}
	if len(n.Sigs) != 1 {
		t.Fatalf("%d verified signatures, want 1", len(n.Sigs))
	}
	ts, err := fnote.CoSigV1Timestamp(n.Sigs[0])
	if err != nil || time.Since(ts) > time.Minute || time.Until(ts) > time.Minute {
		t.Fatalf("cosignature timestamp %v (%v), want about now", ts, err)
	}
	return out
}

func TestCosignGrowingBoard(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, _ := newTestWitness(t, b)
	ctx := context.Background()
	old := uint64(0)
	for _, n := range []uint64{0, 1, 2, 3, 7, 8, 8, 9, 64, 100, 1000} {
		req := b.request(old, n)
		cosig, err := w.AddCheckpoint(ctx, req)
		if err != nil {
			t.Fatalf("old %d new %d: %v", old, n, err)
		}
		out := cosigned(t, w, req.Checkpoint, cosig)
		latest, err := w.Latest(testOrigin)
		if err != nil || !bytes.Equal(latest, out) {
			t.Fatalf("Latest = %q, %v; want the cosigned checkpoint %q", latest, err, out)
		}
		old = n
	}
}

func TestCosignForwardsOtherSignatures(t *testing.T) {
	// A checkpoint already cosigned by another witness: the witness ignores the unknown signature, as
	// signed-note requires, and keeps only the log's signature and its own.
	b := newTestBoard(t, testOrigin)
	w1, _ := newTestWitness(t, b)
	w2, _ := newTestWitness(t, b)
	req := b.request(0, 5)
	c1, err := w1.AddCheckpoint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	req.Checkpoint = append(req.Checkpoint, c1...)
	c2, err := w2.AddCheckpoint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	latest, _ := w2.Latest(testOrigin)
	if want := append(b.checkpoint(5).Signed, c2...); !bytes.Equal(latest, want) {
		t.Fatalf("stored %q, want %q", latest, want)
	}
}

// refuse submits req and checks that it is refused with want and the HTTP status code, and that the witness's
// state is unchanged.
func refuse(t *testing.T, w *Witness, req AddCheckpoint, want error, status int) error {
	t.Helper()
	before, _ := w.Latest(noteOrigin(req.Checkpoint))
	cosig, err := w.AddCheckpoint(context.Background(), req)
	if !errors.Is(err, want) || Status(err) != status {
		t.Fatalf("got %q, %v (status %d); want %v, status %d", cosig, err, Status(err), want, status)
	}
	if cosig != nil {
		t.Fatalf("a refusal returned a cosignature %q", cosig)
	}
	after, _ := w.Latest(noteOrigin(req.Checkpoint))
	if !bytes.Equal(before, after) {
		t.Fatalf("a refusal changed the state from %q to %q", before, after)
	}
	return err
}

func TestStaleOldSize(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, _ := newTestWitness(t, b)
	if _, err := w.AddCheckpoint(context.Background(), b.request(0, 10)); err != nil {
		t.Fatal(err)
	}
	for _, old := range []uint64{0, 5, 11} {
		err := refuse(t, w, b.request(old, 20), ErrConflict, http.StatusConflict)
		var ce *ConflictError
		if !errors.As(err, &ce) || ce.Size != 10 || ce.Old != old || ce.Origin != testOrigin {
			t.Fatalf("old %d: %#v, want a ConflictError of size 10", old, err)
		}
	}
	// The client retries from the size the witness named.
	if _, err := w.AddCheckpoint(context.Background(), b.request(10, 20)); err != nil {
		t.Fatal(err)
	}
}

func TestInconsistent(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, _ := newTestWitness(t, b)
	if _, err := w.AddCheckpoint(context.Background(), b.request(0, 10)); err != nil {
		t.Fatal(err)
	}
	t.Run("bad proof", func(t *testing.T) {
		req := b.request(10, 20)
		for i := range req.Proof {
			bad := req
			bad.Proof = append([][]byte(nil), req.Proof...)
			bad.Proof[i] = bytes.Clone(bad.Proof[i])
			bad.Proof[i][0] ^= 1
			refuse(t, w, bad, ErrInconsistent, http.StatusUnprocessableEntity)
		}
		short := req
		short.Proof = req.Proof[:len(req.Proof)-1]
		refuse(t, w, short, ErrInconsistent, http.StatusUnprocessableEntity)
		long := req
		long.Proof = append(append([][]byte(nil), req.Proof...), req.Proof[0])
		refuse(t, w, long, ErrInconsistent, http.StatusUnprocessableEntity)
	})
	t.Run("fork of the same size", func(t *testing.T) {
		f := b.fork(5)
		f.grow(10)
		req := f.request(10, 10)
		err := refuse(t, w, req, ErrInconsistent, http.StatusUnprocessableEntity)
		var fe *ForkError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "fork") || fe.Size != 10 || !bytes.Equal(fe.Submitted, req.Checkpoint) {
			t.Fatalf("%v is not a ForkError of size 10", err)
		}
		// The evidence is portable: both checkpoints verify with the board's key alone, same size, other roots.
		c1, err1 := tlog.ParseCheckpoint(fe.Cosigned[:bytes.LastIndex(fe.Cosigned[:len(fe.Cosigned)-1], []byte("\n"))+1], b.vkey)
		c2, err2 := tlog.ParseCheckpoint(fe.Submitted, b.vkey)
		if err1 != nil || err2 != nil || c1.Size != c2.Size || c1.Root == c2.Root {
			t.Fatalf("evidence: %v %v; %v %v", c1, err1, c2, err2)
		}
	})
	t.Run("fork that does not extend the cosigned checkpoint", func(t *testing.T) {
		f := b.fork(5)
		refuse(t, w, f.request(10, 30), ErrInconsistent, http.StatusUnprocessableEntity)
	})
	t.Run("same size with a proof", func(t *testing.T) {
		req := b.request(10, 10)
		req.Proof = [][]byte{make([]byte, 32)}
		refuse(t, w, req, ErrInconsistent, http.StatusUnprocessableEntity)
	})
	// The honest board still gets cosigned after all of these.
	if _, err := w.AddCheckpoint(context.Background(), b.request(10, 20)); err != nil {
		t.Fatal(err)
	}
}

func TestInconsistentFromZero(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, _ := newTestWitness(t, b)
	req := b.request(0, 4)
	req.Proof = [][]byte{make([]byte, 32)}
	refuse(t, w, req, ErrInconsistent, http.StatusUnprocessableEntity)
	// A checkpoint of size 0 whose root is not the empty tree's.
	cp, err := tlog.SignCheckpoint(b.signer, testOrigin, 0, [32]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	refuse(t, w, AddCheckpoint{Checkpoint: cp.Signed}, ErrInconsistent, http.StatusUnprocessableEntity)
}

func TestUnknownLogAndBadSignature(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	other := newTestBoard(t, "board.example/election-2")
	w, _ := newTestWitness(t, b)
	refuse(t, w, other.request(0, 3), ErrUnknownLog, http.StatusNotFound)

	// Another key with the board's name: its signature is not the board's.
	impostor := newTestBoard(t, testOrigin)
	refuse(t, w, impostor.request(0, 3), ErrBadSignature, http.StatusForbidden)

	// The board's key name and ID, but the signature altered: the note is invalid.
	req := b.request(0, 3)
	sigAt := bytes.LastIndex(req.Checkpoint, []byte(" ")) + 10
	req.Checkpoint = bytes.Clone(req.Checkpoint)
	// Another base64 character, so that the note still decodes (a character out of base64's alphabet would make
	// the note malformed instead: the signatures are random, so that made this test flaky).
	if req.Checkpoint[sigAt] == 'A' {
		req.Checkpoint[sigAt] = 'B'
	} else {
		req.Checkpoint[sigAt] = 'A'
	}
	refuse(t, w, req, ErrBadSignature, http.StatusForbidden)

	// The body altered after signing.
	req = b.request(0, 3)
	req.Checkpoint = bytes.Replace(req.Checkpoint, []byte("\n3\n"), []byte("\n4\n"), 1)
	refuse(t, w, req, ErrBadSignature, http.StatusForbidden)
}

func TestMalformedCheckpoint(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, _ := newTestWitness(t, b)
	sign := func(text string) []byte {
		signed, err := note.Sign(&note.Note{Text: text}, b.signer)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	root := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	for name, text := range map[string]string{
		"two lines":            testOrigin + "\n0\n",
		"leading zero":         testOrigin + "\n00\n" + root + "\n",
		"signed size":          testOrigin + "\n+0\n" + root + "\n",
		"short root":           testOrigin + "\n0\nAAAA\n",
		"empty extension":      testOrigin + "\n0\n" + root + "\n\n",
		"non-canonical root":   testOrigin + "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n",
		"size out of range":    testOrigin + "\n18446744073709551616\n" + root + "\n",
		"size not a number":    testOrigin + "\nzero\n" + root + "\n",
		"root not base64":      testOrigin + "\n0\n!!!!\n",
		"root without padding": testOrigin + "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",
	} {
		t.Run(name, func(t *testing.T) {
			refuse(t, w, AddCheckpoint{Checkpoint: sign(text)}, ErrMalformed, http.StatusBadRequest)
		})
	}
	refuse(t, w, AddCheckpoint{Checkpoint: []byte(testOrigin + "\n0\n" + root + "\n")}, ErrMalformed, http.StatusBadRequest)

	// An extension line is allowed, and cosigned with the note.
	ext := sign(testOrigin + "\n0\n" + root + "\nextension\n")
	cosig, err := w.AddCheckpoint(context.Background(), AddCheckpoint{Checkpoint: ext})
	if err != nil {
		t.Fatal(err)
	}
	cosigned(t, w, ext, cosig)

	// An old size larger than the checkpoint's.
	refuse(t, w, b.request(5, 3), ErrMalformed, http.StatusBadRequest)
}

func TestObserverWitness(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	skey, _, err := GenerateKey("observer.example/w", bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	verifiedUpTo := uint64(5)
	var asked []uint64
	w, err := Open(filepath.Join(t.TempDir(), "w.db"), Config{Key: skey, Logs: []Log{{
		VerifierKey: b.vkey,
		Verified: func(cp tlog.Checkpoint) bool {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, cp.Size)
			return cp.Origin == testOrigin && cp.Size <= verifiedUpTo
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.AddCheckpoint(context.Background(), b.request(0, 5)); err != nil {
		t.Fatal(err)
	}
	refuse(t, w, b.request(5, 9), ErrNotVerified, http.StatusServiceUnavailable)
	// An inconsistent checkpoint is refused before the observer is asked.
	refuse(t, w, b.fork(2).request(5, 9), ErrInconsistent, http.StatusUnprocessableEntity)
	mu.Lock()
	verifiedUpTo = 9
	mu.Unlock()
	if _, err := w.AddCheckpoint(context.Background(), b.request(5, 9)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []uint64{5, 9, 9}; len(asked) != len(want) || asked[0] != 5 || asked[1] != 9 || asked[2] != 9 {
		t.Fatalf("Verified was asked %v, want %v", asked, want)
	}
}

func TestRestartKeepsState(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	path := filepath.Join(t.TempDir(), "w.db")
	skey, _, err := GenerateKey("witness.example/w1", bytes.NewReader(make([]byte, 64)))
	if err != nil {
		t.Fatal(err)
	}
	w := openTestWitness(t, path, skey, b)
	if _, err := w.AddCheckpoint(context.Background(), b.request(0, 12)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w = openTestWitness(t, path, skey, b)
	var ce *ConflictError
	if _, err := w.AddCheckpoint(context.Background(), b.request(0, 20)); !errors.As(err, &ce) || ce.Size != 12 {
		t.Fatalf("after a restart: %v, want a conflict at size 12", err)
	}
	if _, err := w.AddCheckpoint(context.Background(), b.request(12, 20)); err != nil {
		t.Fatal(err)
	}
	w.Close()

	// Another witness key on the same state file: the stored cosignature is not its own, so it refuses to
	// use the state rather than trust it.
	other, _, err := GenerateKey("witness.example/w1", bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	w = openTestWitness(t, path, other, b)
	if _, err := w.AddCheckpoint(context.Background(), b.request(20, 30)); !errors.Is(err, ErrUnavailable) || Status(err) != http.StatusInternalServerError {
		t.Fatalf("with another key: %v, want ErrUnavailable", err)
	}
}

func TestStateFileLocked(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, skey := newTestWitness(t, b)
	_ = w
	dir := t.TempDir()
	path := filepath.Join(dir, "w.db")
	openTestWitness(t, path, skey, b)
	if _, err := Open(path, Config{Key: skey, Logs: []Log{{VerifierKey: b.vkey}}}); err == nil {
		t.Fatal("a second Open of a state file in use succeeded")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentRequestsSerialized(t *testing.T) {
	// Many clients submit checkpoints of different sizes, each from the old size 10: exactly one is cosigned
	// and every other is told the witness's new size, never rolling the state back.
	b := newTestBoard(t, testOrigin)
	w, _ := newTestWitness(t, b)
	if _, err := w.AddCheckpoint(context.Background(), b.request(0, 10)); err != nil {
		t.Fatal(err)
	}
	b.grow(60)
	reqs := make([]AddCheckpoint, 40)
	for i := range reqs {
		reqs[i] = b.request(10, uint64(11+i))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(reqs))
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.AddCheckpoint(context.Background(), reqs[i])
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		if err == nil {
			if won >= 0 {
				t.Fatalf("requests %d and %d were both cosigned from old size 10", won, i)
			}
			won = i
		}
	}
	if won < 0 {
		t.Fatal("no request was cosigned")
	}
	for i, err := range errs {
		var ce *ConflictError
		if i != won && (!errors.As(err, &ce) || ce.Size != uint64(11+won)) {
			t.Fatalf("request %d: %v, want a conflict at size %d", i, err, 11+won)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, _ := newTestWitness(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.AddCheckpoint(ctx, b.request(0, 3)); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("canceled: %v", err)
	}
	if latest, _ := w.Latest(testOrigin); latest != nil {
		t.Fatalf("a canceled request was recorded: %q", latest)
	}
}

func TestTwoBoardsKeepSeparateStates(t *testing.T) {
	a := newTestBoard(t, testOrigin)
	b := newTestBoard(t, "board.example/election-2")
	w, _ := newTestWitness(t, a, b)
	ctx := context.Background()
	if _, err := w.AddCheckpoint(ctx, a.request(0, 9)); err != nil {
		t.Fatal(err)
	}
	// b's first checkpoint is from 0, whatever a's size; a's key does not sign for b.
	if _, err := w.AddCheckpoint(ctx, b.request(0, 3)); err != nil {
		t.Fatal(err)
	}
	forged := a.request(0, 3)
	forged.Checkpoint = bytes.Replace(forged.Checkpoint, []byte(testOrigin), []byte("board.example/election-2"), -1)
	refuse(t, w, forged, ErrBadSignature, http.StatusForbidden)
	if _, err := w.AddCheckpoint(ctx, a.request(9, 12)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddCheckpoint(ctx, b.request(3, 4)); err != nil {
		t.Fatal(err)
	}
	if got := len(w.Origins()); got != 2 {
		t.Fatalf("%d origins", got)
	}
}

// FuzzAddCheckpoint feeds arbitrary bodies to the witness: none panics, none is cosigned unless it is a valid
// request, and every refusal is one of the protocol's.
func FuzzAddCheckpoint(f *testing.F) {
	b := newTestBoard(f, testOrigin)
	w, _ := newTestWitness(f, b)
	f.Add(b.request(0, 3).Marshal())
	f.Add(b.request(3, 9).Marshal())
	f.Add(b.fork(1).request(3, 3).Marshal())
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := ParseAddCheckpoint(body)
		if err != nil {
			return
		}
		cosig, err := w.AddCheckpoint(context.Background(), req)
		if err != nil {
			if s := Status(err); s == http.StatusInternalServerError || cosig != nil {
				t.Fatalf("status %d (cosignature %q): %v", s, cosig, err)
			}
			return
		}
		if _, err := openCheckpoint(req.Checkpoint, w.logs[testOrigin].verifier); err != nil {
			t.Fatalf("cosigned a checkpoint that does not open: %v", err)
		}
	})
}

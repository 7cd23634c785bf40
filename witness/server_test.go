package witness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, b *testBoard) (*Witness, *httptest.Server, *Client) {
	t.Helper()
	w, _ := newTestWitness(t, b)
	srv := httptest.NewServer(NewHandler(w, nil))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, w.VerifierKey(), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return w, srv, c
}

func TestClientServer(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, _, c := newTestServer(t, b)
	ctx := context.Background()
	// A client that does not know the witness's size asks from 0 and is told it.
	if _, err := c.AddCheckpoint(ctx, b.request(0, 10)); err != nil {
		t.Fatal(err)
	}
	_, err := c.AddCheckpoint(ctx, b.request(0, 20))
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Size != 10 {
		t.Fatalf("%v, want a conflict at size 10", err)
	}
	req := b.request(ce.Size, 20)
	cs, err := c.AddCheckpoint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Witness != w.Name() || time.Since(cs.Time) > time.Minute {
		t.Fatalf("cosignature %+v", cs)
	}
	cosigned(t, w, req.Checkpoint, cs.Line)

	for _, tc := range []struct {
		req  AddCheckpoint
		want error
	}{
		{b.fork(3).request(20, 20), ErrInconsistent},
		{newTestBoard(t, "board.example/other").request(0, 1), ErrUnknownLog},
		{newTestBoard(t, testOrigin).request(20, 21), ErrBadSignature},
		{b.request(25, 21), ErrMalformed},
	} {
		if _, err := c.AddCheckpoint(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%v, want %v", err, tc.want)
		}
	}
}

func TestClientChecksTheCosignature(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, _, _ := newTestServer(t, b)
	// A client configured with another witness key: the answer carries no cosignature it can verify.
	other, _ := newTestWitness(t, b)
	srv := httptest.NewServer(NewHandler(w, nil))
	defer srv.Close()
	c, err := NewClient(srv.URL+"/", other.VerifierKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddCheckpoint(context.Background(), b.request(0, 4)); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no cosignature by") {
		t.Fatalf("%v, want no cosignature", err)
	}
	// A witness whose answer is a forged line with the right name and key ID.
	fake := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		cosig, _ := w.AddCheckpoint(r.Context(), b.request(4, 5))
		cosig[len(cosig)-5] ^= 1
		rw.Write(cosig)
	}))
	defer fake.Close()
	c, _ = NewClient(fake.URL, w.VerifierKey(), nil)
	if _, err := c.AddCheckpoint(context.Background(), b.request(4, 5)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v, want a bad cosignature refused", err)
	}
	// A 409 that is not a size.
	bad409 := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.WriteHeader(http.StatusConflict)
		io.WriteString(rw, "10\n")
	}))
	defer bad409.Close()
	c, _ = NewClient(bad409.URL, w.VerifierKey(), nil)
	if _, err := c.AddCheckpoint(context.Background(), b.request(4, 5)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v, want a 409 without %s refused", err, ContentTypeSize)
	}
}

// post sends body to the add-checkpoint endpoint and returns the status, Content-Type and body.
func post(t *testing.T, url string, body io.Reader) (int, string, string) {
	t.Helper()
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(out)
}

func TestHTTPStatusCodes(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, srv, _ := newTestServer(t, b)
	if code, _, body := post(t, srv.URL, bytes.NewReader(b.request(0, 7).Marshal())); code != http.StatusOK || !strings.HasPrefix(body, "— "+w.Name()+" ") {
		t.Fatalf("%d %q", code, body)
	}
	code, ctype, body := post(t, srv.URL, bytes.NewReader(b.request(3, 9).Marshal()))
	if code != http.StatusConflict || ctype != ContentTypeSize || body != "7\n" {
		t.Fatalf("stale old size: %d %q %q, want 409 %s \"7\\n\"", code, ctype, body, ContentTypeSize)
	}
	for name, tc := range map[string]struct {
		body io.Reader
		code int
	}{
		"garbage":    {strings.NewReader("\x00\xffnot a request"), http.StatusBadRequest},
		"empty":      {strings.NewReader(""), http.StatusBadRequest},
		"oversized":  {io.LimitReader(neverEnding('A'), MaxRequestSize+1), http.StatusRequestEntityTooLarge},
		"huge":       {io.LimitReader(neverEnding('\n'), 64<<20), http.StatusRequestEntityTooLarge},
		"bad proof":  {bytes.NewReader(b.fork(2).request(7, 9).Marshal()), http.StatusUnprocessableEntity},
		"fork":       {bytes.NewReader(b.fork(2).request(7, 7).Marshal()), http.StatusUnprocessableEntity},
		"other log":  {bytes.NewReader(newTestBoard(t, "board.example/x").request(0, 1).Marshal()), http.StatusNotFound},
		"bad sig":    {bytes.NewReader(newTestBoard(t, testOrigin).request(7, 9).Marshal()), http.StatusForbidden},
		"old > size": {bytes.NewReader(b.request(7, 9).withOld(10).Marshal()), http.StatusBadRequest},
	} {
		if code, _, body := post(t, srv.URL, tc.body); code != tc.code {
			t.Errorf("%s: %d %q, want %d", name, code, body, tc.code)
		}
	}
	// GET is not add-checkpoint.
	resp, err := http.Get(srv.URL + "/add-checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET add-checkpoint: %d", resp.StatusCode)
	}
	if latest, _ := w.Latest(testOrigin); !bytes.HasPrefix(latest, b.checkpoint(7).Signed) {
		t.Fatalf("the refusals changed the state: %q", latest)
	}
}

func (r AddCheckpoint) withOld(old uint64) AddCheckpoint { r.OldSize = old; return r }

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

func TestMonitoringEndpoint(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	w, srv, c := newTestServer(t, b)
	sum := sha256.Sum256([]byte(testOrigin))
	url := srv.URL + "/" + hex.EncodeToString(sum[:]) + "/checkpoint"
	get := func() (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get(); code != http.StatusNotFound {
		t.Fatalf("before any cosignature: %d, want 404", code)
	}
	req := b.request(0, 6)
	cs, err := c.AddCheckpoint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != http.StatusOK || body != string(req.Checkpoint)+string(cs.Line) {
		t.Fatalf("%d %q", code, body)
	}
	_ = w
}

func TestClientGoesAway(t *testing.T) {
	// A client that sends part of its body and then goes away: the handler stops reading, nothing is
	// recorded, and the witness serves the next request.
	b := newTestBoard(t, testOrigin)
	w, srv, c := newTestServer(t, b)
	body := b.request(0, 5).Marshal()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/add-checkpoint", pr)
	done := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(hreq)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	pw.Write(body[:len(body)/2])
	cancel()
	pw.CloseWithError(context.Canceled)
	if err := <-done; err == nil {
		t.Fatal("the canceled request succeeded")
	}
	if latest, _ := w.Latest(testOrigin); latest != nil {
		t.Fatalf("a request whose client went away was recorded: %q", latest)
	}
	if _, err := c.AddCheckpoint(context.Background(), b.request(0, 5)); err != nil {
		t.Fatal(err)
	}
}

func TestClientCosign(t *testing.T) {
	b := newTestBoard(t, testOrigin)
	_, _, c := newTestServer(t, b)
	ctx := context.Background()
	prove := func(old, n uint64) ([][]byte, error) { return b.tree.ConsistencyProof(old, n) }
	cosign := func(n, old uint64) error {
		b.grow(n)
		_, err := c.Cosign(ctx, b.checkpoint(n).Signed, n, old, prove)
		return err
	}
	// A node that does not know the witness's size starts from 0, then goes on from the last size.
	for _, step := range []struct{ n, old uint64 }{{5, 0}, {9, 0}, {12, 9}, {12, 12}, {20, 3}} {
		if err := cosign(step.n, step.old); err != nil {
			t.Fatalf("n %d from %d: %v", step.n, step.old, err)
		}
	}
	// The witness is ahead of the checkpoint: it says so.
	var ce *ConflictError
	if err := cosign(15, 0); !errors.As(err, &ce) || ce.Size != 20 {
		t.Fatalf("%v, want a conflict at 20", err)
	}
	// A prover failure is the caller's, not the witness's.
	failing := func(old, n uint64) ([][]byte, error) { return nil, errors.New("no proof") }
	b.grow(30)
	if _, err := c.Cosign(ctx, b.checkpoint(30).Signed, 30, 0, failing); err == nil || !strings.Contains(err.Error(), "no proof") {
		t.Fatalf("%v, want the prover's error", err)
	}
}

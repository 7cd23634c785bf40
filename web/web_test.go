package web_test

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/webnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/web"
)

// newServer serves the web app of a node with an empty board (no election).
func newServer(t *testing.T, lim web.Limits) (*httptest.Server, *node.Node, *web.Handler) {
	t.Helper()
	n, err := node.Open(t.TempDir(), node.Options{Origin: "test.recount.local/web"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	h, err := web.New(web.Options{Services: web.Services{Voter: node.VoterService(n), Board: node.BoardService(n), Status: node.PublicStatus(n),
		Ready: n.NotReady}, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, n, h
}

func get(t *testing.T, url string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

var (
	inline   = regexp.MustCompile(`<script>|<style|\son[a-z]+=|style="|javascript:`)
	resource = regexp.MustCompile(`<(?:script|link rel="stylesheet")[^>]*>`)
	wasmPin  = regexp.MustCompile(`data-wasm-integrity="sha256-([A-Za-z0-9+/=]+)"`)
	pinned   = regexp.MustCompile(`(?:src|href)="(/static/[a-z_.]+)"[^>]*?\sintegrity="sha256-([A-Za-z0-9+/=]+)"`)
)

// TestPagesAndHeaders: every page is served with the strict Content-Security-Policy (WebAssembly compilation
// only where the booth runs), the static files with their hashes, the WebAssembly compressed or not.
func TestPagesAndHeaders(t *testing.T) {
	srv, _, h := newServer(t, web.Limits{})
	for path, wasm := range map[string]bool{"/": false, "/vote": true, "/receipt": true, "/results": true} {
		resp := get(t, srv.URL+path, nil)
		body, _ := io.ReadAll(resp.Body)
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") ||
			strings.Contains(csp, "'wasm-unsafe-eval'") != wasm || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: %d, CSP %q", path, resp.StatusCode, csp)
		}
		if !strings.Contains(string(body), "This server holds no election yet.") {
			t.Errorf("%s does not say there is no election:\n%s", path, body)
		}
		if inline.Match(body) {
			t.Errorf("%s has an inline script, style or event handler: %s", path, inline.Find(body))
		}
		boothHash := byPathOf(h)["/static/booth.wasm"]
		if path == "/vote" && !strings.Contains(string(body), ">"+hex.EncodeToString(boothHash[:])+"</code>") {
			t.Errorf("the booth page does not show the booth's fingerprint")
		}
		// The WebAssembly the booth's pages fetch is pinned by its hash too.
		if wasm {
			m := wasmPin.FindSubmatch([]byte(html.UnescapeString(string(body))))
			sum := sha256.Sum256(readAll(t, get(t, srv.URL+"/static/booth.wasm", map[string]string{"Accept-Encoding": "identity"})))
			if m == nil || string(m[1]) != base64.StdEncoding.EncodeToString(sum[:]) {
				t.Errorf("%s: the WebAssembly is not pinned by its hash", path)
			}
		}
		// Every script and style sheet is this origin's and pinned by its hash.
		for _, tag := range resource.FindAll(body, -1) {
			m := pinned.FindSubmatch([]byte(html.UnescapeString(string(tag)))) // html/template writes + as &#43;
			if m == nil {
				t.Errorf("%s: %s is not pinned by an integrity attribute", path, tag)
				continue
			}
			resp := get(t, srv.URL+string(m[1]), map[string]string{"Accept-Encoding": "identity"})
			data, _ := io.ReadAll(resp.Body)
			sum := sha256.Sum256(data)
			if string(m[2]) != base64.StdEncoding.EncodeToString(sum[:]) {
				t.Errorf("%s: the integrity of %s is not its hash", path, m[1])
			}
		}
	}
	if resp := get(t, srv.URL+"/nope", nil); resp.StatusCode != 404 {
		t.Errorf("/nope: %d", resp.StatusCode)
	}
	hashes := h.Hashes()
	byPath := map[string][32]byte{}
	for _, f := range hashes {
		byPath[f.Path] = f.SHA256
	}
	for _, name := range []string{"booth.wasm", "wasm_exec.js", "common.js", "vote.js", "style.css"} {
		want, ok := byPath["/static/"+name]
		if !ok {
			t.Fatalf("/hashes lists no %s", name)
		}
		plain := get(t, srv.URL+"/static/"+name, map[string]string{"Accept-Encoding": "identity"})
		data, _ := io.ReadAll(plain.Body)
		if sha256.Sum256(data) != want || plain.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: served bytes do not hash to the published hash", name)
		}
		if name == "booth.wasm" {
			if ct := plain.Header.Get("Content-Type"); ct != "application/wasm" {
				t.Errorf("booth.wasm served as %q", ct)
			}
			gz := get(t, srv.URL+"/static/"+name, map[string]string{"Accept-Encoding": "gzip"})
			if gz.Header.Get("Content-Encoding") != "gzip" {
				t.Fatal("booth.wasm not served compressed to a browser that takes gzip")
			}
			zr, err := gzip.NewReader(gz.Body)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(zr)
			if sha256.Sum256(data) != want {
				t.Error("the compressed booth.wasm does not decompress to the published hash")
			}
		}
	}
	resp := get(t, srv.URL+"/hashes", nil)
	body, _ := io.ReadAll(resp.Body)
	if string(body) != h.HashesText() || !strings.Contains(string(body), "  /static/booth.wasm\n") {
		t.Errorf("/hashes:\n%s", body)
	}
}

func byPathOf(h *web.Handler) map[string][32]byte {
	m := map[string][32]byte{}
	for _, f := range h.Hashes() {
		m[f.Path] = f.SHA256
	}
	return m
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestAPIRefusals: bad requests are refused with a reason and write nothing; the node's own refusals keep their
// reason; the webnode client reads them as package client's Refusal.
func TestAPIRefusals(t *testing.T) {
	srv, n, _ := newServer(t, web.Limits{MaxRequestBytes: 1024})
	for _, c := range []struct {
		path, body string
		status     int
		reason     string
	}{
		{"/api/v1/cast", `{"signedBallot": "AAAA"}`, 400, ""},
		{"/api/v1/cast", `not json`, 400, "BAD_REQUEST"},
		{"/api/v1/cast", `{"signedBallot": "` + strings.Repeat("A", 2000) + `"}`, 400, "BAD_REQUEST"},
		{"/api/v1/cast", `{"unknownField": 1}`, 400, "BAD_REQUEST"},
		{"/api/v1/receipt", `{"trackingCode": "AAAA"}`, 400, "BAD_REQUEST"},
		{"/api/v1/entries", `{"follow": true}`, 400, "BAD_REQUEST"},
		{"/api/v1/nothing", `{}`, 404, ""},
	} {
		status, body := post(t, srv.URL+c.path, c.body)
		var e web.APIError
		if err := json.Unmarshal(body, &e); err != nil || status != c.status || (c.reason != "" && e.Reason != c.reason) || e.Message == "" {
			t.Errorf("%s %s: %d %s", c.path, c.body, status, body)
		}
	}
	if n.Log().Size() != 0 {
		t.Fatalf("refused requests wrote %d entries", n.Log().Size())
	}
	if resp := get(t, srv.URL+"/api/v1/witness-policy", nil); resp.StatusCode != 404 {
		t.Errorf("the witness policy of a node without one: %d", resp.StatusCode)
	}
	wn := &webnode.Node{Base: srv.URL}
	if _, err := wn.Post(context.Background(), election.KindBallot, []byte{1, 2, 3}, 0); !isRefusal(err) {
		t.Errorf("a bad ballot: %v, want a refusal", err)
	}
	var code election.ID
	if _, err := wn.Lookup(context.Background(), code, 0); !client.RefusedFor(err, client.ReasonNotFound) && !isRefusal(err) {
		t.Errorf("an unknown tracking code: %v", err)
	}
	// A server that does not answer is no answer, not a refusal.
	dead := &webnode.Node{Base: "http://127.0.0.1:1"}
	if _, err := dead.Election(context.Background()); !errors.Is(err, client.ErrNoAnswer) {
		t.Errorf("an unreachable server: %v, want ErrNoAnswer", err)
	}
	e, err := wn.Election(context.Background())
	if err != nil || e.Phase != client.PhaseEmpty || e.BoardKey != n.Log().VerifierKey() {
		t.Errorf("election: %+v, %v", e, err)
	}
}

func isRefusal(err error) bool {
	var r *client.Refusal
	return errors.As(err, &r)
}

// TestErrorDomain: the API's own refusals carry the node's error domain.
func TestErrorDomain(t *testing.T) {
	if got := web.ErrorDomain; got != node.ErrorDomain {
		t.Fatalf("web's error domain %q, the node's %q", got, node.ErrorDomain)
	}
}

// TestWebnodeFieldNames holds client/webnode's plain structures (which link no protobuf service code) to the
// protojson names of the service messages they read and write.
func TestWebnodeFieldNames(t *testing.T) {
	for _, c := range []struct {
		v   any
		msg proto.Message
	}{
		{webnode.ElectionJSON{}, &recountv1.GetElectionResponse{}},
		{webnode.ReceiptJSON{}, &recountv1.Receipt{}},
		{webnode.CastJSON{}, &recountv1.CastBallotResponse{}},
		{webnode.LookupJSON{}, &recountv1.GetReceiptResponse{}},
		{webnode.CheckpointJSON{}, &recountv1.GetCheckpointResponse{}},
		{webnode.EntryJSON{}, &recountv1.StreamEntriesResponse{}},
		{webnode.StatusJSON{}, &recountv1.GetStatusResponse{}},
		{webnode.WitnessStatusJSON{}, &recountv1.WitnessStatus{}},
	} {
		fields := c.msg.ProtoReflect().Descriptor().Fields()
		typ := reflect.TypeOf(c.v)
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			f := fields.ByJSONName(name)
			if f == nil {
				t.Errorf("%s.%s: %s has no field %q", typ.Name(), typ.Field(i).Name, c.msg.ProtoReflect().Descriptor().Name(), name)
				continue
			}
			if f.Kind() == protoreflect.Uint64Kind && !strings.Contains(typ.Field(i).Tag.Get("json"), ",string") {
				t.Errorf("%s.%s: a uint64 is a string in protojson", typ.Name(), typ.Field(i).Name)
			}
		}
	}
	for name := range recordv1.EntryKind_value {
		if !strings.HasPrefix(name, "ENTRY_KIND_") {
			t.Errorf("entry kind %s", name)
		}
	}
}

// TestEntriesPages: the entries come in pages that end at the board's end.
func TestEntriesPages(t *testing.T) {
	srv, _, _ := newServer(t, web.Limits{})
	status, body := post(t, srv.URL+"/api/v1/entries", `{"from": "0"}`)
	var page webnode.EntriesJSON
	if err := json.Unmarshal(body, &page); err != nil || status != 200 || !page.End || len(page.Entries) != 0 {
		t.Fatalf("entries of an empty board: %d %s", status, body)
	}
	wn := &webnode.Node{Base: srv.URL}
	for _, err := range wn.Entries(context.Background(), 0) {
		t.Fatalf("an empty board has an entry (err %v)", err)
	}
}

// TestStarting: while the node is starting the pages say so, and the API refuses with STARTING, as gRPC does.
func TestStarting(t *testing.T) {
	n := node.New(t.TempDir(), node.Options{Origin: "test.recount.local/web"}) // never started
	h, err := web.New(web.Options{Services: web.Services{Voter: node.VoterService(n), Board: node.BoardService(n), Status: node.PublicStatus(n),
		Ready: n.NotReady}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	if body := readAll(t, get(t, srv.URL+"/", nil)); !strings.Contains(string(body), "it may be starting") {
		t.Errorf("the election page of a starting node:\n%s", body)
	}
	resp := get(t, srv.URL+"/api/v1/election", nil)
	var e web.APIError
	if err := json.Unmarshal(readAll(t, resp), &e); err != nil || resp.StatusCode != 503 || e.Reason != "STARTING" {
		t.Errorf("the API of a starting node: %d %+v %v", resp.StatusCode, e, err)
	}
}

// TestPinnedPages: a manifest that pins this binary's pages (Manifest.booth_files) changes nothing; one that pins
// other files makes the node refuse to run the booth (503, the election page saying why and where to go) while
// the election page still says what is wrong.
func TestPinnedPages(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	pins, err := web.BoothFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		tamper func([]*recordv1.BoothFile) []*recordv1.BoothFile
		why    string
	}{
		{"the served files", nil, ""},
		{"another booth", func(p []*recordv1.BoothFile) []*recordv1.BoothFile {
			for _, f := range p {
				if f.Path == "/static/booth.wasm" {
					f.Sha256[0] ^= 1
				}
			}
			return p
		}, "/static/booth.wasm is served with SHA-256"},
		{"a file fewer", func(p []*recordv1.BoothFile) []*recordv1.BoothFile { return p[1:] }, "is served but not pinned"},
	} {
		srv, n, _ := newServer(t, web.Limits{})
		pb := proto.Clone(e.Manifest.Proto()).(*recordv1.Manifest)
		pb.BoothFiles = pins
		if c.tamper != nil {
			pb.BoothFiles = c.tamper(proto.Clone(&recordv1.Manifest{BoothFiles: pins}).(*recordv1.Manifest).BoothFiles)
		}
		m, err := election.NewManifest(pb)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.CreateElection(context.Background(), m.Bytes()); err != nil {
			t.Fatal(err)
		}
		for path, wasm := range map[string]bool{"/": false, "/vote": true, "/receipt": true} {
			resp := get(t, srv.URL+path, nil)
			body := string(readAll(t, resp))
			switch {
			case c.why == "":
				if resp.StatusCode != 200 || strings.Contains(body, "not the ones the election") {
					t.Errorf("%s, %s: %d\n%s", c.name, path, resp.StatusCode, body)
				}
			case wasm && (resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "booth.wasm\" integrity") || strings.Contains(body, "/static/common.js")):
				t.Errorf("%s, %s: %d, the booth served:\n%s", c.name, path, resp.StatusCode, body)
			case !strings.Contains(html.UnescapeString(body), "not the ones the election's manifest pins") || !strings.Contains(body, c.why):
				t.Errorf("%s, %s: the page does not say the pages are not the pinned ones (%s):\n%s", c.name, path, c.why, body)
			}
		}
	}
}

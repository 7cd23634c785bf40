// Package web is the voters' web app, served by the node (recountd --web-listen) and by `recount demo`: the
// election page, the voting booth, the receipt check and the results, embedded in the binary (no CDN, no
// third-party script, a strict Content-Security-Policy), over a JSON API (api.go) that calls the node's own gRPC
// service implementations with their protobuf messages in protojson. The booth's cryptography runs in the
// browser: the project's Go (client/booth, election/, verify/) compiled to WebAssembly (cmd/booth-wasm,
// .ci/build-wasm). The served files' SHA-256 are published at /hashes, printed by the node at start, and pinned
// by the pages (Subresource Integrity), so that an auditor can check that the booth a voter ran is the one
// reviewed (docs/web.md).
package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/election"
)

//go:embed app/static app/templates
var appFS embed.FS

// Options configure the web app.
type Options struct {
	Services Services
	Limits   Limits
	// Logger receives the API's refusals (debug) and failures (warn); nil means none.
	Logger *slog.Logger
}

// Handler serves the pages, their static files, /hashes and the JSON API.
type Handler struct {
	api      *api
	pages    *template.Template
	files    map[string]staticFile // by name under /static/
	hashes   []FileHash
	voter    recountv1.VoterServiceServer
	ready    func(boardRead bool) error
	readOnly bool
	logger   *slog.Logger
}

// FileHash is a served file's name (its URL path) and SHA-256.
type FileHash struct {
	Path   string
	SHA256 [32]byte
}

func (f FileHash) String() string { return hex.EncodeToString(f.SHA256[:]) + "  " + f.Path }

type staticFile struct {
	data, gz    []byte
	contentType string
	sri         string // "sha256-<base64>", for the pages' integrity attributes
}

var contentTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".wasm": "application/wasm",
	".svg":  "image/svg+xml",
}

// New returns the web app over opts.Services.
func New(opts Options) (*Handler, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := loadStatic()
	if err != nil {
		return nil, err
	}
	h := &Handler{api: newAPI(opts.Services, opts.Limits, logger), files: st.files, hashes: allHashes(st), voter: opts.Services.Voter,
		ready: opts.Services.Ready, readOnly: opts.Services.ReadOnly, logger: logger}
	h.pages, err = template.New("").Funcs(template.FuncMap{
		"sri": func(name string) string { return h.files[name].sri },
		// hash is a served file's SHA-256 in hexadecimal, as /hashes lists it.
		"hash": func(path string) string {
			for _, f := range h.hashes {
				if f.Path == path {
					return hex.EncodeToString(f.SHA256[:])
				}
			}
			return ""
		},
		"time": func(unix int64) string { return time.Unix(unix, 0).UTC().Format("Mon 2 Jan 2006, 15:04 MST") },
		"iso":  func(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) },
	}).ParseFS(appFS, "app/templates/*.html")
	if err != nil {
		return nil, err
	}
	return h, nil
}

// loadStatic reads the embedded static files once per process: the WebAssembly's decompression and every
// file's hash take a few seconds under the race detector.
var loadStatic = sync.OnceValues(func() (staticSet, error) {
	files := map[string]staticFile{}
	var hashes []FileHash
	static, err := fs.Sub(appFS, "app/static")
	if err != nil {
		return staticSet{}, err
	}
	err = fs.WalkDir(static, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(static, name)
		if err != nil {
			return err
		}
		var gz []byte
		if strings.HasSuffix(name, ".gz") {
			// The WebAssembly is committed compressed (.ci/build-wasm): served as it is to browsers that take
			// gzip, decompressed for the others; its hash is the decompressed file's, which the browser checks.
			gz, name = data, strings.TrimSuffix(name, ".gz")
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				return fmt.Errorf("web: %s: %w", name, err)
			}
			if data, err = io.ReadAll(zr); err != nil {
				return fmt.Errorf("web: %s: %w", name, err)
			}
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("web: no content type for %s", name)
		}
		sum := sha256.Sum256(data)
		files[name] = staticFile{data: data, gz: gz, contentType: ct, sri: "sha256-" + base64.StdEncoding.EncodeToString(sum[:])}
		hashes = append(hashes, FileHash{Path: "/static/" + name, SHA256: sum})
		return nil
	})
	return staticSet{files, hashes}, err
})

// allHashes returns the static files' hashes and the templates' (the pages are rendered from them with the
// election's data and carry no script), sorted by path.
func allHashes(st staticSet) []FileHash {
	hashes := slices.Clone(st.hashes)
	tmpls, _ := fs.Glob(appFS, "app/templates/*.html")
	for _, name := range tmpls {
		data, _ := appFS.ReadFile(name)
		hashes = append(hashes, FileHash{Path: "template:" + path.Base(name), SHA256: sha256.Sum256(data)})
	}
	sort.Slice(hashes, func(i, j int) bool { return hashes[i].Path < hashes[j].Path })
	return hashes
}

// BoothFiles returns the files this binary serves the voters' pages from, as a manifest pins them
// (Manifest.booth_files, docs/record.md): what `recount admin create --pin-web` and the demo put in the manifest.
func BoothFiles() ([]*recordv1.BoothFile, error) {
	st, err := loadStatic()
	if err != nil {
		return nil, err
	}
	var files []*recordv1.BoothFile
	for _, f := range allHashes(st) {
		files = append(files, &recordv1.BoothFile{Path: f.Path, Sha256: bytes.Clone(f.SHA256[:])})
	}
	return files, nil
}

// pinMismatch says how the served files differ from those the election's manifest pins, or "" when they are
// the same or the manifest pins none.
func (h *Handler) pinMismatch(pins []*recordv1.BoothFile) string {
	if len(pins) == 0 {
		return ""
	}
	served := map[string][32]byte{}
	for _, f := range h.hashes {
		served[f.Path] = f.SHA256
	}
	for _, p := range pins {
		sum, ok := served[p.Path]
		switch {
		case !ok:
			return p.Path + " is pinned but not served"
		case !bytes.Equal(sum[:], p.Sha256):
			return fmt.Sprintf("%s is served with SHA-256 %x, pinned with %x", p.Path, sum[:], p.Sha256)
		}
		delete(served, p.Path)
	}
	for path := range served {
		return path + " is served but not pinned"
	}
	return ""
}

// staticSet is the static files by name under /static/, and their hashes.
type staticSet struct {
	files  map[string]staticFile
	hashes []FileHash
}

// Hashes returns the served files' SHA-256, sorted by path: the static files (scripts, style, WebAssembly) and
// the pages' templates. /hashes serves them in sha256sum's format.
func (h *Handler) Hashes() []FileHash { return append([]FileHash(nil), h.hashes...) }

// HashesText is Hashes in sha256sum's format, one file a line.
func (h *Handler) HashesText() string {
	var b strings.Builder
	for _, f := range h.hashes {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// The pages' Content-Security-Policy: nothing but this origin's scripts, styles and calls; WebAssembly
// compilation ('wasm-unsafe-eval', which allows no JavaScript eval) only on the pages that run the booth.
const (
	cspBase = "default-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"
	cspPage = cspBase + "; script-src 'self'"
	cspWasm = cspBase + "; script-src 'self' 'wasm-unsafe-eval'"
)

// page is a page's route, template and whether it runs the WebAssembly booth.
type page struct {
	name, title string
	wasm        bool
}

var pages = map[string]page{
	"/":        {"election", "Election", false},
	"/vote":    {"vote", "Vote", true},
	"/receipt": {"receipt", "Check a receipt", true},
	"/results": {"results", "Results", true},
}

// pageData is what a page's template renders.
type pageData struct {
	Page     string
	Title    string
	Election *electionData
	Problem  string
	ReadOnly bool
}

type electionData struct {
	ID        string
	Title     string
	OpensAt   int64
	ClosesAt  int64
	Contests  []contestData
	Trustees  int
	Threshold int
}

type contestData struct {
	Title   string
	Rule    string
	Options []string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	hd.Set("Content-Security-Policy", cspPage)
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/api/"):
		h.api.ServeHTTP(w, r)
	case strings.HasPrefix(p, "/static/"):
		h.serveStatic(w, r, strings.TrimPrefix(p, "/static/"))
	case p == "/hashes":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(h.HashesText()))
	default:
		pg, ok := pages[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.servePage(w, r, pg)
	}
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := h.files[name]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	// A slow reader of the largest file (the WebAssembly, a few MiB compressed) is cut after this.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2 * time.Minute))
	hd := w.Header()
	hd.Set("Content-Type", f.contentType)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", `"`+f.sri+`"`)
	hd.Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match == `"`+f.sri+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	data := f.data
	if f.gz != nil && acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		data = f.gz
	}
	hd.Set("Content-Length", fmt.Sprint(len(data)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(data)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(part, ";")
		if strings.TrimSpace(enc) == "gzip" {
			q := strings.TrimRight(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "0")
			return q != "q=0." && q != "q="
		}
	}
	return false
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request, pg page) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	data := pageData{Page: pg.name, Title: pg.title, ReadOnly: h.readOnly}
	status := http.StatusOK
	var e *recountv1.GetElectionResponse
	err := errNotReady
	if h.ready == nil || h.ready(false) == nil {
		// A starting node has not replayed its board: its election would look empty.
		e, err = h.voter.GetElection(ctx, &recountv1.GetElectionRequest{})
	}
	switch {
	case err != nil:
		data.Problem = "The election server cannot say which election it holds right now (it may be starting). Reload the page in a minute."
		h.logger.Warn("web page: reading the election", "err", err)
	case len(e.Manifest) == 0:
		data.Problem = "This server holds no election yet."
	default:
		m, err := election.ParseManifest(e.Manifest)
		if err != nil {
			data.Problem = "This server's election cannot be read."
			break
		}
		pb := m.Proto()
		ed := &electionData{ID: m.ID().String(), Title: pb.Title, OpensAt: pb.OpensAt, ClosesAt: pb.ClosesAt}
		ed.Trustees, ed.Threshold = m.Trustees()
		for c, pc := range pb.Contests {
			cd := contestData{Title: pc.Title, Rule: ruleText(m.Rules()[c])}
			for _, o := range pc.Options {
				cd.Options = append(cd.Options, o.Title)
			}
			ed.Contests = append(ed.Contests, cd)
		}
		data.Election = ed
		if why := h.pinMismatch(pb.BoothFiles); why != "" {
			// Not the pages the commission reviewed: an operator's mistake (another build) or worse. No booth
			// runs here; the election page says why, and where to go instead.
			h.logger.Error("web: the served files are not those the election's manifest pins; the booth is not served", "why", why)
			data.Problem = "This server's voting pages are not the ones the election's manifest pins (" + why + "). Do not vote or check receipts here: use another server of the election, or the command-line tool (recount vote, recount receipt)."
			if pg.wasm {
				pg = page{name: "election", title: pg.title}
				data.Page = pg.name
				status = http.StatusServiceUnavailable
			}
		}
	}
	var b bytes.Buffer
	if err := h.pages.ExecuteTemplate(&b, pg.name+".html", data); err != nil {
		h.logger.Warn("web page: rendering", "page", pg.name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	if pg.wasm {
		w.Header().Set("Content-Security-Policy", cspWasm)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// errNotReady stands for the refusal of a server that is starting.
var errNotReady = errors.New("the server is starting")

// ruleText says a contest's rule in plain words.
func ruleText(r election.Rule) string {
	switch {
	case r.OptionMax == 1 && r.TotalMin == r.TotalMax:
		if r.TotalMin == 1 {
			return "Choose exactly one."
		}
		return fmt.Sprintf("Choose exactly %d.", r.TotalMin)
	case r.OptionMax == 1:
		if r.TotalMin == 0 {
			return fmt.Sprintf("Choose up to %d.", r.TotalMax)
		}
		return fmt.Sprintf("Choose between %d and %d.", r.TotalMin, r.TotalMax)
	default:
		return fmt.Sprintf("Give each option a score from 0 to %d; the scores may add up to at most %d.", r.OptionMax, r.TotalMax)
	}
}

// NewServer returns an HTTP server of h on addr with the bounds of the node's gRPC side: headers in 10 s and
// at most 16 KiB, a request's body in 30 s, idle connections closed after 2 minutes (each handler bounds its
// own answer's writing).
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
}

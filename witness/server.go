package witness

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// ContentTypeSize is the Content-Type of a 409 Conflict answer, whose body is the witness's size in decimal and
// a newline (c2sp.org/tlog-witness).
const ContentTypeSize = "text/x.tlog.size"

// NewHandler returns the witness's HTTP interface (c2sp.org/tlog-witness), to serve at the witness's
// submission and monitoring prefix (with http.StripPrefix for a prefix other than the root):
//
//	POST /add-checkpoint              the request body of AddCheckpoint; the answer is the cosignature line
//	GET  /<hex SHA-256 of origin>/checkpoint   the latest cosigned checkpoint of that log, or 404
//
// A body over MaxRequestSize is refused with 413 before it is read whole. A client that goes away before its
// body is read changes nothing. Refusals of checkpoints that are validly signed but inconsistent (possible
// evidence of a fork) are logged at warning level with the checkpoint; logger may be nil.
func NewHandler(w *Witness, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	byHash := map[string]string{}
	for _, o := range w.Origins() {
		sum := sha256.Sum256([]byte(o))
		byHash[hex.EncodeToString(sum[:])] = o
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxRequestSize))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(rw, fmt.Sprintf("witness: the request body is larger than %d bytes", MaxRequestSize), http.StatusRequestEntityTooLarge)
				return
			}
			// The client went away or the connection broke: nothing was done.
			http.Error(rw, "witness: reading the request: "+err.Error(), http.StatusBadRequest)
			return
		}
		req, err := ParseAddCheckpoint(body)
		if err == nil {
			var cosig []byte
			if cosig, err = w.AddCheckpoint(r.Context(), req); err == nil {
				rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
				rw.Write(cosig)
				return
			}
		}
		var conflict *ConflictError
		if errors.As(err, &conflict) {
			rw.Header().Set("Content-Type", ContentTypeSize)
			rw.WriteHeader(http.StatusConflict)
			io.WriteString(rw, strconv.FormatUint(conflict.Size, 10)+"\n")
			return
		}
		var fork *ForkError
		switch {
		case errors.As(err, &fork):
			logger.Error("witness: the log forked: two checkpoints of one size, both signed by it", "origin", fork.Origin, "size", fork.Size, "cosigned", string(fork.Cosigned), "submitted", string(fork.Submitted))
		case errors.Is(err, ErrInconsistent):
			logger.Warn("witness: refused an inconsistent checkpoint signed by the log", "error", err, "checkpoint", string(req.Checkpoint))
		}
		if Status(err) == http.StatusServiceUnavailable {
			rw.Header().Set("Retry-After", "1")
		}
		http.Error(rw, err.Error(), Status(err))
	})
	mux.HandleFunc("GET /{hash}/checkpoint", func(rw http.ResponseWriter, r *http.Request) {
		origin, ok := byHash[r.PathValue("hash")]
		if !ok {
			http.Error(rw, "witness: no log with that origin hash", http.StatusNotFound)
			return
		}
		latest, err := w.Latest(origin)
		switch {
		case err != nil:
			http.Error(rw, err.Error(), Status(err))
		case latest == nil:
			http.Error(rw, "witness: no checkpoint of "+origin+" cosigned yet", http.StatusNotFound)
		default:
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			rw.Write(latest)
		}
	})
	return mux
}

// NewServer returns an http.Server for handler with the timeouts and header bound a witness on the Internet
// needs: a slow or stalled client is cut off instead of holding a connection.
func NewServer(addr string, handler http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
)

// A Log is a log (a Recount board) that a witness cosigns.
type Log struct {
	// VerifierKey is the log's note verifier key, "<origin>+<key ID>+<base64(0x01 || Ed25519 public key)>" in
	// the canonical form tlog.NewVerifier requires; its name is the log's origin.
	VerifierKey string
	// Verified, if set, makes the witness an observer-witness: it cosigns a checkpoint cp only if Verified(cp)
	// reports that the observer holds the log's first cp.Size entries, that their tree's root is cp.Root (the
	// same history, not merely the same size), and that every one of them passed verification. cp's log
	// signature has been verified and cp extends the witness's state when it is called. It is called with the
	// witness's state locked, so it must answer quickly (from the observer's verified state, without waiting).
	Verified func(cp tlog.Checkpoint) bool
}

// Config configures a Witness.
type Config struct {
	// Key is the witness's signer key (GenerateKey), which NewSigner reads.
	Key string
	// Logs are the logs the witness cosigns, at most one per origin.
	Logs []Log
}

type log struct {
	Log
	verifier note.Verifier
}

// A Witness cosigns checkpoints of the logs it is configured for (c2sp.org/tlog-witness), each only if it
// extends the latest one it cosigned for that log, and keeps that latest checkpoint in a bbolt file, written and
// synced to disk before a cosignature is returned. The check against the stored checkpoint and its replacement
// are one bbolt transaction, so concurrent requests are serialized and none can roll the state back. A Witness
// is safe for concurrent use.
type Witness struct {
	db       *bolt.DB
	signer   note.Signer
	verifier note.Verifier // the signer's, to check the stored state
	vkey     string
	logs     map[string]log
}

var bucketLogs = []byte("logs") // origin -> the latest cosigned checkpoint: the log's signed note plus our cosignature

// Open opens (creating it if needed) the witness state file at path. The file is locked: one process at a time.
func Open(path string, cfg Config) (*Witness, error) {
	signer, err := NewSigner(cfg.Key)
	if err != nil {
		return nil, err
	}
	vkey, err := VerifierKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	verifier, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("witness: verifier key %q: %v", vkey, err)
	}
	if len(cfg.Logs) == 0 {
		return nil, errors.New("witness: no log to witness")
	}
	w := &Witness{signer: signer, verifier: verifier, vkey: vkey, logs: map[string]log{}}
	for _, l := range cfg.Logs {
		v, err := tlog.NewVerifier(l.VerifierKey)
		if err != nil {
			return nil, fmt.Errorf("witness: log: %w", err)
		}
		if _, dup := w.logs[v.Name()]; dup {
			return nil, fmt.Errorf("witness: two logs of origin %q", v.Name())
		}
		w.logs[v.Name()] = log{Log: l, verifier: v}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("witness: opening %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketLogs)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("witness: initializing %s: %w", path, err)
	}
	w.db = db
	return w, nil
}

// Close closes the state file. Requests after Close fail with ErrUnavailable.
func (w *Witness) Close() error { return w.db.Close() }

// Name returns the witness's key name.
func (w *Witness) Name() string { return w.signer.Name() }

// VerifierKey returns the witness's verifier key, to publish in a witness policy.
func (w *Witness) VerifierKey() string { return w.vkey }

// state is the latest checkpoint cosigned for a log.
type state struct {
	size   uint64
	root   [tlog.HashSize]byte
	signed []byte // nil when none was cosigned
}

// loadState reads and checks the stored state of l: the log's signature and the witness's cosignature must
// verify, so that a damaged or foreign state file is noticed rather than trusted.
func (w *Witness) loadState(tx *bolt.Tx, l log) (state, error) {
	raw := tx.Bucket(bucketLogs).Get([]byte(l.verifier.Name()))
	if raw == nil {
		return state{root: tlog.EmptyRoot()}, nil
	}
	cp, err := openCheckpoint(raw, l.verifier)
	if err == nil {
		_, err = note.Open(raw, note.VerifierList(w.verifier))
	}
	if err != nil {
		return state{}, fmt.Errorf("witness: %w: the stored checkpoint of %s does not verify with the log's and the witness's keys (damaged state file, or another witness key): %v", ErrUnavailable, l.verifier.Name(), err)
	}
	return state{size: cp.Size, root: cp.Root, signed: bytes.Clone(raw)}, nil
}

// AddCheckpoint handles an add-checkpoint request: it verifies the checkpoint and, if it extends the latest
// checkpoint cosigned for its log, cosigns it, records it durably and returns the cosignature as note signature
// lines ("— <witness name> <base64(key ID || timestamp || signature)>\n"). A refusal wraps one of the sentinel
// errors (Status gives its HTTP code); a 409 is a *ConflictError. A refused request changes nothing. ctx is
// checked before the state is touched; once the transaction has begun, it completes.
func (w *Witness) AddCheckpoint(ctx context.Context, req AddCheckpoint) ([]byte, error) {
	origin := noteOrigin(req.Checkpoint)
	l, ok := w.logs[origin]
	if !ok {
		return nil, fmt.Errorf("witness: %w: this witness does not witness the log %.255q", ErrUnknownLog, origin)
	}
	cp, err := openCheckpoint(req.Checkpoint, l.verifier)
	if err != nil {
		return nil, err
	}
	if req.OldSize > cp.Size {
		return nil, fmt.Errorf("witness: %w: the old size %d is larger than the checkpoint's size %d", ErrMalformed, req.OldSize, cp.Size)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("witness: %w: %v", ErrUnavailable, err)
	}
	var cosig []byte
	err = w.db.Update(func(tx *bolt.Tx) error {
		st, err := w.loadState(tx, l)
		if err != nil {
			return err
		}
		if req.OldSize != st.size {
			return &ConflictError{Origin: origin, Size: st.size, Old: req.OldSize}
		}
		if err := checkConsistent(st, cp, req); err != nil {
			return err
		}
		if l.Verified != nil && !l.Verified(cp.Checkpoint) {
			return fmt.Errorf("witness: %w: %s has not verified every entry of %s up to %d under this root", ErrNotVerified, w.Name(), origin, cp.Size)
		}
		signed, err := note.Sign(&note.Note{Text: cp.text, Sigs: cp.logSigs}, w.signer)
		if err != nil {
			return fmt.Errorf("witness: %w: cosigning: %v", ErrUnavailable, err)
		}
		// The cosignature is the last signature line: note.Sign lists the new signature after the note's.
		i := bytes.LastIndex(signed[:len(signed)-1], []byte("\n"))
		cosig = bytes.Clone(signed[i+1:])
		return tx.Bucket(bucketLogs).Put([]byte(origin), signed)
	})
	if err != nil {
		var ce *ConflictError
		if errors.As(err, &ce) || errors.Is(err, ErrInconsistent) || errors.Is(err, ErrNotVerified) || errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("witness: %w: recording the cosigned checkpoint: %v", ErrUnavailable, err)
	}
	return cosig, nil
}

// checkConsistent checks that cp extends the stored state st, with the request's consistency proof from
// st.size (= req.OldSize) to cp.Size.
func checkConsistent(st state, cp checkpoint, req AddCheckpoint) error {
	if cp.Size == 0 && cp.Root != tlog.EmptyRoot() {
		return fmt.Errorf("witness: %w: a checkpoint of size 0 must have the empty tree's root", ErrInconsistent)
	}
	if st.size == 0 {
		if len(req.Proof) != 0 {
			return fmt.Errorf("witness: %w: the old size is 0, so the consistency proof must be empty, but it has %d hashes", ErrInconsistent, len(req.Proof))
		}
		return nil
	}
	if st.size == cp.Size && st.root != cp.Root {
		return &ForkError{Cosigned: st.signed, Submitted: bytes.Clone(cp.Signed), Origin: cp.Origin, Size: cp.Size}
	}
	older := tlog.Checkpoint{Origin: cp.Origin, Size: st.size, Root: st.root}
	if err := tlog.VerifyConsistency(older, cp.Checkpoint, req.Proof); err != nil {
		return fmt.Errorf("witness: %w: %v", ErrInconsistent, strings.TrimPrefix(err.Error(), "ledger: "))
	}
	return nil
}

// Latest returns the latest checkpoint the witness cosigned for the log of origin: the log's signed note with
// the witness's cosignature, as the tlog-witness monitoring endpoint serves it. It returns (nil, nil) if the
// witness never cosigned one, an error wrapping ErrUnknownLog for a log it does not witness.
func (w *Witness) Latest(origin string) ([]byte, error) {
	l, ok := w.logs[origin]
	if !ok {
		return nil, fmt.Errorf("witness: %w: this witness does not witness the log %q", ErrUnknownLog, origin)
	}
	var st state
	err := w.db.View(func(tx *bolt.Tx) error {
		var err error
		st, err = w.loadState(tx, l)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("witness: %w: %v", ErrUnavailable, err)
	}
	return st.signed, nil
}

// Origins returns the origins of the logs the witness is configured for.
func (w *Witness) Origins() []string {
	out := make([]string, 0, len(w.logs))
	for o := range w.logs {
		out = append(out, o)
	}
	return out
}

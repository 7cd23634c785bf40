package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
)

// A Cosigner is a witness of the policy whose cosignature of a checkpoint verified.
type Cosigner struct {
	Name string    // the policy's name for the witness
	Key  string    // the witness's key name
	Time time.Time // the cosignature's timestamp
}

// A Result says which witnesses of a policy cosigned a checkpoint, and whether they make its quorum.
type Result struct {
	Cosigners []Cosigner // in the policy's order
	Witnesses int        // how many witnesses the policy names
	// K and N are the quorum's threshold and number of members (1 and 1 for a single witness, 0 and 0 for
	// "quorum none"); Satisfied is how many of its members are satisfied.
	K, N, Satisfied int
	Quorum          string
	Met             bool
}

// String describes the result for people, e.g. "witnessed by 2 of 3 (alice, bob): quorum 2 of 3 met".
func (r Result) String() string {
	names := make([]string, len(r.Cosigners))
	for i, c := range r.Cosigners {
		names[i] = c.Name
	}
	who := ""
	if len(names) > 0 {
		who = " (" + strings.Join(names, ", ") + ")"
	}
	verdict := "met"
	if !r.Met {
		verdict = "NOT met"
	}
	if r.Quorum == "none" {
		return fmt.Sprintf("witnessed by %d of %d%s: the policy requires no witness", len(r.Cosigners), r.Witnesses, who)
	}
	return fmt.Sprintf("witnessed by %d of %d%s: quorum %s needs %d of %d, %d satisfied: %s", len(r.Cosigners), r.Witnesses, who, r.Quorum, r.K, r.N, r.Satisfied, verdict)
}

// Witnessed returns which of the policy's witnesses cosigned the signed checkpoint and whether they make the
// quorum. It does not check the log's signature (Check does); signatures by keys the policy does not name are
// ignored. A signature line with the name and key ID of a witness of the policy that does not verify rejects
// the checkpoint (ErrBadCosignature). Not meeting the quorum is not an error here: see Result.Met.
func (p *Policy) Witnessed(signed []byte) (Result, error) {
	r := Result{Witnesses: len(p.Witnesses), Quorum: p.Quorum}
	cosigned := map[string]Cosigner{}
	if len(p.Witnesses) > 0 {
		vs := make([]note.Verifier, len(p.Witnesses))
		for i, w := range p.Witnesses {
			vs[i] = w.verifier
		}
		n, err := note.Open(signed, note.VerifierList(vs...))
		var unverified *note.UnverifiedNoteError
		switch {
		case errors.As(err, &unverified):
			// No signature by a witness of the policy.
		case err != nil:
			var invalid *note.InvalidSignatureError
			if errors.As(err, &invalid) {
				return Result{}, fmt.Errorf("policy: %w: %v", ErrBadCosignature, err)
			}
			return Result{}, fmt.Errorf("policy: the checkpoint is not a signed note: %v", err)
		default:
			for _, s := range n.Sigs {
				for _, w := range p.Witnesses {
					if w.verifier.Name() == s.Name && w.verifier.KeyHash() == s.Hash {
						ts, err := fnote.CoSigV1Timestamp(s)
						if err != nil || ts.Unix() <= 0 {
							return Result{}, fmt.Errorf("policy: %w: the cosignature of %s has no timestamp", ErrBadCosignature, w.Name)
						}
						cosigned[w.Name] = Cosigner{Name: w.Name, Key: s.Name, Time: ts}
					}
				}
			}
		}
	}
	for _, w := range p.Witnesses {
		if c, ok := cosigned[w.Name]; ok {
			r.Cosigners = append(r.Cosigners, c)
		}
	}
	switch {
	case p.Quorum == "none":
		r.Met = true
	case p.isWitness(p.Quorum):
		_, ok := cosigned[p.Quorum]
		r.K, r.N, r.Met = 1, 1, ok
		if ok {
			r.Satisfied = 1
		}
	default:
		g := p.Groups[p.group[p.Quorum]]
		r.K, r.N = g.K, len(g.Members)
		r.Satisfied = p.count(g, cosigned)
		r.Met = r.Satisfied >= g.K
	}
	return r, nil
}

func (p *Policy) isWitness(name string) bool { _, ok := p.witness[name]; return ok }

// satisfied reports whether the witness or group name is satisfied: the witness cosigned, or at least K of the
// group's members are satisfied. Groups name only earlier definitions, so the recursion ends.
func (p *Policy) satisfied(name string, cosigned map[string]Cosigner) bool {
	if p.isWitness(name) {
		_, ok := cosigned[name]
		return ok
	}
	g := p.Groups[p.group[name]]
	return p.count(g, cosigned) >= g.K
}

func (p *Policy) count(g Group, cosigned map[string]Cosigner) int {
	n := 0
	for _, m := range g.Members {
		if p.satisfied(m, cosigned) {
			n++
		}
	}
	return n
}

// Check checks a cosigned checkpoint against the policy: it must be a checkpoint signed by one of the
// policy's logs (in the canonical form of a Recount board's, plus any signature lines), with the cosignatures
// of witnesses that make the quorum. It returns the checkpoint (Signed holds the whole cosigned note) and the
// Result; an unmet quorum is an error wrapping ErrQuorum, returned with the Result, whose String names who
// cosigned.
func (p *Policy) Check(signed []byte) (tlog.Checkpoint, Result, error) {
	if len(p.Logs) == 0 {
		return tlog.Checkpoint{}, Result{}, fmt.Errorf("policy: %w: the policy names no log: use CheckLog with the board's key", ErrLogSignature)
	}
	var firstErr error
	for _, l := range p.Logs {
		cp, r, err := p.CheckLog(signed, l.verifier)
		if err == nil || !errors.Is(err, ErrLogSignature) {
			return cp, r, err
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return tlog.Checkpoint{}, Result{}, firstErr
}

// CheckLog is Check for a checkpoint that must be signed by the log of verifier (tlog.NewVerifier), whether the
// policy names that log or not: a verifier of a Recount record knows the board's key from the record.
func (p *Policy) CheckLog(signed []byte, verifier note.Verifier) (tlog.Checkpoint, Result, error) {
	cp, err := openLogCheckpoint(signed, verifier)
	if err != nil {
		return tlog.Checkpoint{}, Result{}, err
	}
	r, err := p.Witnessed(signed)
	if err != nil {
		return tlog.Checkpoint{}, Result{}, err
	}
	if !r.Met {
		return cp, r, fmt.Errorf("policy: %w: the checkpoint of %s size %d is %s", ErrQuorum, cp.Origin, cp.Size, r)
	}
	return cp, r, nil
}

// openLogCheckpoint verifies the log's signature of a cosigned checkpoint and parses it: the board's checkpoint
// (tlog.OpenCheckpoint's canonical form) followed by any further signature lines.
func openLogCheckpoint(signed []byte, verifier note.Verifier) (tlog.Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(verifier))
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("policy: %w: %s: %v", ErrLogSignature, verifier.Name(), err)
	}
	// The board's own checkpoint is the body and the log's signature line alone, in canonical form.
	var own []byte
	own = append(own, n.Text...)
	own = append(own, '\n')
	for _, s := range n.Sigs {
		own = append(own, "— "+s.Name+" "+s.Base64+"\n"...)
	}
	cp, err := tlog.OpenCheckpoint(own, verifier)
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("policy: %w: %v", ErrLogSignature, err)
	}
	cp.Signed = append([]byte(nil), signed...)
	return cp, nil
}

// Package policy reads a witness policy in the form of c2sp.org/tlog-policy and checks a cosigned checkpoint
// against it: which of the policy's witnesses cosigned it (c2sp.org/tlog-cosignature, cosignature/v1) and
// whether they make the quorum. It is pure (no I/O, no storage, no network), so that the voting client and the
// verifier of a record can use it.
package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
)

// Errors. Parse's errors wrap ErrSyntax; Check's wrap ErrLogSignature, ErrBadCosignature or ErrQuorum.
var (
	// ErrSyntax: the policy text does not follow c2sp.org/tlog-policy.
	ErrSyntax = errors.New("malformed witness policy")
	// ErrLogSignature: the checkpoint is not signed by a log of the policy.
	ErrLogSignature = errors.New("checkpoint not signed by a log of the policy")
	// ErrBadCosignature: a signature line carries the name and key ID of a witness of the policy but does not
	// verify; the whole checkpoint is rejected, as c2sp.org/signed-note recommends.
	ErrBadCosignature = errors.New("a cosignature does not verify")
	// ErrQuorum: the witnesses that cosigned the checkpoint do not make the policy's quorum.
	ErrQuorum = errors.New("witness quorum not met")
)

// Implementation limits (tlog-policy recommends supporting at least 32 of each).
const (
	MaxPolicySize = 256 << 10
	MaxEntries    = 256 // logs, witnesses and groups, each
)

// A Log is a log of the policy.
type Log struct {
	VerifierKey string // "<origin>+<key ID>+<base64(0x01 || Ed25519 public key)>" (tlog.NewVerifier's form)
	URL         string // optional
	verifier    note.Verifier
}

// Origin returns the log's origin, its key's name.
func (l Log) Origin() string { return l.verifier.Name() }

// A Witness is a witness of the policy.
type Witness struct {
	Name        string // the policy's name for it
	VerifierKey string // its cosignature key, type 0x04 or 0x06
	URL         string // its submission prefix, optional
	verifier    note.Verifier
}

// Verifier returns the verifier of the witness's cosignatures.
func (w Witness) Verifier() note.Verifier { return w.verifier }

// A Group is a group of the policy: it is satisfied when at least K of its Members (names of witnesses or of
// groups defined before it) are.
type Group struct {
	Name    string
	K       int
	Members []string
}

// A Policy is a parsed witness policy.
type Policy struct {
	Logs      []Log
	Witnesses []Witness
	Groups    []Group
	// Quorum is the name of the witness or group that must be satisfied, or "none".
	Quorum string

	witness map[string]int // name -> index in Witnesses
	group   map[string]int // name -> index in Groups
}

// Parse parses a policy in the form of c2sp.org/tlog-policy: lines of
//
//	log <vkey> [<url>]
//	witness <name> <vkey> [<url>]
//	group <name> all|any|<k> <name>...
//	quorum <name>|none
//
// with items separated by spaces and tabs, empty lines and comment lines (first non-blank character '#')
// ignored. It enforces every rule of the specification: only tab, newline and bytes 0x20-0x7E, 0x80-0xFF; names
// unique across witnesses and groups, "none" reserved; a group's members defined on earlier lines, each name a
// member of at most one group, 1 <= k <= n; exactly one quorum line naming an earlier witness or group, or none;
// no two logs or witnesses with the same public key. Log keys must be Recount board keys (Ed25519, type 0x01,
// tlog.NewVerifier's canonical form), witness keys cosignature keys (CosignatureVerifier).
func Parse(text []byte) (*Policy, error) {
	if len(text) > MaxPolicySize {
		return nil, fmt.Errorf("policy: %w: %d bytes, more than %d", ErrSyntax, len(text), MaxPolicySize)
	}
	p := &Policy{witness: map[string]int{}, group: map[string]int{}}
	keys := map[string]string{} // public key -> where it was defined
	member := map[string]string{}
	quorums := 0
	for i, line := range strings.Split(string(text), "\n") {
		n := i + 1
		bad := func(format string, args ...any) (*Policy, error) {
			return nil, fmt.Errorf("policy: %w: line %d: %s", ErrSyntax, n, fmt.Sprintf(format, args...))
		}
		for _, c := range []byte(line) {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return bad("control character 0x%02x", c)
			}
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		defined := func(name string) bool {
			_, w := p.witness[name]
			_, g := p.group[name]
			return w || g
		}
		switch fields[0] {
		case "log":
			if len(fields) < 2 || len(fields) > 3 {
				return bad("want \"log <vkey> [<url>]\"")
			}
			v, err := tlog.NewVerifier(fields[1])
			if err != nil {
				return bad("log key: %v", err)
			}
			pk := publicKey(fields[1])
			if where, dup := keys[pk]; dup {
				return bad("the log's key is already the key of %s", where)
			}
			keys[pk] = "log " + v.Name()
			l := Log{VerifierKey: fields[1], verifier: v}
			if len(fields) == 3 {
				l.URL = fields[2]
			}
			p.Logs = append(p.Logs, l)
			if len(p.Logs) > MaxEntries {
				return bad("more than %d logs", MaxEntries)
			}
		case "witness":
			if len(fields) < 3 || len(fields) > 4 {
				return bad("want \"witness <name> <vkey> [<url>]\"")
			}
			name := fields[1]
			if name == "none" || defined(name) {
				return bad("the name %q is reserved or already defined", name)
			}
			v, err := CosignatureVerifier(fields[2])
			if err != nil {
				return bad("witness %s: %v", name, err)
			}
			pk := publicKey(fields[2])
			if where, dup := keys[pk]; dup {
				return bad("witness %s's key is already the key of %s", name, where)
			}
			keys[pk] = "witness " + name
			w := Witness{Name: name, VerifierKey: fields[2], verifier: v}
			if len(fields) == 4 {
				w.URL = fields[3]
			}
			p.witness[name] = len(p.Witnesses)
			p.Witnesses = append(p.Witnesses, w)
			if len(p.Witnesses) > MaxEntries {
				return bad("more than %d witnesses", MaxEntries)
			}
		case "group":
			if len(fields) < 4 {
				return bad("want \"group <name> all|any|<k> <name>...\" with at least one member")
			}
			name, members := fields[1], fields[3:]
			if name == "none" || defined(name) {
				return bad("the name %q is reserved or already defined", name)
			}
			k := 0
			switch fields[2] {
			case "all":
				k = len(members)
			case "any":
				k = 1
			default:
				v, err := strconv.Atoi(fields[2])
				if err != nil || strconv.Itoa(v) != fields[2] || v < 1 || v > len(members) {
					return bad("group %s: threshold %q is not all, any, or a decimal k with 1 <= k <= %d", name, fields[2], len(members))
				}
				k = v
			}
			for _, m := range members {
				if !defined(m) {
					return bad("group %s: member %q is not a witness or group defined on an earlier line", name, m)
				}
				if g, dup := member[m]; dup {
					return bad("group %s: %q is already a member of group %s", name, m, g)
				}
				member[m] = name
			}
			p.group[name] = len(p.Groups)
			p.Groups = append(p.Groups, Group{Name: name, K: k, Members: members})
			if len(p.Groups) > MaxEntries {
				return bad("more than %d groups", MaxEntries)
			}
		case "quorum":
			if len(fields) != 2 {
				return bad("want \"quorum <name>\"")
			}
			if quorums++; quorums > 1 {
				return bad("a second quorum line")
			}
			if fields[1] != "none" && !defined(fields[1]) {
				return bad("quorum %q is not a witness or group defined on an earlier line", fields[1])
			}
			p.Quorum = fields[1]
		default:
			return bad("unknown keyword %q", fields[0])
		}
	}
	if quorums == 0 {
		return nil, fmt.Errorf("policy: %w: no quorum line", ErrSyntax)
	}
	return p, nil
}

// Fingerprint returns the text that identifies a policy file for people to compare out of band, as the board
// key's fingerprint does: "sha256:" followed by the lowercase hex SHA-256 of the file's bytes.
func Fingerprint(text []byte) string {
	sum := sha256.Sum256(text)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// KOfN returns the policy "k of these witnesses" for the log of logKey, with the group named "quorum":
// what a manifest listing witnesses and a threshold means. k = 0 with no witnesses is "quorum none".
func KOfN(logKey string, k int, witnesses ...Witness) (*Policy, error) {
	var b bytes.Buffer
	b.WriteString("log " + logKey + "\n")
	for _, w := range witnesses {
		b.WriteString("witness " + w.Name + " " + w.VerifierKey)
		if w.URL != "" {
			b.WriteString(" " + w.URL)
		}
		b.WriteString("\n")
	}
	if len(witnesses) == 0 && k == 0 {
		b.WriteString("quorum none\n")
	} else {
		b.WriteString("group quorum " + strconv.Itoa(k))
		for _, w := range witnesses {
			b.WriteString(" " + w.Name)
		}
		b.WriteString("\nquorum quorum\n")
	}
	return Parse(b.Bytes())
}

// Marshal returns the policy's text in the form Parse reads (one line per definition, in order, single spaces,
// numeric thresholds).
func (p *Policy) Marshal() []byte {
	var b bytes.Buffer
	for _, l := range p.Logs {
		b.WriteString("log " + l.VerifierKey)
		if l.URL != "" {
			b.WriteString(" " + l.URL)
		}
		b.WriteString("\n")
	}
	for _, w := range p.Witnesses {
		b.WriteString("witness " + w.Name + " " + w.VerifierKey)
		if w.URL != "" {
			b.WriteString(" " + w.URL)
		}
		b.WriteString("\n")
	}
	for _, g := range p.Groups {
		b.WriteString("group " + g.Name + " " + strconv.Itoa(g.K) + " " + strings.Join(g.Members, " ") + "\n")
	}
	b.WriteString("quorum " + p.Quorum + "\n")
	return b.Bytes()
}

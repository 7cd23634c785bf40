// Package booth is the voting page's logic, which cmd/booth-wasm compiles to WebAssembly for the page's
// script: the election read and checked, the voter's credential, a ballot encrypted and proved on the device
// (election.EncryptBallot, through client), a Benaloh challenge opened and checked, the cast with its receipt's
// proofs checked before the page says "recorded", receipt checks, and the result found on the board. It talks
// to the node's JSON API (client/webnode) through package client, the same voter's client as `recount vote`:
// one implementation. Its answers are plain structures for JSON, and its errors say in plain words what to do
// (Problem).
package booth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/webnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
	"github.com/recount-vote/recount/witness/policy"
)

// Booth is one voter's page: the election, their credential, and the ballot being prepared.
type Booth struct {
	node *webnode.Node
	c    *client.Client

	mu         sync.Mutex
	info       *client.ElectionInfo
	keyChecked bool
	cred       *election.Credential
	ballot     *election.PreparedBallot
	pol        *policy.Policy // the witness policy the server gives, once read
	polText    []byte
	polRead    bool
}

// New returns the booth of the node's API at base ("" for the page's own origin).
func New(base string) *Booth {
	n := &webnode.Node{Base: base}
	return &Booth{node: n, c: client.New(n)}
}

// NewWithNode returns a booth over n (tests give it a Transport of their own).
func NewWithNode(n *webnode.Node) *Booth { return &Booth{node: n, c: client.New(n)} }

// Problem is an error for the voter: what happened and what to do, in plain words; Detail is the technical
// cause, which the page folds away.
type Problem struct {
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
	err     error
}

func (p *Problem) Error() string {
	if p.Detail == "" {
		return p.Message
	}
	return p.Message + " (" + p.Detail + ")"
}

func (p *Problem) Unwrap() error { return p.err }

func problem(err error, format string, args ...any) *Problem {
	p := &Problem{Message: fmt.Sprintf(format, args...), err: err}
	if err != nil {
		p.Detail = err.Error()
	}
	return p
}

// nodeProblem says what a failed call to the node means for the voter.
func nodeProblem(err error, doing string) *Problem {
	var r *client.Refusal
	switch {
	case errors.Is(err, client.ErrNoAnswer):
		return problem(err, "The election server did not answer while %s. Check your connection and try again; if it keeps failing, the server may be down.", doing)
	case client.RefusedFor(err, client.ReasonPollsNotOpen), client.RefusedFor(err, client.ReasonOutsideWindow):
		return problem(err, "The polls are not open now, so no ballot can be cast. See the election page for the voting window.")
	case client.RefusedFor(err, client.ReasonPollsClosed):
		return problem(err, "The polls are closed: no more ballots can be cast.")
	case client.RefusedFor(err, client.ReasonNotFound) && strings.Contains(doing, "tracking code"):
		return problem(err, "The election server has no ballot with this tracking code. Check the code; a ballot cast moments ago may take a few seconds to appear.")
	case client.RefusedFor(err, client.ReasonNotFound):
		return problem(err, "The election server has nothing to answer yet while %s. Try again in a minute.", doing)
	case client.RefusedFor(err, client.ReasonStarting):
		return problem(err, "The election server is starting. Try again in a minute.")
	case client.RefusedFor(err, client.ReasonDuplicate):
		return problem(err, "This ballot is already on the board. Prepare a new ballot to vote again.")
	case errors.As(err, &r) && strings.Contains(strings.ToUpper(r.Reason), "CREDENTIAL"):
		return problem(err, "The election server does not accept this credential: it is not one of this election's. Check that you loaded the credential you were given for this election.")
	case errors.As(err, &r):
		return problem(err, "The election server refused the request while %s.", doing)
	}
	return problem(err, "Something went wrong while %s.", doing)
}

// Contest is a contest as the page shows it, with its rule as ranges (election.Rule): each option from 0 to
// OptionMax, the total from TotalMin to TotalMax; Kind is "exactly", "approval" or "score", for the page's
// words.
type Contest struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Kind      string   `json:"kind"`
	Options   []Option `json:"options"`
	OptionMax uint64   `json:"optionMax"`
	TotalMin  uint64   `json:"totalMin"`
	TotalMax  uint64   `json:"totalMax"`
}

// Option is a contest's option.
type Option struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// Election is the election as the page shows it.
type Election struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	OpensAt  int64     `json:"opensAt"`
	ClosesAt int64     `json:"closesAt"`
	Phase    string    `json:"phase"`
	HasKey   bool      `json:"hasKey"`
	BoardKey string    `json:"boardKey"`
	Board    string    `json:"boardFingerprint"`
	Contests []Contest `json:"contests"`
}

// Election reads the election from the node and checks that its manifest hashes to its identity.
func (b *Booth) Election(ctx context.Context) (*Election, error) {
	info, err := b.c.Election(ctx)
	if err != nil {
		if errors.Is(err, client.ErrNoAnswer) || isRefusal(err) {
			return nil, nodeProblem(err, "reading the election")
		}
		return nil, problem(err, "The election server's answer does not check out: do not vote through it, and tell the election's officials.")
	}
	b.mu.Lock()
	if b.info == nil || b.info.Manifest.ID() != info.Manifest.ID() {
		b.keyChecked = false
	}
	b.info = info
	b.mu.Unlock()
	return electionView(info), nil
}

func isRefusal(err error) bool {
	var r *client.Refusal
	return errors.As(err, &r)
}

func electionView(info *client.ElectionInfo) *Election {
	m := info.Manifest
	pb := m.Proto()
	e := &Election{ID: m.ID().String(), Title: pb.Title, OpensAt: pb.OpensAt, ClosesAt: pb.ClosesAt, Phase: info.Phase.String(),
		HasKey: info.Key != nil, BoardKey: info.BoardKey, Board: tlog.KeyFingerprint(info.BoardKey)}
	for c, pc := range pb.Contests {
		r := m.Rules()[c]
		ct := Contest{ID: pc.Id, Title: pc.Title, OptionMax: r.OptionMax, TotalMin: r.TotalMin, TotalMax: r.TotalMax}
		switch pc.Rule.(type) {
		case *recordv1.Contest_Exactly:
			ct.Kind = "exactly"
		case *recordv1.Contest_Approval:
			ct.Kind = "approval"
		case *recordv1.Contest_Score:
			ct.Kind = "score"
		}
		for _, o := range pc.Options {
			ct.Options = append(ct.Options, Option{ID: o.Id, Title: o.Title})
		}
		e.Contests = append(e.Contests, ct)
	}
	return e
}

// election returns the election read last, reading it if none was.
func (b *Booth) election(ctx context.Context) (*client.ElectionInfo, error) {
	b.mu.Lock()
	info := b.info
	b.mu.Unlock()
	if info != nil {
		return info, nil
	}
	if _, err := b.Election(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.info, nil
}

// Credential is the loaded credential as the page shows it.
type Credential struct {
	// PublicKey is the start of the credential's public key, in hexadecimal, as the board lists it.
	PublicKey string `json:"publicKey"`
	// KeyChecked says the election key was checked against the trustees' ceremony on the board.
	KeyChecked bool `json:"keyChecked"`
}

// LoadCredential reads the voter's credential, a credential file's contents or its printable code, for the
// node's election; and checks, once, that the election key the node gave is the trustees' (a node that gave a
// key of its own could read the ballot). The credential stays in the page.
func (b *Booth) LoadCredential(ctx context.Context, text string) (*Credential, error) {
	info, err := b.election(ctx)
	if err != nil {
		return nil, err
	}
	text = strings.TrimSpace(text)
	var cred *election.Credential
	if strings.HasPrefix(text, "{") {
		cred, err = election.ParseCredentialFile([]byte(text))
		if err != nil {
			return nil, problem(err, "This file is not a Recount credential file, or it is damaged. Load the credential file you were given, or type its code.")
		}
		if cred.Election != info.Manifest.ID() {
			return nil, problem(nil, "This credential is for another election (%s…), not this one (%s…). Load the credential for this election.",
				cred.Election.String()[:12], info.Manifest.ID().String()[:12])
		}
	} else {
		cred, err = election.ParseCredentialCode(info.Manifest.ID(), text)
		if err != nil {
			return nil, problem(err, "This is not a credential code: it has 52 letters A-Z and digits 2-7, in groups. Check it against your credential and type it again.")
		}
	}
	if info.Key == nil {
		return nil, problem(nil, "The election has no key yet: the trustees' key ceremony is not over. Come back when the polls open.")
	}
	b.mu.Lock()
	checked := b.keyChecked
	b.mu.Unlock()
	if !checked {
		if err := b.c.CheckElectionKey(ctx, info, info.Manifest.ID()); err != nil {
			if errors.Is(err, client.ErrNoAnswer) || isRefusal(err) {
				return nil, nodeProblem(err, "checking the election key against the board")
			}
			return nil, problem(err, "The election key this server gave is not the one the trustees made: a ballot encrypted with it could be read. Do not vote through this server; tell the election's officials.")
		}
	}
	pk := cred.PublicKey()
	b.mu.Lock()
	b.keyChecked = true
	b.cred, b.ballot = cred, nil
	b.mu.Unlock()
	return &Credential{PublicKey: fmt.Sprintf("%x", pk[:8]), KeyChecked: true}, nil
}

// Prepared is a ballot encrypted and proved in the page, not yet cast or challenged.
type Prepared struct {
	TrackingCode string `json:"trackingCode"`
	// Millis is how long the encryption and its proofs took.
	Millis float64 `json:"millis"`
}

// Prepare checks the choices against the contests' rules and encrypts and proves a ballot of them, signed with
// the credential; it replaces any ballot prepared before.
func (b *Booth) Prepare(ctx context.Context, choices [][]uint64) (*Prepared, error) {
	info, err := b.election(ctx)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	cred := b.cred
	b.mu.Unlock()
	if cred == nil {
		return nil, problem(nil, "Load your credential first.")
	}
	if err := info.Manifest.CheckChoices(election.Choices(choices)); err != nil {
		return nil, problem(err, "These choices break a contest's rule. Check each contest's instructions.")
	}
	start := time.Now()
	pb, err := info.Encrypt(cred, election.Choices(choices))
	if err != nil {
		return nil, problem(err, "The ballot could not be encrypted.")
	}
	took := time.Since(start)
	b.mu.Lock()
	b.ballot = pb
	b.mu.Unlock()
	return &Prepared{TrackingCode: election.HumanTrackingCode(pb.TrackingCode()), Millis: float64(took.Microseconds()) / 1000}, nil
}

// Challenged is a challenged ballot's outcome: the board holds it with its nonces, and the page opened each
// ciphertext to the choices the voter made.
type Challenged struct {
	TrackingCode string `json:"trackingCode"`
	Index        uint64 `json:"index"`
	// Opened are the choices the ballot's ciphertexts open to, per contest and option.
	Opened [][]uint64 `json:"opened"`
	// Matches says the opened choices are the ones the voter made.
	Matches bool   `json:"matches"`
	Receipt string `json:"receipt"`
}

// Challenge posts the prepared ballot as challenged (a Benaloh challenge: it can never count), checks its
// receipt as Cast does, and opens it: every ciphertext with its nonce, against the choices made. The prepared
// ballot is spent: the page prepares a fresh encryption next.
func (b *Booth) Challenge(ctx context.Context) (*Challenged, error) {
	info, err := b.election(ctx)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	pb := b.ballot
	b.ballot = nil
	b.mu.Unlock()
	if pb == nil {
		return nil, problem(nil, "Prepare a ballot first.")
	}
	r, err := b.c.Submit(ctx, info, pb, client.SubmitOptions{Challenge: true, InDoubtWait: 10 * time.Second})
	if err != nil {
		return nil, submitProblem(err, "challenging the ballot")
	}
	sb, err := election.ParseSpoiledBallot(info.Manifest, pb.DraftChallenge().Payload)
	if err != nil {
		return nil, problem(err, "The challenged ballot could not be read back.")
	}
	if err := sb.CheckOpenings(info.Manifest, info.Key); err != nil {
		return nil, problem(err, "The challenged ballot does NOT open to your choices: this device or page did not encrypt what you chose. Do not vote with it; tell the election's officials.")
	}
	matches := len(sb.Choices) == len(pb.Choices())
	for c := range sb.Choices {
		for o := range sb.Choices[c] {
			matches = matches && pb.Choices()[c][o] == sb.Choices[c][o]
		}
	}
	return &Challenged{TrackingCode: election.HumanTrackingCode(r.TrackingCode), Index: r.Index, Opened: sb.Choices, Matches: matches,
		Receipt: string(r.Marshal())}, nil
}

// submitProblem says what a failed Submit means.
func submitProblem(err error, doing string) *Problem {
	var fork *client.ForkError
	var doubt *client.InDoubtError
	switch {
	case errors.As(err, &fork):
		return problem(err, "The election server showed two different histories of the board. Keep the receipt file and tell the election's officials: this is evidence.")
	case errors.As(err, &doubt):
		return problem(err, "The server did not answer, and your ballot could not be found on the board. It may still appear: check its tracking code on the receipt page in a minute, or vote again.")
	case errors.Is(err, client.ErrReceipt), errors.Is(err, verify.ErrReceipt):
		return problem(err, "The election server's proof that your ballot is on the board does NOT check out, so it is NOT shown as recorded. Keep this page open, note the tracking code, and tell the election's officials; try again later.")
	case errors.Is(err, client.ErrNoAnswer), isRefusal(err):
		return nodeProblem(err, doing)
	}
	return problem(err, "The server's answer while %s does not check out, so the ballot is NOT shown as recorded.", doing)
}

// Cast is a cast ballot's receipt, checked in the page: the board's signed checkpoint verifies under the board
// key, and the inclusion proof puts this very ballot in its tree.
type Cast struct {
	TrackingCode string `json:"trackingCode"`
	Index        uint64 `json:"index"`
	TreeSize     uint64 `json:"treeSize"`
	Root         string `json:"root"`
	Board        string `json:"boardFingerprint"`
	Cosigned     bool   `json:"cosigned"`
	Unwitnessed  bool   `json:"unwitnessed"`
	// Witnessed says what the cosignatures show under the witness policy the server gives, e.g. "witnessed by
	// 2 of 3 (...): quorum ... met"; PolicyFingerprint is that policy's, to compare with the published one.
	Witnessed         string `json:"witnessed,omitempty"`
	PolicyFingerprint string `json:"policyFingerprint,omitempty"`
	// Receipt is the receipt file.
	Receipt string `json:"receipt"`
	// Millis is the time from the cast to the receipt checked.
	Millis float64 `json:"millis"`
}

// Cast casts the prepared ballot and checks its receipt before it answers: an answer means "recorded".
func (b *Booth) Cast(ctx context.Context) (*Cast, error) {
	info, err := b.election(ctx)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	pb := b.ballot
	b.mu.Unlock()
	if pb == nil {
		return nil, problem(nil, "Prepare a ballot first.")
	}
	start := time.Now()
	// As recount vote does: a node whose board does not extend the last checkpoint this page saw (rolled back, or
	// another history) is refused before the ballot is sent.
	if _, err := b.c.CheckBoard(ctx, info.BoardKey); err != nil {
		return nil, submitProblem(err, "checking the board before casting")
	}
	r, err := b.c.Submit(ctx, info, pb, client.SubmitOptions{InDoubtWait: 10 * time.Second})
	if err != nil {
		return nil, submitProblem(err, "casting the ballot")
	}
	// Submit checked the checkpoint's signature and the inclusion proof; the checkpoint again, for the page.
	cp, err := tlog.ParseCheckpoint(r.Checkpoint, r.BoardKey)
	if err != nil {
		return nil, submitProblem(fmt.Errorf("%w: %v", client.ErrReceipt, err), "casting the ballot")
	}
	took := time.Since(start)
	b.mu.Lock()
	b.ballot = nil
	b.mu.Unlock()
	witnessed, fp := "", ""
	if len(r.Cosigned) > 0 {
		witnessed, fp = b.witnessed(ctx, func(pol *policy.Policy) (policy.Result, error) { return r.CheckWitnessed(pol) })
	}
	return &Cast{Witnessed: witnessed, PolicyFingerprint: fp, TrackingCode: election.HumanTrackingCode(r.TrackingCode), Index: r.Index, TreeSize: cp.Size, Root: fmt.Sprintf("%x", cp.Root),
		Board: tlog.KeyFingerprint(r.BoardKey), Cosigned: len(r.Cosigned) > 0, Unwitnessed: r.Unwitnessed, Receipt: string(r.Marshal()),
		Millis: float64(took.Microseconds()) / 1000}, nil
}

// ReceiptCheck is where a ballot stands, proved in the page against the board's latest signed checkpoint.
type ReceiptCheck struct {
	TrackingCode string `json:"trackingCode"`
	Index        uint64 `json:"index"`
	// Status is "cast" (will count if still the latest at the close), "counted", "superseded", "challenged" or
	// "not counted", as the node states it; the page proved the ballot is on the board, not the status, which
	// a verifier of the record checks (docs/web.md).
	Status       string `json:"status"`
	SupersededBy uint64 `json:"supersededBy,omitempty"`
	TreeSize     uint64 `json:"treeSize"`
	Root         string `json:"root"`
	Board        string `json:"boardFingerprint"`
	// Extends says the latest checkpoint was proved to extend the receipt's (a receipt file was given).
	Extends bool `json:"extends"`
}

// CheckReceipt checks a receipt file's contents, or a tracking code alone, against the board: the ballot's
// entry is in the latest signed checkpoint, and with a receipt file, that checkpoint extends the receipt's (the
// board was not rewritten since).
func (b *Booth) CheckReceipt(ctx context.Context, text string) (*ReceiptCheck, error) {
	info, err := b.election(ctx)
	if err != nil {
		return nil, err
	}
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "{") {
		r, err := verify.ParseReceipt([]byte(text))
		if err != nil {
			return nil, problem(err, "This is not a Recount receipt file, or it is damaged. Load the receipt file the voting page gave you, or type the tracking code.")
		}
		if r.Election != info.Manifest.ID() {
			return nil, problem(nil, "This receipt is from another election (%s…), not this one (%s…).", r.Election.String()[:12], info.Manifest.ID().String()[:12])
		}
		if r.BoardKey != info.BoardKey {
			return nil, problem(nil, "This receipt was signed by another board (%s) than this server's (%s).", tlog.KeyFingerprint(r.BoardKey), tlog.KeyFingerprint(info.BoardKey))
		}
		l, cp, err := b.c.CheckReceipt(ctx, r)
		if err != nil {
			return nil, checkProblem(err)
		}
		return checkView(r.TrackingCode, l, cp, true), nil
	}
	code, err := election.ParseTrackingCode(text)
	if err != nil {
		return nil, problem(err, "This is not a tracking code. Type it as the voting page showed it (letters and digits in groups), or load the receipt file.")
	}
	l, err := b.node.Lookup(ctx, code, 0)
	if err != nil {
		return nil, nodeProblem(err, "looking up the tracking code")
	}
	if l == nil || l.Inclusion == nil {
		return nil, checkProblem(fmt.Errorf("%w: the server sent no proof", client.ErrReceipt))
	}
	// The entry at the index the node names, read from the board: its tracking code must be the one asked for,
	// and the inclusion proof must put it in the signed checkpoint.
	var entry tlog.Entry
	found := false
	for e, err := range b.node.Entries(ctx, l.Inclusion.Index) {
		if err != nil {
			return nil, nodeProblem(err, "reading the ballot's entry on the board")
		}
		entry, found = e, true
		break
	}
	if !found {
		return nil, checkProblem(fmt.Errorf("%w: the board has no entry %d", client.ErrReceipt, l.Inclusion.Index))
	}
	kind := election.Kind(entry.Kind)
	got, err := election.TrackingCodeOf(kind, entry.Payload)
	if err != nil || got != code {
		return nil, checkProblem(fmt.Errorf("%w: entry %d is not the ballot with this tracking code", client.ErrReceipt, l.Inclusion.Index))
	}
	r := &verify.Receipt{Election: info.Manifest.ID(), TrackingCode: code, Index: l.Inclusion.Index, Kind: kind, Checkpoint: l.Inclusion.Checkpoint,
		Inclusion: l.Inclusion.Proof, BoardKey: info.BoardKey}
	cp, err := r.Verify(info.BoardKey, kind, entry.Payload)
	if err != nil {
		return nil, checkProblem(err)
	}
	return checkView(code, l, cp, false), nil
}

func checkProblem(err error) *Problem {
	var fork *client.ForkError
	switch {
	case errors.As(err, &fork):
		return problem(err, "The election server showed two different histories of the board. Keep your receipt file and tell the election's officials: this is evidence.")
	case errors.Is(err, client.ErrNoAnswer), isRefusal(err):
		return nodeProblem(err, "checking the receipt")
	}
	return problem(err, "The election server's proof does NOT check out: your ballot is NOT shown as on the board. Keep your receipt file and tell the election's officials.")
}

var statusWords = map[election.Status]string{
	election.StatusCast: "cast", election.StatusCounted: "counted", election.StatusSuperseded: "superseded",
	election.StatusSpoiled: "challenged", election.StatusNotCounted: "not counted",
}

func checkView(code election.ID, l *client.BallotLookup, cp tlog.Checkpoint, extends bool) *ReceiptCheck {
	rc := &ReceiptCheck{TrackingCode: election.HumanTrackingCode(code), Index: l.Inclusion.Index, Status: statusWords[l.Status],
		TreeSize: cp.Size, Root: fmt.Sprintf("%x", cp.Root), Board: tlog.KeyFingerprint(l.Inclusion.BoardKey), Extends: extends}
	if rc.Status == "" {
		rc.Status = "unknown"
	}
	if l.Status == election.StatusSuperseded {
		rc.SupersededBy = l.SupersededBy
	}
	if rc.Board == "" {
		rc.Board = "(as the receipt names)"
	}
	return rc
}

// Results is the election's result as the board holds it: the RESULT entry, proved in the board's latest signed
// checkpoint. The page does not recheck the decryption (a verifier of the record does: docs/verification.md).
type Results struct {
	Published bool            `json:"published"`
	Phase     string          `json:"phase"`
	Index     uint64          `json:"index"`
	TreeSize  uint64          `json:"treeSize"`
	Counted   int             `json:"counted"`
	Trustees  []int           `json:"trustees"`
	Contests  []ContestCounts `json:"contests"`
	// CosignedBy are the names on the latest cosigned checkpoint's cosignatures, when it holds the result: the
	// witnesses (observers among them) that vouched for the board up to it. The page checks the board's
	// signature of that checkpoint, not the cosignatures, which need the election's witness policy (recount
	// verify --witness-policy checks them).
	CosignedBy []string `json:"cosignedBy,omitempty"`
	// Witnessed says what those cosignatures show under the witness policy the server gives (their signatures
	// checked), PolicyFingerprint that policy's fingerprint; empty without a policy.
	Witnessed         string `json:"witnessed,omitempty"`
	PolicyFingerprint string `json:"policyFingerprint,omitempty"`
	Board             string `json:"boardFingerprint"`
}

// ContestCounts is one contest's result.
type ContestCounts struct {
	ID      string        `json:"id"`
	Title   string        `json:"title"`
	Options []OptionCount `json:"options"`
}

// OptionCount is one option's count.
type OptionCount struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Count uint64 `json:"count"`
}

// resultScan is how many entries before the board's end Results reads: the result is the last entry, after
// the trustees' partial decryptions (at most election.MaxTrustees) and the encrypted tally.
const resultScan = election.MaxTrustees + 4

// Results finds the result at the end of the board and proves its entry in the latest signed checkpoint;
// Published is false before the result is posted.
func (b *Booth) Results(ctx context.Context) (*Results, error) {
	info, err := b.Election(ctx)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	ei := b.info
	b.mu.Unlock()
	res := &Results{Phase: info.Phase, Board: info.Board}
	if ei.Phase != client.PhaseDone {
		return res, nil
	}
	// Where the board ends, from its signed checkpoint (an observer's copy serves no status).
	latest, err := b.node.Checkpoint(ctx)
	if err != nil {
		return nil, nodeProblem(err, "reading the board's checkpoint")
	}
	end, err := tlog.ParseCheckpoint(latest.Checkpoint, ei.BoardKey)
	if err != nil {
		return nil, problem(err, "The server's checkpoint does NOT verify under the board's key: do not trust this result page; the record's verification (recount verify) decides.")
	}
	from := uint64(0)
	if end.Size > resultScan {
		from = end.Size - resultScan
	}
	var result, tally *tlog.Entry
	for e, err := range b.node.Entries(ctx, from) {
		if err != nil {
			return nil, nodeProblem(err, "reading the board")
		}
		switch election.Kind(e.Kind) {
		case election.KindResult:
			result = &e
		case election.KindEncryptedTally:
			tally = &e
		}
	}
	if result == nil {
		return nil, problem(nil, "The server says the result is published, but the end of its board holds none. Try again in a minute.")
	}
	signed, proof, err := b.node.Inclusion(ctx, result.Index, 0)
	if err != nil {
		return nil, nodeProblem(err, "reading the proof of the result")
	}
	cp, err := tlog.ParseCheckpoint(signed, ei.BoardKey)
	if err == nil {
		err = tlog.VerifyInclusion(cp, result.Kind, result.Payload, result.Index, proof)
	}
	if err != nil {
		return nil, problem(err, "The server's proof that this result is on the board does NOT check out: do not trust this result page; the record's verification (recount verify) decides.")
	}
	t, err := election.ParseResult(ei.Manifest, result.Payload)
	if err != nil {
		return nil, problem(err, "The result entry on the board cannot be read.")
	}
	res.Published, res.Index, res.TreeSize, res.Trustees = true, result.Index, cp.Size, t.Trustees
	if wcp, names, ok := cosigners(latest.CosignedCheckpoint, ei.BoardKey); ok && wcp.Size > result.Index {
		res.CosignedBy = names
		res.Witnessed, res.PolicyFingerprint = b.witnessed(ctx, func(pol *policy.Policy) (policy.Result, error) {
			_, r, err := verify.CheckWitnessed(latest.CosignedCheckpoint, ei.BoardKey, pol)
			return r, err
		})
	}
	if tally != nil {
		if counted, err := election.ParseCounted(tally.Payload); err == nil {
			res.Counted = len(counted)
		}
	}
	for _, c := range t.Contests {
		cc := ContestCounts{ID: c.ID, Title: c.Title}
		for _, o := range c.Options {
			cc.Options = append(cc.Options, OptionCount{ID: o.ID, Title: o.Title, Count: o.Count})
		}
		res.Contests = append(res.Contests, cc)
	}
	return res, nil
}

// cosigners reads a cosigned checkpoint (docs/witness.md, section 3: the board's signed checkpoint followed by the
// witnesses' cosignature lines): the board's checkpoint, verified under boardKey, and the names on the other
// signature lines, unverified. False if it is not of that form or the board's signature does not verify.
func cosigners(cosigned []byte, boardKey string) (tlog.Checkpoint, []string, bool) {
	body, sigs, ok := strings.Cut(string(cosigned), "\n\n")
	if !ok {
		return tlog.Checkpoint{}, nil, false
	}
	origin, _, _ := strings.Cut(body, "\n")
	var own, names []string
	for _, line := range strings.Split(strings.TrimSuffix(sigs, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "\u2014" {
			return tlog.Checkpoint{}, nil, false
		}
		if f[1] == origin {
			own = append(own, line)
		} else {
			names = append(names, f[1])
		}
	}
	cp, err := tlog.ParseCheckpoint([]byte(body+"\n\n"+strings.Join(own, "\n")+"\n"), boardKey)
	if err != nil {
		return tlog.Checkpoint{}, nil, false
	}
	return cp, names, true
}

// Seen is the largest checkpoint of the board the page has seen and checked, which the page keeps (in the
// browser's storage, per board key) and gives back on its next visit (Restore), so that a node cannot roll its
// board back, or show another history, between two visits either.
type Seen struct {
	Checkpoint string `json:"checkpoint"`
	BoardKey   string `json:"boardKey"`
}

// Seen returns the checkpoint seen, nil if none yet.
func (b *Booth) Seen() *Seen {
	cp, key, ok := b.c.Seen()
	if !ok {
		return nil
	}
	return &Seen{Checkpoint: string(cp.Signed), BoardKey: key}
}

// Restore takes back a checkpoint seen on an earlier visit, if it is of the node's board key (another election's
// is ignored): every checkpoint accepted from now on must extend it. It returns whether it was restored.
func (b *Booth) Restore(ctx context.Context, s Seen) (bool, error) {
	info, err := b.election(ctx)
	if err != nil {
		return false, err
	}
	if s.BoardKey != info.BoardKey || s.Checkpoint == "" {
		return false, nil
	}
	if err := b.c.See(ctx, []byte(s.Checkpoint), s.BoardKey); err != nil {
		return false, checkProblem(err)
	}
	return true, nil
}

// witnessed checks cosignatures with check under the witness policy the server gives (read once), and says what
// they show, with the policy's fingerprint; "" and "" when the server has no policy (or it cannot be read).
func (b *Booth) witnessed(ctx context.Context, check func(*policy.Policy) (policy.Result, error)) (string, string) {
	b.mu.Lock()
	read := b.polRead
	b.mu.Unlock()
	if !read {
		text, err := b.node.WitnessPolicy(ctx)
		if err != nil {
			return "", ""
		}
		var pol *policy.Policy
		if text != nil {
			if pol, err = policy.Parse(text); err != nil {
				return "the server's witness policy cannot be read: " + err.Error(), ""
			}
		}
		b.mu.Lock()
		b.pol, b.polText, b.polRead = pol, text, true
		b.mu.Unlock()
	}
	b.mu.Lock()
	pol, text := b.pol, b.polText
	b.mu.Unlock()
	if pol == nil {
		return "", ""
	}
	r, err := check(pol)
	if err != nil {
		return "NOT witnessed under the policy: " + err.Error(), policy.Fingerprint(text)
	}
	return r.String(), policy.Fingerprint(text)
}

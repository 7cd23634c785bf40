package client

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
	"github.com/recount-vote/recount/ledger/tlog"
)

// boardNode is a Node over a board held in memory and signed with a test key, honest unless a test sets its
// hooks, which change its answers as a dishonest node would.
type boardNode struct {
	t       *testing.T
	e       *electiontest.Election
	signer  note.Signer
	vkey    string
	entries []tlog.Entry
	tree    tlog.LeafTree

	lostPost bool                                    // Post appends, then loses its answer
	dropPost bool                                    // Post loses the request: nothing is appended
	lookup   func(code election.ID, l *BallotLookup) // changes a Lookup answer
	board    func(entries []tlog.Entry) []tlog.Entry // changes the entries Entries serves
	key      []byte                                  // the election key Election states, when set
	answer   func(inc *Inclusion)                    // changes a Post answer
}

func testSigner(t *testing.T, origin string, seed byte) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)), origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

func newBoardNode(t *testing.T, e *electiontest.Election) *boardNode {
	t.Helper()
	n := &boardNode{t: t, e: e}
	n.signer, n.vkey = testSigner(t, "test.example/board", 1)
	for _, en := range e.Entries {
		n.append(en.Kind, en.Payload)
	}
	return n
}

func (n *boardNode) append(kind election.Kind, payload []byte) uint64 {
	i := uint64(len(n.entries))
	n.entries = append(n.entries, tlog.Entry{Index: i, Kind: tlog.Kind(kind), Payload: payload})
	n.tree.Append(tlog.LeafHash(tlog.Kind(kind), payload))
	return i
}

// checkpoint returns the board's checkpoint of size, signed by s.
func (n *boardNode) checkpoint(s note.Signer, size uint64) tlog.Checkpoint {
	n.t.Helper()
	root, err := n.tree.Root(size)
	if err != nil {
		n.t.Fatal(err)
	}
	cp, err := tlog.SignCheckpoint(s, s.Name(), size, root)
	if err != nil {
		n.t.Fatal(err)
	}
	return cp
}

// inclusion proves entry index in the board's latest checkpoint.
func (n *boardNode) inclusion(index uint64) *Inclusion {
	n.t.Helper()
	size := n.tree.Size()
	proof, err := n.tree.InclusionProof(index, size)
	if err != nil {
		n.t.Fatal(err)
	}
	e := n.entries[index]
	code, err := election.TrackingCodeOf(election.Kind(e.Kind), e.Payload)
	if err != nil {
		n.t.Fatal(err)
	}
	return &Inclusion{TrackingCode: code[:], Index: index, Checkpoint: n.checkpoint(n.signer, size).Signed, Proof: proof,
		BoardKey: n.vkey}
}

func (n *boardNode) Election(context.Context) (*NodeElection, error) {
	id := n.e.Manifest.ID()
	key := n.key
	if key == nil {
		key = n.e.State.Key().PublicKey.Bytes()
	}
	return &NodeElection{Manifest: n.e.Manifest.Bytes(), ID: id[:], Key: key, BoardKey: n.vkey, Phase: PhaseOpen}, nil
}

func (n *boardNode) Post(_ context.Context, kind election.Kind, payload []byte, _ uint64) (*Inclusion, error) {
	if n.dropPost {
		return nil, NoAnswer(errors.New("connection lost before the request arrived"))
	}
	i := n.append(kind, payload)
	if n.lostPost {
		return nil, NoAnswer(errors.New("connection lost after the append"))
	}
	inc := n.inclusion(i)
	if n.answer != nil {
		n.answer(inc)
	}
	return inc, nil
}

func (n *boardNode) Lookup(_ context.Context, code election.ID, since uint64) (*BallotLookup, error) {
	for i, e := range n.entries {
		if k := election.Kind(e.Kind); k != election.KindBallot && k != election.KindSpoiledBallot {
			continue
		}
		if c, err := election.TrackingCodeOf(election.Kind(e.Kind), e.Payload); err != nil || c != code {
			continue
		}
		l := &BallotLookup{Inclusion: n.inclusion(uint64(i)), Status: election.StatusCast}
		if since > 0 {
			p, err := n.tree.ConsistencyProof(since, n.tree.Size())
			if err != nil {
				n.t.Fatal(err)
			}
			l.Consistency = p
		}
		if n.lookup != nil {
			n.lookup(code, l)
		}
		return l, nil
	}
	if n.lookup != nil {
		l := &BallotLookup{}
		n.lookup(code, l)
		if l.Inclusion != nil {
			return l, nil
		}
	}
	return nil, &Refusal{Reason: ReasonNotFound, Err: errors.New("no ballot with this tracking code")}
}

// LookupWitnessed: this board has no witnesses, so no checkpoint of it is witnessed.
func (n *boardNode) LookupWitnessed(context.Context, election.ID, uint64) (*BallotLookup, error) {
	return nil, errors.New("boardNode: no witnessed checkpoint")
}

// Consistency serves the board's checkpoint of newSize (the latest when 0), signed, and the consistency proof
// from oldSize to it.
func (n *boardNode) Consistency(_ context.Context, oldSize, newSize uint64) ([]byte, [][]byte, error) {
	if newSize == 0 {
		newSize = n.tree.Size()
	}
	if newSize > n.tree.Size() || oldSize > newSize {
		return nil, nil, &Refusal{Reason: ReasonNotFound, Err: errors.New("no checkpoint of that size")}
	}
	proof, err := n.tree.ConsistencyProof(oldSize, newSize)
	if err != nil {
		n.t.Fatal(err)
	}
	return n.checkpoint(n.signer, newSize).Signed, proof, nil
}

func (n *boardNode) Entries(_ context.Context, from uint64) iter.Seq2[tlog.Entry, error] {
	entries := slices.Clone(n.entries)
	if n.board != nil {
		entries = n.board(entries)
	}
	return func(yield func(tlog.Entry, error) bool) {
		for _, e := range entries {
			if e.Index < from {
				continue
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

func flipped(proof [][]byte) [][]byte {
	if len(proof) == 0 {
		return [][]byte{make([]byte, tlog.HashSize)}
	}
	out := slices.Clone(proof)
	out[0] = slices.Clone(out[0])
	out[0][0] ^= 1
	return out
}

func reviewElection(t *testing.T) *electiontest.Election {
	t.Helper()
	e, err := electiontest.Setup(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 3})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSubmitInDoubtTakesOnlyItsBallot: after a lost answer, Submit gives a receipt only for its own ballot, as
// sent, proved on the board under the board's key. A node that answers the search with any part changed (another
// ballot, the same ballot as the other kind, another key, index or proof), or finds a ballot that never reached
// it, gets an error, never a receipt: the voter is not told a ballot was cast when it was not.
func TestSubmitInDoubtTakesOnlyItsBallot(t *testing.T) {
	e := reviewElection(t)
	ctx := context.Background()
	otherSigner, otherKey := testSigner(t, "test.example/board", 2)
	for _, challenge := range []bool{false, true} {
		n := newBoardNode(t, e)
		c := New(n)
		info, err := c.Election(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Another voter's ballot on the board, and this voter's ballot as the other kind (both drafts of one
		// prepared ballot share a tracking code).
		other, err := info.Encrypt(e.Credentials[1], election.RandomChoices(e.Manifest, nil))
		if err != nil {
			t.Fatal(err)
		}
		otherIndex := n.append(election.KindBallot, other.DraftCast().Payload)
		twin, err := info.Encrypt(e.Credentials[2], election.RandomChoices(e.Manifest, nil))
		if err != nil {
			t.Fatal(err)
		}
		twinOther := twin.DraftChallenge()
		if challenge {
			twinOther = twin.DraftCast()
		}
		twinIndex := n.append(twinOther.Kind, twinOther.Payload)

		n.lostPost = true
		b, err := info.Encrypt(e.Credentials[0], election.RandomChoices(e.Manifest, nil))
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Submit(ctx, info, b, SubmitOptions{Challenge: challenge})
		if err != nil {
			t.Fatalf("challenge %v: an honest search after a lost answer: %v", challenge, err)
		}
		if r.TrackingCode != b.TrackingCode() || (r.Kind == election.KindSpoiledBallot) != challenge {
			t.Fatalf("challenge %v: the receipt is for %x, a %s", challenge, r.TrackingCode[:4], r.Kind)
		}

		changes := map[string]func(l *BallotLookup){
			"another ballot": func(l *BallotLookup) { l.Inclusion = n.inclusion(otherIndex) },
			"another ballot, with this tracking code": func(l *BallotLookup) {
				l.Inclusion = n.inclusion(otherIndex)
				code := b.TrackingCode()
				l.Inclusion.TrackingCode = code[:]
			},
			"the other kind": func(l *BallotLookup) { l.Inclusion = n.inclusion(twinIndex) },
			"another key": func(l *BallotLookup) {
				l.Inclusion.Checkpoint = n.checkpoint(otherSigner, n.tree.Size()).Signed
				l.Inclusion.BoardKey = otherKey
			},
			"the index":    func(l *BallotLookup) { l.Inclusion.Index++ },
			"the proof":    func(l *BallotLookup) { l.Inclusion.Proof = flipped(l.Inclusion.Proof) },
			"no inclusion": func(l *BallotLookup) { l.Inclusion = nil },
			"the tracking code": func(l *BallotLookup) {
				code := other.TrackingCode()
				l.Inclusion.TrackingCode = code[:]
			},
		}
		for what, change := range changes {
			for _, reached := range []bool{true, false} {
				n.lostPost, n.dropPost = reached, !reached
				n.lookup = func(code election.ID, l *BallotLookup) {
					if l.Inclusion == nil {
						// The ballot is not on the board: the node answers with what it has.
						l.Inclusion = n.inclusion(otherIndex)
					}
					change(l)
				}
				b, err := info.Encrypt(e.Credentials[0], election.RandomChoices(e.Manifest, nil))
				if err != nil {
					t.Fatal(err)
				}
				if what == "the other kind" {
					// The board holds this ballot as the other kind.
					d := b.DraftChallenge()
					if challenge {
						d = b.DraftCast()
					}
					twinIndex = n.append(d.Kind, d.Payload)
				}
				if r, err := c.Submit(ctx, info, b, SubmitOptions{Challenge: challenge}); err == nil {
					t.Errorf("challenge %v, ballot reached the node %v: a search answered with %s changed gave a receipt for entry %d", challenge, reached, what, r.Index)
				}
			}
		}
	}
}

// TestCheckElectionKeyEachPieceChanged: CheckElectionKey passes the honest board and key, and fails when the node
// states another key or election, or serves a board whose ceremony was changed: an entry dropped, repeated,
// moved or altered, the key entry missing or replaced, entries misnumbered, another election's manifest.
func TestCheckElectionKeyEachPieceChanged(t *testing.T) {
	e := reviewElection(t)
	ctx := context.Background()
	n := newBoardNode(t, e)
	c := New(n)
	info, err := c.Election(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := e.Manifest.ID()
	if err := c.CheckElectionKey(ctx, info, want); err != nil {
		t.Fatalf("the honest board: %v", err)
	}

	other := reviewElection(t)
	otherID := other.Manifest.ID()
	if err := c.CheckElectionKey(ctx, info, otherID); err == nil {
		t.Error("another election's identity passed")
	}
	otherInfo := *info
	otherInfo.Key = other.State.Key().PublicKey
	if err := c.CheckElectionKey(ctx, &otherInfo, want); err == nil {
		t.Error("another election key passed")
	}

	first := func(kind election.Kind, nth int) int {
		for i, en := range n.entries {
			if election.Kind(en.Kind) == kind {
				if nth == 0 {
					return i
				}
				nth--
			}
		}
		t.Fatalf("no %s %d on the board", kind, nth)
		return -1
	}
	renumbered := func(es []tlog.Entry) []tlog.Entry {
		for i := range es {
			es[i].Index = uint64(i)
		}
		return es
	}
	// (A verdict without complaints dropped changes nothing the key depends on: the same key, rightly.)
	commit, key := first(election.KindKeyCommitment, 0), first(election.KindElectionKey, 0)
	otherKeyEntry := other.Entries[0]
	for _, en := range other.Entries {
		if en.Kind == election.KindElectionKey {
			otherKeyEntry = en
		}
	}
	boards := map[string]func(es []tlog.Entry) []tlog.Entry{
		"a commitment dropped": func(es []tlog.Entry) []tlog.Entry { return renumbered(slices.Delete(es, commit, commit+1)) },
		"a commitment repeated": func(es []tlog.Entry) []tlog.Entry {
			return renumbered(slices.Insert(es, key, es[commit]))
		},
		"a commitment moved after the key": func(es []tlog.Entry) []tlog.Entry {
			en := es[commit]
			es = slices.Delete(es, commit, commit+1)
			return renumbered(slices.Insert(es, key, en))
		},
		"a commitment altered": func(es []tlog.Entry) []tlog.Entry {
			es[commit].Payload = slices.Clone(es[commit].Payload)
			es[commit].Payload[len(es[commit].Payload)/2] ^= 1
			return es
		},
		"the key missing": func(es []tlog.Entry) []tlog.Entry { return renumbered(slices.Delete(es, key, len(es))) },
		"another election's key entry": func(es []tlog.Entry) []tlog.Entry {
			es[key].Payload = otherKeyEntry.Payload
			return es
		},
		"misnumbered": func(es []tlog.Entry) []tlog.Entry {
			es[commit].Index++
			return es
		},
		"another election's manifest": func(es []tlog.Entry) []tlog.Entry {
			es[0].Payload = other.Entries[0].Payload
			return es
		},
		"the manifest missing": func(es []tlog.Entry) []tlog.Entry { return renumbered(es[1:]) },
	}
	for what, change := range boards {
		n.board = change
		if err := c.CheckElectionKey(ctx, info, want); err == nil {
			t.Errorf("a board with %s passed", what)
		}
	}
	n.board = nil

	// A node that states the key of another ceremony by the same trustees (a key no one but they can use, but
	// not this board's) is caught too.
	n.key = other.State.Key().PublicKey.Bytes()
	info2, err := c.Election(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckElectionKey(ctx, info2, want); err == nil {
		t.Error("the node's stated key differs from the board's, and passed")
	}
}

// TestCheckReceiptEachAnswerChanged: CheckReceipt passes the honest node's answer about a receipt's ballot, on a
// board that grew since, and fails when any piece of the answer is changed: the latest checkpoint (another key,
// a board smaller than the receipt's), the consistency proof, the index, the inclusion proof, no proof at all,
// or the entry the board serves at the receipt's index.
func TestCheckReceiptEachAnswerChanged(t *testing.T) {
	e := reviewElection(t)
	ctx := context.Background()
	n := newBoardNode(t, e)
	c := New(n)
	info, err := c.Election(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var receipts []*Receipt
	for v := range 3 {
		b, err := info.Encrypt(e.Credentials[v], election.RandomChoices(e.Manifest, nil))
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Submit(ctx, info, b, SubmitOptions{Challenge: v == 1})
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, r)
	}
	otherSigner, otherKey := testSigner(t, "test.example/board", 2)
	for v, r := range receipts {
		if _, _, err := c.CheckReceipt(ctx, r); err != nil {
			t.Fatalf("receipt %d, honest: %v", v, err)
		}
		old, err := tlog.ParseCheckpoint(r.Checkpoint, r.BoardKey)
		if err != nil {
			t.Fatal(err)
		}
		otherEntry := receipts[(v+1)%len(receipts)].Index
		changes := map[string]func(l *BallotLookup){
			"another key": func(l *BallotLookup) {
				l.Inclusion.Checkpoint = n.checkpoint(otherSigner, n.tree.Size()).Signed
				l.Inclusion.BoardKey = otherKey
			},
			"a smaller board": func(l *BallotLookup) {
				l.Inclusion.Checkpoint = n.checkpoint(n.signer, old.Size-1).Signed
			},
			"the consistency proof": func(l *BallotLookup) { l.Consistency = flipped(l.Consistency) },
			"the index":             func(l *BallotLookup) { l.Inclusion.Index = otherEntry },
			"another entry's proof": func(l *BallotLookup) { l.Inclusion = n.inclusion(otherEntry) },
			"the inclusion proof":   func(l *BallotLookup) { l.Inclusion.Proof = flipped(l.Inclusion.Proof) },
			"no inclusion":          func(l *BallotLookup) { l.Inclusion = nil },
		}
		for what, change := range changes {
			n.lookup = func(_ election.ID, l *BallotLookup) { change(l) }
			if _, _, err := c.CheckReceipt(ctx, r); err == nil {
				t.Errorf("receipt %d: an answer with %s changed checked out", v, what)
			}
		}
		n.lookup = nil
		for what, change := range map[string]func(en *tlog.Entry){
			"another entry": func(en *tlog.Entry) { *en = n.entries[otherEntry] },
			"the kind": func(en *tlog.Entry) {
				en.Kind = tlog.Kind(election.KindBallot + election.KindSpoiledBallot - election.Kind(en.Kind))
			},
			"a byte": func(en *tlog.Entry) {
				en.Payload = slices.Clone(en.Payload)
				en.Payload[len(en.Payload)-1] ^= 1
			},
		} {
			n.board = func(es []tlog.Entry) []tlog.Entry {
				change(&es[r.Index])
				es[r.Index].Index = r.Index
				return es
			}
			if _, _, err := c.CheckReceipt(ctx, r); err == nil {
				t.Errorf("receipt %d: the board serving %s at the receipt's index checked out", v, what)
			}
		}
		n.board = nil
	}
}

// TestSubmitReceiptKeepsBoardKey: the receipt Submit returns names the board key its checkpoint was checked
// under, whatever key the node's answer names, so that the receipt can be checked again later (CheckReceipt
// checks it under the key it names). Before the fix, a node that left the key out of its answer gave the voter
// a receipt with no board key, which Submit took and CheckReceipt could never check.
func TestSubmitReceiptKeepsBoardKey(t *testing.T) {
	e := reviewElection(t)
	ctx := context.Background()
	n := newBoardNode(t, e)
	c := New(n)
	info, err := c.Election(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n.answer = func(inc *Inclusion) { inc.BoardKey = "" }
	b, err := info.Encrypt(e.Credentials[0], election.RandomChoices(e.Manifest, nil))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Submit(ctx, info, b, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.BoardKey != n.vkey {
		t.Errorf("the receipt names board key %q, want %q", r.BoardKey, n.vkey)
	}
	if _, _, err := c.CheckReceipt(ctx, r); err != nil {
		t.Errorf("the receipt Submit gave does not check out on the honest board: %v", err)
	}
}

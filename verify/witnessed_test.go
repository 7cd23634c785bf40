package verify_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
	"github.com/recount-vote/recount/witness"
	"github.com/recount-vote/recount/witness/policy"
)

// witnessedBoard is a board of leaves and three witnesses, alice, bob and carol, under a 2-of-3 policy.
type witnessedBoard struct {
	t       *testing.T
	signer  note.Signer
	vkey    string
	tree    tlog.LeafTree
	signers map[string]note.Signer // the witnesses', by policy name
	pol     *policy.Policy
}

func newWitnessedBoard(t *testing.T, origin string) *witnessedBoard {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	b := &witnessedBoard{t: t, signer: s, vkey: vkey, signers: map[string]note.Signer{}}
	var ws []policy.Witness
	for _, name := range []string{"alice", "bob", "carol"} {
		wskey, wvkey, err := witness.GenerateKey("witness.test/"+name, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if b.signers[name], err = witness.NewSigner(wskey); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, policy.Witness{Name: name, VerifierKey: wvkey})
	}
	if b.pol, err = policy.KOfN(vkey, 2, ws...); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		b.tree.Append(tlog.LeafHash(1, []byte{byte(i)}))
	}
	return b
}

func (b *witnessedBoard) checkpoint(n uint64) tlog.Checkpoint {
	b.t.Helper()
	root, err := b.tree.Root(n)
	if err != nil {
		b.t.Fatal(err)
	}
	cp, err := tlog.SignCheckpoint(b.signer, b.signer.Name(), n, root)
	if err != nil {
		b.t.Fatal(err)
	}
	return cp
}

// cosigned returns the checkpoint of size n cosigned by the named witnesses.
func (b *witnessedBoard) cosigned(n uint64, by ...string) []byte {
	b.t.Helper()
	cp := b.checkpoint(n)
	out := bytes.Clone(cp.Signed)
	for _, name := range by {
		signed, err := note.Sign(&note.Note{Text: cp.Body()}, b.signers[name])
		if err != nil {
			b.t.Fatal(err)
		}
		_, sig, _ := bytes.Cut(signed, []byte("\n\n"))
		out = append(out, sig...)
	}
	return out
}

// TestCheckWitnessed: a checkpoint cosigned by 2 of the 3 witnesses meets the policy and says who cosigned it;
// by 1 it fails with the Result naming that one; a checkpoint of another board, or a policy of another board,
// fails; a cosignature altered fails.
func TestCheckWitnessed(t *testing.T) {
	b := newWitnessedBoard(t, "verify.test/board")
	cp, res, err := verify.CheckWitnessed(b.cosigned(12, "alice", "carol"), b.vkey, b.pol)
	if err != nil || cp.Size != 12 || !res.Met {
		t.Fatalf("2 of 3: %v, %+v", err, res)
	}
	if s := res.String(); !strings.HasPrefix(s, "witnessed by 2 of 3 (alice, carol)") {
		t.Errorf("the result says %q", s)
	}
	_, res, err = verify.CheckWitnessed(b.cosigned(12, "bob"), b.vkey, b.pol)
	if !errors.Is(err, verify.ErrNotWitnessed) || !errors.Is(err, policy.ErrQuorum) || res.Met || len(res.Cosigners) != 1 || res.Cosigners[0].Name != "bob" {
		t.Errorf("1 of 3: %v, %+v", err, res)
	}
	if _, _, err := verify.CheckWitnessed(b.checkpoint(12).Signed, b.vkey, b.pol); !errors.Is(err, policy.ErrQuorum) {
		t.Errorf("no cosignature: %v", err)
	}
	if _, _, err := verify.CheckWitnessed(nil, b.vkey, b.pol); !errors.Is(err, verify.ErrNotWitnessed) {
		t.Errorf("nothing: %v", err)
	}
	other := newWitnessedBoard(t, "verify.test/other")
	if _, _, err := verify.CheckWitnessed(b.cosigned(12, "alice", "bob"), other.vkey, b.pol); !errors.Is(err, verify.ErrNotWitnessed) {
		t.Errorf("the policy of another board: %v", err)
	}
	if _, _, err := verify.CheckWitnessed(b.cosigned(12, "alice", "bob"), b.vkey, other.pol); !errors.Is(err, verify.ErrNotWitnessed) {
		t.Errorf("a policy naming another board: %v", err)
	}
	bad := b.cosigned(12, "alice", "bob")
	bad[len(bad)-5] ^= 1 // inside bob's cosignature
	if _, _, err := verify.CheckWitnessed(bad, b.vkey, b.pol); !errors.Is(err, verify.ErrNotWitnessed) {
		t.Errorf("an altered cosignature: %v", err)
	}
}

// TestCheckCovers: the witnessed checkpoint covers the record's final checkpoint when it is the same, or larger
// with a consistency proof; not when it is smaller, of another root, or the proof does not verify.
func TestCheckCovers(t *testing.T) {
	b := newWitnessedBoard(t, "verify.test/board")
	final, same, larger := b.checkpoint(12), b.checkpoint(12), b.checkpoint(20)
	proof, err := b.tree.ConsistencyProof(12, 20)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify.CheckCovers(final, same, nil); err != nil {
		t.Errorf("the same checkpoint: %v", err)
	}
	if err := verify.CheckCovers(final, larger, proof); err != nil {
		t.Errorf("a larger one with its proof: %v", err)
	}
	if err := verify.CheckCovers(larger, final, nil); !errors.Is(err, verify.ErrNotWitnessed) {
		t.Errorf("a smaller witnessed checkpoint: %v", err)
	}
	fork := b.checkpoint(12)
	fork.Root[0] ^= 1
	if err := verify.CheckCovers(final, fork, nil); !errors.Is(err, verify.ErrNotWitnessed) {
		t.Errorf("another root of the same size: %v", err)
	}
	badProof := [][]byte{bytes.Clone(proof[0])}
	badProof[0][0] ^= 1
	badProof = append(badProof, proof[1:]...)
	if err := verify.CheckCovers(final, larger, badProof); !errors.Is(err, verify.ErrNotWitnessed) {
		t.Errorf("a bad proof: %v", err)
	}
}

// TestReceiptCheckWitnessed: a receipt whose cosigned checkpoint meets the policy is witnessed; an unwitnessed
// receipt, or one cosigned by too few, is not, and says why.
func TestReceiptCheckWitnessed(t *testing.T) {
	b := newWitnessedBoard(t, "verify.test/board")
	r := &verify.Receipt{Checkpoint: b.checkpoint(12).Signed, BoardKey: b.vkey, Cosigned: b.cosigned(12, "alice", "bob")}
	if res, err := r.CheckWitnessed(b.pol); err != nil || !res.Met {
		t.Errorf("a witnessed receipt: %v, %+v", err, res)
	}
	r.Cosigned = b.cosigned(12, "alice")
	if _, err := r.CheckWitnessed(b.pol); !errors.Is(err, policy.ErrQuorum) {
		t.Errorf("cosigned by 1 of 3: %v", err)
	}
	r.Cosigned = b.cosigned(13, "alice", "bob") // not the receipt's checkpoint
	if _, err := r.CheckWitnessed(b.pol); !errors.Is(err, verify.ErrNotWitnessed) {
		t.Errorf("the cosigned checkpoint of another size: %v", err)
	}
	r.Cosigned, r.Unwitnessed = nil, true
	if _, err := r.CheckWitnessed(b.pol); !errors.Is(err, verify.ErrNotWitnessed) || !strings.Contains(err.Error(), "upgrade") {
		t.Errorf("an unwitnessed receipt: %v", err)
	}
}

package witness

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"github.com/recount-vote/recount/ledger"
)

// TestWitnessRealBoard runs a real board (ledger.Log) and has a witness over loopback HTTP cosign every
// checkpoint it signs, as the node will: Client.Cosign with the board's own consistency proofs. Each checkpoint
// is also read by the other implementations of the C2SP formats a public witness would use:
// transparency-dev/formats parses it and checks the board's signature, and golang.org/x/mod/sumdb/tlog.CheckTree
// (torchwood's litewitness checks add-checkpoint proofs with it) verifies the board's proof.
func TestWitnessRealBoard(t *testing.T) {
	l, err := ledger.Open(t.TempDir(), ledger.Options{Origin: "recount.example/witness-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	skey, _, err := GenerateKey("witness.example/real", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w, err := Open(filepath.Join(t.TempDir(), "w.db"), Config{Key: skey, Logs: []Log{{VerifierKey: l.VerifierKey()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	srv := httptest.NewServer(NewHandler(w, nil))
	defer srv.Close()
	c, err := NewClient(srv.URL, w.VerifierKey(), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(l.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cosigned := uint64(0)
	var prev sumdb.Tree
	for i := range 40 {
		recs := make([]ledger.Record, 1+i%5)
		for j := range recs {
			recs[j] = ledger.Record{Kind: 1, Payload: []byte(fmt.Sprintf("entry %d.%d", i, j))}
		}
		if _, err := l.AppendMany(ctx, recs); err != nil {
			t.Fatal(err)
		}
		cp := l.Latest()
		got, rest, _, err := flog.ParseCheckpoint(cp.Signed, l.Origin(), v)
		if err != nil || got.Size != cp.Size || len(rest) != 0 {
			t.Fatalf("formats reads the board's checkpoint %q as %+v, %q, %v", cp.Signed, got, rest, err)
		}
		if prev.N > 0 {
			p, err := l.ConsistencyProof(uint64(prev.N), cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			proof := make(sumdb.TreeProof, len(p))
			for k := range p {
				copy(proof[k][:], p[k])
			}
			if err := sumdb.CheckTree(proof, int64(cp.Size), sumdb.Hash(cp.Root), prev.N, prev.Hash); err != nil {
				t.Fatalf("x/mod/sumdb/tlog.CheckTree from %d to %d: %v", prev.N, cp.Size, err)
			}
		}
		prev = sumdb.Tree{N: int64(cp.Size), Hash: sumdb.Hash(cp.Root)}
		// The node asks the witness every other checkpoint, so that proofs span several commits.
		if i%2 == 1 {
			continue
		}
		if _, err := c.Cosign(ctx, cp.Signed, cp.Size, cosigned, l.ConsistencyProof); err != nil {
			t.Fatalf("size %d from %d: %v", cp.Size, cosigned, err)
		}
		cosigned = cp.Size
	}
}

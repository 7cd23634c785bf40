package ledger

import (
	"encoding/hex"
	"testing"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TestReferenceMTH checks the test's reference implementation against the RFC 6962 test vectors (leaf data
// hashed as is), so that the tests below compare the board with something known to be right.
func TestReferenceMTH(t *testing.T) {
	t.Parallel()
	leaves := []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}
	roots := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	var data [][]byte
	for i, l := range leaves {
		b, _ := hex.DecodeString(l)
		data = append(data, b)
		got := refMTH(data)
		if hex.EncodeToString(got[:]) != roots[i] {
			t.Fatalf("reference root of %d leaves = %x, want %s", i+1, got, roots[i])
		}
		hs := make([][32]byte, len(data))
		for j, d := range data {
			copy(hs[j][:], rfc6962.DefaultHasher.HashLeaf(d))
		}
		if tlog.RootHash(hs) != got {
			t.Fatalf("RootHash of %d leaves differs from the reference", i+1)
		}
	}
	if refMTH(nil) != tlog.EmptyRoot() || tlog.RootHash(nil) != tlog.EmptyRoot() {
		t.Fatal("empty root differs")
	}
}

// TestBoardRootMatchesReference appends entries one by one and checks every checkpoint's root against the
// reference MTH of the leaf data.
func TestBoardRootMatchesReference(t *testing.T) {
	t.Parallel()
	l, _ := newTestLog(t)
	cps := appendN(t, l, 70)
	var data [][]byte
	for i := 0; i <= 70; i++ {
		if cps[i].Root != refMTH(data) {
			t.Fatalf("root at size %d differs from the reference", i)
		}
		data = append(data, tlog.LeafData(testKind(i), testPayload(i)))
	}
}

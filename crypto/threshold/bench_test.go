package threshold

import (
	"fmt"
	"testing"

	"github.com/recount-vote/recount/crypto/elgamal"
)

func BenchmarkPartiallyDecrypt(b *testing.B) {
	tr := ceremony(b, 3, 2, 1)
	ct := tr.encrypt(b, 5)
	for b.Loop() {
		if _, err := PartiallyDecrypt(ctx, tr.ks[1], ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPartial(b *testing.B) {
	tr := ceremony(b, 3, 2, 1)
	ct := tr.encrypt(b, 5)
	pd := tr.partial(b, 1, ct)
	for b.Loop() {
		if err := pd.Verify(ctx, ct, tr.vks[1]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCombine times Combine of t of n partial decryptions of one ciphertext, each verified.
func BenchmarkCombine(b *testing.B) {
	for _, nt := range [][2]int{{3, 2}, {5, 3}} {
		n, th := nt[0], nt[1]
		b.Run(fmt.Sprintf("t=%d,n=%d", th, n), func(b *testing.B) {
			tr := ceremony(b, n, th, 1)
			ct := tr.encrypt(b, 5)
			var in []*PartialDecryption
			for j := 1; j <= th; j++ {
				in = append(in, tr.partial(b, j, ct))
			}
			for b.Loop() {
				if _, err := Combine(ctx, th, ct, in, tr.vks); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCombineBatch times the decryption of a 100-ciphertext tally from t of n trustees' batches, each
// partial decryption verified; the metric is per ciphertext.
func BenchmarkCombineBatch(b *testing.B) {
	for _, nt := range [][2]int{{3, 2}, {5, 3}} {
		n, th := nt[0], nt[1]
		b.Run(fmt.Sprintf("t=%d,n=%d", th, n), func(b *testing.B) {
			tr := ceremony(b, n, th, 1)
			cts := make([]*elgamal.Ciphertext, 100)
			for k := range cts {
				cts[k] = tr.encrypt(b, uint64(k))
			}
			var batches [][]*PartialDecryption
			for j := 1; j <= th; j++ {
				batch, err := PartiallyDecryptBatch(ctx, tr.ks[j], cts, nil)
				if err != nil {
					b.Fatal(err)
				}
				batches = append(batches, batch)
			}
			for b.Loop() {
				if _, err := CombineBatch(ctx, th, cts, batches, tr.vks); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(cts))/1e3, "µs/ciphertext")
		})
	}
}

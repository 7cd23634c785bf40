package dkg

import (
	"fmt"
	"testing"

	"github.com/recount-vote/recount/crypto/group"
)

// BenchmarkCeremony times a whole honest ceremony as all n trustees together compute it: every dealer draws
// its polynomial and proves its coefficients, every trustee verifies every commitment and its shares, combines
// its key share, and computes the joint key and all verification keys.
func BenchmarkCeremony(b *testing.B) {
	for _, nt := range [][2]int{{3, 2}, {5, 3}} {
		p := Params{N: nt[0], T: nt[1], Election: election}
		b.Run(fmt.Sprintf("n=%d,t=%d", p.N, p.T), func(b *testing.B) {
			for b.Loop() {
				dealers := make(map[int]*Dealer, p.N)
				commits := make(map[int]*Commitment, p.N)
				for i := 1; i <= p.N; i++ {
					d, err := NewDealer(p, i, nil)
					if err != nil {
						b.Fatal(err)
					}
					dealers[i], commits[i] = d, d.Commitment()
				}
				for j := 1; j <= p.N; j++ {
					q, _, err := Qualified(p, commits, nil)
					if err != nil {
						b.Fatal(err)
					}
					shares := make(map[int]*group.Scalar, p.N)
					for i := 1; i <= p.N; i++ {
						shares[i] = dealers[i].Share(j)
					}
					if _, err := CombineShares(p, j, q, shares, commits); err != nil {
						b.Fatal(err)
					}
					if _, err := JointKey(q, commits); err != nil {
						b.Fatal(err)
					}
					if _, err := VerificationKeys(p, q, commits); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(p.N)/1e3, "µs/trustee")
		})
	}
}

func BenchmarkNewDealer(b *testing.B) {
	p := Params{N: 3, T: 2, Election: election}
	for b.Loop() {
		if _, err := NewDealer(p, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommitmentVerify(b *testing.B) {
	p := Params{N: 3, T: 2, Election: election}
	d, _ := NewDealer(p, 1, nil)
	c := d.Commitment()
	for b.Loop() {
		if err := c.Verify(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyShare(b *testing.B) {
	p := Params{N: 3, T: 2, Election: election}
	d, _ := NewDealer(p, 1, nil)
	c, s := d.Commitment(), d.Share(2)
	for b.Loop() {
		if err := VerifyShare(p, c, 2, s); err != nil {
			b.Fatal(err)
		}
	}
}

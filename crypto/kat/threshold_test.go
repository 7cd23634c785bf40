package kat

import (
	"fmt"
	"testing"

	"github.com/recount-vote/recount/crypto/dkg"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/threshold"
	"github.com/recount-vote/recount/crypto/zkp"
	"github.com/recount-vote/recount/internal/drbg"
)

// The key ceremony, partial decryption and combination vectors (protocol.md, sections 10 and 11): one ceremony of
// 3 trustees with threshold 2, every dealer honest; partial decryptions of one ciphertext by each trustee; and
// the decryption combined from each pair of them.

const (
	ceremonyN = 3
	ceremonyT = 2
)

type dealerVector struct {
	Seed         string   `json:"seed"`
	Dealer       int      `json:"dealer"`
	Coefficients []string `json:"coefficients"`      // a_{i,0} .. a_{i,T-1}
	Nonces       []string `json:"schnorr_nonces"`    // w for each coefficient's proof
	Commitment   string   `json:"commitment"`        // the encoding of section 10.2
	Shares       []string `json:"shares"`            // f_i(1) .. f_i(N)
	ShareChecks  []string `json:"share_check_sides"` // Σ_k j^k·C_{i,k} for j = 1..N, equal to f_i(j)·g
}

type ceremonyVector struct {
	N                int            `json:"N"`
	T                int            `json:"T"`
	Election         string         `json:"election"`
	Dealers          []dealerVector `json:"dealers"`
	Qualified        []int          `json:"qualified"`
	KeyShares        []string       `json:"key_shares"` // the encoding uint16be(j) || enc(s_j), j = 1..N
	JointKey         string         `json:"joint_key"`
	VerificationKeys []string       `json:"verification_keys"` // K_1 .. K_N
}

// ceremony runs the vectors' key ceremony and returns it with the trustees' key shares and verification keys.
func ceremony(t *testing.T) (ceremonyVector, []*dkg.KeyShare, map[int]*group.Element, *group.Element) {
	p := dkg.Params{N: ceremonyN, T: ceremonyT, Election: election}
	cv := ceremonyVector{N: p.N, T: p.T, Election: hx(election)}
	commits := map[int]*dkg.Commitment{}
	dealers := map[int]*dkg.Dealer{}
	for i := 1; i <= p.N; i++ {
		seed := fmt.Sprintf("recount kat dkg dealer %d", i)
		// The draws, replayed: for each coefficient, the coefficient, then its proof's nonce.
		replay := drbg.New(seed)
		dv := dealerVector{Seed: seed, Dealer: i}
		for range p.T {
			dv.Coefficients = append(dv.Coefficients, hx(scalar(t, replay).Bytes()))
			dv.Nonces = append(dv.Nonces, hx(scalar(t, replay).Bytes()))
		}
		d, err := dkg.NewDealer(p, i, drbg.New(seed))
		if err != nil {
			t.Fatal(err)
		}
		c := d.Commitment()
		if err := c.Verify(p); err != nil {
			t.Fatal(err)
		}
		for k := range p.T {
			if hx(c.Coefficients[k].Bytes()) != hx(group.NewElement().ScalarBaseMult(mustScalar(t, dv.Coefficients[k])).Bytes()) {
				t.Fatalf("dealer %d: coefficient %d is not the one drawn", i, k)
			}
			checkNonce(t, c.Proofs[k].Bytes(), group.Generator(), &c.Coefficients[k], dv.Nonces[k])
		}
		dv.Commitment = hx(c.Bytes())
		for j := 1; j <= p.N; j++ {
			dv.Shares = append(dv.Shares, hx(d.Share(j).Bytes()))
			side := group.NewElement()
			pow := group.NewScalar().SetUint64(1)
			for k := range p.T {
				side.Add(side, group.NewElement().ScalarMult(pow, &c.Coefficients[k]))
				pow.Multiply(pow, group.NewScalar().SetUint64(uint64(j)))
			}
			dv.ShareChecks = append(dv.ShareChecks, hx(side.Bytes()))
			if err := dkg.VerifyShare(p, c, j, d.Share(j)); err != nil {
				t.Fatal(err)
			}
		}
		commits[i], dealers[i] = c, d
		cv.Dealers = append(cv.Dealers, dv)
	}
	q, disq, err := dkg.Qualified(p, commits, nil)
	if err != nil || len(disq) != 0 {
		t.Fatalf("qualified: %v %v", err, disq)
	}
	cv.Qualified = q
	var shares []*dkg.KeyShare
	for j := 1; j <= p.N; j++ {
		received := map[int]*group.Scalar{}
		for i, d := range dealers {
			received[i] = d.Share(j)
		}
		ks, err := dkg.CombineShares(p, j, q, received, commits)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, ks)
		cv.KeyShares = append(cv.KeyShares, hx(ks.Bytes()))
	}
	K, err := dkg.JointKey(q, commits)
	if err != nil {
		t.Fatal(err)
	}
	cv.JointKey = hx(K.Bytes())
	vks, err := dkg.VerificationKeys(p, q, commits)
	if err != nil {
		t.Fatal(err)
	}
	for j := 1; j <= p.N; j++ {
		if hx(vks[j].Bytes()) != hx(shares[j-1].VerificationKey().Bytes()) {
			t.Fatalf("verification key %d is not s_%d·g", j, j)
		}
		cv.VerificationKeys = append(cv.VerificationKeys, hx(vks[j].Bytes()))
	}
	return cv, shares, vks, K
}

// checkNonce checks that the proof c || z of log_H X was made with the nonce given: z·H - c·X = w·H.
func checkNonce(t *testing.T, proof []byte, H, X *group.Element, nonce string) {
	t.Helper()
	c, err := group.NewScalar().SetCanonicalBytes(proof[:32])
	if err != nil {
		t.Fatal(err)
	}
	z, err := group.NewScalar().SetCanonicalBytes(proof[32:64])
	if err != nil {
		t.Fatal(err)
	}
	R := group.NewElement().Subtract(group.NewElement().ScalarMult(z, H), group.NewElement().ScalarMult(c, X))
	if R.Equal(group.NewElement().ScalarMult(mustScalar(t, nonce), H)) != 1 {
		t.Fatalf("the proof was not made with the nonce %s drawn", nonce)
	}
}

func mustScalar(t *testing.T, h string) *group.Scalar {
	t.Helper()
	s, err := group.NewScalar().SetCanonicalBytes(unhex(t, h))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDKGVectors(t *testing.T) {
	cv, _, _, _ := ceremony(t)
	check(t, "dkg.json", "A joint-Feldman key ceremony (protocol.md, section 10) of N = 3 trustees with threshold "+
		"T = 2, every dealer honest and no complaint. Dealer i draws from the stream of its seed, for k = 0 .. T-1 in "+
		"order, the coefficient a_{i,k} and then the nonce w of its Schnorr proof (context Bind = \"dkg\" || "+
		"uint16be(i) || uint16be(k)); commitment is the encoding uint16be(i) || uint16be(T) || (C_{i,k} || c || z) "+
		"for each k; shares[j-1] is f_i(j), and share_check_sides[j-1] is Σ_k j^k·C_{i,k}, which equals "+
		"shares[j-1]·g. qualified is Q; key_shares[j-1] encodes uint16be(j) || s_j with s_j = Σ_{i in Q} f_i(j); "+
		"joint_key is K = Σ_{i in Q} C_{i,0}; verification_keys[j-1] is K_j = s_j·g.", []ceremonyVector{cv})
}

type partialVector struct {
	Trustee         int    `json:"trustee"`
	VerificationKey string `json:"verification_key"`
	ProofBind       string `json:"proof_context"` // the Bind of section 11.1
	Nonce           string `json:"prover_nonce"`
	Share           string `json:"share"`    // M_j = s_j·A
	Proof           string `json:"proof"`    // c || z
	Encoding        string `json:"encoding"` // uint16be(j) || M_j || c || z
}

type partialsVector struct {
	Seed       string          `json:"seed"`
	Election   string          `json:"election"`
	Bind       string          `json:"context"`
	JointKey   string          `json:"joint_key"`
	Message    uint64          `json:"message"`
	Nonce      string          `json:"nonce"`
	Ciphertext string          `json:"ciphertext"`
	Partials   []partialVector `json:"partial_decryptions"`
}

// partials encrypts message under the ceremony's key and has every trustee partially decrypt it.
func partials(t *testing.T, shares []*dkg.KeyShare, K *group.Element, message uint64) (partialsVector, *elgamal.Ciphertext, []*threshold.PartialDecryption) {
	seed := fmt.Sprintf("recount kat partial decryption message %d", message)
	d := drbg.New(seed)
	pk, err := elgamal.NewPublicKey(K)
	if err != nil {
		t.Fatal(err)
	}
	nonce := scalar(t, d)
	ct := pk.Encrypt(message, nonce)
	pv := partialsVector{Seed: seed, Election: hx(election), Bind: hx(bind), JointKey: hx(K.Bytes()), Message: message,
		Nonce: hx(nonce.Bytes()), Ciphertext: hx(ct.Bytes())}
	var pds []*threshold.PartialDecryption
	for _, ks := range shares {
		state := *d
		w := scalar(t, &state)
		pd, err := threshold.PartiallyDecrypt(ctx, ks, ct, d)
		if err != nil {
			t.Fatal(err)
		}
		vk := ks.VerificationKey()
		if err := pd.Verify(ctx, ct, vk); err != nil {
			t.Fatal(err)
		}
		proof := pd.Proof.Bytes()
		checkNonce(t, proof, group.Generator(), vk, hx(w.Bytes()))
		pv.Partials = append(pv.Partials, partialVector{Trustee: ks.Index, VerificationKey: hx(vk.Bytes()),
			ProofBind: hx(threshold.ProofContext(ctx, ks.Index, ct).Bind), Nonce: hx(w.Bytes()),
			Share: hx(pd.Share.Bytes()), Proof: hx(proof), Encoding: hx(pd.Bytes())})
		pds = append(pds, pd)
	}
	return pv, ct, pds
}

func TestPartialDecryptionVectors(t *testing.T) {
	_, shares, _, K := ceremony(t)
	var vs []partialsVector
	for _, m := range []uint64{0, 3} {
		pv, _, _ := partials(t, shares, K, m)
		vs = append(vs, pv)
	}
	check(t, "partial_decryption.json", "Partial decryptions (protocol.md, section 11.1) by each trustee of dkg.json's "+
		"ceremony (its key shares and joint key) of ciphertext (A, B) = (nonce·g, (nonce + message)·K), in the caller's "+
		"context (election, context). Drawn from the stream of seed: the nonce, then for trustees 1, 2, 3 in order "+
		"the nonce w of the Chaum-Pedersen proof (H = A, X = K_j, Y = M_j, context Bind = proof_context). share "+
		"is M_j = s_j·A, proof c || z, encoding uint16be(j) || M_j || c || z.", vs)
}

type combinationVector struct {
	Ciphertext string   `json:"ciphertext"`
	Trustees   []int    `json:"trustees"` // S
	Lagrange   []string `json:"lagrange"` // λ_j for j in S, in order
	Sum        string   `json:"combined_share"`
	Decrypted  string   `json:"decrypted"` // B - Σ λ_j·M_j = message·K
	Message    uint64   `json:"message"`
}

func TestCombinationVectors(t *testing.T) {
	_, shares, vks, K := ceremony(t)
	var vs []combinationVector
	for _, m := range []uint64{0, 3} {
		_, ct, pds := partials(t, shares, K, m)
		mK := group.NewElement().ScalarMult(group.NewScalar().SetUint64(m), K)
		for _, set := range [][]int{{1, 2}, {1, 3}, {2, 3}} {
			lambda, err := threshold.LagrangeCoefficients(set)
			if err != nil {
				t.Fatal(err)
			}
			cv := combinationVector{Ciphertext: hx(ct.Bytes()), Trustees: set, Message: m}
			sum := group.NewElement()
			var chosen []*threshold.PartialDecryption
			for _, j := range set {
				cv.Lagrange = append(cv.Lagrange, hx(lambda[j].Bytes()))
				sum.Add(sum, group.NewElement().ScalarMult(lambda[j], &pds[j-1].Share))
				chosen = append(chosen, pds[j-1])
			}
			dec := group.NewElement().Subtract(&ct.B, sum)
			if dec.Equal(mK) != 1 {
				t.Fatalf("trustees %v: the combination is not message·K", set)
			}
			res, err := threshold.Combine(ctx, ceremonyT, ct, chosen, vks)
			if err != nil || res.Equal(dec) != 1 {
				t.Fatalf("trustees %v: Combine gives %v, %v", set, res, err)
			}
			cv.Sum, cv.Decrypted = hx(sum.Bytes()), hx(dec.Bytes())
			vs = append(vs, cv)
		}
	}
	check(t, "combination.json", "Combinations (protocol.md, section 11.2) of partial_decryption.json's partial "+
		"decryptions, for each set S of T = 2 trustees: lagrange[k] is λ_j = Π_{i in S, i != j} i / (i - j) mod l "+
		"for the k-th j of S, combined_share is Σ_{j in S} λ_j·M_j, decrypted is B - combined_share, which equals "+
		"message·K for the ceremony's joint key K. Every pair gives the same decryption; a combiner uses the T "+
		"smallest trustee numbers with a valid partial decryption.", vs)
}

// TestVerifyPartialVectorsFromBytes verifies the partial decryption vectors from their encodings alone, as
// another implementation would, and checks that each is refused for another trustee's verification key.
func TestVerifyPartialVectorsFromBytes(t *testing.T) {
	var vs []partialsVector
	load(t, "partial_decryption.json", &vs)
	if len(vs) == 0 {
		t.Fatal("partial_decryption.json: no vectors")
	}
	for _, v := range vs {
		var ct elgamal.Ciphertext
		if _, err := ct.SetCanonicalBytes(unhex(t, v.Ciphertext)); err != nil {
			t.Fatal(err)
		}
		c := zkp.Context{Election: unhex(t, v.Election), Bind: unhex(t, v.Bind)}
		for i, p := range v.Partials {
			pd, err := threshold.ParsePartialDecryption(unhex(t, p.Encoding))
			if err != nil {
				t.Fatal(err)
			}
			vk, err := group.NewElement().SetCanonicalBytes(unhex(t, p.VerificationKey))
			if err != nil {
				t.Fatal(err)
			}
			if err := pd.Verify(c, &ct, vk); err != nil {
				t.Fatalf("%s: trustee %d: %v", v.Seed, p.Trustee, err)
			}
			other, err := group.NewElement().SetCanonicalBytes(unhex(t, v.Partials[(i+1)%len(v.Partials)].VerificationKey))
			if err != nil {
				t.Fatal(err)
			}
			if pd.Verify(c, &ct, other) == nil {
				t.Fatalf("%s: trustee %d's partial decryption verifies under another trustee's key", v.Seed, p.Trustee)
			}
		}
	}
}

package kat

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/internal/transcript"
	"github.com/recount-vote/recount/crypto/zkp"
	"github.com/recount-vote/recount/internal/drbg"
)

var update = flag.Bool("update", false, "rewrite the known-answer vectors in testdata/vectors/primitives")

// testdata is where the vectors are published, with the conformance records (docs/vectors.md).
const testdata = "../../testdata/vectors/primitives"

// Every vector file has this header; "vectors" holds the cases. Byte strings are lowercase hex.
type file struct {
	Description string `json:"description"`
	Randomness  string `json:"randomness"`
	Vectors     any    `json:"vectors"`
}

const randomnessNote = "Secrets and nonces come from the stream SHA-256(seed || uint64be(0)) || SHA-256(seed || uint64be(1)) || ..., " +
	"seed being the vector's ASCII seed; a scalar is 64 bytes of the stream read as a little-endian integer reduced " +
	"modulo the group order, drawn in the order the description gives."

func hx(b []byte) string { return hex.EncodeToString(b) }

func scalar(t *testing.T, d *drbg.DRBG) *group.Scalar {
	s, err := group.RandomScalar(d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// check compares the generated vectors with the file, or rewrites the file with -update.
func check(t *testing.T, name, description string, vectors any) {
	t.Helper()
	got, err := json.MarshalIndent(file{Description: description, Randomness: randomnessNote, Vectors: vectors}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join(testdata, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./crypto/kat -update to write the vectors)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: the code no longer reproduces the known-answer vectors byte for byte", path)
	}
}

// load reads back a vector file for the tests that verify vectors from their bytes alone.
func load(t *testing.T, name string, vectors any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &file{Vectors: vectors}); err != nil {
		t.Fatal(err)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	election = bytes.Repeat([]byte{0x42}, 32) // the election identity of every vector
	bind     = []byte("contest 1, option 2")
	ctx      = zkp.Context{Election: election, Bind: bind}
)

type groupVector struct {
	Seed    string `json:"seed"`
	Uniform string `json:"uniform_bytes"` // 64 bytes
	Scalar  string `json:"scalar"`        // uniform_bytes mod l
	Element string `json:"element"`       // scalar·g
	Double  string `json:"double"`        // 2·scalar·g
	Sum     string `json:"sum_with_previous"`
}

func TestGroupVectors(t *testing.T) {
	var vs []groupVector
	prev := group.NewElement()
	for i := 0; i < 8; i++ {
		seed := fmt.Sprintf("recount kat group %d", i)
		u := make([]byte, 64)
		drbg.New(seed).Read(u)
		s, _ := group.NewScalar().SetUniformBytes(u)
		e := group.NewElement().ScalarBaseMult(s)
		vs = append(vs, groupVector{
			Seed: seed, Uniform: hx(u), Scalar: hx(s.Bytes()), Element: hx(e.Bytes()),
			Double: hx(group.NewElement().Double(e).Bytes()), Sum: hx(group.NewElement().Add(e, prev).Bytes()),
		})
		prev = e
	}
	check(t, "group.json", "ristretto255 (RFC 9496) and its scalars. uniform_bytes is the seed's first 64 bytes of "+
		"stream; scalar is their little-endian value modulo l (32 bytes, little-endian); element is the RFC 9496 "+
		"encoding of scalar·g for the RFC 9496 generator g; double encodes 2·element; sum_with_previous encodes "+
		"element + the previous vector's element (the identity for the first).", vs)
}

type transcriptVector struct {
	Protocol  string      `json:"protocol"`
	Election  string      `json:"election"`
	Fields    [][2]string `json:"fields"` // name (ASCII), value (hex)
	Challenge string      `json:"challenge_name"`
	Input     string      `json:"hash_input"`
	Digest    string      `json:"sha512"`
	Scalar    string      `json:"challenge"`
	Second    string      `json:"second_challenge"` // Challenge("c2") right after
}

func TestTranscriptVectors(t *testing.T) {
	var vs []transcriptVector
	cases := []struct {
		protocol string
		fields   [][2]string
	}{
		{"recount/test/v1", nil},
		{zkp.RangeProofLabel, [][2]string{{"context", hx(bind)}, {"K", hx(group.Generator().Bytes())}, {"min", "0000000000000000"}, {"max", "0000000000000001"}}},
		{"recount/test/v1", [][2]string{{"", ""}, {"empty value", ""}, {"x", "00ff"}}},
	}
	for _, c := range cases {
		tr := transcript.New(c.protocol, election)
		var in []byte
		frame := func(name, value []byte) {
			in = append(in, byte(len(name)>>24), byte(len(name)>>16), byte(len(name)>>8), byte(len(name)))
			in = append(in, name...)
			in = append(in, byte(len(value)>>24), byte(len(value)>>16), byte(len(value)>>8), byte(len(value)))
			in = append(in, value...)
		}
		frame([]byte(transcript.Domain), []byte(c.protocol))
		frame([]byte("election"), election)
		for _, f := range c.fields {
			v := unhex(t, f[1])
			tr.AppendBytes(f[0], v)
			frame([]byte(f[0]), v)
		}
		frame([]byte("challenge"), []byte("c"))
		digest := sha512.Sum512(in)
		ch := tr.Challenge("c")
		want, _ := group.NewScalar().SetUniformBytes(digest[:])
		if ch.Equal(want) != 1 {
			t.Fatal("the transcript's challenge is not SHA-512 of its documented input")
		}
		vs = append(vs, transcriptVector{Protocol: c.protocol, Election: hx(election), Fields: c.fields, Challenge: "c",
			Input: hx(in), Digest: hx(digest[:]), Scalar: hx(ch.Bytes()), Second: hx(tr.Challenge("c2").Bytes())})
	}
	check(t, "transcript.json", "Fiat-Shamir transcripts: New(protocol, election), then AppendBytes(name, value) for each "+
		"field, then Challenge(challenge_name). hash_input is the exact SHA-512 input, sha512 its digest, challenge the "+
		"digest as a little-endian integer modulo l; second_challenge is Challenge(\"c2\") taken next.", vs)
}

type elgamalVector struct {
	Seed       string `json:"seed"`
	Secret     string `json:"secret_key"`
	Public     string `json:"public_key"`
	Message    uint64 `json:"message"`
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"` // A || B
	Decrypted  string `json:"decrypted"`  // B - s·A = m·K
}

func TestElGamalVectors(t *testing.T) {
	var vs []elgamalVector
	for i, m := range []uint64{0, 1, 2, 1000, 1<<64 - 1} {
		seed := fmt.Sprintf("recount kat elgamal %d", i)
		d := drbg.New(seed)
		s := scalar(t, d)
		sk := elgamal.NewSecretKey(s)
		pk, err := elgamal.NewPublicKey(group.NewElement().ScalarBaseMult(s))
		if err != nil {
			t.Fatal(err)
		}
		nonce := scalar(t, d)
		ct := pk.Encrypt(m, nonce)
		vs = append(vs, elgamalVector{Seed: seed, Secret: hx(s.Bytes()), Public: hx(pk.Bytes()), Message: m,
			Nonce: hx(nonce.Bytes()), Ciphertext: hx(ct.Bytes()), Decrypted: hx(sk.Decrypt(ct).Bytes())})
	}
	check(t, "elgamal.json", "Exponential ElGamal, ElectionGuard 2.0 form: public_key K = s·g; "+
		"ciphertext (A, B) = (nonce·g, (nonce + message)·K), 64 bytes A || B; decrypted = B - s·A = message·K. "+
		"Drawn: secret_key, then nonce.", vs)
}

type sigmaVector struct {
	Seed       string `json:"seed"`
	Election   string `json:"election"`
	Bind       string `json:"context"`
	Secret     string `json:"secret"`
	H          string `json:"H,omitempty"`
	X          string `json:"X"`
	Y          string `json:"Y,omitempty"`
	Nonce      string `json:"prover_nonce"`
	Commitment string `json:"commitment"` // R, or a || b
	Proof      string `json:"proof"`      // c || z
}

func TestSchnorrVectors(t *testing.T) {
	var vs []sigmaVector
	for i := 0; i < 3; i++ {
		seed := fmt.Sprintf("recount kat schnorr %d", i)
		d := drbg.New(seed)
		x := scalar(t, d)
		X := group.NewElement().ScalarBaseMult(x)
		state := *d
		w := scalar(t, &state)
		p, err := zkp.ProveSchnorr(ctx, x, X, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(ctx, X); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, sigmaVector{Seed: seed, Election: hx(election), Bind: hx(bind), Secret: hx(x.Bytes()), X: hx(X.Bytes()),
			Nonce: hx(w.Bytes()), Commitment: hx(group.NewElement().ScalarBaseMult(w).Bytes()), Proof: hx(p.Bytes())})
	}
	check(t, "schnorr.json", "Schnorr proofs of knowledge of secret = log_g X, label "+zkp.SchnorrLabel+
		". Drawn: secret, then prover_nonce w; commitment R = w·g; proof c || z.", vs)
}

func TestChaumPedersenVectors(t *testing.T) {
	var vs []sigmaVector
	for i := 0; i < 3; i++ {
		seed := fmt.Sprintf("recount kat chaum-pedersen %d", i)
		d := drbg.New(seed)
		s := scalar(t, d)
		H := group.NewElement().ScalarBaseMult(scalar(t, d))
		X := group.NewElement().ScalarBaseMult(s)
		Y := group.NewElement().ScalarMult(s, H)
		state := *d
		w := scalar(t, &state)
		p, err := zkp.ProveChaumPedersen(ctx, s, H, X, Y, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(ctx, H, X, Y); err != nil {
			t.Fatal(err)
		}
		com := append(group.NewElement().ScalarBaseMult(w).Bytes(), group.NewElement().ScalarMult(w, H).Bytes()...)
		vs = append(vs, sigmaVector{Seed: seed, Election: hx(election), Bind: hx(bind), Secret: hx(s.Bytes()), H: hx(H.Bytes()),
			X: hx(X.Bytes()), Y: hx(Y.Bytes()), Nonce: hx(w.Bytes()), Commitment: hx(com), Proof: hx(p.Bytes())})
	}
	check(t, "chaum_pedersen.json", "Chaum-Pedersen proofs that log_g X = log_H Y (= secret), label "+zkp.ChaumPedersenLabel+
		". Drawn: secret, then h with H = h·g, then prover_nonce w; commitment a || b = w·g || w·H; proof c || z.", vs)
}

type rangeVector struct {
	Seed        string   `json:"seed"`
	Election    string   `json:"election"`
	Bind        string   `json:"context"`
	Public      string   `json:"public_key"`
	Min         uint64   `json:"min"`
	Max         uint64   `json:"max"`
	Message     uint64   `json:"message"`
	Nonce       string   `json:"nonce"`
	Ciphertext  string   `json:"ciphertext"`
	Commitments []string `json:"commitments"` // a_j || b_j for j = min..max
	Challenge   string   `json:"challenge"`   // c = Σ c_j
	Proof       string   `json:"proof"`       // a_min || b_min || c_min || v_min || ... || a_max || b_max || c_max || v_max
}

func rangeVectors(t *testing.T, min, max uint64, messages []uint64) []rangeVector {
	var vs []rangeVector
	for _, m := range messages {
		seed := fmt.Sprintf("recount kat range %d..%d message %d", min, max, m)
		d := drbg.New(seed)
		s := scalar(t, d)
		pk, err := elgamal.NewPublicKey(group.NewElement().ScalarBaseMult(s))
		if err != nil {
			t.Fatal(err)
		}
		ct, nonce, p, err := zkp.EncryptInRange(ctx, pk, m, min, max, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(ctx, pk, ct, min, max); err != nil {
			t.Fatal(err)
		}
		// The commitments, recomputed the textbook way from the proof's scalars, must be the ones it carries.
		enc := p.Bytes()
		var coms []string
		sum := group.NewScalar()
		for j := min; j <= max; j++ {
			i := zkp.RangeProofValueSize * (j - min)
			c, _ := group.NewScalar().SetCanonicalBytes(enc[i+64 : i+96])
			v, _ := group.NewScalar().SetCanonicalBytes(enc[i+96 : i+128])
			sum.Add(sum, c)
			negC := group.NewScalar().Negate(c)
			a := group.NewElement().Add(group.NewElement().ScalarBaseMult(v), group.NewElement().ScalarMult(negC, &ct.A))
			bj := group.NewElement().Subtract(&ct.B, group.NewElement().ScalarMult(group.NewScalar().SetUint64(j), pk.Element()))
			b := group.NewElement().Add(group.NewElement().ScalarMult(v, pk.Element()), group.NewElement().ScalarMult(negC, bj))
			coms = append(coms, hx(append(a.Bytes(), b.Bytes()...)))
			if hx(enc[i:i+64]) != coms[len(coms)-1] {
				t.Fatalf("%s: the proof's commitments for j = %d are not the ones recomputed", seed, j)
			}
		}
		vs = append(vs, rangeVector{Seed: seed, Election: hx(election), Bind: hx(bind), Public: hx(pk.Bytes()), Min: min, Max: max,
			Message: m, Nonce: hx(nonce.Bytes()), Ciphertext: hx(ct.Bytes()), Commitments: coms, Challenge: hx(sum.Bytes()), Proof: hx(enc)})
	}
	return vs
}

const rangeDescription = "Range proofs, label " + zkp.RangeProofLabel + ", that ciphertext (A, B) = (nonce·g, (nonce + message)·K) " +
	"encrypts a value in [min, max]. Drawn: the secret key s (public_key K = s·g), the nonce, then for j = min..max " +
	"in order c'_j and v'_j (the prover's use of them is in docs/protocol.md). commitments[j - min] is a_j || b_j, " +
	"challenge is the Fiat-Shamir challenge c = Σ c_j, proof is a_min || b_min || c_min || v_min || ... || a_max || b_max || c_max || v_max " +
	"(128 bytes per value: the commitments, then the challenge and response)."

func TestRangeProofVectors(t *testing.T) {
	check(t, "range_proof_0_1.json", rangeDescription, rangeVectors(t, 0, 1, []uint64{0, 1}))
	check(t, "range_proof_0_5.json", rangeDescription, rangeVectors(t, 0, 5, []uint64{0, 3, 5}))
}

// TestVerifyRangeVectorsFromBytes verifies the range-proof vectors from their encodings alone, as another
// implementation would.
func TestVerifyRangeVectorsFromBytes(t *testing.T) {
	for _, name := range []string{"range_proof_0_1.json", "range_proof_0_5.json"} {
		var vs []rangeVector
		load(t, name, &vs)
		if len(vs) == 0 {
			t.Fatalf("%s: no vectors", name)
		}
		for _, v := range vs {
			pk, err := elgamal.ParsePublicKey(unhex(t, v.Public))
			if err != nil {
				t.Fatal(err)
			}
			var ct elgamal.Ciphertext
			if _, err := ct.SetCanonicalBytes(unhex(t, v.Ciphertext)); err != nil {
				t.Fatal(err)
			}
			p, err := zkp.ParseRangeProof(unhex(t, v.Proof), v.Min, v.Max)
			if err != nil {
				t.Fatal(err)
			}
			c := zkp.Context{Election: unhex(t, v.Election), Bind: unhex(t, v.Bind)}
			if err := p.Verify(c, pk, &ct, v.Min, v.Max); err != nil {
				t.Fatalf("%s: %s: %v", name, v.Seed, err)
			}
			bt := zkp.NewRangeBatch(pk)
			if err := bt.Add(c, p, &ct, unhex(t, v.Ciphertext), v.Min, v.Max); err != nil {
				t.Fatalf("%s: %s: batched: %v", name, v.Seed, err)
			}
			if i, err := bt.Verify(); err != nil {
				t.Fatalf("%s: %s: batched: proof %d: %v", name, v.Seed, i, err)
			}
			// The commitments and the challenge are the vector's own fields.
			proof := unhex(t, v.Proof)
			sum := group.NewScalar()
			for i, com := range v.Commitments {
				rec := proof[zkp.RangeProofValueSize*i : zkp.RangeProofValueSize*(i+1)]
				if hx(rec[:64]) != com {
					t.Fatalf("%s: %s: commitments[%d] is not the proof's a_j || b_j", name, v.Seed, i)
				}
				cj, err := group.NewScalar().SetCanonicalBytes(rec[64:96])
				if err != nil {
					t.Fatal(err)
				}
				sum.Add(sum, cj)
			}
			if hx(sum.Bytes()) != v.Challenge {
				t.Fatalf("%s: %s: the proof's challenges do not add up to the vector's challenge", name, v.Seed)
			}
		}
	}
}

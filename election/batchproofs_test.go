package election_test

import (
	"fmt"
	"testing"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/zkp"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// TestCheckProofsBatchedAgrees checks the ballot's batched proof check (CheckProofs, one multi-scalar
// multiplication per ballot) against the one-at-a-time reference (CheckProofsOneByOne) on the demo's ballot: the
// honest ballot passes both; a ballot with one input changed and signed again (each commitment, challenge and
// response of the first and last values of every proof, each ciphertext's A and B, the credential the proofs are
// bound to) fails both, with the same error naming the same proof; so does a ballot with two changes (the first
// named); and the ballot checked under another election's manifest and key fails both. Under -short, a sample.
func TestCheckProofsBatchedAgrees(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 2, Manifest: demoShape(), Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	pk := e.State.Key().PublicKey
	pb, err := election.EncryptBallot(e.Manifest, pk, e.Credentials[0], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := pb.DraftCast().Payload
	check := func(what string, payload []byte, m *election.Manifest, pk *elgamal.PublicKey, wantFail bool) {
		t.Helper()
		b, err := election.ParseBallot(m, payload)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		batched, each := b.CheckProofs(m, pk), b.CheckProofsOneByOne(m, pk)
		if (batched != nil) != wantFail || (each != nil) != wantFail {
			t.Fatalf("%s: want failure %v; batched: %v; one by one: %v", what, wantFail, batched, each)
		}
		if wantFail && batched.Error() != each.Error() {
			t.Fatalf("%s: batched %q, one by one %q", what, batched, each)
		}
	}
	check("honest ballot", payload, e.Manifest, pk, false)

	// Changes to one 32-byte field of a proof: a commitment moved by g (a valid element), a scalar plus one.
	plusG := func(f []byte) {
		x, err := group.NewElement().SetCanonicalBytes(f)
		if err != nil {
			t.Fatal(err)
		}
		copy(f, x.Add(x, group.Generator()).Bytes())
	}
	plusOne := func(f []byte) {
		x, err := group.NewScalar().SetCanonicalBytes(f)
		if err != nil {
			t.Fatal(err)
		}
		copy(f, x.Add(x, group.NewScalar().SetUint64(1)).Bytes())
	}
	type change struct {
		what string
		f    func(*recordv1.Ballot)
	}
	var changes []change
	proofField := func(name string, proof func(*recordv1.Ballot) []byte) {
		var probe recordv1.Ballot
		resignProbe(t, payload, &probe)
		values := len(proof(&probe)) / zkp.RangeProofValueSize
		for _, i := range []int{0, values - 1} {
			for k, field := range []string{"a", "b", "c", "v"} {
				mutate := plusG
				if k >= 2 {
					mutate = plusOne
				}
				off := i*zkp.RangeProofValueSize + 32*k
				changes = append(changes, change{fmt.Sprintf("%s %s[%d]", name, field, i), func(b *recordv1.Ballot) {
					mutate(proof(b)[off : off+32])
				}})
			}
		}
	}
	contests := [][2]int{{0, 0}, {1, 5}, {2, 3}}
	if testing.Short() {
		contests = [][2]int{{0, 0}, {2, 3}}
	}
	for _, co := range contests {
		c, o := co[0], co[1]
		proofField(fmt.Sprintf("contest %d option %d proof", c, o), func(b *recordv1.Ballot) []byte { return b.Contests[c].Proofs[o] })
		proofField(fmt.Sprintf("contest %d total proof", c), func(b *recordv1.Ballot) []byte { return b.Contests[c].TotalProof })
		for k, part := range []string{"A", "B"} {
			changes = append(changes, change{fmt.Sprintf("contest %d option %d ciphertext %s", c, o, part), func(b *recordv1.Ballot) {
				plusG(b.Contests[c].Ciphertexts[o][32*k : 32*k+32])
			}})
		}
	}
	for _, ch := range changes {
		check(ch.what, resign(t, e, payload, 0, ch.f), e.Manifest, pk, true)
	}
	for i := 0; i+1 < len(changes); i += 5 {
		a, b := changes[i], changes[len(changes)-1-i]
		check(a.what+" and "+b.what, resign(t, e, payload, 0, func(x *recordv1.Ballot) { b.f(x); a.f(x) }), e.Manifest, pk, true)
	}

	// The proofs moved to voter 1's credential, signed by it: every proof is bound to voter 0's.
	moved := resign(t, e, payload, 1, func(b *recordv1.Ballot) {
		cred := e.Credentials[1].PublicKey()
		b.Credential = cred[:]
	})
	check("proofs moved to another credential", moved, e.Manifest, pk, true)

	// Another election of the same shape: its manifest (the proofs' election) and its key.
	other, err := electiontest.Setup(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 1, Manifest: demoShape(), Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	check("another election's manifest and key", payload, other.Manifest, other.State.Key().PublicKey, true)
	check("another election's key", payload, e.Manifest, other.State.Key().PublicKey, true)
}

// resignProbe decodes the Ballot inside a SignedBallot payload.
func resignProbe(t *testing.T, payload []byte, b *recordv1.Ballot) {
	t.Helper()
	var sb recordv1.SignedBallot
	if err := election.StrictUnmarshal(payload, &sb); err != nil {
		t.Fatal(err)
	}
	if err := election.StrictUnmarshal(sb.Ballot, b); err != nil {
		t.Fatal(err)
	}
}

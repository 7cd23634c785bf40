package election_test

import (
	"strings"
	"testing"

	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// TestNewTrustee finds each trustee's index from its keys, and refuses keys the manifest does not name, and keys
// whose signing half is a trustee's but whose encryption half is not.
func TestNewTrustee(t *testing.T) {
	e, err := electiontest.Prepare(electiontest.Config{Trustees: 3, Threshold: 2, Voters: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range e.Trustees {
		tr, err := election.NewTrustee(e.Manifest, want.Keys)
		if err != nil {
			t.Fatalf("trustee %d: %v", want.Index, err)
		}
		if tr.Index() != want.Index || tr.Manifest() != e.Manifest {
			t.Errorf("trustee %d: index %d", want.Index, tr.Index())
		}
	}
	stranger, err := election.GenerateTrusteeKeys(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := election.NewTrustee(e.Manifest, stranger); err == nil || !strings.Contains(err.Error(), "not among the trustees") {
		t.Errorf("keys not in the manifest: %v", err)
	}
	// Trustee 2's signing key with the stranger's encryption key.
	mixed, err := election.ParseTrusteeKeys(append(e.Trustees[1].Keys.Bytes()[:32:32], stranger.Bytes()[32:]...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := election.NewTrustee(e.Manifest, mixed); err == nil || !strings.Contains(err.Error(), "another encryption key") {
		t.Errorf("another encryption key: %v", err)
	}
}

// TestTrusteePartialDecryptionShareIndex refuses to draft a partial decryption with another trustee's key share.
func TestTrusteePartialDecryptionShareIndex(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	tr, err := election.NewTrustee(e.Manifest, e.Trustees[0].Keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.DraftPartialDecryption(e.Trustees[1].Share, e.State, nil); err == nil || !strings.Contains(err.Error(), "trustee 2's, not trustee 1's") {
		t.Errorf("another trustee's key share: %v", err)
	}
}

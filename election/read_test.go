package election_test

import (
	"reflect"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// withUnknownField returns payload with a field its message does not define appended: a plain protobuf reader
// skips it, the record's readers must not.
func withUnknownField(payload []byte) []byte {
	b := protowire.AppendTag(slices.Clone(payload), 99, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

// TestReadersOutsideState: the exported readers that servers and the CLI use (TrusteeSigner, RevealRecipient,
// ParseCounted, ParseResult) read what State reads, and refuse what State refuses to decode.
func TestReadersOutsideState(t *testing.T) {
	t.Parallel()
	e := honestElection(t)

	res := e.Entries[electiontest.Find(e.Entries, election.KindResult, 0)].Payload
	got, err := election.ParseResult(e.Manifest, res)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.State.Result(); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseResult = %+v, State.Result = %+v", got, want)
	}
	if _, err := election.ParseResult(e.Manifest, withUnknownField(res)); err == nil {
		t.Error("ParseResult took a payload with an unknown field")
	}
	if _, err := election.ParseResult(e.Manifest, mustMarshal(t, &recordv1.Result{Trustees: []uint32{1, 2}})); err == nil {
		t.Error("ParseResult took a result without contests")
	}

	et := e.Entries[electiontest.Find(e.Entries, election.KindEncryptedTally, 0)].Payload
	list, err := election.ParseCounted(et)
	if err != nil {
		t.Fatal(err)
	}
	if want := counted(t, e.Entries); !slices.Equal(list, want) || len(list) != 12 {
		t.Errorf("ParseCounted = %v, want %v (12 voters)", list, want)
	}
	if _, err := election.ParseCounted(withUnknownField(et)); err == nil {
		t.Error("ParseCounted took a payload with an unknown field")
	}

	for n := range 3 {
		pd := e.Entries[electiontest.Find(e.Entries, election.KindPartialDecryption, n)].Payload
		if j, err := election.TrusteeSigner(pd); err != nil || j < 1 || j > 3 {
			t.Errorf("partial decryption %d: TrusteeSigner = %d, %v", n, j, err)
		}
		if _, err := election.TrusteeSigner(withUnknownField(pd)); err == nil {
			t.Errorf("partial decryption %d: TrusteeSigner took a payload with an unknown field", n)
		}
	}

	body := mustMarshal(t, &recordv1.KeyReveal{Recipient: 3, Share: make([]byte, 32)})
	reveal := mustMarshal(t, &recordv1.TrusteeSigned{Trustee: 2, Body: body, Signature: make([]byte, 64)})
	if j, err := election.TrusteeSigner(reveal); err != nil || j != 2 {
		t.Errorf("reveal: TrusteeSigner = %d, %v, want 2", j, err)
	}
	if r, err := election.RevealRecipient(reveal); err != nil || r != 3 {
		t.Errorf("RevealRecipient = %d, %v, want 3", r, err)
	}
	hidden := mustMarshal(t, &recordv1.TrusteeSigned{Trustee: 2, Body: withUnknownField(body), Signature: make([]byte, 64)})
	if _, err := election.RevealRecipient(hidden); err == nil {
		t.Error("RevealRecipient took a body with an unknown field")
	}
}

package election_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// TestAdmitLeavesNoTrace replays an honest election through Admit (ballots through CheckBallot and
// ApplyChecked, as the node does) and, before every entry that is not a ballot, offers Admit a faulty version
// of it, made so that State.Apply would have changed the state before finding the fault. Each must be refused,
// and the honest entry that follows must still be admitted: a refused entry leaves no trace.
func TestAdmitLeavesNoTrace(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	m := e.Manifest
	s := election.NewState()
	resign := func(en election.Entry, change func(body []byte) []byte) []byte {
		var ts recordv1.TrusteeSigned
		if err := proto.Unmarshal(en.Payload, &ts); err != nil {
			t.Fatal(err)
		}
		keys := e.Trustees[ts.Trustee-1].Keys
		return keys.DraftSigned(m, en.Kind, int(ts.Trustee), change(slices.Clone(ts.Body))).Payload
	}
	remarshal := func(payload []byte, msg proto.Message, change func()) []byte {
		if err := proto.Unmarshal(payload, msg); err != nil {
			t.Fatal(err)
		}
		change()
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var firstCredentials []byte
	refused := 0
	for _, en := range e.Entries {
		var bad [][]byte
		if en.Kind != election.KindBallot && en.Kind != election.KindSpoiledBallot {
			bad = append(bad, []byte{0xff, 0xff})
		}
		switch en.Kind {
		case election.KindCredentials:
			if firstCredentials != nil {
				bad = append(bad, firstCredentials)
			}
		case election.KindKeyCommitment:
			bad = append(bad, resign(en, func(body []byte) []byte {
				var kc recordv1.KeyCommitment
				return remarshal(body, &kc, func() { kc.Coefficients[0], kc.Coefficients[1] = kc.Coefficients[1], kc.Coefficients[0] })
			}))
		case election.KindElectionKey:
			var k recordv1.ElectionKey
			bad = append(bad, remarshal(en.Payload, &k, func() { k.JointKey = k.VerificationKeys[0] }))
		case election.KindEncryptedTally:
			var tl recordv1.EncryptedTally
			bad = append(bad, remarshal(en.Payload, &tl, func() { tl.Counted = tl.Counted[1:] }))
		case election.KindPartialDecryption:
			bad = append(bad, resign(en, func(body []byte) []byte {
				var pd recordv1.PartialDecryption
				return remarshal(body, &pd, func() {
					sh := pd.Contests[0].Shares
					sh[0], sh[1] = sh[1], sh[0]
				})
			}))
		case election.KindResult:
			var r recordv1.Result
			bad = append(bad, remarshal(en.Payload, &r, func() { r.Contests[0].Counts[0]++ }))
		}
		for i, payload := range bad {
			if errs := s.Admit(election.Entry{Index: en.Index, Kind: en.Kind, Payload: payload}); len(errs) == 0 {
				t.Fatalf("entry %d (%s): faulty version %d admitted", en.Index, en.Kind, i)
			}
			refused++
		}
		var errs []*election.CheckError
		if en.Kind == election.KindBallot || en.Kind == election.KindSpoiledBallot {
			bc := election.CheckBallot(m, s.Key().PublicKey, en)
			if err := bc.Err(); err != nil {
				t.Fatalf("entry %d: %v", en.Index, err)
			}
			if ce := s.CheckBallotAdmission(bc.Ballot()); ce != nil {
				t.Fatalf("entry %d: %v", en.Index, ce)
			}
			errs = s.ApplyChecked(en, bc)
			if errs2 := s.Admit(en); len(errs2) == 0 {
				t.Fatalf("entry %d: Admit took a ballot", en.Index)
			}
		} else {
			errs = s.Admit(en)
		}
		if len(errs) > 0 {
			t.Fatalf("entry %d (%s), honest, refused after a faulty version: %v", en.Index, en.Kind, errs[0])
		}
		if en.Kind == election.KindCredentials && firstCredentials == nil {
			firstCredentials = en.Payload
		}
	}
	if refused < len(e.Entries)/2 {
		t.Fatalf("only %d faulty entries tried", refused)
	}
	if !s.HasResult() || s.Size() != uint64(len(e.Entries)) {
		t.Fatalf("the replayed state has no result or %d entries", s.Size())
	}
	rep, err := election.Verify(context.Background(), electiontest.Seq(e.Entries), election.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("the honest record no longer verifies: %v %v", err, rep.Failures)
	}
	for c, cc := range s.Result().Contests {
		for o, oc := range cc.Options {
			if oc.Count != rep.Result.Contests[c].Options[o].Count {
				t.Errorf("contest %d option %d: %d, verifier %d", c, o, oc.Count, rep.Result.Contests[c].Options[o].Count)
			}
		}
	}
}

// TestCheckChangesNothing: the checks of an entry, honest or faulty, at its place or not, leave the state exactly
// as it was, whatever they find: every apply step changes the state in its commit only, which is what makes a
// refused entry leave no trace (Admit). Two states built alike are compared field by field (stateDiff),
// one of them after the checks of every variant of the next entry: the honest one, a faulty ballot, a payload
// that does not decode, the entry with its last byte changed, the next one (out of place), and the first entry
// of each kind put in its place.
func TestCheckChangesNothing(t *testing.T) {
	t.Parallel()
	e := honestElection(t)
	faulty, _, _ := faultyBallots(t, e)
	firstOfKind := map[election.Kind][]byte{}
	var kinds []election.Kind
	for _, en := range e.Entries {
		if _, ok := firstOfKind[en.Kind]; !ok {
			firstOfKind[en.Kind] = en.Payload
			kinds = append(kinds, en.Kind)
		}
	}
	checked, failed := 0, 0
	a, b := election.NewState(), election.NewState()
	for i, en := range e.Entries {
		// -short and -race check the variants of every entry but the ballots, and of one ballot in eight: the
		// ballots' checks share one code path, and their variants are most of the test's time. The full run
		// without -race checks all.
		sample := !(testing.Short() || raceEnabled) || (en.Kind != election.KindBallot && en.Kind != election.KindSpoiledBallot) || i%8 == 0
		changed := slices.Clone(en.Payload)
		changed[len(changed)-1] ^= 1
		variants := []election.Entry{en, faulty[i], {Index: en.Index, Kind: en.Kind, Payload: []byte{0xff, 0xff}},
			{Index: en.Index, Kind: en.Kind, Payload: changed}}
		if i+1 < len(e.Entries) {
			variants = append(variants, e.Entries[i+1])
		}
		for _, k := range kinds {
			variants = append(variants, election.Entry{Index: en.Index, Kind: k, Payload: firstOfKind[k]})
		}
		if !sample {
			variants = nil
		}
		for _, v := range variants {
			errs := election.CheckOnly(a, v)
			checked++
			if len(errs) > 0 {
				failed++
			}
			if d := stateDiff(a, b); d != "" {
				t.Fatalf("checking a %s at entry %d (in place of entry %d, a %s; failures %v) changed the state: %s", v.Kind, v.Index, i, en.Kind, errs, d)
			}
		}
		if errs := a.Apply(en); len(errs) > 0 {
			t.Fatalf("entry %d: %v", i, errs)
		}
		b.Apply(en)
		if d := stateDiff(a, b); d != "" {
			t.Fatalf("two states differ after entry %d: %s", i, d)
		}
	}
	if failed == 0 || failed == checked {
		t.Fatalf("%d of %d variants failed their checks: the test does not check both ways", failed, checked)
	}
}

// TestAdmissionKeepsSignatureVerdicts: once State.CheckBallotAdmission has found a ballot's credential listed, the
// ballot's signature check skips the key rule's check (every listed key passed it); the verdict must be the one
// the full check gives, for an honest ballot, a ballot whose signature is changed, and a ballot under a key that
// is on no list and breaks the key rule (a point of small order), which admission leaves to the full check.
func TestAdmissionKeepsSignatureVerdicts(t *testing.T) {
	t.Parallel()
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := election.EncryptBallot(e.Manifest, e.State.Key().PublicKey, e.Credentials[0], election.RandomChoices(e.Manifest, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	honest := pb.DraftCast().Payload
	resign := func(change func(sb *recordv1.SignedBallot, b *recordv1.Ballot)) []byte {
		var sb recordv1.SignedBallot
		var b recordv1.Ballot
		if err := proto.Unmarshal(honest, &sb); err != nil {
			t.Fatal(err)
		}
		if err := proto.Unmarshal(sb.Ballot, &b); err != nil {
			t.Fatal(err)
		}
		change(&sb, &b)
		body, err := proto.MarshalOptions{Deterministic: true}.Marshal(&b)
		if err != nil {
			t.Fatal(err)
		}
		sb.Ballot = body
		out, err := proto.MarshalOptions{Deterministic: true}.Marshal(&sb)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	smallOrder := make([]byte, 32)
	smallOrder[0] = 1 // the identity, of order 1
	for _, c := range []struct {
		name    string
		payload []byte
		fails   bool
		says    string // what the failure says
	}{
		{"honest", honest, false, ""},
		{"signature changed", resign(func(sb *recordv1.SignedBallot, _ *recordv1.Ballot) { sb.Signature[5] ^= 1 }), true, "does not verify"},
		{"small-order credential", resign(func(_ *recordv1.SignedBallot, b *recordv1.Ballot) { b.Credential = smallOrder }), true, "small order"},
	} {
		full, err := election.ParseBallot(e.Manifest, c.payload)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		admitted, _ := election.ParseBallot(e.Manifest, c.payload)
		e.State.CheckBallotAdmission(admitted)
		want, got := full.CheckSignature(), admitted.CheckSignature()
		if (want != nil) != c.fails || fmt.Sprint(got) != fmt.Sprint(want) || !strings.Contains(fmt.Sprint(got), c.says) {
			t.Errorf("%s: after admission %v, the full check %v (want a failure: %v, saying %q)", c.name, got, want, c.fails, c.says)
		}
	}
}

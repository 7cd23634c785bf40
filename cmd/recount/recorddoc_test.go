package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
)

// recordDocFacts computes, from testdata/small.record, the passages that docs/record.md's worked example quotes,
// checking on the way what the document says of them (signatures, hashes, proofs).
func recordDocFacts(t *testing.T) []string {
	t.Helper()
	b := readFile(t, smallRecord)
	x, err := tlog.NewExportReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	headerLen := 8 + 2 + 2 + len(x.Origin()) + 2 + len(x.VerifierKey()) + 8
	entries := readEntries(t, b)
	cp, err := tlog.VerifyExport(bytes.NewReader(b), "")
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(entries[0].Payload)
	var facts []string
	add := func(format string, args ...any) { facts = append(facts, fmt.Sprintf(format, args...)) }

	// The file and its header.
	add("The file is %d bytes long and holds %d entries.", len(b), len(entries))
	add("%s", indentLines(hex.Dump(b[:headerLen]), "    "))
	// The entries.
	var tree tlog.LeafTree
	var table strings.Builder
	table.WriteString("| index | kind | payload bytes | leaf hash |\n|---|---|---|---|\n")
	for _, e := range entries {
		lh := tlog.LeafHash(tlog.Kind(e.Kind), e.Payload)
		tree.Append(lh)
		fmt.Fprintf(&table, "| %d | %d %s | %d | `%x` |\n", e.Index, int(e.Kind), strings.TrimPrefix(e.Kind.String(), "ENTRY_KIND_"), len(e.Payload), lh)
	}
	add("%s", table.String())
	add("    election identity = SHA-256(payload of entry 0) = %x", id)
	add("    root of the 20 entries:  %x", cp.Root)
	add("%s", indentLines(string(cp.Signed), "    "))
	add("    verifier key:    %s\n    key fingerprint: %s", x.VerifierKey(), tlog.KeyFingerprint(x.VerifierKey()))

	// OPEN and RESULT, whole.
	add("%s", indentLines(hex.Dump(entries[9].Payload), "    "))
	var open recordv1.PollsOpen
	unmarshalDoc(t, entries[9].Payload, &open)
	add("`time` = %d", open.Time)
	add("%s", indentLines(hex.Dump(entries[19].Payload), "    "))

	// A trustee-signed entry: trustee 1's verdict.
	var ts recordv1.TrusteeSigned
	unmarshalDoc(t, entries[5].Payload, &ts)
	msg := []byte("recount/trustee-signed/v1\x00")
	msg = binary.BigEndian.AppendUint32(msg, uint32(election.KindKeyVerdict))
	msg = append(msg, id[:]...)
	msg = binary.BigEndian.AppendUint32(msg, ts.Trustee)
	msg = append(msg, ts.Body...)
	var m recordv1.Manifest
	unmarshalDoc(t, entries[0].Payload, &m)
	if ts.Trustee != 1 || len(ts.Body) != 0 || !ed25519.Verify(m.Trustees[0].SigningKey, msg, ts.Signature) {
		t.Fatal("entry 5 is not trustee 1's empty verdict, signed as docs/record.md says")
	}
	add("%s", indentLines(hex.Dump(entries[5].Payload), "    "))
	add("%s", indentLines(hex.Dump(msg), "    "))

	// A ballot: tracking code and signature.
	var sb recordv1.SignedBallot
	unmarshalDoc(t, entries[12].Payload, &sb)
	code := sha256.Sum256(sb.Ballot)
	add("    tracking code = SHA-256(the ballot field of entry 12's payload)\n                  = %x\n    shown as        %s", code, election.HumanTrackingCode(code))
	var ballot recordv1.Ballot
	unmarshalDoc(t, sb.Ballot, &ballot)
	if !ed25519.Verify(ballot.Credential, append([]byte("recount/ballot/v1\x00"), sb.Ballot...), sb.Signature) || !bytes.Equal(ballot.Election, id[:]) {
		t.Fatal("entry 12's signature or election is not as docs/record.md says")
	}
	add("%s", indentLines(hex.Dump(entries[12].Payload[:80]), "    "))
	add("the `Ballot` is %d bytes, the signature 64; the ballot holds 5 ciphertexts (64 bytes each), 5 option proofs of %d bytes (two values each), and 2 total proofs: %d bytes for exactly 1 of 2 (one value), %d bytes for 0 to 2 of 3 (three values)",
		len(sb.Ballot), len(ballot.Contests[0].Proofs[0]), len(ballot.Contests[0].TotalProof), len(ballot.Contests[1].TotalProof))

	// The tally.
	var et recordv1.EncryptedTally
	unmarshalDoc(t, entries[16].Payload, &et)
	add("`counted` = %v", et.Counted)

	// The counted receipt and its consistency proof to the final checkpoint.
	r, err := client.ParseReceipt(readFile(t, smallReceipts["counted"]))
	if err != nil {
		t.Fatal(err)
	}
	rcp, err := r.Verify(x.VerifierKey(), election.KindBallot, entries[12].Payload)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := tree.ConsistencyProof(rcp.Size, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyConsistency(rcp, cp, proof); err != nil {
		t.Fatal(err)
	}
	var ps strings.Builder
	for i, h := range proof {
		fmt.Fprintf(&ps, "    consistency proof [%d]: %x\n", i, h)
	}
	add("%s", strings.TrimSuffix(ps.String(), "\n"))
	add("%s", indentLines(string(rcp.Signed), "    "))
	var is strings.Builder
	for i, h := range r.Inclusion {
		fmt.Fprintf(&is, "    inclusion proof [%d]:   %x\n", i, h)
	}
	add("%s", strings.TrimSuffix(is.String(), "\n"))
	add("root %s", base64.StdEncoding.EncodeToString(cp.Root[:]))
	return facts
}

func unmarshalDoc(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
}

func indentLines(s, p string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = p + l
		}
	}
	return strings.Join(lines, "\n")
}

// TestRecordDoc checks that docs/record.md quotes the small record as it is (after -update-record, copy the
// passages this test prints into the document).
func TestRecordDoc(t *testing.T) {
	doc, err := os.ReadFile("../../docs/record.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range recordDocFacts(t) {
		if !strings.Contains(string(doc), f) {
			t.Errorf("docs/record.md does not contain:\n%s", f)
		}
	}
}

package policy_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/witness"
	"github.com/recount-vote/recount/witness/policy"
)

type testWitness struct {
	vkey   string
	signer note.Signer
}

func newWitness(t testing.TB, keyName string) testWitness {
	t.Helper()
	skey, vkey, err := witness.GenerateKey(keyName, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := witness.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return testWitness{vkey: vkey, signer: s}
}

// board returns a board's key and a signed checkpoint of it.
func board(t testing.TB, origin string) (string, note.Signer, []byte) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tlog.SignCheckpoint(s, origin, 42, tlog.LeafHash(1, []byte("x")))
	if err != nil {
		t.Fatal(err)
	}
	return vkey, s, cp.Signed
}

// cosign appends the cosignatures of ws to the checkpoint, as a node does with the witnesses' answers.
func cosign(t testing.TB, cp []byte, ws ...testWitness) []byte {
	t.Helper()
	out := bytes.Clone(cp)
	text := cp[:bytes.Index(cp, []byte("\n\n"))+1]
	for _, w := range ws {
		signed, err := note.Sign(&note.Note{Text: string(text)}, w.signer)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, signed[len(text)+1:]...)
	}
	return out
}

func TestKOfN(t *testing.T) {
	logKey, _, cp := board(t, "board.example/e1")
	a, b, c := newWitness(t, "a.example/w"), newWitness(t, "b.example/w"), newWitness(t, "c.example/w")
	p, err := policy.KOfN(logKey, 2,
		policy.Witness{Name: "alice", VerifierKey: a.vkey, URL: "https://a.example/w"},
		policy.Witness{Name: "bob", VerifierKey: b.vkey},
		policy.Witness{Name: "carol", VerifierKey: c.vkey})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		by   []testWitness
		met  bool
		want string
	}{
		{nil, false, "witnessed by 0 of 3: quorum quorum needs 2 of 3, 0 satisfied: NOT met"},
		{[]testWitness{b}, false, "witnessed by 1 of 3 (bob): quorum quorum needs 2 of 3, 1 satisfied: NOT met"},
		{[]testWitness{c, a}, true, "witnessed by 2 of 3 (alice, carol): quorum quorum needs 2 of 3, 2 satisfied: met"},
		{[]testWitness{a, b, c}, true, "witnessed by 3 of 3 (alice, bob, carol): quorum quorum needs 2 of 3, 3 satisfied: met"},
	} {
		got, r, err := p.Check(cosign(t, cp, tc.by...))
		if tc.met != (err == nil) || (err != nil && !errors.Is(err, policy.ErrQuorum)) {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if r.Met != tc.met || r.String() != tc.want {
			t.Errorf("got %q (met %v), want %q", r, r.Met, tc.want)
		}
		if got.Size != 42 || got.Origin != "board.example/e1" {
			t.Errorf("checkpoint %v", got)
		}
	}
	if fp := policy.Fingerprint([]byte("quorum none\n")); fp != "sha256:08cfcaed9576dbb952e73382aecc0adb0a0d5d6d5cb1250c65bd399c35c2f324" {
		t.Errorf("Fingerprint = %q", fp)
	}
	// The policy's text reads back the same.
	again, err := policy.Parse(p.Marshal())
	if err != nil || !bytes.Equal(again.Marshal(), p.Marshal()) {
		t.Fatalf("Marshal round trip: %v\n%s", err, p.Marshal())
	}
}

func TestCheckRefusals(t *testing.T) {
	logKey, _, cp := board(t, "board.example/e1")
	a, b := newWitness(t, "a.example/w"), newWitness(t, "b.example/w")
	p, err := policy.Parse([]byte(fmt.Sprintf("log %s\nwitness a %s\nwitness b %s\ngroup g any a b\nquorum g\n", logKey, a.vkey, b.vkey)))
	if err != nil {
		t.Fatal(err)
	}
	// A cosignature by a witness the policy does not name is ignored.
	stranger := newWitness(t, "s.example/w")
	if _, r, err := p.Check(cosign(t, cp, stranger)); !errors.Is(err, policy.ErrQuorum) || len(r.Cosigners) != 0 {
		t.Fatalf("a stranger's cosignature: %v, %v", r, err)
	}
	// A stranger using a's name: another key ID, ignored too.
	impostor := newWitness(t, "a.example/w")
	if _, _, err := p.Check(cosign(t, cp, impostor, b)); err != nil {
		t.Fatalf("an impostor beside b: %v", err)
	}
	// a's line altered: the whole checkpoint is rejected.
	bad := cosign(t, cp, a)
	if i := len(bad) - 20; bad[i] == 'A' {
		bad[i] = 'B'
	} else {
		bad[i] = 'A'
	}
	if _, _, err := p.Check(bad); !errors.Is(err, policy.ErrBadCosignature) {
		t.Fatalf("an altered cosignature: %v", err)
	}
	// A cosignature of another checkpoint (size changed, log signature kept) is refused.
	other := bytes.Replace(cosign(t, cp, a), []byte("\n42\n"), []byte("\n43\n"), 1)
	if _, _, err := p.Check(other); err == nil {
		t.Fatal("a checkpoint altered after cosigning passed")
	}
	// Another board's checkpoint, cosigned: not signed by the policy's log.
	_, _, otherCP := board(t, "board.example/e1")
	if _, _, err := p.Check(cosign(t, otherCP, a, b)); !errors.Is(err, policy.ErrLogSignature) {
		t.Fatalf("another board: %v", err)
	}
	// CheckLog with the board's key, for a policy that names no log.
	noLog, err := policy.Parse([]byte(fmt.Sprintf("witness a %s\nquorum a\n", a.vkey)))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := tlog.NewVerifier(logKey)
	if _, r, err := noLog.CheckLog(cosign(t, cp, a), v); err != nil || r.String() != "witnessed by 1 of 1 (a): quorum a needs 1 of 1, 1 satisfied: met" {
		t.Fatalf("CheckLog: %v, %v", r, err)
	}
	if _, _, err := noLog.Check(cosign(t, cp, a)); !errors.Is(err, policy.ErrLogSignature) {
		t.Fatalf("Check without a log line: %v", err)
	}
}

func TestNestedGroupsAndNone(t *testing.T) {
	logKey, _, cp := board(t, "board.example/e1")
	x1, x2, x3, y1 := newWitness(t, "x1.example"), newWitness(t, "x2.example"), newWitness(t, "x3.example"), newWitness(t, "y1.example")
	text := fmt.Sprintf(`# two organizations
log %s

witness X1 %s
witness X2 %s
	witness X3   %s	https://x3.example/
group X-witnesses 2 X1 X2 X3
witness Y1 %s
group Y-witnesses any Y1
group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`, logKey, x1.vkey, x2.vkey, x3.vkey, y1.vkey)
	p, err := policy.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		by  []testWitness
		met bool
	}{
		{[]testWitness{x1, x2}, false},
		{[]testWitness{x1, y1}, false},
		{[]testWitness{x1, x3, y1}, true},
	} {
		_, r, err := p.Check(cosign(t, cp, tc.by...))
		if r.Met != tc.met || (err == nil) != tc.met {
			t.Errorf("%d cosigners: %v, %v", len(tc.by), r, err)
		}
	}
	none, err := policy.Parse([]byte("log " + logKey + "\nquorum none\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, r, err := none.Check(cp); err != nil || !r.Met {
		t.Fatalf("quorum none: %v, %v", r, err)
	}
}

func TestParseErrors(t *testing.T) {
	logKey, _, _ := board(t, "board.example/e1")
	a, b := newWitness(t, "a.example/w"), newWitness(t, "b.example/w")
	aAgain := strings.Replace(a.vkey, "a.example/w", "a2.example/w", 1) // the same public key, another name and ID
	for name, text := range map[string]string{
		"no quorum":            "witness a " + a.vkey + "\n",
		"two quorums":          "witness a " + a.vkey + "\nquorum a\nquorum a\n",
		"quorum undefined":     "quorum a\n",
		"quorum before":        "quorum a\nwitness a " + a.vkey + "\n",
		"unknown keyword":      "witnesses a " + a.vkey + "\nquorum none\n",
		"witness none":         "witness none " + a.vkey + "\nquorum none\n",
		"duplicate name":       "witness a " + a.vkey + "\nwitness a " + b.vkey + "\nquorum a\n",
		"group name taken":     "witness a " + a.vkey + "\ngroup a any a\nquorum a\n",
		"duplicate key":        "witness a " + a.vkey + "\nwitness a2 " + a.vkey + "\nquorum a\n",
		"bad witness key":      "witness a " + a.vkey + "x\nquorum a\n",
		"log key as witness":   "witness a " + logKey + "\nquorum a\n",
		"witness key as log":   "log " + a.vkey + "\nquorum none\n",
		"duplicate log":        "log " + logKey + "\nlog " + logKey + "\nquorum none\n",
		"k zero":               "witness a " + a.vkey + "\ngroup g 0 a\nquorum g\n",
		"k too large":          "witness a " + a.vkey + "\ngroup g 2 a\nquorum g\n",
		"k leading zero":       "witness a " + a.vkey + "\ngroup g 01 a\nquorum g\n",
		"k negative":           "witness a " + a.vkey + "\ngroup g -1 a\nquorum g\n",
		"group no members":     "witness a " + a.vkey + "\ngroup g any\nquorum g\n",
		"member undefined":     "witness a " + a.vkey + "\ngroup g any b\nquorum g\n",
		"member none":          "witness a " + a.vkey + "\ngroup g any a none\nquorum g\n",
		"member twice":         "witness a " + a.vkey + "\ngroup g all a a\nquorum g\n",
		"member of two groups": "witness a " + a.vkey + "\ngroup g any a\ngroup h any a\nquorum g\n",
		"control character":    "witness a " + a.vkey + "\r\nquorum a\n",
		"NUL":                  "witness a " + a.vkey + "\nquorum a\x00\n",
		"witness extra field":  "witness a " + a.vkey + " https://a.example x\nquorum a\n",
		"quorum extra field":   "witness a " + a.vkey + "\nquorum a b\n",
		"log no key":           "log\nquorum none\n",
		"same key renamed":     "witness a " + a.vkey + "\nwitness c " + aAgain + "\nquorum a\n",
	} {
		if p, err := policy.Parse([]byte(text)); !errors.Is(err, policy.ErrSyntax) {
			t.Errorf("%s: %v, %v; want ErrSyntax", name, p, err)
		}
	}
}

// TestInteropFormatsPolicy checks our reading of a policy against transparency-dev/formats' witness.ParsePolicy
// (which needs a URL on every witness line) on every subset of cosigners.
func TestInteropFormatsPolicy(t *testing.T) {
	logKey, _, cp := board(t, "board.example/e1")
	ws := []testWitness{newWitness(t, "w0.example"), newWitness(t, "w1.example"), newWitness(t, "w2.example"), newWitness(t, "w3.example")}
	text := fmt.Sprintf("log %s\nwitness w0 %s https://w0.example\nwitness w1 %s https://w1.example\nwitness w2 %s https://w2.example\nwitness w3 %s https://w3.example\ngroup g 2 w0 w1 w2\ngroup top all g w3\nquorum top\n",
		logKey, ws[0].vkey, ws[1].vkey, ws[2].vkey, ws[3].vkey)
	ours, err := policy.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := fwitness.ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	for set := 0; set < 1<<len(ws); set++ {
		var by []testWitness
		for i := range ws {
			if set&(1<<i) != 0 {
				by = append(by, ws[i])
			}
		}
		signed := cosign(t, cp, by...)
		r, err := ours.Witnessed(signed)
		if err != nil {
			t.Fatal(err)
		}
		if r.Met != theirs.Satisfied(signed) {
			t.Errorf("cosigners %04b: ours says met=%v, formats says %v", set, r.Met, theirs.Satisfied(signed))
		}
	}
}

// TestMLDSAWitness checks that a policy can name a witness that cosigns with ML-DSA-44, as c2sp.org/tlog-witness
// recommends public witnesses do.
func TestMLDSAWitness(t *testing.T) {
	logKey, _, cp := board(t, "board.example/e1")
	skey, vkey, err := fnote.GenerateMLDSAKey("pq.example/w")
	if err != nil {
		t.Fatal(err)
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse([]byte("log " + logKey + "\nwitness pq " + vkey + "\nquorum pq\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, r, err := p.Check(cosign(t, cp, testWitness{vkey: vkey, signer: s})); err != nil || !r.Met {
		t.Fatalf("ML-DSA-44 cosignature: %v, %v", r, err)
	}
}

func FuzzParse(f *testing.F) {
	_, vkey, _ := witness.GenerateKey("a.example/w", rand.Reader)
	f.Add([]byte("witness a " + vkey + "\ngroup g any a\nquorum g\n"))
	f.Add([]byte("# c\n\tquorum none\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := policy.Parse(text)
		if err != nil {
			if !errors.Is(err, policy.ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		again, err := policy.Parse(p.Marshal())
		if err != nil || !bytes.Equal(again.Marshal(), p.Marshal()) {
			t.Fatalf("Marshal does not read back: %v\n%q", err, p.Marshal())
		}
		if _, err := p.Witnessed([]byte("o\n1\nAAAA\n\n— a.example/w AAAA\n")); err != nil && !errors.Is(err, policy.ErrBadCosignature) && !strings.Contains(err.Error(), "signed note") {
			t.Fatalf("Witnessed: %v", err)
		}
	})
}

// TestPure checks that the policy package links no network, storage or metrics stack: the voting client and a
// record's verifier use it.
func TestPure(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/recount-vote/recount/witness/policy").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"net/http", "go.etcd.io/bbolt", "google.golang.org/grpc", "github.com/prometheus", "github.com/recount-vote/recount/witness\n"} {
		if strings.Contains(string(out)+"\n", bad) {
			t.Errorf("witness/policy links %s", strings.TrimSpace(bad))
		}
	}
}

package witness_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/witness"
	"github.com/recount-vote/recount/witness/policy"
)

// Example is the worked example of docs/witness.md, section 8: a board of 7 entries, a witness that cosigned
// its checkpoint of size 4, the add-checkpoint request for size 7, and the cosignature at a fixed time (the
// witness itself stamps the current time), checked against a 1-of-1 policy.
func Example() {
	const origin = "recount.example/election-2026"
	boardSkey, boardVkey, _ := note.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{0x11}, 32)), origin)
	skey, vkey, _ := witness.GenerateKey("witness.example/w1", bytes.NewReader(bytes.Repeat([]byte{0x42}, 32)))
	fmt.Printf("board key: %s\nwitness key: %s\n\n", boardVkey, vkey)

	board, _ := note.NewSigner(boardSkey)
	var tree tlog.LeafTree
	for i := range 7 {
		tree.Append(tlog.LeafHash(1, []byte{byte(i)}))
	}
	root7, _ := tree.Root(7)
	cp7, _ := tlog.SignCheckpoint(board, origin, 7, root7)
	proof, _ := tree.ConsistencyProof(4, 7)
	fmt.Printf("request:\n%s\n", witness.AddCheckpoint{OldSize: 4, Proof: proof, Checkpoint: cp7.Signed}.Marshal())

	// The cosignature/v1 of cp7 at time 1796277600, made as the witness makes it.
	const timestamp = 1796277600
	seed, _ := base64.StdEncoding.DecodeString(skey[len(skey)-44:])
	msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", timestamp, cp7.Body())
	signer, _ := witness.NewSigner(skey)
	sig := binary.BigEndian.AppendUint32(nil, signer.KeyHash())
	sig = binary.BigEndian.AppendUint64(sig, timestamp)
	sig = append(sig, ed25519.Sign(ed25519.NewKeyFromSeed(seed[1:]), []byte(msg))...)
	line := "— witness.example/w1 " + base64.StdEncoding.EncodeToString(sig) + "\n"
	cosigned := append(cp7.Signed, line...)
	fmt.Printf("signed message:\n%s\ncosigned checkpoint:\n%s\n", msg, cosigned)

	p, _ := policy.Parse([]byte("log " + boardVkey + "\nwitness w1 " + vkey + "\nquorum w1\n"))
	_, r, err := p.Check(cosigned)
	fmt.Println(r, err)
	// Output:
	// board key: recount.example/election-2026+cdc42336+AdBKsjJ0K7SrOhNovUYV5ObQIkq3GgFrr4UgozLJd4c3
	// witness key: witness.example/w1+f1ed8c47+BCFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS
	//
	// request:
	// old 4
	// hoFYqe8cJhxrnZkDVX6HefZ9ZjpeUgm2CM7NZK1Q3K4=
	//
	// recount.example/election-2026
	// 7
	// 9rfyqrIZHeUGVbOb7XGcWrfOCz/YkQgtPFNVFsbZx9o=
	//
	// — recount.example/election-2026 zcQjNiuNFwEV7L67n0MATtZQirUnp696e7RYPj/bdbsnAzvy2zNBQSNJKakeaa0iIy68wefsoZfT9JsuTevMgeP0/gY=
	//
	// signed message:
	// cosignature/v1
	// time 1796277600
	// recount.example/election-2026
	// 7
	// 9rfyqrIZHeUGVbOb7XGcWrfOCz/YkQgtPFNVFsbZx9o=
	//
	// cosigned checkpoint:
	// recount.example/election-2026
	// 7
	// 9rfyqrIZHeUGVbOb7XGcWrfOCz/YkQgtPFNVFsbZx9o=
	//
	// — recount.example/election-2026 zcQjNiuNFwEV7L67n0MATtZQirUnp696e7RYPj/bdbsnAzvy2zNBQSNJKakeaa0iIy68wefsoZfT9JsuTevMgeP0/gY=
	// — witness.example/w1 8e2MRwAAAABrEQVg6jEJW17DlWjjiOL47pTd2X8BW7fqkE+c9VdSCuEWZsbRDUa4EBDLseGIhxgbFEN1TFk1vHM25UPnjQrk4Ol2Cw==
	//
	// witnessed by 1 of 1 (w1): quorum w1 needs 1 of 1, 1 satisfied: met <nil>
}

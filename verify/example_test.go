package verify_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/recount-vote/recount/verify"
)

// A third party verifies a record with this package alone, then compares the fingerprint and the final
// checkpoint with what the election published.
func Example() {
	f, err := os.Open("../testdata/small.record")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	r, err := verify.Verify(context.Background(), f, verify.Options{Source: f.Name()})
	if err != nil {
		log.Fatal(err) // the record could not be read; a record that fails a check gives a report
	}
	fmt.Println("passed:", r.OK, "complete:", r.Complete)
	fmt.Println("board key:", r.Board.KeyFingerprint)
	fmt.Println("final checkpoint: size", r.Board.Size, "root", r.Board.Root)
	if r.OK && r.Complete {
		for _, o := range r.Result.Contests[0].Options {
			fmt.Printf("%s: %s %d\n", r.Result.Contests[0].Title, o.Title, o.Count)
		}
	}
	// Output:
	// passed: true complete: true
	// board key: sha256:38a061db9cda4be1a42c4d31fe9b910cc9657ec626da2403e4d59a4f8961b931
	// final checkpoint: size 20 root a28a779e81c75a1db5ee2c64e63d995c8aef0606130c65c9c197afb0d2fe5c10
	// Adopt the proposal?: Yes 3
	// Adopt the proposal?: No 0
}

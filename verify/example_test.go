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
	// board key: sha256:50a5b90e4cecf851215a4e4dbd96eeace2fbb6d9dc9ab90f952e510272d8d867
	// final checkpoint: size 20 root b7a2c541216419f0e76cae985b9d735a0748ea2c6a1d5084f6c1e168a72e9fee
	// Adopt the proposal?: Yes 3
	// Adopt the proposal?: No 0
}

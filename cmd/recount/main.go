// Command recount is the Recount command-line tool: the demo, the admin, trustee and voter clients, and the
// independent verifier.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "demo" {
		fmt.Println("recount demo: will run a whole election end to end (node, three trustees, voters, tally, verify).")
		fmt.Println("It is being built; see the issue \"gRPC API, nodes, CLI and the one-command demo\".")
		return
	}
	fmt.Fprintln(os.Stderr, "usage: recount demo")
	os.Exit(2)
}

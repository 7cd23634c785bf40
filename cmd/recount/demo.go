package main

import (
	"context"
	"flag"
	"fmt"
)

func init() {
	register(&command{
		name:    "demo",
		summary: "run a whole election end to end: a node, three trustees, voters, the tally and its verification",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				fmt.Println("recount demo: being built (issue \"gRPC API, nodes, CLI and the one-command demo\").")
				return nil
			}
		},
	})
}

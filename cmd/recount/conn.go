package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/recount-vote/recount/node"
)

// Helpers shared by the commands that talk to a node (admin, trustee, vote): connection flags, and
// subcommands.

// connFlags are the flags of a connection to recountd.
type connFlags struct {
	addr       string
	plaintext  bool
	ca         string
	cert, key  string
	serverName string
	tokenFile  string
}

// addConnFlags declares the connection flags on fs; admin adds --token-file. Defaults come from RECOUNT_NODE
// and RECOUNT_ADMIN_TOKEN_FILE.
func addConnFlags(fs *flag.FlagSet, admin bool) *connFlags {
	c := &connFlags{}
	fs.StringVar(&c.addr, "node", envOr("RECOUNT_NODE", "127.0.0.1:7400"), "address of recountd, host:port (env RECOUNT_NODE)")
	fs.BoolVar(&c.plaintext, "plaintext", false, "talk to the node without TLS (a node on loopback)")
	fs.StringVar(&c.ca, "ca", "", "PEM file of the CA that signs the node's certificate (default: the system's roots)")
	fs.StringVar(&c.serverName, "server-name", "", "name to check in the node's certificate (default: the host of --node)")
	if admin {
		fs.StringVar(&c.tokenFile, "token-file", os.Getenv("RECOUNT_ADMIN_TOKEN_FILE"), "file holding the commission's admin token (env RECOUNT_ADMIN_TOKEN_FILE)")
		fs.StringVar(&c.cert, "cert", "", "PEM client certificate of the commission (mutual TLS)")
		fs.StringVar(&c.key, "key", "", "PEM private key of --cert")
	}
	return c
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// dial connects to the node.
func (c *connFlags) dial() (*node.Client, error) {
	opts := node.DialOptions{Plaintext: c.plaintext, CAFile: c.ca, CertFile: c.cert, KeyFile: c.key, ServerName: c.serverName}
	if c.tokenFile != "" {
		tok, err := node.ReadTokenFile(c.tokenFile)
		if err != nil {
			return nil, err
		}
		opts.Token = tok
	}
	return node.Dial(c.addr, opts)
}

// friendly rewrites a gRPC status for people: the node's message, then the code and the check or reason.
func friendly(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	reason, check := node.Reason(err)
	switch {
	case check > 0:
		return fmt.Errorf("the node refused: %s [%s, check %d]", st.Message(), st.Code(), check)
	case reason != "":
		return fmt.Errorf("the node refused: %s [%s, %s]", st.Message(), st.Code(), reason)
	case st.Code() == codes.Unavailable:
		return fmt.Errorf("the node is unavailable: %s", st.Message())
	default:
		return fmt.Errorf("%s [%s]", st.Message(), st.Code())
	}
}

// subcommand is a command under another (admin create, trustee run, ...).
type subcommand struct {
	name, summary, usage string
	setup                func(fs *flag.FlagSet) func(ctx context.Context, args []string) error
}

// subUsage lists subcommands, for the parent's usage line.
func subUsage(parent string, subs []subcommand) string {
	var b strings.Builder
	b.WriteString("SUBCOMMAND [flags] [args]\n\nSubcommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	names := make([]string, 0, len(subs))
	byName := map[string]subcommand{}
	for _, s := range subs {
		names = append(names, s.name)
		byName[s.name] = s
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s\t%s\n", n, byName[n].summary)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\nRun 'recount %s SUBCOMMAND --help' for a subcommand's flags.", parent)
	return b.String()
}

// runSub runs the subcommand named by args[0].
func runSub(ctx context.Context, parent string, subs []subcommand, args []string) error {
	if len(args) == 0 {
		return errUsage
	}
	for _, s := range subs {
		if s.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("recount "+parent+" "+s.name, flag.ContinueOnError)
		fs.SetOutput(os.Stderr)
		runFn := s.setup(fs)
		fs.Usage = func() {
			fmt.Fprintf(os.Stderr, "Usage: recount %s %s [flags] %s\n\n%s\n", parent, s.name, s.usage, s.summary)
			if hasFlags(fs) {
				fmt.Fprintln(os.Stderr, "\nFlags:")
				fs.PrintDefaults()
			}
		}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return &exitError{code: 2, err: errors.New("")}
		}
		err := runFn(ctx, fs.Args())
		if errors.Is(err, errUsage) {
			fs.Usage()
			return &exitError{code: 2, err: errors.New("")}
		}
		return friendly(err)
	}
	return fmt.Errorf("unknown subcommand %q (see 'recount %s --help')", args[0], parent)
}

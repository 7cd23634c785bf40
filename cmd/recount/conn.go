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
	"time"

	"google.golang.org/grpc/codes"

	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/node"
)

// Helpers shared by the commands that talk to a node: connection flags, and subcommands.

// connKind says which connection flags a command takes.
type connKind int

const (
	// connClient: trustee, vote. TLS unless --plaintext; --node defaults to RECOUNT_NODE.
	connClient connKind = iota
	// connAdmin: admin. As connClient, with the commission's token and client certificate.
	connAdmin
	// connBoard: verify, receipt, export, which read the public board. Plaintext unless --tls or --ca; no
	// --node means a file instead; --timeout.
	connBoard
)

// connFlags are the flags of a connection to recountd.
type connFlags struct {
	kind       connKind
	addr       string
	plaintext  bool // --plaintext (connClient, connAdmin)
	tls        bool // --tls (connBoard)
	ca         string
	cert, key  string
	serverName string
	tokenFile  string
	timeout    time.Duration
}

// addConnFlags declares the connection flags of kind on fs.
func addConnFlags(fs *flag.FlagSet, kind connKind) *connFlags {
	c := &connFlags{kind: kind}
	if kind == connBoard {
		fs.StringVar(&c.addr, "node", "", "read the board from the node at `ADDR` (host:port) over gRPC instead of a file")
		fs.BoolVar(&c.tls, "tls", false, "connect to the node with TLS, trusting the system's certificate authorities")
		fs.StringVar(&c.ca, "ca", "", "connect with TLS, trusting the certificate authority in the PEM `FILE` (implies --tls)")
		fs.StringVar(&c.serverName, "server-name", "", "the `NAME` the node's TLS certificate must carry (default: the host of --node)")
		fs.DurationVar(&c.timeout, "timeout", 0, "give up after this `DURATION` (0: no limit)")
		return c
	}
	fs.StringVar(&c.addr, "node", envOr("RECOUNT_NODE", "127.0.0.1:7400"), "address of recountd, host:port (env RECOUNT_NODE); for a cluster, every member's, separated by commas: a call moves on to another member when one is down or not the leader")
	fs.BoolVar(&c.plaintext, "plaintext", false, "talk to the node without TLS (a node on loopback)")
	fs.StringVar(&c.ca, "ca", "", "PEM file of the CA that signs the node's certificate (default: the system's roots)")
	fs.StringVar(&c.serverName, "server-name", "", "name to check in the node's certificate (default: the host of --node)")
	if kind == connAdmin {
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

// dial connects to the node. For the board's readers, TLS protects privacy and availability, not the result's
// integrity: everything read from the board is verified against its signed checkpoints.
func (c *connFlags) dial() (*grpcnode.Client, error) {
	plaintext := c.plaintext
	if c.kind == connBoard {
		plaintext = !c.tls && c.ca == ""
	}
	opts := grpcnode.DialOptions{Plaintext: plaintext, CAFile: c.ca, CertFile: c.cert, KeyFile: c.key, ServerName: c.serverName}
	if c.tokenFile != "" {
		tok, err := node.ReadTokenFile(c.tokenFile)
		if err != nil {
			return nil, err
		}
		opts.Token = tok
	}
	if addrs := strings.Split(c.addr, ","); len(addrs) > 1 {
		return grpcnode.DialCluster(addrs, opts)
	}
	return grpcnode.Dial(c.addr, opts)
}

// withTimeout applies --timeout to ctx.
func (c *connFlags) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// friendly rewrites a gRPC status for people: the node's message, then the code and the check or reason.
func friendly(err error) error {
	// The node's status as it sent it, also when the voter's client wrapped it (a client.Refusal, a call that
	// ended without an answer).
	st, ok := grpcnode.Status(err)
	if !ok {
		return err
	}
	reason, check := grpcnode.Reason(err)
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
		_, stderr := outputs(ctx)
		fs := flag.NewFlagSet("recount "+parent+" "+s.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		runFn := s.setup(fs)
		fs.Usage = func() {
			fmt.Fprintf(stderr, "Usage: recount %s %s [flags] %s\n\n%s\n", parent, s.name, s.usage, s.summary)
			if hasFlags(fs) {
				fmt.Fprintln(stderr, "\nFlags:")
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

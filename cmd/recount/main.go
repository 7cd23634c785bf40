// Command recount is Recount's command-line tool: the one-command demo, the commission's admin client, the
// trustee node, the voter's client, receipts, export, and the independent verifier.
//
// Each subcommand lives in its own file and registers itself in commands; `recount help CMD` shows its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of recount.
type command struct {
	name    string
	summary string // one line, for the list of commands
	usage   string // the arguments after the flags, e.g. "RECORD"
	// help, if set, is printed by --help after the summary: what the summary and the flags leave unsaid, such
	// as exit statuses other than 0, 1 and 2.
	help string
	// setup declares the command's flags on fs and returns the function that runs it with the remaining
	// arguments.
	setup func(fs *flag.FlagSet) func(ctx context.Context, args []string) error
}

var commands = map[string]*command{}

// outputKey carries, in a command's context, where it writes its output and its messages: run puts them there
// (tests pass buffers, and run concurrently).
type outputKey struct{}

type output struct{ stdout, stderr io.Writer }

// outputs returns the command's standard output and error from its context.
func outputs(ctx context.Context) (stdout, stderr io.Writer) {
	if o, ok := ctx.Value(outputKey{}).(output); ok {
		return o.stdout, o.stderr
	}
	return os.Stdout, os.Stderr
}

func register(c *command) { commands[c.name] = c }

// errUsage makes main print the command's usage and exit with status 2.
var errUsage = errors.New("usage")

// exitError carries an exit status other than 1 (for example verify's failed checks).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usage(w io.Writer) {
	fmt.Fprintln(w, "recount: end-to-end verifiable elections")
	fmt.Fprintln(w, "\nUsage: recount COMMAND [flags] [args]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'recount COMMAND --help' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" && len(args) == 1 {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "help" {
		args = []string{args[1], "--help"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "recount: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("recount "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	runFn := cmd.setup(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: recount %s [flags] %s\n\n%s\n", cmd.name, cmd.usage, cmd.summary)
		if cmd.help != "" {
			fmt.Fprintf(stderr, "\n%s\n", cmd.help)
		}
		if hasFlags(fs) {
			fmt.Fprintln(stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.WithValue(context.Background(), outputKey{}, output{stdout, stderr}), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := runFn(ctx, fs.Args())
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		fs.Usage()
		return 2
	case errors.As(err, &ee):
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "recount %s: %v\n", cmd.name, ee.err)
		}
		return ee.code
	default:
		fmt.Fprintf(stderr, "recount %s: %v\n", cmd.name, strings.TrimSpace(err.Error()))
		return 1
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

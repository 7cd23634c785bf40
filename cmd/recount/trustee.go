package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/recount-vote/recount/trustee"
)

// A trustee's node: `recount trustee init` makes its keys in its own store, encrypted under a passphrase, and
// prints its public keys for the manifest; `recount trustee run` follows the node's board and takes part in
// the key ceremony and the decryption.

var trusteeSubs = []subcommand{
	{name: "init", summary: "create the trustee's store with new keys, sealed under a passphrase; print the public keys for the manifest", setup: trusteeInit},
	{name: "run", summary: "follow the node's board: join the key ceremony, keep the key share, decrypt the tally", setup: trusteeRun},
	{name: "show", summary: "show what the store holds (public keys, election, whether the key share is there)", setup: trusteeShow},
}

func init() {
	register(&command{
		name:    "trustee",
		summary: "a trustee's node: init (keys in an encrypted store), run (ceremony and decryption), show",
		usage:   subUsage("trustee", trusteeSubs),
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error { return runSub(ctx, "trustee", trusteeSubs, args) }
		},
	})
}

type passFlags struct{ file string }

func addPassFlags(fs *flag.FlagSet) *passFlags {
	p := &passFlags{}
	fs.StringVar(&p.file, "passphrase-file", "", "file holding the store's passphrase (else RECOUNT_TRUSTEE_PASSPHRASE, else a prompt)")
	return p
}

// open opens the trustee's store at path with the passphrase (prompting on w if need be).
func (p *passFlags) open(w io.Writer, path string) (*trustee.Store, error) {
	pass, err := p.read(w, false)
	if err != nil {
		return nil, err
	}
	return trustee.Open(path, pass)
}

// read returns the passphrase: from the file, the environment, or the terminal, prompting on w (twice when
// confirm is set).
func (p *passFlags) read(w io.Writer, confirm bool) ([]byte, error) {
	if p.file != "" {
		b, err := os.ReadFile(p.file)
		if err != nil {
			return nil, err
		}
		return bytes.TrimRight(b, "\r\n"), nil
	}
	if v := os.Getenv("RECOUNT_TRUSTEE_PASSPHRASE"); v != "" {
		return []byte(v), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, errors.New("no passphrase: give --passphrase-file or RECOUNT_TRUSTEE_PASSPHRASE, or run on a terminal")
	}
	fmt.Fprint(w, "Passphrase: ")
	pass, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(w, "Again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(w)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pass, again) {
			return nil, errors.New("the passphrases differ")
		}
	}
	return pass, nil
}

func trusteeInit(fs *flag.FlagSet) func(context.Context, []string) error {
	store := fs.String("store", "trustee.db", "the store to create (a bbolt file; never overwritten)")
	name := fs.String("name", "", "the trustee's name, as the manifest shows it")
	index := fs.Int("index", 0, "the trustee's number in the manifest, if known (admin create --trustee numbers them in order)")
	out := fs.String("out", "", "write the public keys to this file (default: standard output)")
	pass := addPassFlags(fs)
	return func(ctx context.Context, args []string) error {
		stdout, stderr := outputs(ctx)
		if *name == "" || len(args) > 0 {
			return errUsage
		}
		p, err := pass.read(stderr, true)
		if err != nil {
			return err
		}
		s, keys, err := trustee.Create(*store, p, *name, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		pub, err := protojson.MarshalOptions{Multiline: true}.Marshal(keys.Public(*index, *name))
		if err != nil {
			return err
		}
		pub = append(pub, '\n')
		if *out != "" {
			if err := os.WriteFile(*out, pub, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "store %s created; public keys written to %s: give them to the commission\n", *store, *out)
			return nil
		}
		stdout.Write(pub)
		fmt.Fprintf(stderr, "store %s created; give the public keys above to the commission\n", *store)
		return nil
	}
}

func trusteeRun(fs *flag.FlagSet) func(context.Context, []string) error {
	store := fs.String("store", "trustee.db", "the trustee's store")
	check := fs.Bool("check-ballots", true, "check every ballot's proofs and signature before decrypting (uses all cores)")
	grace := fs.Duration("grace", 0, "once t trustees have committed, wait this long for the others before the verdict (0: wait for all)")
	verbose := fs.Bool("v", false, "log every step and reconnection")
	pass := addPassFlags(fs)
	conn := addConnFlags(fs, connClient)
	return func(ctx context.Context, args []string) error {
		_, stderr := outputs(ctx)
		if len(args) > 0 {
			return errUsage
		}
		s, err := pass.open(stderr, *store)
		if err != nil {
			return err
		}
		defer s.Close()
		c, err := conn.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		level := slog.LevelInfo
		if !*verbose {
			level = slog.LevelWarn
		}
		logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
		start := time.Now()
		fmt.Fprintf(stderr, "trustee %q following %s\n", s.Name(), conn.addr)
		err = trustee.Run(ctx, trustee.Config{Store: s, Client: c, Logger: logger, ShapeOnly: !*check, Grace: *grace,
			Events: func(e trustee.Event) {
				at := ""
				if e.Index > 0 {
					at = fmt.Sprintf(" (entry %d)", e.Index)
				}
				fmt.Fprintf(stderr, "%8s  trustee %d: %s%s\n", time.Since(start).Round(time.Millisecond), e.Trustee, e.Step, at)
			}})
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "stopped; run again to go on where it was")
			return nil
		}
		return err
	}
}

func trusteeShow(fs *flag.FlagSet) func(context.Context, []string) error {
	store := fs.String("store", "trustee.db", "the trustee's store")
	pass := addPassFlags(fs)
	return func(ctx context.Context, args []string) error {
		stdout, stderr := outputs(ctx)
		if len(args) > 0 {
			return errUsage
		}
		s, err := pass.open(stderr, *store)
		if err != nil {
			return err
		}
		defer s.Close()
		keys, err := s.Keys()
		if err != nil {
			return err
		}
		id, index, bound, err := s.Election()
		if err != nil {
			return err
		}
		pub, _ := protojson.MarshalOptions{Multiline: true}.Marshal(keys.Public(index, s.Name()))
		fmt.Fprintf(stdout, "%s\n", pub)
		if !bound {
			fmt.Fprintln(stdout, "election: none yet")
			return nil
		}
		ks, err := s.KeyShare()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "election: %s, as trustee %d\nkey share: %v\n", id, index, ks != nil)
		return nil
	}
}

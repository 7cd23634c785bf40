package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
)

// The voter's client: `recount vote` encrypts a ballot on this machine with a credential file, casts it (or
// challenges it), checks the receipt and saves it.

func init() {
	register(&command{
		name:    "vote",
		summary: "encrypt a ballot with your credential file, cast it (or --challenge it), check and save the receipt",
		usage:   "--credential FILE --choice CONTEST=OPTION[,OPTION...] ...",
		help: `The tracking code is printed before the ballot is sent. If the connection to the node is lost after
it was sent, the ballot may be on the board already: vote looks for it by its tracking code for up to
--in-doubt-wait, and saves its receipt if it finds it.

Exit status: 0 when the ballot is on the board and its receipt saved; 1 on another error, which the message
names (a ballot the node refused is not on the board); 2 for a usage error; 3 when the ballot is in doubt:
the node's answer was lost and the ballot was not found in time. It may be on the board: check later with
'recount receipt TRACKING-CODE --node ADDR', as printed. Voting again is safe: only the last ballot counts.`,
		setup: voteSetup,
	})
}

// exitInDoubt is vote's exit status when the ballot was sent but the node's answer was lost, and the ballot was
// not found on the board in the time allowed.
const exitInDoubt = 3

// defaultInDoubtWait is how long vote looks for a ballot whose answer was lost, unless --in-doubt-wait says.
const defaultInDoubtWait = 2 * time.Minute

func voteSetup(fs *flag.FlagSet) func(context.Context, []string) error {
	credFile := fs.String("credential", "", "your credential file (from the commission)")
	var choices listFlag
	fs.Var(&choices, "choice", "CONTEST=OPTION[,OPTION...] (for scores OPTION:N); repeat per contest; run without to list them")
	random := fs.Bool("random", false, "choose at random (for trials)")
	challenge := fs.Bool("challenge", false, "challenge the ballot instead of casting it: the board shows what it encrypted, and it never counts")
	receiptFile := fs.String("receipt", "", "where to save the receipt (default: receipt-<tracking code>.json)")
	boardKey := fs.String("board-key", "", "require the board's verifier `KEY` published by the commission (origin+hash+base64, or its sha256: fingerprint)")
	seen := fs.String("seen", "", "the `FILE` keeping the last board checkpoint this voter saw, checked and updated on each vote (default: .recount-seen-<election> beside the receipt)")
	inDoubtWait := fs.Duration("in-doubt-wait", defaultInDoubtWait, "if the node's answer is lost after the ballot was sent, look for it on the board by its tracking code for up to this `DURATION` (then exit with status 3)")
	conn := addConnFlags(fs, connClient)
	return func(ctx context.Context, args []string) error {
		stdout, stderr := outputs(ctx)
		if *credFile == "" || len(args) > 0 || *inDoubtWait < 0 {
			return errUsage
		}
		data, err := os.ReadFile(*credFile)
		if err != nil {
			return err
		}
		cred, err := election.ParseCredentialFile(data)
		if err != nil {
			return err
		}
		c, err := conn.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		info, err := c.Election(ctx)
		if err != nil {
			return friendly(err)
		}
		m := info.Manifest
		if cred.Election != m.ID() {
			return fmt.Errorf("the credential is for election %s, the node holds %s", cred.Election, m.ID())
		}
		if info.Phase != client.PhaseOpen || info.Key == nil {
			return fmt.Errorf("the polls are not open (%s)", phaseName(info.Phase))
		}
		if *boardKey != "" && !verify.KeyMatches(info.BoardKey, *boardKey) {
			return fmt.Errorf("the node's board key is %s (fingerprint %s), not the expected %s: do not vote through this node", info.BoardKey, tlog.KeyFingerprint(info.BoardKey), *boardKey)
		}
		path := *receiptFile
		seenPath := *seen
		if seenPath == "" {
			seenPath = seenFile(filepath.Dir(path), m.ID())
		}
		// The board must extend the one this voter saw last (in an earlier session too): refused before the
		// ballot is sent.
		if err := loadSeen(ctx, c.Client, seenPath); err != nil {
			return err
		}
		if _, err := c.CheckBoard(ctx, info.BoardKey); err != nil {
			return boardRefused(err)
		}
		if err := c.CheckElectionKey(ctx, info, cred.Election); err != nil {
			return fmt.Errorf("checking the election key against the board: %w", err)
		}
		var ch election.Choices
		switch {
		case *random:
			ch = election.RandomChoices(m, nil)
		case len(choices) == 0:
			describeBallot(stderr, m)
			return errors.New("give your choices with --choice (see above)")
		default:
			if ch, err = parseChoices(m, choices); err != nil {
				return err
			}
		}
		b, err := info.Encrypt(cred, ch)
		if err != nil {
			return err
		}
		// The tracking code goes out before the ballot does: if the answer is lost, it is how the voter finds it.
		fmt.Fprintf(stdout, "election:      %s\nyour choices:  %s\ntracking code: %s\n", m.Proto().Title, choicesText(m, ch), election.HumanTrackingCode(b.TrackingCode()))
		lost := false
		r, submitErr := c.Submit(ctx, info, b, client.SubmitOptions{Challenge: *challenge, InDoubtWait: *inDoubtWait,
			InDoubt: func(err error) {
				lost = true
				fmt.Fprintf(stderr, "recount vote: the node's answer was lost after the ballot was sent (%v); looking for the ballot on the board by its tracking code, for up to %v\n", friendly(err), *inDoubtWait)
			}})
		err = submitErr
		var fork *client.ForkError
		if errors.As(err, &fork) && r != nil {
			err = nil // the ballot is on the node's board: save its receipt, the evidence, then refuse the board
		}
		var doubt *client.InDoubtError
		if errors.As(err, &doubt) {
			printInDoubt(stdout, doubt, conn, *inDoubtWait)
			return &exitError{code: exitInDoubt, err: fmt.Errorf("the ballot is in doubt: %v", friendly(doubt.Err))}
		}
		if err != nil {
			return friendly(err)
		}
		if lost {
			fmt.Fprintln(stdout, "found:         the node's answer was lost, but the ballot is on the board: its receipt was fetched by tracking code")
		}
		if path == "" {
			path = "receipt-" + strings.ReplaceAll(election.HumanTrackingCode(b.TrackingCode())[:14], "-", "") + ".json"
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("saving the receipt: %w", err)
		}
		if _, err := f.Write(r.Marshal()); err != nil {
			f.Close()
			return fmt.Errorf("saving the receipt %s: %w", path, err)
		}
		// The ballot is already cast: the receipt is the voter's only evidence, so it goes to disk now.
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("saving the receipt %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("saving the receipt %s: %w", path, err)
		}
		if fork != nil {
			fmt.Fprintf(stdout, "receipt:       %s (kept as evidence)\n", path)
			return boardRefused(submitErr)
		}
		if err := saveSeen(c.Client, seenPath); err != nil {
			fmt.Fprintf(stderr, "recount vote: %v\n", err)
		}
		if *challenge {
			fmt.Fprintf(stdout, "challenged:    entry %d of the board; the ballot will never count\n", r.Index)
			fmt.Fprintln(stdout, "  the board now shows the ballot opened: check it encrypted the choices above. Then vote again.")
		} else {
			fmt.Fprintf(stdout, "cast:          entry %d of the board, on disk and signed (checkpoint of %s entries)\n", r.Index, checkpointSize(r))
			fmt.Fprintln(stdout, "  you may vote again until the polls close: only your last ballot counts")
		}
		fmt.Fprintf(stdout, "receipt:       %s (check it any time with `recount receipt`)\n", path)
		return nil
	}
}

// boardRefused says why the node's board is refused: a *client.ForkError (a rolled-back or rewritten board) in
// plain words, any other error as friendly says it.
func boardRefused(err error) error {
	var fork *client.ForkError
	if errors.As(err, &fork) {
		return fmt.Errorf("REFUSED: the node's board does not extend the one you saw before (%s): it rolled back or shows you another history. Do not vote through this node; tell the election's commission, and keep both signed checkpoints:\n--- seen ---\n%s--- shown ---\n%s", fork.Reason, fork.Seen.Signed, fork.Shown.Signed)
	}
	return friendly(err)
}

// printInDoubt tells the voter that their ballot may be on the board, and how to find out.
func printInDoubt(w io.Writer, doubt *client.InDoubtError, conn *connFlags, waited time.Duration) {
	code := election.HumanTrackingCode(doubt.TrackingCode)
	last := "the node does not have it"
	if status.Code(doubt.Last) != codes.NotFound {
		last = friendly(doubt.Last).Error()
	}
	fmt.Fprintf(w, "in doubt:      the node's answer was lost, and the ballot was not found on the board within %v (last look: %s)\n", waited, last)
	fmt.Fprintln(w, "  Your ballot may be on the board already, or appear there shortly. Check later with its tracking code:")
	fmt.Fprintf(w, "    %s\n", receiptCommand(code, conn))
	if doubt.Challenge {
		fmt.Fprintln(w, "  It was a challenge: if it is on the board, it shows what the ballot encrypted, and it never counts")
		fmt.Fprintln(w, "  (a challenge holds no signature that casts). Voting is safe either way: only your last cast ballot counts.")
	} else {
		fmt.Fprintln(w, "  Voting again is safe: only your last ballot counts. Once you have, check your last receipt after the")
		fmt.Fprintln(w, "  polls close with `recount receipt`: it must say COUNTED (a node that held this ballot back could still")
		fmt.Fprintln(w, "  post it after your last one, and the receipt check would show your last ballot SUPERSEDED).")
	}
}

// receiptCommand is the command that checks the ballot with tracking code code on the node vote talked to, with
// the same transport: receipt reads the board in plaintext unless told --tls or --ca.
func receiptCommand(code string, conn *connFlags) string {
	args := []string{"recount", "receipt", code, "--node", conn.addr}
	switch {
	case conn.ca != "":
		args = append(args, "--ca", conn.ca)
	case !conn.plaintext:
		args = append(args, "--tls")
	}
	if conn.serverName != "" {
		args = append(args, "--server-name", conn.serverName)
	}
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(args, " ")
}

func checkpointSize(r *client.Receipt) string {
	lines := strings.Split(string(r.Checkpoint), "\n")
	if len(lines) > 1 {
		return lines[1]
	}
	return "?"
}

// describeBallot lists the contests and their options.
func describeBallot(w io.Writer, m *election.Manifest) {
	fmt.Fprintf(w, "%s\n", m.Proto().Title)
	for _, c := range m.Proto().Contests {
		fmt.Fprintf(w, "  --choice %s=...   %s (%s)\n", c.Id, c.Title, ruleText(c))
		for _, o := range c.Options {
			fmt.Fprintf(w, "      %-16s %s\n", o.Id, o.Title)
		}
	}
}

// parseChoices reads --choice flags: CONTEST=OPTION[,OPTION...], with OPTION:N for scores.
func parseChoices(m *election.Manifest, flags []string) (election.Choices, error) {
	pb := m.Proto()
	ch := make(election.Choices, len(pb.Contests))
	for c, contest := range pb.Contests {
		ch[c] = make([]uint64, len(contest.Options))
	}
	seen := map[string]bool{}
	for _, f := range flags {
		cid, list, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("--choice %q: want CONTEST=OPTION[,OPTION...]", f)
		}
		c := -1
		for i, contest := range pb.Contests {
			if contest.Id == cid {
				c = i
			}
		}
		if c < 0 {
			return nil, fmt.Errorf("--choice %q: no contest %q", f, cid)
		}
		if seen[cid] {
			return nil, fmt.Errorf("--choice: contest %q given twice", cid)
		}
		seen[cid] = true
		for _, item := range strings.Split(list, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			oid, val, scored := strings.Cut(item, ":")
			v := uint64(1)
			if scored {
				n, err := strconv.ParseUint(val, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("--choice %q: score %q is not a number", f, val)
				}
				v = n
			}
			o := -1
			for i, opt := range pb.Contests[c].Options {
				if opt.Id == oid {
					o = i
				}
			}
			if o < 0 {
				return nil, fmt.Errorf("--choice %q: contest %q has no option %q", f, cid, oid)
			}
			ch[c][o] = v
		}
	}
	if err := m.CheckChoices(ch); err != nil {
		return nil, err
	}
	return ch, nil
}

// choicesText says what choices are, for people.
func choicesText(m *election.Manifest, ch election.Choices) string {
	var parts []string
	for c, contest := range m.Proto().Contests {
		var sel []string
		for o, v := range ch[c] {
			switch {
			case v == 0:
			case m.Rules()[c].OptionMax > 1:
				sel = append(sel, fmt.Sprintf("%s:%d", contest.Options[o].Id, v))
			default:
				sel = append(sel, contest.Options[o].Id)
			}
		}
		if len(sel) == 0 {
			sel = []string{"(none)"}
		}
		parts = append(parts, contest.Id+"="+strings.Join(sel, ","))
	}
	return strings.Join(parts, "  ")
}

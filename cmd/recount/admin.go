package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/client/grpcnode"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/node"
	"github.com/recount-vote/recount/web"
)

// The commission's client: `recount admin SUBCOMMAND`. Every call is authenticated with the admin token
// (--token-file) and/or a client certificate (--cert, --key).

var adminSubs = []subcommand{
	{name: "create", summary: "post the election's manifest (a JSON file) as the board's first entry", usage: "", setup: adminCreate},
	{name: "credentials", summary: "generate voters' credentials into a directory and publish only their public keys", usage: "", setup: adminCredentials},
	{name: "key", summary: "finish the key ceremony: post the election key computed from the trustees' entries", usage: "", setup: adminKey},
	{name: "open", summary: "open the polls", usage: "", setup: adminPhase("open")},
	{name: "close", summary: "close the polls (after every ballot in flight)", usage: "", setup: adminPhase("close")},
	{name: "tally", summary: "post the encrypted tally, wait for t trustees to decrypt, post and print the result", usage: "", setup: adminTally},
	{name: "status", summary: "show the election's progress (and, for a cluster, its members, leader, commit index and lag)", usage: "", setup: adminStatus},
	{name: "add-member", summary: "add a member to the cluster", usage: "ID RAFT-ADDR", setup: adminAddMember},
	{name: "remove-member", summary: "remove a member from the cluster", usage: "ID", setup: adminRemoveMember},
}

func init() {
	register(&command{
		name:    "admin",
		summary: "the commission's commands: create, credentials, key, open, close, tally, status",
		usage:   subUsage("admin", adminSubs),
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error { return runSub(ctx, "admin", adminSubs, args) }
		},
	})
}

// withAdmin declares the connection flags and runs fn with a client.
func withAdmin(fs *flag.FlagSet, fn func(ctx context.Context, c *grpcnode.Client, args []string) error) func(context.Context, []string) error {
	conn := addConnFlags(fs, connAdmin)
	return func(ctx context.Context, args []string) error {
		c, err := conn.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		if len(c.Members) > 0 {
			// A cluster: the commission's changes go to the leader.
			c = clusterLeader(ctx, c)
		}
		return fn(ctx, c, args)
	}
}

// readManifest reads a manifest JSON file, adding the trustees from trustee files (the output of
// `recount trustee init`) in order, numbered from 1.
func readManifest(path string, trusteeFiles []string) (*election.Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(trusteeFiles) == 0 {
		return election.ManifestFromJSON(data)
	}
	var pb recordv1.Manifest
	if err := protojson.Unmarshal(data, &pb); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", election.ErrManifest, path, err)
	}
	if len(pb.Trustees) > 0 {
		return nil, fmt.Errorf("%s already lists trustees: give them there or with --trustee, not both", path)
	}
	for i, f := range trusteeFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var t recordv1.Trustee
		if err := protojson.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("trustee file %s: %v", f, err)
		}
		t.Index = uint32(i + 1)
		pb.Trustees = append(pb.Trustees, &t)
	}
	return election.NewManifest(&pb)
}

type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func adminCreate(fs *flag.FlagSet) func(context.Context, []string) error {
	manifest := fs.String("manifest", "", "the manifest, a JSON file (the protobuf JSON form of recount.record.v1.Manifest)")
	var trustees listFlag
	fs.Var(&trustees, "trustee", "a trustee's public keys, as printed by `recount trustee init` (repeat, in order: trustee 1, 2, ...)")
	pinWeb := fs.Bool("pin-web", false, "pin, in the manifest, the voters' web pages this recount binary serves (their files' SHA-256, docs/web.md): nodes serve their pages only if theirs are these; build this binary from the reviewed source")
	return withAdmin(fs, func(ctx context.Context, c *grpcnode.Client, args []string) error {
		stdout, _ := outputs(ctx)
		if *manifest == "" || len(args) > 0 {
			return errUsage
		}
		m, err := readManifest(*manifest, trustees)
		if err != nil {
			return err
		}
		if *pinWeb {
			pb := proto.Clone(m.Proto()).(*recordv1.Manifest)
			if pb.BoothFiles, err = web.BoothFiles(); err != nil {
				return err
			}
			if m, err = election.NewManifest(pb); err != nil {
				return err
			}
		}
		resp, err := c.Admin.CreateElection(ctx, &recountv1.CreateElectionRequest{Manifest: m.Bytes()})
		if err != nil {
			return err
		}
		n, t := m.Trustees()
		fmt.Fprintf(stdout, "election %x\n  %q, %d contests, %d trustees (any %d decrypt), voting window %s to %s\n", resp.ElectionId, m.Proto().Title,
			len(m.Proto().Contests), n, t, node.FormatTime(m.Proto().OpensAt), node.FormatTime(m.Proto().ClosesAt))
		if files := m.Proto().BoothFiles; len(files) > 0 {
			fmt.Fprintf(stdout, "  pins the voters' web pages: %d files (compare with each node's /hashes; `recount verify` lists them)\n", len(files))
		}
		fmt.Fprintln(stdout, "next: the trustees run `recount trustee run`; publish credentials with `recount admin credentials`")
		return nil
	})
}

func adminCredentials(fs *flag.FlagSet) func(context.Context, []string) error {
	count := fs.Int("count", 0, "number of credentials (one per voter)")
	out := fs.String("out", "", "directory to write the credential files into (created; must be empty)")
	batch := fs.Int("batch", 50_000, "public keys per request (and per board entry)")
	return withAdmin(fs, func(ctx context.Context, c *grpcnode.Client, args []string) error {
		stdout, _ := outputs(ctx)
		if *count <= 0 || *out == "" || len(args) > 0 {
			return errUsage
		}
		info, err := c.Election(ctx)
		if err != nil {
			return err
		}
		if err := emptyDir(*out); err != nil {
			return err
		}
		creds, _, err := election.GenerateCredentials(info.Manifest.ID(), *count, *batch, nil)
		if err != nil {
			return err
		}
		// The secrets are on disk before their public keys are on the board: none is published that no voter
		// can use.
		if err := writeCredentials(*out, creds); err != nil {
			return err
		}
		total, err := publishCredentials(ctx, c, creds, *batch)
		if err != nil {
			return fmt.Errorf("publishing credentials (the files are in %s): %w", *out, err)
		}
		fmt.Fprintf(stdout, "%d credential files written to %s (hand one to each voter, privately)\n%d public credentials on the board\n", len(creds), *out, total)
		return nil
	})
}

// publishCredentials posts the public keys of creds, batch at a time (all at once for 0), and returns the number
// of credentials on the board.
func publishCredentials(ctx context.Context, c *grpcnode.Client, creds []*election.Credential, batch int) (uint64, error) {
	if batch <= 0 {
		batch = len(creds)
	}
	var total uint64
	for lo := 0; lo < len(creds); lo += batch {
		var keys [][]byte
		for _, cr := range creds[lo:min(lo+batch, len(creds))] {
			pk := cr.PublicKey()
			keys = append(keys, pk[:])
		}
		resp, err := c.Admin.PublishCredentials(ctx, &recountv1.PublishCredentialsRequest{PublicKeys: keys})
		if err != nil {
			return total, err
		}
		total = resp.Total
	}
	return total, nil
}

// emptyDir makes dir, or checks that it is empty.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty: credential files are never overwritten", dir)
	}
	return nil
}

// writeCredentials writes one file per credential, mode 0600, and syncs them.
func writeCredentials(dir string, creds []*election.Credential) error {
	for i, cr := range creds {
		path := filepath.Join(dir, fmt.Sprintf("credential-%06d.json", i+1))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(cr.MarshalFile()); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func adminKey(fs *flag.FlagSet) func(context.Context, []string) error {
	force := fs.Bool("force", false, "finish even if a trustee that committed has given no verdict or a complaint is unanswered")
	wait := fs.Duration("wait", 0, "wait this long for every trustee's commitment and verdict first")
	return withAdmin(fs, func(ctx context.Context, c *grpcnode.Client, args []string) error {
		stdout, _ := outputs(ctx)
		if len(args) > 0 {
			return errUsage
		}
		if *wait > 0 {
			info, err := c.Election(ctx)
			if err != nil {
				return err
			}
			n, _ := info.Manifest.Trustees()
			if err := waitStatus(ctx, c, *wait, func(st *recountv1.GetStatusResponse) bool { return len(st.Verdicts) == n }); err != nil {
				return fmt.Errorf("waiting for the trustees' verdicts: %w", err)
			}
		}
		resp, err := c.Admin.FinishKeyCeremony(ctx, &recountv1.FinishKeyCeremonyRequest{Force: *force})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "election key %x\n  made of the polynomials of trustees %v\nnext: `recount admin open`\n", resp.JointKey, resp.Qualified)
		return nil
	})
}

// waitStatus polls the status until done says so, for at most d.
func waitStatus(ctx context.Context, c *grpcnode.Client, d time.Duration, done func(*recountv1.GetStatusResponse) bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		st, err := c.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		if done(st) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (status: %v)", ctx.Err(), st)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func adminPhase(which string) func(fs *flag.FlagSet) func(context.Context, []string) error {
	return func(fs *flag.FlagSet) func(context.Context, []string) error {
		return withAdmin(fs, func(ctx context.Context, c *grpcnode.Client, args []string) error {
			stdout, _ := outputs(ctx)
			if len(args) > 0 {
				return errUsage
			}
			if which == "open" {
				resp, err := c.Admin.OpenPolls(ctx, &recountv1.OpenPollsRequest{})
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "the polls are open (entry %d)\n", resp.Index)
				return nil
			}
			resp, err := c.Admin.ClosePolls(ctx, &recountv1.ClosePollsRequest{})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "the polls are closed (entry %d)\nnext: `recount admin tally`\n", resp.Index)
			return nil
		})
	}
}

func adminTally(fs *flag.FlagSet) func(context.Context, []string) error {
	wait := fs.Duration("wait", 30*time.Minute, "how long to wait for the trustees' partial decryptions")
	return withAdmin(fs, func(ctx context.Context, c *grpcnode.Client, args []string) error {
		stdout, _ := outputs(ctx)
		if len(args) > 0 {
			return errUsage
		}
		info, err := c.Election(ctx)
		if err != nil {
			return err
		}
		switch info.Phase {
		case client.PhaseSetup, client.PhaseOpen:
			return fmt.Errorf("the polls are not closed (%s): `recount admin close` first", phaseName(info.Phase))
		case client.PhaseClosed:
			resp, err := c.Admin.Tally(ctx, &recountv1.TallyRequest{})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "encrypted tally posted (entry %d): %d ballots counted\n", resp.Index, resp.Counted)
		}
		_, t := info.Manifest.Trustees()
		if info.Phase != client.PhaseDone {
			fmt.Fprintf(stdout, "waiting for %d trustees to decrypt ...\n", t)
			if err := waitStatus(ctx, c, *wait, func(st *recountv1.GetStatusResponse) bool { return len(st.PartialDecryptions) >= t }); err != nil {
				return err
			}
			_, err := c.Admin.PublishResult(ctx, &recountv1.PublishResultRequest{})
			if err != nil && status.Code(err) != codes.AlreadyExists {
				return err
			}
		}
		result, counted, err := readResult(ctx, c, info.Manifest)
		if err != nil {
			return err
		}
		printTally(stdout, info.Manifest, result, counted)
		return nil
	})
}

// readResult reads the board's Result, paired with m's contests and options, and the number of ballots its
// EncryptedTally counts.
func readResult(ctx context.Context, c *grpcnode.Client, m *election.Manifest) (*election.Result, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Board.StreamEntries(ctx, &recountv1.StreamEntriesRequest{})
	if err != nil {
		return nil, 0, err
	}
	counted := 0
	for {
		e, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, 0, errors.New("the board holds no result")
		}
		if err != nil {
			return nil, 0, err
		}
		switch e.Kind {
		case election.KindEncryptedTally:
			list, err := election.ParseCounted(e.Payload)
			if err != nil {
				return nil, 0, fmt.Errorf("entry %d (encrypted tally): %w", e.Index, err)
			}
			counted = len(list)
		case election.KindResult:
			t, err := election.ParseResult(m, e.Payload)
			if err != nil {
				return nil, 0, fmt.Errorf("entry %d (result): %w", e.Index, err)
			}
			return t, counted, nil
		}
	}
}

func adminStatus(fs *flag.FlagSet) func(context.Context, []string) error {
	return withAdmin(fs, func(ctx context.Context, c *grpcnode.Client, args []string) error {
		stdout, _ := outputs(ctx)
		if len(args) > 0 {
			return errUsage
		}
		st, err := c.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "phase:        %s\nboard:        %d entries\n", phaseName(grpcnode.PhaseOf(st.Phase)), st.BoardSize)
		fmt.Fprint(stdout, witnessingStatus(st.Witnessing, st.BoardSize, time.Now()))
		fmt.Fprint(stdout, clusterStatus(st.Cluster))
		for _, m := range c.Members {
			if m.Conn == c.Conn {
				continue
			}
			mst, err := m.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
			if err != nil {
				fmt.Fprintf(stdout, "member at %s: %v\n", m.Conn.Target(), friendly(err))
				continue
			}
			if cs := mst.Cluster; cs != nil {
				fmt.Fprintf(stdout, "member %s:    %s at %s, board %d entries, commit index %d, applied %d (lag %d)\n", cs.Id, cs.State, m.Conn.Target(),
					mst.BoardSize, cs.CommitIndex, cs.AppliedIndex, cs.CommitIndex-min(cs.CommitIndex, cs.AppliedIndex))
			}
		}
		if st.Phase == recountv1.Phase_PHASE_EMPTY {
			return nil
		}
		info, err := c.Election(ctx)
		if err != nil {
			return err
		}
		n, t := info.Manifest.Trustees()
		fmt.Fprintf(stdout, "election:     %s (%s)\ncredentials:  %d\nballots:      %d cast by %d voters, %d challenged\n",
			info.Manifest.Proto().Title, info.Manifest.ID(), st.Credentials, st.BallotsCast, st.Voters, st.Spoiled)
		fmt.Fprintf(stdout, "trustees:     %d, any %d decrypt; committed %v, verdicts %v", n, t, st.Committed, st.Verdicts)
		if info.Key != nil {
			fmt.Fprint(stdout, "; election key posted")
		}
		fmt.Fprintln(stdout)
		if st.Phase == recountv1.Phase_PHASE_TALLYING || st.Phase == recountv1.Phase_PHASE_DONE {
			fmt.Fprintf(stdout, "decrypted by: %v\n", st.PartialDecryptions)
		}
		fmt.Fprintf(stdout, "board key:    %s\n", info.BoardKey)
		return nil
	})
}

// clusterLeader returns the member that says it is the cluster's leader, or the first member that answers (whose
// refusal then names the leader) if none does.
func clusterLeader(ctx context.Context, c *grpcnode.Client) *grpcnode.Client {
	first := c
	for i, m := range c.Members {
		st, err := m.Admin.GetStatus(ctx, &recountv1.GetStatusRequest{})
		if err != nil {
			continue
		}
		if st.Cluster != nil && st.Cluster.State == "Leader" {
			l := *m
			l.Members, l.Client = c.Members, c.Client
			return &l
		}
		if first == c && i > 0 {
			first = m
		}
	}
	return first
}

// clusterStatus describes a member's view of its cluster for the admin status; nothing without a cluster.
func clusterStatus(cs *recountv1.ClusterStatus) string {
	if cs == nil {
		return ""
	}
	var b strings.Builder
	leader := cs.LeaderId
	if leader == "" {
		leader = "none known (an election is under way, or no majority is reachable)"
	} else {
		leader += " (" + cs.LeaderRaftAddress + ")"
	}
	fmt.Fprintf(&b, "cluster:      member %s, %s; leader %s\n", cs.Id, cs.State, leader)
	var ms []string
	for _, m := range cs.Members {
		ms = append(ms, m.Id+"="+m.RaftAddress)
	}
	fmt.Fprintf(&b, "members:      %s\n", strings.Join(ms, ", "))
	fmt.Fprintf(&b, "raft:         commit index %d, applied %d (lag %d); %d committed records awaiting their seal\n",
		cs.CommitIndex, cs.AppliedIndex, cs.CommitIndex-min(cs.CommitIndex, cs.AppliedIndex), cs.Pending)
	return b.String()
}

func adminAddMember(fs *flag.FlagSet) func(context.Context, []string) error {
	return withAdmin(fs, func(ctx context.Context, c *grpcnode.Client, args []string) error {
		stdout, _ := outputs(ctx)
		if len(args) != 2 {
			return errUsage
		}
		if _, err := c.Admin.AddMember(ctx, &recountv1.AddMemberRequest{Id: args[0], RaftAddress: args[1]}); err != nil {
			return friendly(err)
		}
		fmt.Fprintf(stdout, "added member %s (%s): it catches up from the leader's log or a snapshot\n", args[0], args[1])
		return nil
	})
}

func adminRemoveMember(fs *flag.FlagSet) func(context.Context, []string) error {
	return withAdmin(fs, func(ctx context.Context, c *grpcnode.Client, args []string) error {
		stdout, _ := outputs(ctx)
		if len(args) != 1 {
			return errUsage
		}
		if _, err := c.Admin.RemoveMember(ctx, &recountv1.RemoveMemberRequest{Id: args[0]}); err != nil {
			return friendly(err)
		}
		fmt.Fprintf(stdout, "removed member %s\n", args[0])
		return nil
	})
}

func phaseName(p client.Phase) string {
	names := map[client.Phase]string{
		client.PhaseEmpty: "empty (no election yet)", client.PhaseSetup: "setup (credentials and key ceremony)",
		client.PhaseOpen: "open", client.PhaseClosed: "closed", client.PhaseTallying: "tallying (waiting for trustees)",
		client.PhaseDone: "done (result posted)",
	}
	if n, ok := names[p]; ok {
		return n
	}
	return p.String()
}

// witnessingStatus describes the node's witnessing for the admin status: nothing without a witness policy.
func witnessingStatus(w *recountv1.WitnessStatus, boardSize uint64, now time.Time) string {
	if w == nil {
		return ""
	}
	var b strings.Builder
	switch {
	case w.UnwitnessedSince != 0:
		since := time.Unix(w.UnwitnessedSince, 0).UTC()
		fmt.Fprintf(&b, "witnessed:    UNWITNESSED for %s (since %s): the latest witnessed checkpoint has %d of %d entries; quorum %s\n",
			now.Sub(since).Round(time.Second), since.Format(time.RFC3339), w.WitnessedSize, boardSize, w.Quorum)
	case w.WitnessedSize == 0:
		fmt.Fprintf(&b, "witnessed:    no checkpoint yet; quorum %s\n", w.Quorum)
	default:
		fmt.Fprintf(&b, "witnessed:    up to date, checkpoint of %d entries; quorum %s\n", w.WitnessedSize, w.Quorum)
	}
	for _, s := range w.Witnesses {
		fmt.Fprintf(&b, "  witness %s: cosigned size %d", s.Name, s.CosignedSize)
		if s.LastError != "" {
			fmt.Fprintf(&b, "; last error: %s", s.LastError)
		}
		b.WriteString("\n")
	}
	return b.String()
}

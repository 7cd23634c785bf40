package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	recountv1 "github.com/recount-vote/recount/api/recount/v1"
	"github.com/recount-vote/recount/ledger/tlog"
	"github.com/recount-vote/recount/verify"
	"github.com/recount-vote/recount/witness/policy"
)

func init() {
	register(&command{
		name:    "export",
		summary: "save a node's board as an export file (the record that 'recount verify' reads), verifying it as it is written",
		usage:   "--node ADDR --out FILE",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			c := &exportCmd{}
			c.node = addConnFlags(fs, connBoard)
			fs.StringVar(&c.out, "out", "", "write the export to `FILE` (it is replaced only once the whole export verifies)")
			fs.StringVar(&c.boardKey, "board-key", "", "require the board's verifier `KEY` (origin+hash+base64, or its sha256: fingerprint)")
			c.fs = fs
			return c.run
		},
	})
}

type exportCmd struct {
	node     *connFlags
	out      string
	boardKey string
	fs       *flag.FlagSet
}

func (c *exportCmd) run(ctx context.Context, args []string) error {
	args, err := interspersed(c.fs, args)
	if err != nil {
		return err
	}
	if len(args) != 0 || c.node.addr == "" || c.out == "" {
		return errUsage
	}
	ctx, cancel := c.node.withTimeout(ctx)
	defer cancel()
	client, err := c.node.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	r, err := openNodeExport(ctx, client.Board, c.node.addr)
	if err != nil {
		return err
	}
	// Write to a temporary file beside FILE while verifying the same bytes (check 1: framing, tree, signed
	// checkpoint); rename it into place only once the export verifies and is on disk.
	tmp, err := os.CreateTemp(filepath.Dir(c.out), "."+filepath.Base(c.out)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, it no longer exists
	cp, vkey, err := exportTo(tmp, r, c.boardKey)
	if err != nil {
		tmp.Close()
		var werr *writeError
		if errors.As(err, &werr) {
			return fmt.Errorf("%s: %w", c.out, werr.err)
		}
		return fmt.Errorf("the export of node %s does not verify, nothing was written: %w", c.node.addr, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", c.out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", c.out, err)
	}
	if err := os.Rename(tmp.Name(), c.out); err != nil {
		return err
	}
	stdout, _ := outputs(ctx)
	fmt.Fprintf(stdout, "Saved %s: %d entries, verified up to the checkpoint of size %d, root %s,\nsigned by board key %s (fingerprint %s).\nRun 'recount verify %s' to check the election.\n",
		c.out, cp.Size, cp.Size, hex.EncodeToString(cp.Root[:]), vkey, tlog.KeyFingerprint(vkey), c.out)
	return c.saveCosigned(ctx, client.Board, cp, vkey, stdout)
}

// saveCosigned writes OUT.cosigned, the export's final checkpoint with the witnesses' cosignatures, when the
// node's latest witnessed checkpoint is that very checkpoint: the record format carries the board's signature
// alone (docs/record.md section 1), so the cosignatures travel beside it, and recount verify and recount receipt
// read them from there. It checks the board's signature and the checkpoint's size and root, not the
// cosignatures (a verifier checks those against its policy). A stale OUT.cosigned is removed.
func (c *exportCmd) saveCosigned(ctx context.Context, board recountv1.BoardServiceClient, final tlog.Checkpoint, vkey string, stdout io.Writer) error {
	path := c.out + cosignedSuffix
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	resp, err := board.GetCheckpoint(ctx, &recountv1.GetCheckpointRequest{})
	if err != nil || len(resp.CosignedCheckpoint) == 0 {
		return nil // a node without witnesses (or none yet): nothing beside the record
	}
	// "quorum none": the board's signature is checked and the checkpoint parsed, whatever cosignatures follow.
	none, err := policy.Parse([]byte("quorum none\n"))
	if err != nil {
		return err
	}
	witnessed, _, err := verify.CheckWitnessed(resp.CosignedCheckpoint, vkey, none)
	if err != nil {
		fmt.Fprintf(stdout, "The node's witnessed checkpoint does not verify under the board key (%v): not saved.\n", err)
		return nil
	}
	if witnessed.Size != final.Size || witnessed.Root != final.Root {
		fmt.Fprintf(stdout, "The node's latest witnessed checkpoint (size %d) is not the export's (size %d): not saved beside it; verify with --node %s to check the witnesses.\n", witnessed.Size, final.Size, c.node.addr)
		return nil
	}
	if err := writeFileSynced(path, resp.CosignedCheckpoint); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintf(stdout, "Saved %s: the final checkpoint with the witnesses' cosignatures ('recount verify %s --witness-policy FILE' checks them).\n", path, c.out)
	return nil
}

// writeFileSynced writes data to path through a synced temporary file renamed into place.
func writeFileSynced(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if e := tmp.Close(); err == nil {
		err = e
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeError marks an error writing the file, as opposed to an export that does not verify.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

type errWriter struct{ w io.Writer }

func (w errWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// exportTo copies the export read from r to w, verifying it on the way, and returns its final checkpoint and
// verifier key.
func exportTo(w io.Writer, r io.Reader, boardKey string) (tlog.Checkpoint, string, error) {
	x, err := tlog.NewExportReader(io.TeeReader(r, errWriter{w}))
	if err != nil {
		return tlog.Checkpoint{}, "", err
	}
	if boardKey != "" && !verify.KeyMatches(x.VerifierKey(), boardKey) {
		return tlog.Checkpoint{}, "", fmt.Errorf("%w: it is signed by board key %s (fingerprint %s), not the expected %s", tlog.ErrBadSignature, x.VerifierKey(), tlog.KeyFingerprint(x.VerifierKey()), boardKey)
	}
	cp, err := x.Finish()
	return cp, x.VerifierKey(), err
}

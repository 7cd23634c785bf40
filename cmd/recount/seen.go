package main

// The voter's memory of the board between two runs of `recount vote`: the last checkpoint the client saw and
// checked, kept in a small file beside the receipts, so that a node cannot show a voter's second session a board
// rolled back or rewritten since the first (client.Client.See, CheckBoard).

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/recount-vote/recount/client"
	"github.com/recount-vote/recount/election"
)

// seenFormat is the first line of a seen-checkpoint file; the board key follows on the second line, then the
// signed checkpoint note.
const seenFormat = "recount-seen-checkpoint/v1"

// seenFile is the default seen-checkpoint file of an election: in the receipts' directory, one per election.
func seenFile(receiptDir string, id election.ID) string {
	return filepath.Join(receiptDir, ".recount-seen-"+hex.EncodeToString(id[:8]))
}

// loadSeen restores the checkpoint saved in path into c; a missing file is a first session.
func loadSeen(ctx context.Context, c *client.Client, path string) error {
	key, signed, err := readSeen(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := c.See(ctx, signed, key); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readSeen reads a seen-checkpoint file: the board key and the signed checkpoint (not yet verified).
func readSeen(path string) (key string, signed []byte, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	format, rest, ok1 := bytes.Cut(data, []byte("\n"))
	k, signed, ok2 := bytes.Cut(rest, []byte("\n"))
	if !ok1 || !ok2 || string(format) != seenFormat {
		return "", nil, fmt.Errorf("%s is not a seen-checkpoint file (%s)", path, seenFormat)
	}
	return string(k), signed, nil
}

// saveSeen writes the checkpoint c has seen to path, replacing the file atomically once the new one is on disk.
func saveSeen(c *client.Client, path string) error {
	cp, key, ok := c.Seen()
	if !ok {
		return nil
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(seenFormat + "\n" + key + "\n" + string(cp.Signed)))
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("saving the checkpoint seen to %s: %w", path, err)
	}
	return nil
}

// fileExists reports whether path names an existing file (errors other than "does not exist" count as existing,
// so that reading it reports them).
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

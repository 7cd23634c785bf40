package observer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/recount-vote/recount/ledger/tlog"
)

// AlarmKind says how a node showed two histories.
type AlarmKind string

const (
	// AlarmSameSize: two checkpoints of the same size with different roots. Proven by the two signatures alone.
	AlarmSameSize AlarmKind = "same-size"
	// AlarmRollback: the node showed a checkpoint smaller than one it signed before, whose tree at that size has
	// another root. Proven by the signatures, the root of the held tree at the smaller size and the consistency
	// proof from it to the held checkpoint (which only the held tree can satisfy).
	AlarmRollback AlarmKind = "rollback"
	// AlarmNotExtending: the node showed a larger checkpoint that it cannot prove extends the held one: the
	// consistency proof it gave (perhaps none) does not verify, and the entries it streamed do not hash to it.
	// Both checkpoints are signed; the failure of the node's own proof is what the alarm shows, which is weaker
	// than the two kinds above (see docs/observer.md).
	AlarmNotExtending AlarmKind = "not-extending"
)

// An Alarm is a portable record of a node's misbehaviour: two checkpoints signed by the node's key that do not
// belong to one history, with the evidence that they do not. Anyone checks one with CheckAlarm (`recount
// observe --check FILE`), with no access to the node or the observer.
type Alarm struct {
	Kind        AlarmKind `json:"kind"`
	Origin      string    `json:"origin"`
	VerifierKey string    `json:"verifier_key"`
	// Held is the checkpoint the observer had mirrored (its latest), Shown the one the node showed it after.
	Held  string `json:"held"`
	Shown string `json:"shown"`
	// HeldRootAtShownSize (AlarmRollback) is the root of the held tree at Shown's size.
	HeldRootAtShownSize []byte `json:"held_root_at_shown_size,omitempty"`
	// Proof is, for AlarmRollback, the consistency proof from the held tree at Shown's size to Held; for
	// AlarmNotExtending, the node's consistency proof from Held to Shown, which does not verify.
	Proof      [][]byte  `json:"proof,omitempty"`
	DetectedAt time.Time `json:"detected_at"`
	// Explanation says in words what the node did.
	Explanation string `json:"explanation"`
}

func (a *Alarm) String() string {
	return fmt.Sprintf("ALARM (%s): %s", a.Kind, a.Explanation)
}

// CheckAlarm checks an alarm file's content: both checkpoints carry the key's signature, and the evidence shows
// they are not of one history. It returns the alarm when it holds, and an error saying why when it does not.
func CheckAlarm(data []byte) (*Alarm, error) {
	var a Alarm
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("observer: not an alarm file: %w", err)
	}
	held, err := tlog.ParseCheckpoint([]byte(a.Held), a.VerifierKey)
	if err != nil {
		return nil, fmt.Errorf("observer: the alarm's held checkpoint: %w", err)
	}
	shown, err := tlog.ParseCheckpoint([]byte(a.Shown), a.VerifierKey)
	if err != nil {
		return nil, fmt.Errorf("observer: the alarm's shown checkpoint: %w", err)
	}
	if held.Origin != a.Origin || shown.Origin != a.Origin {
		return nil, fmt.Errorf("observer: the alarm's checkpoints are of %q and %q, not %q", held.Origin, shown.Origin, a.Origin)
	}
	switch a.Kind {
	case AlarmSameSize:
		if held.Size != shown.Size || held.Root == shown.Root {
			return nil, errors.New("observer: the alarm's checkpoints are not of the same size with different roots")
		}
	case AlarmRollback:
		if shown.Size >= held.Size {
			return nil, fmt.Errorf("observer: a rollback alarm's shown checkpoint (size %d) is not smaller than the held one (%d)", shown.Size, held.Size)
		}
		if len(a.HeldRootAtShownSize) != tlog.HashSize {
			return nil, errors.New("observer: a rollback alarm needs the held tree's root at the shown size")
		}
		var root [tlog.HashSize]byte
		copy(root[:], a.HeldRootAtShownSize)
		if root == shown.Root {
			return nil, errors.New("observer: the held tree at the shown size has the shown root: no rollback")
		}
		prefix := tlog.Checkpoint{Origin: a.Origin, Size: shown.Size, Root: root}
		if err := tlog.VerifyConsistency(prefix, held, a.Proof); err != nil {
			return nil, fmt.Errorf("observer: the alarm's root at size %d is not that of the held checkpoint's tree: %w", shown.Size, err)
		}
	case AlarmNotExtending:
		if shown.Size <= held.Size {
			return nil, fmt.Errorf("observer: a not-extending alarm's shown checkpoint (size %d) is not larger than the held one (%d)", shown.Size, held.Size)
		}
		if err := tlog.VerifyConsistency(held, shown, a.Proof); err == nil {
			return nil, errors.New("observer: the node's consistency proof verifies: the shown checkpoint extends the held one")
		}
	default:
		return nil, fmt.Errorf("observer: unknown alarm kind %q", a.Kind)
	}
	return &a, nil
}

// writeAlarm writes the alarm to dir/alarm-<time>-<kind>.json, synced, and returns the file's path.
func writeAlarm(dir string, a *Alarm) (string, error) {
	data, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("alarm-%s-%s.json", a.DetectedAt.UTC().Format("20060102T150405.000000000Z"), a.Kind)
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return path, nil
}

package ledger

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data (and the metadata needed to read it back) to the disk. board.checkpoint never
// changes size, so this skips the journal commit that fsync makes for its modification time.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }

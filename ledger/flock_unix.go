//go:build unix

package ledger

import (
	"os"
	"syscall"
)

// unlockFile releases a flock held on f. Closing f alone is not enough when bbolt has also mapped the file:
// the mapping keeps the lock alive.
func unlockFile(f *os.File) {
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

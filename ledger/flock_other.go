//go:build !unix

package ledger

import "os"

func unlockFile(f *os.File) {}

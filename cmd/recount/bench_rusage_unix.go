//go:build unix

package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxrssBytes converts getrusage's ru_maxrss to bytes: kibibytes, but bytes on Darwin.
func maxrssBytes(maxrss int64) uint64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return uint64(maxrss)
	}
	return uint64(maxrss) * 1024
}

// watchPeakRSS watches the resident memory high-water mark of the child process pid until the returned function
// is called, after the child has exited, which returns it in bytes.
//
// getrusage's ru_maxrss of a child is no good here: Linux keeps the high-water mark across execve, and Go starts
// a child with vfork, so the child's figure includes this process's own peak. Where /proc has the child's VmHWM
// (its new memory's alone), it is read every 10 ms while the child runs; the last reading misses at most the
// growth of the child's last 10 ms. Elsewhere it is ru_maxrss.
func watchPeakRSS(pid int) (peak func(*os.ProcessState) uint64) {
	status := fmt.Sprintf("/proc/%d/status", pid)
	if _, err := os.Stat(status); err != nil {
		return func(ps *os.ProcessState) uint64 {
			if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
				return maxrssBytes(int64(ru.Maxrss))
			}
			return 0
		}
	}
	var hwm atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v, ok := readHWM(status); ok {
				hwm.Store(max(hwm.Load(), v))
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func(*os.ProcessState) uint64 {
		close(done)
		wg.Wait()
		return hwm.Load()
	}
}

// readHWM reads VmHWM from a /proc status file, in bytes.
func readHWM(path string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib * 1024, err == nil
		}
	}
	return 0, false
}

// selfPeakRSS is this process's resident memory high-water mark, in bytes: VmHWM where /proc has it, else
// getrusage.
func selfPeakRSS() uint64 {
	if v, ok := readHWM("/proc/self/status"); ok {
		return v
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return maxrssBytes(int64(ru.Maxrss))
}

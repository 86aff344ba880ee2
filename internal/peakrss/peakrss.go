// Package peakrss measures the peak resident memory of a child process.
//
// The obvious measure, ru_maxrss from wait4, is wrong for children of a Go
// process: os/exec starts them with vfork semantics (CLONE_VM), and Linux
// folds the high-water mark of the memory the child leaves at exec, which
// is the parent's, into the child's ru_maxrss. A benchmark harness holding
// a gigabyte reports a gigabyte for every child. VmHWM in /proc/<pid>/status
// belongs to the child's own address space after exec, so it is sampled
// instead.
package peakrss

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

// Interval is how often VmHWM is sampled. It is a high-water mark, so a
// sample misses only growth within the last Interval before the exit.
const Interval = 5 * time.Millisecond

// Run starts cmd, waits for it, and returns its peak RSS in bytes along
// with cmd.Wait's error.
func Run(cmd *exec.Cmd) (int64, error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var (
		mu   sync.Mutex
		peak int64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	sample := func() {
		if v, err := VmHWM(cmd.Process.Pid); err == nil {
			mu.Lock()
			peak = max(peak, v)
			mu.Unlock()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	wg.Wait()
	return peak, err
}

// VmHWM reads a live process's peak resident set size in bytes.
func VmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("VmHWM:")) {
			continue
		}
		f := bytes.Fields(line[len("VmHWM:"):])
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("peakrss: unexpected VmHWM line %q", line)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		return kb << 10, err
	}
	return 0, fmt.Errorf("peakrss: no VmHWM in /proc/%d/status", pid)
}

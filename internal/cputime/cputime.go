// Package cputime reads the CPU time this process has used. Benchmarks
// report it beside wall time: on a shared machine the CPU a row or an
// event costs varies less than how long it took.
package cputime

import (
	"syscall"
	"time"
)

// Process returns the user and system CPU time this process has used so
// far, or 0 if the system does not say.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package main

import (
	"testing"
	"time"
)

// TestCPUSteal reads the machine's CPU times: a total that grows, and
// steal never above it.
func TestCPUSteal(t *testing.T) {
	steal0, total0 := cpuSteal()
	if total0 == 0 {
		t.Skip("no /proc/stat")
	}
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	steal1, total1 := cpuSteal()
	if total1 <= total0 || steal1 < steal0 || steal1 > total1 {
		t.Fatalf("steal %d→%d of total %d→%d", steal0, steal1, total0, total1)
	}
}

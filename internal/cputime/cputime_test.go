package cputime

import (
	"testing"
	"time"
)

// TestProcessGrows: spinning for 50 ms of wall time adds CPU time.
func TestProcessGrows(t *testing.T) {
	before := Process()
	if before <= 0 {
		t.Fatalf("Process() = %s at start, want > 0", before)
	}
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	if after := Process(); after <= before {
		t.Fatalf("Process() went from %s to %s while spinning", before, after)
	}
}

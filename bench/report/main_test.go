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

// TestBest keeps the run with the shortest time from first request to
// exit, with that run's own start-up, and the least CPU of any run.
func TestBest(t *testing.T) {
	run := func(elapsed, startup, cpu time.Duration) clientRun {
		return clientRun{result: result{elapsed: elapsed, cpu: cpu}, startup: startup, broker: cpu / 2}
	}
	ms := time.Millisecond
	for _, tc := range []struct {
		name          string
		runs          []clientRun
		stream, start time.Duration
		cpu           time.Duration
	}{
		{"one", []clientRun{run(1000*ms, 200*ms, 900*ms)}, 800 * ms, 200 * ms, 900 * ms},
		{"slow start, fast stream wins", []clientRun{run(1000*ms, 100*ms, 900*ms), run(1050*ms, 300*ms, 950*ms)}, 750 * ms, 300 * ms, 900 * ms},
		{"cpu from another run", []clientRun{run(900*ms, 100*ms, 1200*ms), run(1000*ms, 100*ms, 800*ms)}, 800 * ms, 100 * ms, 800 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := best(tc.runs)
			if b.streaming() != tc.stream || b.startup != tc.start || b.cpu != tc.cpu || b.broker != tc.cpu/2 {
				t.Fatalf("best = streaming %s, start-up %s, cpu %s, broker %s", b.streaming(), b.startup, b.cpu, b.broker)
			}
		})
	}
}

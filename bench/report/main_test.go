package main

import (
	"encoding/json"
	"strings"
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

// TestParseE2E reads every run of a -count=2 log, and refuses a log whose
// runs lack a line.
func TestParseE2E(t *testing.T) {
	log := `=== RUN   TestE2ELakeThroughput
    e2e_bench_test.go:261: e2e: 2000000 events, all committed 16.454s after the timed start: 121554 tx/s
    e2e_bench_test.go:268: e2e: 15.33 CPU-s per 1M tx (30.7 CPU-s: generator, broker and lake pipeline; 1.86 cores busy)
    e2e_bench_test.go:271: e2e: event→visible latency over 16 markers: p50 1.379s, p99 1.971s, max 1.971s
--- PASS: TestE2ELakeThroughput (16.71s)
=== RUN   TestE2ELakeThroughput
    e2e_bench_test.go:261: e2e: 2000000 events, all committed 14.611s after the timed start: 136879 tx/s
    e2e_bench_test.go:268: e2e: 13.89 CPU-s per 1M tx (27.8 CPU-s: generator, broker and lake pipeline; 1.90 cores busy)
    e2e_bench_test.go:271: e2e: event→visible latency over 14 markers: p50 1.166s, p99 1.855s, max 1.855s
--- PASS: TestE2ELakeThroughput (14.87s)
`
	runs, err := parseE2E(log)
	if err != nil {
		t.Fatal(err)
	}
	want := []e2eRun{
		{121554, 15.33, 1379 * time.Millisecond, 1971 * time.Millisecond},
		{136879, 13.89, 1166 * time.Millisecond, 1855 * time.Millisecond},
	}
	if len(runs) != len(want) {
		t.Fatalf("got %d runs, want %d", len(runs), len(want))
	}
	for i := range want {
		if runs[i] != want[i] {
			t.Errorf("run %d = %+v, want %+v", i, runs[i], want[i])
		}
	}
	cut := strings.Replace(log, "p50 1.166s, p99 1.855s, max 1.855s", "", 1)
	if _, err := parseE2E(cut); err == nil {
		t.Error("a run without its latency line parsed")
	}
}

// TestDropFields: the redpanda rows' records are the generator's events
// without card_fingerprint and merchant_category, still valid JSON with
// every other field.
func TestDropFields(t *testing.T) {
	for in, want := range map[string]string{
		`{"transaction_id":"a","merchant_id":"mer-1","merchant_category":"5812","amount":1.5,"card_fingerprint":"c2e4","is_fraud":false}`: `{"transaction_id":"a","merchant_id":"mer-1","amount":1.5,"is_fraud":false}`,
		`{"transaction_id":"b","counterparty_id":"acc-2","amount":3}`:                                                                     `{"transaction_id":"b","counterparty_id":"acc-2","amount":3}`,
	} {
		got := dropFields.ReplaceAllString(in, "")
		if got != want {
			t.Errorf("dropFields(%s) = %s, want %s", in, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("not JSON: %s", got)
		}
	}
}

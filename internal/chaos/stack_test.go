package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stack is one scenario's world: a broker, a lake location, and the
// pipelines run against them.
type stack struct {
	t      *testing.T
	broker *broker
	reader lakeReader        // how the test reads the lake
	env    map[string]string // lake settings every pipeline gets
	// lakeArgs are extra CLI arguments of lake pipelines.
	lakeArgs []string
	rng      *rand.Rand
	seq      map[string]int
	start    time.Time
}

type stackOpts struct {
	persistBroker bool
	// lakePath is TRSTREAM_LAKE; default a temp dir.
	lakePath string
	catalog  string            // TRSTREAM_CATALOG_URI
	env      map[string]string // more environment (AWS_* for S3)
	reader   *lakeReader       // default: lakePath and catalog
}

func newStack(t *testing.T, o stackOpts) *stack {
	t.Helper()
	if o.lakePath == "" {
		o.lakePath = filepath.Join(t.TempDir(), "lake")
	}
	s := &stack{
		t:      t,
		broker: startBroker(t, o.persistBroker),
		env:    map[string]string{"TRSTREAM_LAKE": o.lakePath, "TRSTREAM_CATALOG_URI": o.catalog},
		seq:    map[string]int{},
		start:  time.Now(),
	}
	for k, v := range o.env {
		s.env[k] = v
	}
	if o.reader != nil {
		s.reader = *o.reader
	} else {
		s.reader = lakeReader{path: o.lakePath, catalog: o.catalog}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos rng seed %d", seed)
	s.rng = rand.New(rand.NewPCG(seed, 0x7a11))
	// A SIGKILLed member holds its partitions until its session times out,
	// and a joining member waits for the rebalance to time the dead one out:
	// 6 s and 10 s rather than the default 45 s each keep restarts quick.
	s.lakeArgs = []string{"-s", "input.redpanda.session_timeout=6s", "-s", "input.redpanda.rebalance_timeout=10s", "-s", "input.redpanda.heartbeat_interval=1s"}
	if lvl := os.Getenv("TRSTREAM_CHAOS_LOG_LEVEL"); lvl != "" {
		s.lakeArgs = append(s.lakeArgs, "--log.level", lvl)
	}
	return s
}

func (s *stack) name(kind string) string {
	s.seq[kind]++
	return fmt.Sprintf("%s#%d", kind, s.seq[kind])
}

func (s *stack) procEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"TRSTREAM_BROKERS":      s.broker.addr,
		"TRSTREAM_HTTP_ADDRESS": fmt.Sprintf("127.0.0.1:%d", freePort(s.t)),
	}
	for k, v := range s.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

type ingestOpts struct {
	count, rate int
	seed        int
	inject      bool // 1% duplicates, 1% late, 1% invalid
}

func (s *stack) startIngest(o ingestOpts) *proc {
	env := s.procEnv(map[string]string{
		"TRSTREAM_COUNT": strconv.Itoa(o.count),
		"TRSTREAM_RATE":  strconv.Itoa(o.rate),
		"TRSTREAM_SEED":  strconv.Itoa(o.seed),
	})
	if o.inject {
		env["TRSTREAM_INJECT_DUPLICATES"] = "0.01"
		env["TRSTREAM_INJECT_LATE"] = "0.01"
		env["TRSTREAM_INJECT_INVALID"] = "0.01"
	}
	return startProc(s.t, s.name("ingest"), env, "-c", "pipelines/ingest.yaml")
}

func (s *stack) startLake() *proc {
	args := append([]string{"-c", "pipelines/lake.yaml"}, s.lakeArgs...)
	return startProc(s.t, s.name("lake"), s.procEnv(nil), args...)
}

// compact runs `trstream compact` on the lake.
func (s *stack) startCompact(args ...string) *proc {
	return startProc(s.t, s.name("compact"), s.procEnv(nil), append([]string{"compact"}, args...)...)
}

// waitLakeReady waits until the lake table exists.
func (s *stack) waitLakeReady(timeout time.Duration) {
	s.t.Helper()
	require.NoError(s.t, eventually(s.t.Context(), timeout, 100*time.Millisecond, func(context.Context) (bool, error) {
		return s.reader.ready(), nil
	}), "lake table never created")
}

// waitCommit waits until the lake has more than after snapshots and
// returns the count (after, if none came within timeout).
func (s *stack) waitCommit(after int, timeout time.Duration) int {
	s.t.Helper()
	n := after
	_ = eventually(s.t.Context(), timeout, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		c, err := s.reader.snapshots(ctx)
		if err == nil && c > n {
			n = c
		}
		return n > after, err
	})
	return n
}

// snapshotCount is the lake's current number of snapshots.
func (s *stack) snapshotCount() int {
	s.t.Helper()
	n, err := s.reader.snapshots(s.t.Context())
	require.NoError(s.t, err)
	return n
}

// settle reads the truth (the producers must be done) and waits until the
// lake holds every valid id and the DLQ every invalid record. It returns
// the last states seen; check decides whether they are complete.
func (s *stack) settle(timeout time.Duration, each func(*lakeState)) (*truth, *lakeState, *dlqState) {
	s.t.Helper()
	ctx := s.t.Context()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	tr, err := readTruth(rctx, s.broker.addr)
	cancel()
	require.NoError(s.t, err, "reading the truth from %s", topicTx)
	var ls *lakeState
	var d *dlqState
	err = eventually(ctx, timeout, time.Second, func(ctx context.Context) (bool, error) {
		if !s.reader.ready() {
			return false, nil
		}
		l, err := s.reader.read(ctx)
		if err != nil {
			return false, fmt.Errorf("reading the lake: %w", err)
		}
		ls = l
		if each != nil {
			each(l)
		}
		dd, err := readDLQ(ctx, s.broker.addr)
		if err != nil {
			return false, fmt.Errorf("reading the DLQ: %w", err)
		}
		d = dd
		f := compare("", tr, ls, d)
		return f.lost == 0 && f.dlqMissing == 0, nil
	})
	if err != nil {
		f := compare("", tr, ls, d)
		s.t.Logf("settle: %v (lost=%d dlq_missing=%d after %s)", err, f.lost, f.dlqMissing, timeout)
		if ls != nil {
			s.t.Logf("lake offsets: %v", ls.offsets)
		}
		s.t.Log(groupReport(ctx, s.broker.addr, "trstream-lake"))
	}
	return tr, ls, d
}

type finishOpts struct {
	strictDLQ      bool // no crash: the DLQ holds each invalid record exactly once
	expectProduced int  // if > 0, the topic must hold exactly this many records
	extra          string
	settle         time.Duration
	each           func(*lakeState)
}

// finish stops the lake pipelines gracefully, reads the final lake and DLQ,
// logs the figures line and asserts that nothing is lost or duplicated.
func (s *stack) finish(name string, o finishOpts, lakes ...*proc) figures {
	s.t.Helper()
	if o.settle == 0 {
		o.settle = 90 * time.Second
	}
	tr, _, _ := s.settle(o.settle, o.each)
	for _, p := range lakes {
		if p.exited() {
			s.t.Errorf("%s exited on its own: %s", p.name, p.state())
			continue
		}
		if err := p.stop(30 * time.Second); err != nil {
			s.t.Errorf("stopping %s: %v", p.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(s.t.Context(), time.Minute)
	defer cancel()
	ls, err := s.reader.read(ctx)
	require.NoError(s.t, err, "reading the final lake")
	if o.each != nil {
		o.each(ls)
	}
	d, err := readDLQ(ctx, s.broker.addr)
	require.NoError(s.t, err, "reading the DLQ")
	f := compare(name, tr, ls, d)
	f.extra = o.extra
	if f.extra != "" {
		f.extra += " "
	}
	f.extra += fmt.Sprintf("files=%d snapshots=%d secs=%.0f", ls.files, ls.snapshots, time.Since(s.start).Seconds())
	report(s.t, f.String())
	if f.lost > 0 || f.dup > 0 {
		lost, dup := examples(tr, ls, 10)
		s.t.Logf("lost ids (up to 10): %v", lost)
		s.t.Logf("duplicated ids (up to 10): %v", dup)
		s.t.Logf("lost and duplicated ids explained:\n%s", explainDups(tr, ls, 10))
	}
	assert.Zero(s.t, f.lost, "valid transaction ids missing from the lake")
	// Exactly once per record: a record of the topic never lands twice.
	assert.Equal(s.t, f.dupRepeated, f.dup, "rows of one topic record landed twice")
	if f.dup > 0 && f.dup == f.dupRepeated {
		// An event produced twice landed twice across a restart or a
		// rebalance, outside the writer's id window: compaction merges
		// exact duplicates, so the repaired snapshot must be clean.
		c := s.startCompact("--min-input-files", "2", "--retention", "0s")
		require.NoError(s.t, c.wait(5*time.Minute), "trstream compact")
		ls, err = s.reader.read(ctx)
		require.NoError(s.t, err, "reading the compacted lake")
		after := compare(name, tr, ls, d)
		report(s.t, fmt.Sprintf("scenario=%s after_compaction lost=%d duplicated=%d", name, after.lost, after.dup))
		assert.Zero(s.t, after.lost, "compaction lost ids")
		assert.Zero(s.t, after.dup, "duplicates left after compaction")
	}
	assert.Zero(s.t, f.unknown, "lake ids that were never produced")
	assert.Zero(s.t, f.dlqMissing, "invalid records missing from the DLQ")
	assert.Zero(s.t, f.noReason, "DLQ records without a dlq_reason header")
	if o.strictDLQ {
		assert.Equal(s.t, f.invalid, f.dlq, "DLQ records vs invalid records")
	}
	if o.expectProduced > 0 {
		assert.Equal(s.t, o.expectProduced, f.produced, "records in %s vs the generator's count", topicTx)
	}
	return f
}

// report logs a figures line and, when TRSTREAM_CHAOS_REPORT names a file,
// appends it there, so CI prints the figures of passing runs too.
func report(t testing.TB, line string) {
	t.Helper()
	t.Log(line)
	if path := os.Getenv("TRSTREAM_CHAOS_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

package chaos

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trstream/trstream/internal/topics"
	"github.com/trstream/trstream/plugins/lake"
	"github.com/trstream/trstream/plugins/txn"
)

const (
	topicTx  = "transactions"
	topicDLQ = "transactions.dlq"
)

var (
	moduleRoot string
	binPath    string
	verbose    = os.Getenv("TRSTREAM_CHAOS_VERBOSE") != ""
)

func TestMain(m *testing.M) {
	flag.Parse()
	root, err := findModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	moduleRoot = root
	tmp, err := os.MkdirTemp("", "trstream-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	binPath = os.Getenv("TRSTREAM_CHAOS_BIN")
	if binPath == "" && !listOnly() {
		binPath = filepath.Join(tmp, "trstream")
		start := time.Now()
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/trstream")
		cmd.Dir = moduleRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "chaos: go build ./cmd/trstream: %v\n%s", err, out)
			os.RemoveAll(tmp)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "chaos: built %s in %s\n", binPath, time.Since(start).Round(time.Second))
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// listOnly reports whether go test only lists tests (no binary needed).
func listOnly() bool {
	f := flag.Lookup("test.list")
	return f != nil && f.Value.String() != ""
}

func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// iterations is TRSTREAM_CHAOS_ITERATIONS, or 0 when unset.
func iterations() int {
	n, _ := strconv.Atoi(os.Getenv("TRSTREAM_CHAOS_ITERATIONS"))
	return max(n, 0)
}

// scaled is def, or def scaled by TRSTREAM_CHAOS_ITERATIONS/20 when set
// (the lake kills are 20 by default, so TRSTREAM_CHAOS_ITERATIONS=80
// quadruples every kill count).
func scaled(def int) int {
	n := iterations()
	if n == 0 {
		return def
	}
	return max(1, def*n/20)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// eventually polls cond every interval until it returns true or the
// deadline passes; it returns cond's last error (or a timeout error).
func eventually(ctx context.Context, timeout, interval time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("not reached within %s: %w", timeout, last)
			}
			return fmt.Errorf("not reached within %s", timeout)
		case <-time.After(interval):
		}
	}
}

// jitter is a random duration in [lo, hi).
func jitter(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// ---- processes ----

// syncBuf collects a child's output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuf) tail(n int) string {
	str := s.String()
	if len(str) > n {
		return "…" + str[len(str)-n:]
	}
	return str
}

// proc is one trstream child process in its own process group.
type proc struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	out   *syncBuf
	done  chan struct{}
	err   error
	start time.Time
}

// startProc runs the trstream binary with args and exactly env (plus PATH,
// HOME and TMPDIR). Its output is logged when the test fails.
func startProc(t testing.TB, name string, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = moduleRoot
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if dir := os.Getenv("TRSTREAM_CHAOS_LOGDIR"); dir != "" {
		// Keep every child's full output for a post-mortem.
		if f, err := os.Create(filepath.Join(dir, strings.NewReplacer("/", "_", "#", "-").Replace(t.Name()+"-"+name)+".log")); err == nil {
			t.Cleanup(func() { f.Close() })
			w := io.MultiWriter(out, f)
			cmd.Stdout, cmd.Stderr = w, w
		}
	}
	require.NoError(t, cmd.Start(), "starting %s", name)
	p := &proc{t: t, name: name, cmd: cmd, out: out, done: make(chan struct{}), start: time.Now()}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() || verbose {
			t.Logf("---- %s (pid %d, %s) output tail ----\n%s", p.name, cmd.Process.Pid, p.state(), out.tail(6000))
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) state() string {
	if !p.exited() {
		return "running"
	}
	if p.err == nil {
		return "exit 0"
	}
	return p.err.Error()
}

// signal sends sig to the whole process group.
func (p *proc) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// kill is kill -9 on the process group, then waits for the exit.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	p.signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to timeout for a clean exit, then kills.
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return p.err
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		// A process still starting up has no handler yet and dies of the
		// signal itself: that is a stop too (the lake's exactly-once
		// checks cover whatever it had not committed).
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
				return nil
			}
		}
		return p.err
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, timeout)
	}
}

// wait waits up to timeout for the process to exit by itself.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %s", p.name, timeout)
	}
}

// waitOutput waits until the output contains s.
func (p *proc) waitOutput(ctx context.Context, s string, timeout time.Duration) error {
	return eventually(ctx, timeout, 100*time.Millisecond, func(context.Context) (bool, error) {
		if strings.Contains(p.out.String(), s) {
			return true, nil
		}
		if p.exited() {
			return false, fmt.Errorf("%s exited (%s) before logging %q", p.name, p.state(), s)
		}
		return false, nil
	})
}

// ---- broker ----

// broker is a kfake cluster on a fixed 127.0.0.1 port, optionally
// persisted to disk so it can be stopped and started again.
type broker struct {
	t       testing.TB
	port    int
	dataDir string
	c       *kfake.Cluster
	addr    string
}

func startBroker(t testing.TB, persist bool) *broker {
	t.Helper()
	b := &broker{t: t, port: freePort(t)}
	if persist {
		b.dataDir = filepath.Join(t.TempDir(), "kfake")
	}
	require.NoError(t, b.up())
	t.Cleanup(func() { b.down() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	require.NoError(t, err)
	defer cl.Close()
	defs, err := topics.Load(filepath.Join(moduleRoot, "redpanda", "topics.yaml"))
	require.NoError(t, err)
	_, err = topics.Apply(t.Context(), kadm.NewClient(cl), defs, 1)
	require.NoError(t, err)
	return b
}

func (b *broker) up() error {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(b.port)}
	if b.dataDir != "" {
		opts = append(opts, kfake.DataDir(b.dataDir))
	}
	var err error
	// The port may linger briefly after a stop.
	for i := 0; i < 50; i++ {
		if b.c, err = kfake.NewCluster(opts...); err == nil {
			b.addr = b.c.ListenAddrs()[0]
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

func (b *broker) down() {
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}

// ---- truth from the topics ----

// readTopic reads every record of topic up to its end offsets at the time
// of the call.
func readTopic(ctx context.Context, addr, topic string) ([]*kgo.Record, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	got := map[int32]int64{}
	complete := func() bool {
		for p, end := range want {
			if got[p] < end {
				return false
			}
		}
		return true
	}
	var recs []*kgo.Record
	for !complete() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w (have %v of %v)", topic, err, got, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset < end {
				recs = append(recs, r)
			}
			got[r.Partition] = max(got[r.Partition], r.Offset+1)
		})
	}
	return recs, nil
}

// truth is what the generator produced, classified independently.
type truth struct {
	produced     int            // records in the topic
	validRecords int            // records that decode
	ids          map[string]int // valid transaction id → records holding it
	invalid      int            // records that do not decode
	invalidSrc   map[string]bool
	where        map[string][]string // valid id → partition/offset of its records
}

func srcKey(partition int32, offset int64) string { return fmt.Sprintf("%d/%d", partition, offset) }

func readTruth(ctx context.Context, addr string) (*truth, error) {
	recs, err := readTopic(ctx, addr, topicTx)
	if err != nil {
		return nil, err
	}
	tr := &truth{produced: len(recs), ids: map[string]int{}, invalidSrc: map[string]bool{}, where: map[string][]string{}}
	for _, r := range recs {
		t, err := txn.Decode(r.Value)
		if err != nil {
			tr.invalid++
			tr.invalidSrc[srcKey(r.Partition, r.Offset)] = true
			continue
		}
		tr.validRecords++
		tr.ids[t.TransactionID]++
		tr.where[t.TransactionID] = append(tr.where[t.TransactionID], srcKey(r.Partition, r.Offset))
	}
	return tr, nil
}

// dlqState is what reached the dead-letter topic.
type dlqState struct {
	records  int             // records with a dlq_reason header
	noReason int             // records without one
	src      map[string]bool // distinct source partition/offset
	reasons  map[string]int
}

func readDLQ(ctx context.Context, addr string) (*dlqState, error) {
	recs, err := readTopic(ctx, addr, topicDLQ)
	if err != nil {
		return nil, err
	}
	d := &dlqState{src: map[string]bool{}, reasons: map[string]int{}}
	for _, r := range recs {
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		reason := h["dlq_reason"]
		if reason == "" {
			d.noReason++
			continue
		}
		d.records++
		d.reasons[reason]++
		if h["dlq_source_topic"] == topicTx {
			p, _ := strconv.ParseInt(h["dlq_source_partition"], 10, 32)
			o, _ := strconv.ParseInt(h["dlq_source_offset"], 10, 64)
			d.src[srcKey(int32(p), o)] = true
		}
	}
	return d, nil
}

// ---- the lake ----

type lakeState struct {
	rows      int
	files     int
	ids       map[string]int
	fileOf    map[string][]string // id → files holding it
	offsets   lake.Offsets
	snapshots int
	history   []lake.Snapshot
}

// lakeReader reads a lake's current snapshot from the test process.
type lakeReader struct {
	path    string
	catalog string
	s3      lake.S3Options
}

func (lr lakeReader) read(ctx context.Context) (*lakeState, error) {
	loc, err := lake.ParseLocation(lr.path, lr.s3)
	if err != nil {
		return nil, err
	}
	var opts []lake.Option
	if lr.catalog != "" {
		opts = append(opts, lake.WithCatalogURI(lr.catalog))
	}
	tbl, err := lake.Open(ctx, loc, opts...)
	if err != nil {
		return nil, err
	}
	defer tbl.Close()
	files, err := tbl.Files(ctx)
	if err != nil {
		return nil, err
	}
	st := &lakeState{files: len(files), ids: map[string]int{}, fileOf: map[string][]string{}}
	for _, f := range files {
		rel, ok := loc.Rel(f.Path)
		if !ok {
			return nil, fmt.Errorf("file %s is outside the lake %s", f.Path, loc)
		}
		rows, err := lake.ReadFile(ctx, tbl.Storage(), rel)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", rel, err)
		}
		if int64(len(rows)) != f.Rows {
			return nil, fmt.Errorf("%s: %d rows, metadata says %d", rel, len(rows), f.Rows)
		}
		for i := range rows {
			st.ids[rows[i].TransactionID]++
			st.fileOf[rows[i].TransactionID] = append(st.fileOf[rows[i].TransactionID], filepath.Base(rel))
		}
		st.rows += len(rows)
	}
	if st.offsets, err = tbl.Offsets(ctx); err != nil {
		return nil, err
	}
	snaps, err := tbl.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	st.snapshots = len(snaps)
	st.history = snaps
	return st, nil
}

// snapshots counts the lake's snapshots (0 before the table exists).
func (lr lakeReader) snapshots(ctx context.Context) (int, error) {
	if !lr.ready() {
		return 0, nil
	}
	loc, err := lake.ParseLocation(lr.path, lr.s3)
	if err != nil {
		return 0, err
	}
	var opts []lake.Option
	if lr.catalog != "" {
		opts = append(opts, lake.WithCatalogURI(lr.catalog))
	}
	tbl, err := lake.Open(ctx, loc, opts...)
	if err != nil {
		return 0, err
	}
	defer tbl.Close()
	snaps, err := tbl.Snapshots(ctx)
	return len(snaps), err
}

// ready reports whether the lake's catalog has been created (so a reader
// does not race the pipeline to create the table).
func (lr lakeReader) ready() bool {
	cat := lr.catalog
	if cat == "" {
		cat = filepath.Join(lr.path, "_catalog", "catalog.db")
	}
	_, err := os.Stat(cat)
	return err == nil
}

// ---- figures ----

type figures struct {
	name                  string
	produced, valid       int
	validRecords, invalid int
	inLake, lost, dup     int
	// dupRepeated counts the duplicates of events the topic holds more
	// than once (an at-least-once producer, injected duplicates): outside
	// the lake's id window (a restart or a rebalance in between) they can
	// land twice until compaction merges them. Any other duplicate is an
	// exactly-once failure.
	dupRepeated          int
	unknown              int // lake ids the topic never held
	dlq, dlqDistinct     int
	dlqMissing, noReason int
	extra                string
}

func compare(name string, tr *truth, ls *lakeState, d *dlqState) figures {
	f := figures{name: name, produced: tr.produced, valid: len(tr.ids), validRecords: tr.validRecords, invalid: tr.invalid}
	if ls != nil {
		f.inLake = ls.rows
		for id, n := range ls.ids {
			if n > 1 {
				f.dup += n - 1
				if tr.ids[id] > 1 {
					f.dupRepeated += n - 1
				}
			}
			if _, ok := tr.ids[id]; !ok {
				f.unknown++
			}
		}
	}
	for id := range tr.ids {
		if ls == nil || ls.ids[id] == 0 {
			f.lost++
		}
	}
	if d != nil {
		f.dlq, f.dlqDistinct, f.noReason = d.records, len(d.src), d.noReason
		for s := range tr.invalidSrc {
			if !d.src[s] {
				f.dlqMissing++
			}
		}
	}
	return f
}

func (f figures) String() string {
	s := fmt.Sprintf("scenario=%s produced=%d valid=%d invalid=%d in_lake=%d lost=%d duplicated=%d dlq=%d",
		f.name, f.produced, f.valid, f.invalid, f.inLake, f.lost, f.dup, f.dlq)
	s += fmt.Sprintf(" dup_of_reproduced=%d valid_records=%d dlq_distinct=%d dlq_missing=%d unknown=%d", f.dupRepeated, f.validRecords, f.dlqDistinct, f.dlqMissing, f.unknown)
	if f.extra != "" {
		s += " " + f.extra
	}
	return s
}

// explainDups describes up to n duplicated and lost ids: where the topic holds
// them and which files of the snapshot hold them; and the snapshot history.
func explainDups(tr *truth, ls *lakeState, n int) string {
	var b strings.Builder
	var ids []string
	for id, c := range ls.ids {
		if c > 1 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for i, id := range ids {
		if i == n {
			break
		}
		fmt.Fprintf(&b, "  dup %s topic=%v files=%v\n", id, tr.where[id], ls.fileOf[id])
	}
	var lost []string
	for id := range tr.ids {
		if ls.ids[id] == 0 {
			lost = append(lost, id)
		}
	}
	sort.Strings(lost)
	for i, id := range lost {
		if i == n {
			break
		}
		fmt.Fprintf(&b, "  lost %s topic=%v\n", id, tr.where[id])
	}
	if len(lost) > 0 {
		perPartition := map[string]int{}
		for _, id := range lost {
			for _, w := range tr.where[id] {
				perPartition[strings.SplitN(w, "/", 2)[0]]++
			}
		}
		fmt.Fprintf(&b, "  lost per partition: %v\n", perPartition)
	}
	for _, sn := range ls.history {
		fmt.Fprintf(&b, "  snapshot %d %s op=%s added_rows=%d rows=%d offsets=%s\n", sn.ID, sn.Time.Format("15:04:05.000"),
			sn.Operation, sn.AddedRows, sn.Rows, sn.Properties[lake.PropOffsets])
	}
	return b.String()
}

// examples lists up to n ids of the lake that are lost or duplicated.
func examples(tr *truth, ls *lakeState, n int) (lost, dup []string) {
	for id := range tr.ids {
		if (ls == nil || ls.ids[id] == 0) && len(lost) < n {
			lost = append(lost, id)
		}
	}
	if ls != nil {
		for id, c := range ls.ids {
			if c > 1 && len(dup) < n {
				dup = append(dup, fmt.Sprintf("%s×%d", id, c))
			}
		}
	}
	sort.Strings(lost)
	sort.Strings(dup)
	return lost, dup
}

// groupReport describes a consumer group: members, assignments, committed
// offsets and lag, for failure logs.
func groupReport(ctx context.Context, addr, group string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err.Error()
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var b strings.Builder
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return "describe group: " + err.Error()
	}
	for _, g := range dg.Sorted() {
		fmt.Fprintf(&b, "group %s state=%s protocol=%s members=%d err=%v\n", g.Group, g.State, g.Protocol, len(g.Members), g.Err)
		for _, m := range g.Members {
			var parts []string
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, tp := range a.Topics {
					parts = append(parts, fmt.Sprintf("%s%v", tp.Topic, tp.Partitions))
				}
			}
			fmt.Fprintf(&b, "  member %s host=%s assigned=%v\n", m.MemberID, m.ClientHost, parts)
		}
	}
	lag, err := adm.Lag(ctx, group)
	if err != nil {
		return b.String() + "lag: " + err.Error()
	}
	for _, l := range lag.Sorted() {
		for _, pl := range l.Lag.Sorted() {
			fmt.Fprintf(&b, "  %s/%d committed=%d end=%d lag=%d\n", pl.Topic, pl.Partition, pl.Commit.At, pl.End.Offset, pl.Lag)
		}
	}
	return b.String()
}

// adminLag sums a group's lag over every partition.
func adminLag(ctx context.Context, addr, group string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	lag, err := kadm.NewClient(cl).Lag(ctx, group)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, l := range lag.Sorted() {
		total += l.Lag.Total()
	}
	return total, nil
}

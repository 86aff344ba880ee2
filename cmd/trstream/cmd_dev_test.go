package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trstream/trstream/internal/devstack"
	"github.com/trstream/trstream/plugins/lake"
)

// TestCheckLakeOffsets: dev refuses a broker whose log starts empty (in
// memory, or a new data directory) on a lake that committed offsets of the
// broker's topics, and nothing else.
func TestCheckLakeOffsets(t *testing.T) {
	const topicsFile = "../../redpanda/topics.yaml"
	withOffsets := func(t *testing.T, offs lake.Offsets, opts ...lake.Option) string {
		dir := filepath.Join(t.TempDir(), "lake")
		loc, err := lake.ParseLocation(dir, lake.S3Options{})
		require.NoError(t, err)
		tbl, err := lake.Open(t.Context(), loc, opts...)
		require.NoError(t, err)
		defer tbl.Close()
		require.NoError(t, tbl.Append(t.Context(), nil, offs))
		return dir
	}
	lockOnly := t.TempDir() // a run that stopped before its broker wrote anything
	require.NoError(t, os.WriteFile(filepath.Join(lockOnly, devstack.LockFile), nil, 0o644))
	oldLog := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(oldLog, "meta.json"), []byte("{}"), 0o644))
	landed := withOffsets(t, lake.Offsets{"transactions": {0: 10, 1: 12}})
	catalog := filepath.Join(t.TempDir(), "catalog.db")
	elsewhere := withOffsets(t, lake.Offsets{"transactions": {0: 10, 1: 12}}, lake.WithCatalogURI(catalog))
	for _, tc := range []struct {
		name, lake, dataDir string
		catalogURI          string // TRSTREAM_CATALOG_URI
		refused             bool
	}{
		{name: "in memory, catalog of TRSTREAM_CATALOG_URI", lake: elsewhere, catalogURI: "sqlite://" + catalog, refused: true},
		{name: "in memory, TRSTREAM_CATALOG_URI without a table", lake: landed, catalogURI: filepath.Join(t.TempDir(), "none.db")},
		{name: "in memory, lake with offsets", lake: landed, refused: true},
		{name: "new data dir, lake with offsets", lake: landed, dataDir: filepath.Join(t.TempDir(), "broker"), refused: true},
		{name: "empty data dir, lake with offsets", lake: landed, dataDir: t.TempDir(), refused: true},
		{name: "the earlier run's log", lake: landed, dataDir: oldLog},
		{name: "a data dir holding only the lock, lake with offsets", lake: landed, dataDir: lockOnly, refused: true},
		{name: "no lake yet", lake: filepath.Join(t.TempDir(), "lake")},
		{name: "a lake without offsets", lake: withOffsets(t, nil)},
		{name: "offsets of another topic only", lake: withOffsets(t, lake.Offsets{"elsewhere": {0: 5}})},
		{name: "an S3 lake", lake: "s3://bucket/lake"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TRSTREAM_CATALOG_URI", tc.catalogURI)
			err := checkLakeOffsets(t.Context(), tc.lake, tc.dataDir, topicsFile)
			if !tc.refused {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "committed offsets of topic transactions (2 partitions)")
			assert.Contains(t, err.Error(), "--data-dir")
		})
	}
}

// TestDevRestartKeepsLanding runs ingest.yaml and lake.yaml as dev does,
// stops them, starts them again on the same broker log and lake through
// `trstream dev` and kills that with -9 (its broker's log is not closed),
// runs them once more, then lake.yaml alone, until the lake holds every
// event the topic does. Every run's events land: its offsets continue the
// last run's (the log survives a kill -9 too), and its generator, seeded
// alike, makes new transaction ids, which the lake would otherwise drop as
// landed already. No id lands twice, as DuckDB counts them.
func TestDevRestartKeepsLanding(t *testing.T) {
	bin := trstreamBinary(t)
	dataDir := filepath.Join(t.TempDir(), "broker")
	lakeDir := filepath.Join(t.TempDir(), "lake")
	sql := func(q string) int64 {
		if _, err := os.Stat(lakeDir); err != nil {
			return 0 // the lake pipeline has not created it yet
		}
		out, err := exec.Command(bin, "sql", "--lake", lakeDir, "--format", "csv", q).CombinedOutput()
		require.NoError(t, err, "%s", out)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		n, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
		require.NoError(t, err, "%s", out)
		return n
	}
	var rows, events int64
	for _, run := range []struct {
		pipelines []string
		crash     bool // run them through `trstream dev`, then kill -9 it
		until     func(before int64, brokers string) bool
	}{
		{[]string{"ingest", "lake"}, false, func(before int64, _ string) bool { return rows >= before+4000 }},
		{[]string{"ingest", "lake"}, true, func(before int64, _ string) bool { return rows >= before+4000 }},
		{[]string{"ingest", "lake"}, false, func(before int64, _ string) bool { return rows >= before+4000 }},
		{[]string{"lake"}, false, func(_ int64, brokers string) bool {
			events = topicRecords(t, brokers, "transactions")
			return rows >= events
		}},
	} {
		require.NoError(t, checkLakeOffsets(t.Context(), lakeDir, dataDir, "../../redpanda/topics.yaml"))
		var files []string
		for _, p := range run.pipelines {
			files = append(files, "../../pipelines/"+p+".yaml")
		}
		var (
			out     syncBuffer
			brokers string
			stop    func()
		)
		if run.crash {
			cmd := exec.Command(bin, append([]string{"dev", "--port", "0", "--data-dir", dataDir, "--lake", lakeDir, "--serve-addr", "",
				"--http-port", strconv.Itoa(freePort(t)), "--topics", "../../redpanda/topics.yaml"}, files...)...)
			cmd.Env = append(os.Environ(), "TRSTREAM_RATE=2000")
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Start())
			stop = func() { killDev(t, cmd, childPIDs(t, cmd.Process.Pid)) } // no clean stop of the broker's log
		} else {
			stack, err := devstack.Start(t.Context(), devstack.Config{
				BrokerPort:    freePort(t),
				DataDir:       dataDir,
				TopicsFile:    "../../redpanda/topics.yaml",
				Pipelines:     files,
				FirstHTTPPort: freePort(t),
				Binary:        bin,
				Env:           []string{"TRSTREAM_LAKE=" + lakeDir, "TRSTREAM_RATE=2000"},
				Out:           &out,
			})
			require.NoError(t, err)
			brokers, stop = stack.Brokers, stack.Stop
		}
		before := rows
		ok := assert.Eventually(t, func() bool {
			rows = sql("select count(*) from transactions")
			return run.until(before, brokers)
		}, 90*time.Second, time.Second)
		stop()
		if !ok {
			t.Fatalf("%v: %d rows, %d before it, %d events in the topic\n%s", run.pipelines, rows, before, events, out.String())
		}
	}
	assert.Equal(t, events, rows, "every event in the topic, in the lake")
	assert.Zero(t, sql("select count(*) - count(distinct transaction_id) from transactions"), "ids landed twice")
}

// topicRecords is how many records topic holds (its partitions' end
// offsets: the log starts at 0).
func topicRecords(t *testing.T, brokers, topic string) int64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	require.NoError(t, err)
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	require.NoError(t, err)
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// TestDevChildrenStopWhenDevDies: kill -9 of `trstream dev` stops its
// pipeline and query server too. The query server, which logs nothing while
// idle, used to run on, holding its port, so the next dev failed to start.
func TestDevChildrenStopWhenDevDies(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc (Linux)")
	}
	bin := trstreamBinary(t)
	serveAddr, httpPort := fmt.Sprintf("127.0.0.1:%d", freePort(t)), freePort(t)
	cmd := exec.Command(bin, "dev", "--port", "0", "--in-memory", "--serve-addr", serveAddr,
		"--http-port", strconv.Itoa(httpPort), "--lake", filepath.Join(t.TempDir(), "lake"),
		"--topics", "../../redpanda/topics.yaml", "../../pipelines/ingest.yaml")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }()

	var children []int
	require.Eventually(t, func() bool {
		children = childPIDs(t, cmd.Process.Pid)
		return len(children) == 2 && strings.Contains(out.String(), "Ctrl+C stops everything")
	}, 30*time.Second, 100*time.Millisecond, "dev started its pipeline and the query server")
	// Both up and done logging their start: a child that writes to its
	// output once dev is gone dies of the broken pipe, which would hide
	// the case of one that stays quiet.
	for _, u := range []string{fmt.Sprintf("http://127.0.0.1:%d/ready", httpPort), "http://" + serveAddr + "/"} {
		require.Eventually(t, func() bool {
			resp, err := http.Get(u)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}, 30*time.Second, 100*time.Millisecond, "%s", u)
	}
	time.Sleep(time.Second)
	defer func() { // whatever the outcome, none is left behind
		for _, pid := range children {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}()
	killDev(t, cmd, children)
}

// killDev kills dev with -9 and waits until its children, which the kernel
// sends SIGTERM (Pdeathsig), have stopped.
func killDev(t *testing.T, cmd *exec.Cmd, children []int) {
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.Eventually(t, func() bool {
		return !slices.ContainsFunc(children, alive)
	}, time.Minute, 100*time.Millisecond, "pipelines %v outlived dev", children) // a graceful stop may wait out a timeout
}

// childPIDs lists the processes whose parent is ppid.
func childPIDs(t *testing.T, ppid int) []int {
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(pid); len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid runs (a zombie has exited).
func alive(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] != "Z"
}

// procStat returns the fields of /proc/PID/stat after "pid (comm)": state,
// ppid, ... (comm may hold spaces, so the split starts after its ")").
// None if the process is gone.
func procStat(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
}

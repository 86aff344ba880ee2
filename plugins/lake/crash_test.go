package lake

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

const (
	crashEnvDir    = "TRSTREAM_LAKE_CRASH_DIR"
	crashRows      = 3000
	crashRoundsEnv = "TRSTREAM_LAKE_CRASH_ROUNDS"
)

// crashOutYAML commits often so kills land between and inside commits.
func crashOutYAML(dir string) string {
	return fmt.Sprintf("parquet_lake:\n  path: %q\n  commit_interval: 40ms\n  max_rows: 200\n", dir)
}

// TestCrashChild is the child of TestCrashSafety: it consumes every row from
// shortly before the committed offsets until it is killed or done.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("run by TestCrashSafety")
	}
	// Like a consumer group, resume at the committed position, minus an
	// overlap of redelivered messages (Kafka commits lag the table's).
	start := 0
	if loc, err := ParseLocation(dir, S3Options{}); err == nil {
		if tbl, err := Open(context.Background(), loc); err == nil {
			offs, _ := tbl.Offsets(context.Background())
			tbl.Close()
			if len(offs["tx"]) == 3 {
				low := int64(crashRows)
				for _, n := range offs["tx"] {
					low = min(low, n)
				}
				start = max(0, int(low)-120)
			}
		}
	}
	rows := testRows("crash", crashRows, 3)
	runProducer(t, rows[start:], "tx", start, crashOutYAML(dir))
}

// TestCrashSafety kills a writer with SIGKILL at random moments, restarts
// it, and finally lets it finish: every transaction must be in the table
// exactly once. TRSTREAM_LAKE_CRASH_ROUNDS sets the number of kills (5).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	rounds := 5
	if n, err := strconv.Atoi(os.Getenv(crashRoundsEnv)); err == nil && n > 0 {
		rounds = n
	}
	dir := t.TempDir()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	run := func(kill time.Duration) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvDir+"="+dir)
		require.NoError(t, cmd.Start())
		if kill > 0 {
			timer := time.AfterFunc(kill, func() { _ = cmd.Process.Kill() })
			defer timer.Stop()
		}
		err := cmd.Wait()
		if kill == 0 {
			require.NoError(t, err, "final run")
		}
	}
	partial := 0
	for i := 0; i < rounds; i++ {
		run(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		n := committedRows(t, dir)
		t.Logf("kill %d: %d rows committed", i, n)
		if n > 0 && n < crashRows {
			partial++
		}
	}
	t.Logf("%d of %d kills left a partial table", partial, rounds)
	run(0)

	tbl := openLake(t, dir, S3Options{})
	want := sorted(ids(testRows("crash", crashRows, 3)))
	assert.Equal(t, want, fileIDs(t, tbl))
	offs, err := tbl.Offsets(context.Background())
	require.NoError(t, err)
	assert.Equal(t, expectedOffsets("tx", crashRows, 0), offs)

	// Files written but never committed are orphans; cleaning them leaves
	// the table whole.
	removed, err := tbl.CleanOrphans(context.Background(), 0)
	require.NoError(t, err)
	t.Logf("%d orphan files removed after %d kills", len(removed), rounds)
	assert.Equal(t, want, fileIDs(t, tbl))
}

func committedRows(t *testing.T, dir string) int64 {
	tbl := openLake(t, dir, S3Options{})
	defer tbl.Close()
	return totalRows(t, tbl)
}

// runProducer feeds rows through producerStream to outYAML in batches of
// 50, with Kafka metadata as rowsMapping sets it, and returns when all are
// acked.
func runProducer(t *testing.T, rows []txn.Transaction, topic string, first int, outYAML string) {
	t.Helper()
	send, stop := producerStream(t, nil, func(sb *service.StreamBuilder) error { return sb.AddOutputYAML(outYAML) })
	ctx := context.Background()
	for i := 0; i < len(rows); i += 50 {
		var batch service.MessageBatch
		for j := i; j < min(i+50, len(rows)); j++ {
			batch = append(batch, kafkaMessage(&rows[j], topic, int32((j+first)%3), int64(j+first)))
		}
		require.NoError(t, send(ctx, batch))
	}
	_ = stop() // TestCrashSafety checks the table, not how the stream ended
}

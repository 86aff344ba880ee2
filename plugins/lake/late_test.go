package lake

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// lateBatchOf is rows[lo:hi] at offsets lo.. of partition 0 of topic tx,
// fetched when the log ended at hi.
func lateBatchOf(rows []txn.Transaction, lo, hi int) service.MessageBatch {
	return lagBatch(rows[lo:hi], int64(lo), int64(hi))
}

// TestParquetLakeLateBatchLands is CI's lost partition: two processor
// threads, and the earlier batch of a partition (offsets 0..9) held up in
// one of them while the later one (10..19) lands and commits the
// partition's offset to 20. The earlier batch then arrives below the
// committed offset, with a log end (10) below it too, read when it was
// fetched. It is late, not a replay, and lands; replays of both are then
// skipped, and the lake holds each row once at offset 20.
func TestParquetLakeLateBatchLands(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("late", 20, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	sb.SetThreads(2)
	send, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	require.NoError(t, sb.AddProcessorYAML(`
switch:
  - check: meta("kafka_offset").number() < 10 && !meta("replay").or("").bool(false)
    processors:
      - sleep: { duration: 300ms } # a message: 3 s for the batch
`))
	require.NoError(t, sb.AddOutputYAML(lakeOutYAML(dir, "")))
	stream, err := sb.Build()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()

	var wg sync.WaitGroup
	var errA error
	wg.Add(1)
	go func() { defer wg.Done(); errA = send(ctx, lateBatchOf(rows, 0, 10)) }()
	time.Sleep(200 * time.Millisecond) // A is in its sleep
	require.NoError(t, send(ctx, lateBatchOf(rows, 10, 20)))
	tbl := openLake(t, dir, S3Options{})
	offs, err := tbl.Offsets(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(20), offs["tx"][0], "B committed before A arrived")
	wg.Wait()
	require.NoError(t, errA, "the late batch")

	snaps, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	replay := lateBatchOf(rows, 0, 20)
	for _, m := range replay {
		m.MetaSetMut("replay", "true")
	}
	require.NoError(t, send(ctx, replay))
	require.NoError(t, stream.StopWithin(10*time.Second))
	require.NoError(t, <-done)

	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl), "every row once")
	offs, err = tbl.Offsets(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(20), offs["tx"][0])
	after, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	assert.Len(t, after, len(snaps), "a replay is acknowledged without a commit")
}

// TestParquetLakeLateAfterRestart: the writer committed the later batch
// (offsets 10..19) and stopped before the earlier one arrived, so the
// table's offset (20) passes rows nobody landed. The group, which never
// acknowledged 0..9, reads from 0 again after the restart: the new writer
// lands 0..9, which its id window (filled from the table on start) does not
// hold, and skips 10..19, which it does.
func TestParquetLakeLateAfterRestart(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("late-restart", 20, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	produce, stop := producerStream(t, nil, toLake(dir))
	require.NoError(t, produce(ctx, lateBatchOf(rows, 10, 20)))
	require.NoError(t, stop())

	produce, stop = producerStream(t, nil, toLake(dir))
	require.NoError(t, produce(ctx, lateBatchOf(rows, 0, 20)))
	require.NoError(t, stop())

	tbl := openLake(t, dir, S3Options{})
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl), "every row once")
	offs, err := tbl.Offsets(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(20), offs["tx"][0])
}

// TestParquetLakeDuplicateAcrossWindowEdge is chaos_kill_lake's duplicate:
// an event produced twice, at offsets 5 and 12. The first commit lands
// 0..9; the second skips 12 as the id it landed at 5, and lands the rest.
// Then the id window reaches back only to the second commit (offset 10):
// a replay of 10..19 is checked by id, and 12's id was landed from below
// that floor. Without the ids of the generation at the edge, 12 looked
// like a late row never landed, and landed twice: after a restart whose
// window is filled from the second commit alone (its walk stops there),
// and in a running writer whose window of 9 ids has let the first commit
// go.
func TestParquetLakeDuplicateAcrossWindowEdge(t *testing.T) {
	for _, restart := range []bool{true, false} {
		t.Run(map[bool]string{true: "after a restart", false: "in a running writer"}[restart], func(t *testing.T) {
			dir := t.TempDir()
			rows := testRows("window-edge", 20, 1)
			rows[12] = rows[5] // produced again
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			withWindow := func(n string) func(*service.StreamBuilder) error {
				return func(sb *service.StreamBuilder) error {
					return sb.AddOutputYAML(lakeOutYAML(dir, "  dedupe_window: "+n+"\n"))
				}
			}

			window := "9" // the second commit's ids
			if restart {
				window = "100"
			}
			produce, stop := producerStream(t, nil, withWindow(window))
			require.NoError(t, produce(ctx, lateBatchOf(rows, 0, 10)))
			require.NoError(t, produce(ctx, lateBatchOf(rows, 10, 20)))
			tbl := openLake(t, dir, S3Options{})
			want := sorted(ids(append(rows[:12:12], rows[13:]...)))
			require.Equal(t, want, fileIDs(t, tbl), "the second copy was skipped")
			if restart {
				require.NoError(t, stop())
				produce, stop = producerStream(t, nil, withWindow("9"))
			}
			require.NoError(t, produce(ctx, lateBatchOf(rows, 10, 20)))
			require.NoError(t, stop())
			assert.Equal(t, want, fileIDs(t, tbl), "the replay lands nothing")
		})
	}
}

// TestParquetLakeForeignDuplicateFencesCommit is chaos_rebalance's
// duplicate: an event produced twice, at offsets 5 and 12 of a partition
// that a rebalance moves from writer A to writer B. A lands the first copy
// (0..9); B, which has not read A's ids since, is then given 10..14. Its
// offsets are past A's, so no offset fences it, and the second copy
// landed. B's commit now reads the ids other writers appended since it
// last looked, finds the copy among its own, and is fenced: the batch is
// nacked, and its replay skips the copy.
func TestParquetLakeForeignDuplicateFencesCommit(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("foreign-dup", 15, 1)
	rows[12] = rows[5] // produced again
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	sendB, stopB := producerStream(t, nil, toLake(dir))
	sendA, stopA := producerStream(t, nil, toLake(dir))
	require.NoError(t, sendA(ctx, lateBatchOf(rows, 0, 10)))
	require.NoError(t, stopA())

	err := sendB(ctx, lateBatchOf(rows, 10, 15))
	require.Error(t, err, "B's commit holds an id A landed")
	assert.Contains(t, err.Error(), "landed by another writer")
	require.NoError(t, sendB(ctx, lateBatchOf(rows, 10, 15)), "the replay")
	require.NoError(t, stopB())

	tbl := openLake(t, dir, S3Options{})
	assert.Equal(t, sorted(ids(append(rows[:12:12], rows[13:]...))), fileIDs(t, tbl), "every id once")
	offs, err := tbl.Offsets(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(15), offs["tx"][0])
}

func TestKeepClaims(t *testing.T) {
	for _, tc := range []struct {
		name               string
		floor, base, after Offsets
		want               Offsets
	}{
		{"own commit carries the claim", Offsets{"tx": {0: 20}}, Offsets{"tx": {0: 20}}, Offsets{"tx": {0: 35}}, Offsets{"tx": {0: 35}}},
		{"own commit from below the claim", Offsets{"tx": {0: 20}}, Offsets{"tx": {0: 12}}, Offsets{"tx": {0: 35}}, Offsets{"tx": {0: 35}}},
		{"another writer had passed it", Offsets{"tx": {0: 20}}, Offsets{"tx": {0: 25}}, Offsets{"tx": {0: 35}}, Offsets{"tx": {0: 20}}},
		{"the commit did not reach it", Offsets{"tx": {0: 20}}, Offsets{"tx": {0: 5}}, Offsets{"tx": {0: 15}}, Offsets{"tx": {0: 20}}},
		{"partitions apart", Offsets{"tx": {0: 20, 1: 7}}, Offsets{"tx": {0: 20, 1: 9}}, Offsets{"tx": {0: 30, 1: 40}}, Offsets{"tx": {0: 30, 1: 7}}},
		{"first commit of the partition", Offsets{"tx": {0: 3}}, Offsets{}, Offsets{"tx": {0: 10}}, Offsets{"tx": {0: 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.floor.keepClaims(tc.base, tc.after)
			assert.Equal(t, tc.want, tc.floor)
		})
	}
}

func TestIDFloors(t *testing.T) {
	start, loaded := Offsets{"tx": {0: 5}}, Offsets{"tx": {0: 10}}
	f := newIDFloors(start, loaded)
	assert.Equal(t, start, f.floor(firstGenSeq), "the loaded ids reach back to start")
	f.completed(2, Offsets{"tx": {0: 20}})
	f.completed(3, Offsets{"tx": {0: 30}})
	assert.Equal(t, start, f.floor(firstGenSeq))
	assert.Equal(t, loaded, f.floor(2), "the window's oldest generation is 2: rows from 10 up")
	assert.Equal(t, Offsets{"tx": {0: 20}}, f.floor(3))
	f.distrust(Offsets{"tx": {0: 25}, "other": {1: 4}})
	assert.Equal(t, Offsets{"tx": {0: 25}, "other": {1: 4}}, f.floor(3), "a window missing ids reaches no lower than where they were missed")
	f.completed(4, Offsets{"tx": {0: 40}})
	assert.Equal(t, Offsets{"tx": {0: 30}, "other": {1: 4}}, f.floor(4))
	assert.Len(t, f.after, 2, "generations older windows needed are forgotten")
}

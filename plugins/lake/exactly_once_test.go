package lake

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// expectedOffsets is what rowsMapping's metadata commits for rows 0..n-1:
// partition (i+first)%3, offset i+first.
func expectedOffsets(topic string, n, first int) Offsets {
	o := Offsets{}
	for i := 0; i < n; i++ {
		o.Set(topic, int32((i+first)%3), int64(i+first+1))
	}
	return o
}

func TestParquetLakeExactlyOnceOffsets(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("eo", 300, 3)

	// First run: the first 200 messages.
	runStream(t, rows[:200], "tx", 1000, lakeOutYAML(dir, ""))
	tbl := openLake(t, dir, S3Options{})
	offs, err := tbl.Offsets(context.Background())
	require.NoError(t, err)
	assert.Equal(t, expectedOffsets("tx", 200, 1000), offs)

	// Restart on the same lake: the consumer group rewinds and redelivers
	// everything, plus 100 new messages.
	runStream(t, rows, "tx", 1000, lakeOutYAML(dir, ""))
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl))
	offs, err = tbl.Offsets(context.Background())
	require.NoError(t, err)
	assert.Equal(t, expectedOffsets("tx", 300, 1000), offs)

	// And once more with nothing new: no new data.
	before := totalRows(t, tbl)
	runStream(t, rows, "tx", 1000, lakeOutYAML(dir, ""))
	assert.Equal(t, before, totalRows(t, tbl))
}

func TestParquetLakeDedupeWithoutKafka(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("dd", 150, 2)
	// Every row twice in one run, and the whole set again in a second
	// batch of the same run.
	twice := append(append([]txn.Transaction(nil), rows...), rows...)
	runStream(t, twice, "", 0, lakeOutYAML(dir, ""))
	tbl := openLake(t, dir, S3Options{})
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl))
}

// TestParquetLakeDedupeAcrossOffsets: an at-least-once producer can write
// the same event at two offsets; it lands once, and the offsets still
// advance past both copies.
func TestParquetLakeDedupeAcrossOffsets(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("do", 120, 2)
	twice := append(append([]txn.Transaction(nil), rows...), rows...)
	runStream(t, twice, "tx", 0, lakeOutYAML(dir, ""))
	tbl := openLake(t, dir, S3Options{})
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl))
	offs, err := tbl.Offsets(context.Background())
	require.NoError(t, err)
	assert.Equal(t, expectedOffsets("tx", len(twice), 0), offs)
}

// TestParquetLakeDedupeAcrossRestart: events committed by one run and
// produced again after a restart, at offsets above the committed ones (or
// with no Kafka metadata at all), land once: the new run's id window starts
// with the newest committed ids.
func TestParquetLakeDedupeAcrossRestart(t *testing.T) {
	for _, tc := range []struct {
		name         string
		topic        string
		first, again int
	}{
		{"kafka offsets above the committed ones", "tx", 0, 1000},
		{"no kafka metadata", "", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rows := testRows("rs", 300, 3)
			runStream(t, rows[:200], tc.topic, tc.first, lakeOutYAML(dir, ""))
			runStream(t, rows, tc.topic, tc.again, lakeOutYAML(dir, ""))
			tbl := openLake(t, dir, S3Options{})
			assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl))
		})
	}
}

// With a window too small to hold the first run, the oldest ids are the
// ones forgotten: the newest committed rows are what RecentIDs returns.
func TestRecentIDsNewestLast(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("rn", 200, 2)
	runStream(t, rows[:100], "", 0, lakeOutYAML(dir, ""))
	runStream(t, rows[100:], "", 0, lakeOutYAML(dir, ""))
	tbl := openLake(t, dir, S3Options{})
	all, _, err := tbl.RecentIDs(context.Background(), 1_000)
	require.NoError(t, err)
	require.Len(t, all, 200)
	newest, _, err := tbl.RecentIDs(context.Background(), 50)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(newest), 50)
	last := map[idKey]bool{}
	for _, r := range rows[100:] {
		last[keyOf(r.TransactionID)] = true
	}
	for _, k := range newest[len(newest)-50:] {
		assert.True(t, last[k], "a RecentIDs tail id is not from the newest run")
	}
	// A window of 50 filled with all, oldest first, generation by
	// generation: the older run's ids leave it.
	w := newIDSet(50)
	seq := uint32(firstGenSeq)
	for i, k := range all {
		if i%10 == 0 {
			seq++
		}
		w.claim(k, seq)
		if i%10 == 9 || i == len(all)-1 {
			w.complete(seq, min(10, i%10+1))
		}
	}
	for _, r := range rows[:100] {
		assert.Equal(t, idNew, w.state(keyOf(r.TransactionID)), "an id of the older run outlived a full window")
	}
}

// TestRecentIDsFloor: RecentIDs says how far back its ids reach, per
// partition: the offsets of the newest snapshot it did not read (where the
// window was full, or where a file could no longer be read), none when it
// read the whole history.
func TestRecentIDsFloor(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		n         int
		lose      int // a snapshot (1..3) whose file is gone; 0: none
		wantIDs   int
		wantFloor Offsets
	}{
		{"whole history", 1000, 0, 30, Offsets{}},
		// The snapshots that fill the window, then the edge's ids too
		// (a quarter of the window more, at least one snapshot), which
		// leave the floor where it was.
		{"two snapshots fill it", 15, 0, 30, Offsets{"tx": {0: 10}}},
		{"the newest fills it", 5, 0, 20, Offsets{"tx": {0: 20}}},
		{"the edge's file gone", 5, 2, 10, Offsets{"tx": {0: 20}}},
		{"a file gone", 1000, 2, 10, Offsets{"tx": {0: 20}}},
		{"the newest file gone", 1000, 3, 0, Offsets{"tx": {0: 30}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := openLake(t, t.TempDir(), S3Options{})
			for i := 1; i <= 3; i++ {
				files, err := tbl.WriteFiles(ctx, testRows(fmt.Sprint("floor", i), 10, 1), WriteOptions{})
				require.NoError(t, err)
				require.NoError(t, tbl.Append(ctx, files, Offsets{"tx": {0: int64(10 * i)}}))
				if i == tc.lose {
					rel, ok := tbl.Location().Rel(files[0].Path)
					require.True(t, ok)
					require.NoError(t, tbl.Storage().Delete(ctx, rel))
				}
			}
			ids, floor, err := tbl.RecentIDs(ctx, tc.n)
			require.NoError(t, err)
			assert.Len(t, ids, tc.wantIDs)
			assert.Equal(t, tc.wantFloor, floor)
		})
	}
}

// TestForeignIDs: after its own commits, a writer learns the ids that
// other writers appended since it last looked, and not its own or a
// compaction's.
func TestForeignIDs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openLake(t, dir, S3Options{})
	b := openLake(t, dir, S3Options{})
	appendRows := func(tbl *Table, prefix string, n int) []string {
		rows := testRows(prefix, n, 1)
		files, err := tbl.WriteFiles(ctx, rows, WriteOptions{})
		require.NoError(t, err)
		require.NoError(t, tbl.Append(ctx, files, nil))
		return ids(rows)
	}
	want := func(idss ...[]string) []idKey {
		var out []idKey
		for _, ids := range idss {
			for _, id := range ids {
				out = append(out, keyOf(id))
			}
		}
		return out
	}

	got, err := a.ForeignIDs(ctx)
	require.NoError(t, err)
	assert.Empty(t, got, "before RecentIDs")
	first := appendRows(b, "b1", 10)
	recent, _, err := a.RecentIDs(ctx, 1000)
	require.NoError(t, err)
	assert.ElementsMatch(t, want(first), recent)

	b2 := appendRows(b, "b2", 7)
	mine := appendRows(a, "a1", 5)
	b3 := appendRows(b, "b3", 3) // after a's last load: not seen yet
	got, err = a.ForeignIDs(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, want(b2), got)
	assert.NotContains(t, got, keyOf(mine[0]))

	// A compaction's replace adds no ids; b3 shows up after a's next commit.
	opts := DefaultCompactOptions()
	opts.MinInputFiles = 2
	rep, err := Compact(ctx, b, opts)
	require.NoError(t, err)
	require.Positive(t, rep.FilesIn, "nothing compacted")
	appendRows(a, "a2", 2)
	got, err = a.ForeignIDs(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, want(b3), got)
	got, err = a.ForeignIDs(ctx)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// TestParquetLakeDedupeAfterOtherWriter: writer A runs; writer B lands
// events X; after A's next commit, X coming to A (as after a rebalance that
// moved X's partition from B to A, at new offsets) is skipped.
func TestParquetLakeDedupeAfterOtherWriter(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("ow", 150, 2)
	y1, y2, x := rows[:50], rows[50:100], rows[100:]

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce, stop := producerStream(t, nil, toLake(dir))
	// A batch is acked once its commit landed, so each call returns after
	// one of A's commits.
	send := func(rows []txn.Transaction) {
		t.Helper()
		require.NoError(t, produce(ctx, rowsBatch(rows)))
	}

	send(y1)
	runStream(t, x, "", 0, lakeOutYAML(dir, "")) // writer B
	send(y2)                                     // A's commit reads B's ids
	send(x)
	require.NoError(t, stop())

	tbl := openLake(t, dir, S3Options{})
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl))
}

func TestConcurrentCommitters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openLake(t, dir, S3Options{})
	b := openLake(t, dir, S3Options{})

	// A conflict is detected: a stale transaction loses the CAS race...
	stale, err := a.Iceberg(ctx)
	require.NoError(t, err)
	fb, err := b.WriteFiles(ctx, testRows("b0", 10, 1), WriteOptions{})
	require.NoError(t, err)
	require.NoError(t, b.Append(ctx, fb, Offsets{"tx": {1: 10}}))
	fa, err := a.WriteFiles(ctx, testRows("a0", 10, 1), WriteOptions{})
	require.NoError(t, err)
	df, err := a.icebergFile(stale, fa[0])
	require.NoError(t, err)
	tx := stale.NewTransaction()
	require.NoError(t, tx.AddDataFiles(ctx, []iceberg.DataFile{df}, iceberg.Properties{}, table.WithoutDuplicateCheck()))
	_, err = tx.Commit(ctx)
	require.Error(t, err)
	assert.True(t, isConflict(err), "%v", err)
	// ...and Append's reload-and-retry succeeds, keeping b's offsets.
	require.NoError(t, a.Append(ctx, fa, Offsets{"tx": {0: 10}}))

	// Now both hammer the table at once, each with its own partition.
	var wg sync.WaitGroup
	var want []string
	want = append(want, ids(testRows("b0", 10, 1))...)
	want = append(want, ids(testRows("a0", 10, 1))...)
	const rounds = 8
	for w, tbl := range []*Table{a, b} {
		for r := 0; r < rounds; r++ {
			want = append(want, ids(testRows(fmt.Sprintf("w%d-%d", w, r), 5, 2))...)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				files, err := tbl.WriteFiles(ctx, testRows(fmt.Sprintf("w%d-%d", w, r), 5, 2), WriteOptions{})
				if !assert.NoError(t, err) {
					return
				}
				assert.NoError(t, tbl.Append(ctx, files, Offsets{"tx": {int32(w): int64(100 + r)}}))
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, sorted(want), fileIDs(t, a))
	offs, err := b.Offsets(ctx)
	require.NoError(t, err)
	assert.Equal(t, Offsets{"tx": {0: 100 + rounds - 1, 1: 100 + rounds - 1}}, offs)
}

// TestAppendFencedAfterRebalance: a writer that still holds rows of a
// partition another writer has since committed past (a rebalance moved it)
// is refused, so those rows never land twice; a writer whose rows start at
// the committed offset goes through.
func TestAppendFencedAfterRebalance(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openLake(t, dir, S3Options{})
	b := openLake(t, dir, S3Options{})

	fa, err := a.WriteFiles(ctx, testRows("fa", 20, 1), WriteOptions{})
	require.NoError(t, err)
	require.NoError(t, errOnly(a.appendFenced(ctx, fa, Offsets{"tx": {0: 100}}, nil, Offsets{"tx": {0: 0}}, nil, nil)))

	// b read partition 0 from offset 40 before a's commit landed.
	fb, err := b.WriteFiles(ctx, testRows("fb", 10, 1), WriteOptions{})
	require.NoError(t, err)
	_, err = b.appendFenced(ctx, fb, Offsets{"tx": {0: 60}}, nil, Offsets{"tx": {0: 40}}, nil, nil)
	var fenced *FencedError
	require.ErrorAs(t, err, &fenced)
	assert.Equal(t, int64(100), fenced.Committed)
	assert.Equal(t, int64(100), fenced.Current["tx"][0])
	assert.Equal(t, sorted(ids(testRows("fa", 20, 1))), fileIDs(t, a))

	// From the committed offset on, and on other partitions, b commits.
	require.NoError(t, errOnly(b.appendFenced(ctx, fb, Offsets{"tx": {0: 120, 1: 5}}, nil, Offsets{"tx": {0: 100, 1: 0}}, nil, nil)))
	offs, err := a.Offsets(ctx)
	require.NoError(t, err)
	assert.Equal(t, Offsets{"tx": {0: 120, 1: 5}}, offs)
}

// TestParquetLakeFencedHoleNotPassedOver is the rebalance of CI's lost
// ids: writer A is fenced on rows 10..39 of a partition because writer B,
// which the partition moved to, committed 10..19 first; A's input, which no
// longer owns the partition, never replays them. A still holds the later
// rows 40..49 (fetched before the move): committing them would move the
// partition's offset to 50 and B, fenced there, would skip 20..39, which
// nobody landed. A must refuse them until the hole is landed.
func TestParquetLakeFencedHoleNotPassedOver(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("hole", 50, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	produce, stop := producerStream(t, nil, toLake(dir))
	batchOf := func(lo, hi int) service.MessageBatch { return txBatch(rows[lo:hi], int64(lo)) }
	b := openLake(t, dir, S3Options{})
	landB := func(lo, hi int) error {
		files, err := b.WriteFiles(ctx, rows[lo:hi], WriteOptions{})
		require.NoError(t, err)
		return errOnly(b.appendFenced(ctx, files, Offsets{"tx": {0: int64(hi)}}, nil, Offsets{"tx": {0: int64(lo)}}, nil, nil))
	}

	require.NoError(t, produce(ctx, batchOf(0, 10)))
	require.NoError(t, landB(10, 20))
	require.Error(t, produce(ctx, batchOf(10, 40)), "A holds 10..19, which B landed")
	require.Error(t, produce(ctx, batchOf(40, 50)), "A would pass over 20..39")
	offs, err := b.Offsets(ctx)
	require.NoError(t, err)
	assert.Equal(t, Offsets{"tx": {0: 20}}, offs)

	// B lands the rest. A, handed the later rows again, is fenced (it
	// learns B's offset) and then skips them.
	require.NoError(t, landB(20, 50))
	require.Error(t, produce(ctx, batchOf(40, 50)))
	require.NoError(t, produce(ctx, batchOf(40, 50)))
	require.NoError(t, stop())
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, b))
}

// TestParquetLakeRefusesLogBelowCommitted: below a partition's committed
// offset, as far back as the id window reaches (late.go), ids tell a
// replay (skipped) from a record never landed (it lands, wherever it comes
// from: a late batch, or another log of the topic's name). Further back,
// offsets decide: a message there is a replay, and is skipped, only while
// its partition's log reaches the committed offset (kafka_lag says where
// the log ends). A log that ends below it is another log (the topic was
// recreated, or the broker lost it, as an in-memory broker does on
// restart): its records are refused, not skipped, and none of them lands.
func TestParquetLakeRefusesLogBelowCommitted(t *testing.T) {
	rows := testRows("reset", 30, 1)
	other := testRows("other", 5, 1) // on partition 1, to move a small window on
	for _, tc := range []struct {
		name    string
		batch   service.MessageBatch
		passed  bool // the id window has moved past offset 20
		refused bool
		ids     []string // in the lake afterwards, besides other's
	}{
		{"replay of the same log", lagBatch(rows[:20], 0, 20), false, false, ids(rows[:20])},
		{"replay and new records", lagBatch(rows[:30], 0, 30), false, false, ids(rows[:30])},
		{"new records at committed offsets, in the window", lagBatch(rows[20:25], 15, 20), false, false, ids(rows[:25])},
		{"log ends below it, in the window", lagBatch(rows[20:30], 0, 10), false, false, ids(rows[:30])},
		{"replay of the same log, window passed", lagBatch(rows[:20], 0, 20), true, false, ids(rows[:20])},
		{"replay and new records, window passed", lagBatch(rows[:30], 0, 30), true, false, ids(rows[:30])},
		{"log ends at the committed offset, window passed", lagBatch(rows[20:25], 15, 20), true, false, ids(rows[:20])},
		{"log ends below it, window passed", lagBatch(rows[20:30], 0, 10), true, true, ids(rows[:20])},
		{"log ends one below it, window passed", lagBatch(rows[20:30], 9, 19), true, true, ids(rows[:20])},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// A window of one id holds only the newest generation.
			produce, stop := producerStream(t, nil, func(sb *service.StreamBuilder) error {
				return sb.AddOutputYAML(lakeOutYAML(dir, "  dedupe_window: 1\n"))
			})
			require.NoError(t, produce(ctx, lagBatch(rows[:20], 0, 20)))
			if tc.passed {
				var b service.MessageBatch
				for i := range other {
					b = append(b, kafkaMessage(&other[i], "tx", 1, int64(i)))
				}
				require.NoError(t, produce(ctx, b))
			}
			err := produce(ctx, tc.batch)
			if tc.refused {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "below the lake's committed offset 20")
			} else {
				require.NoError(t, err)
			}
			require.NoError(t, stop())
			tbl := openLake(t, dir, S3Options{})
			want := tc.ids
			if tc.passed {
				want = append(ids(other), want...)
			}
			assert.Equal(t, sorted(want), fileIDs(t, tbl))
			offs, err := tbl.Offsets(ctx)
			require.NoError(t, err)
			next := int64(20)
			if !tc.refused {
				last, _ := metaInt(tc.batch[len(tc.batch)-1], "kafka_offset")
				next = max(next, last+1)
			}
			assert.Equal(t, next, offs["tx"][0], "next offset")
		})
	}
}

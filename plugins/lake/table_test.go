package lake

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTableAppendFilesOffsets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	loc, err := ParseLocation(dir, S3Options{})
	require.NoError(t, err)
	tbl, err := Open(ctx, loc)
	require.NoError(t, err)
	defer tbl.Close()

	rows := testRows("a", 300, 3)
	files, err := tbl.WriteFiles(ctx, rows, WriteOptions{MaxRows: 20})
	require.NoError(t, err)
	require.NoError(t, tbl.Append(ctx, files, Offsets{"tx": {0: 10, 1: 5}}))
	require.NoError(t, tbl.Append(ctx, nil, Offsets{"tx": {1: 7}}))

	got, err := tbl.Files(ctx)
	require.NoError(t, err)
	assert.Len(t, got, len(files))
	var n int64
	for _, f := range got {
		n += f.Rows
		assert.True(t, strings.HasPrefix(f.Path, filepath.Join(dir, "data", "event_date=")), f.Path)
		assert.NotEmpty(t, f.Partition["event_date"])
		assert.NotEmpty(t, f.Partition["type"])
		_, err := os.Stat(f.Path)
		assert.NoError(t, err)
	}
	assert.EqualValues(t, 300, n)
	offs, err := tbl.Offsets(ctx)
	require.NoError(t, err)
	assert.Equal(t, Offsets{"tx": {0: 10, 1: 7}}, offs)
	snaps, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	require.Len(t, snaps, 2)
	assert.EqualValues(t, 300, snaps[1].Rows)

	// Replace: compact two files into one, offsets survive.
	merged, err := tbl.WriteFiles(ctx, nil, WriteOptions{})
	require.NoError(t, err)
	assert.Empty(t, merged)
	ice, err := tbl.Iceberg(ctx)
	require.NoError(t, err)
	assert.NotNil(t, ice.CurrentSnapshot())
}

// TestOpenAdoptsTablePartitioning: a lake written with partition_by
// [event_hour, channel] is opened by readers and the compactor, which pass
// no partitioning, with its own keys (they failed with "table is
// partitioned by ...", as `trstream lake` and lake_compact did); a writer
// naming other keys is still refused.
func TestOpenAdoptsTablePartitioning(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	keys := []string{KeyEventHour, "channel"}
	w := openLake(t, dir, S3Options{}, WithPartitionBy(keys))
	rows := testRows("hourly", 600, 1)
	appendChunks(t, w, rows, 100)

	r := openLake(t, dir, S3Options{})
	assert.Equal(t, keys, r.Partitioning().Keys())
	before, err := r.Files(ctx)
	require.NoError(t, err)
	opts := compactTestOpts()
	opts.MinInputFiles = 2
	rep, err := Compact(ctx, r, opts)
	require.NoError(t, err)
	assert.Positive(t, rep.Commits)
	after, err := r.Files(ctx)
	require.NoError(t, err)
	assert.Less(t, len(after), len(before), "small files merged")
	for _, f := range after {
		assert.Regexp(t, `/event_hour=\d{4}-\d\d-\d\d-\d\d/channel=[a-z_]+/[^/]+\.parquet$`, f.Path)
	}
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, r))

	_, err = Open(ctx, r.Location(), WithPartitionBy(DefaultPartitionBy))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "table is partitioned by [event_hour channel]")
}

// TestResetOffsets: one topic's offsets are dropped in a snapshot of their
// own; the other topics' offsets, the files and the rows stay; a compaction
// after it does not bring them back; a topic without offsets is an error.
func TestResetOffsets(t *testing.T) {
	ctx := context.Background()
	tbl := openLake(t, t.TempDir(), S3Options{})
	rows := testRows("reset", 300, 1)
	appendChunks(t, tbl, rows[:150], 50)
	require.NoError(t, tbl.Append(ctx, nil, Offsets{"tx": {0: 10, 1: 7}, "other": {0: 3}}))
	appendChunks(t, tbl, rows[150:], 50)

	dropped, err := tbl.ResetOffsets(ctx, "tx")
	require.NoError(t, err)
	assert.Equal(t, map[int32]int64{0: 10, 1: 7}, dropped)
	offs, err := tbl.Offsets(ctx)
	require.NoError(t, err)
	assert.Equal(t, Offsets{"other": {0: 3}}, offs)
	snaps, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	last := snaps[len(snaps)-1]
	assert.Equal(t, "tx", last.Properties[PropOffsetsReset])
	assert.Zero(t, last.AddedFiles)

	opts := compactTestOpts()
	opts.MinInputFiles = 2
	_, err = Compact(ctx, tbl, opts)
	require.NoError(t, err)
	offs, err = tbl.Offsets(ctx)
	require.NoError(t, err)
	assert.Equal(t, Offsets{"other": {0: 3}}, offs, "after a compaction")
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl))

	_, err = tbl.ResetOffsets(ctx, "tx")
	require.ErrorContains(t, err, `no offsets of topic "tx"`)
}

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

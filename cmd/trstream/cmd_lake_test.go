package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/lake"
)

// TestLakeResetOffsetsCommand: `trstream lake reset-offsets --topic T`
// prints the offsets it dropped, `lake offsets` no longer lists them, and
// a topic without offsets fails naming it.
func TestLakeResetOffsetsCommand(t *testing.T) {
	bin := trstreamBinary(t)
	dir := filepath.Join(t.TempDir(), "lake")
	loc, err := lake.ParseLocation(dir, lake.S3Options{})
	require.NoError(t, err)
	tbl, err := lake.Open(t.Context(), loc)
	require.NoError(t, err)
	require.NoError(t, tbl.Append(t.Context(), nil, lake.Offsets{"transactions": {0: 10, 1: 12}, "other": {0: 3}}))
	require.NoError(t, tbl.Close())

	lakeCmd := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"lake"}, append(args, "--lake", dir)...)...).CombinedOutput()
		return string(out), err
	}
	out, err := lakeCmd("reset-offsets", "--topic", "transactions")
	require.NoError(t, err, out)
	assert.Equal(t, "transactions 0 10\ntransactions 1 12\n", out)
	out, err = lakeCmd("offsets")
	require.NoError(t, err, out)
	assert.Equal(t, "other 0 3\n", out)
	out, err = lakeCmd("reset-offsets", "--topic", "transactions")
	require.Error(t, err)
	assert.Contains(t, out, `the lake holds no offsets of topic "transactions"`)
}

// TestSQLMissingLake: `trstream sql` on a lake directory that does not
// exist fails naming it, and creates nothing (it used to create the
// directory and answer from an empty table).
func TestSQLMissingLake(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-lake")
	out, err := exec.Command(trstreamBinary(t), "sql", "--lake", dir, "select count(*) from transactions").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "lake "+dir+" does not exist")
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

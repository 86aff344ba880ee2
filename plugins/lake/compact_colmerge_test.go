package lake

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// mergeKey is what the merge orders and deduplicates by.
type mergeKey struct {
	t  int64
	id string
}

// keySink collects the keys of merged rows.
type keySink struct{ keys []mergeKey }

func (s *keySink) write(b *colBatch) error {
	for _, r := range b.sel {
		s.keys = append(s.keys, mergeKey{b.time(r), string(b.id(r))})
	}
	return nil
}

// collisionRuns writes runs files whose rows share few event times (so that
// runs of equal times cross windows), sorted by event_time only (ids
// within one time in random order), with exact duplicates within and
// across files. It returns their paths and the distinct keys.
func collisionRuns(t *testing.T, runs, rowsPerRun int) ([]string, map[mergeKey]bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	pool := testRows("colmerge", runs*rowsPerRun, 1)
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	distinct := map[mergeKey]bool{}
	var paths []string
	for r := 0; r < runs; r++ {
		rows := make([]txn.Transaction, 0, rowsPerRun)
		for i := 0; i < rowsPerRun; i++ {
			// A row drawn twice is an exact duplicate.
			k := rng.IntN(len(pool) / 2)
			row := pool[k]
			row.EventTime = base.Add(time.Duration(k%3000) * time.Second)
			if i%5 == 0 {
				// The same id at another time is another row.
				row.EventTime = row.EventTime.Add(time.Microsecond)
			}
			rows = append(rows, row)
		}
		slices.SortStableFunc(rows, func(a, b txn.Transaction) int { return a.EventTime.Compare(b.EventTime) })
		for _, row := range rows {
			distinct[mergeKey{row.EventTime.UnixMicro(), row.TransactionID}] = true
		}
		p := filepath.Join(t.TempDir(), "run.parquet")
		fh, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, WriteParquet(fh, rows, &parquet.Snappy, 7000))
		require.NoError(t, fh.Close())
		paths = append(paths, p)
	}
	return paths, distinct
}

// TestMergeColumns checks the column-wise merge against the row merge:
// the same keys in the same order, every key once, over several windows
// and row groups, with runs of equal event times crossing windows.
func TestMergeColumns(t *testing.T) {
	ctx := context.Background()
	paths, distinct := collisionRuns(t, 7, 3*colWindowRows/5)
	var runs []mergeRun
	for _, p := range paths {
		runs = append(runs, tempMergeRun(p))
	}

	crs, err := openColRuns(runs)
	require.NoError(t, err)
	var cols keySink
	cst, err := mergeColumns(ctx, crs, &cols)
	require.NoError(t, err)

	srcs, names, err := openMergeRuns(runs)
	require.NoError(t, err)
	var rows []mergeKey
	rst, err := mergeRuns(ctx, srcs, names, func(b []txn.Transaction) error {
		for _, r := range b {
			rows = append(rows, mergeKey{r.EventTime.UnixMicro(), r.TransactionID})
		}
		return nil
	})
	require.NoError(t, err)

	require.Equal(t, rst, cst)
	require.NotZero(t, cst.duplicates)
	require.Equal(t, len(distinct), len(cols.keys))
	require.Equal(t, cst.rowsIn-cst.duplicates, int64(len(cols.keys)))
	require.Equal(t, rows, cols.keys)
	// Through intermediate runs, the same.
	dir := t.TempDir()
	var copies []mergeRun
	for i, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		cp := filepath.Join(dir, fmt.Sprintf("in-%d.parquet", i))
		require.NoError(t, os.WriteFile(cp, data, 0o644))
		copies = append(copies, tempMergeRun(cp))
	}
	f, c, err := copies[0].file()
	require.NoError(t, err)
	budget := 5 * colRunMemory(f) / 2 // two lake files a group
	c.Close()
	reduced, dups, err := reduceColRuns(ctx, copies, dir, budget)
	require.NoError(t, err)
	require.Less(t, len(reduced), len(copies))
	require.Greater(t, len(reduced), 1)
	crs, err = openColRuns(reduced)
	require.NoError(t, err)
	var staged keySink
	sst, err := mergeColumns(ctx, crs, &staged)
	require.NoError(t, err)
	require.Equal(t, cst.duplicates, dups+sst.duplicates)
	require.Equal(t, cols.keys, staged.keys)

	for i := 1; i < len(cols.keys); i++ {
		a, b := cols.keys[i-1], cols.keys[i]
		require.True(t, a.t < b.t || (a.t == b.t && a.id < b.id), "row %d: %v then %v", i, a, b)
	}
}

// TestMergeColumnsUnsorted: a run whose event_time goes backwards fails
// the merge instead of producing unsorted output.
func TestMergeColumnsUnsorted(t *testing.T) {
	rows := testRows("colmerge-unsorted", 1000, 1)
	rows[500], rows[10] = rows[10], rows[500]
	p := filepath.Join(t.TempDir(), "run.parquet")
	fh, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, WriteParquet(fh, rows, &parquet.Snappy, 1000))
	require.NoError(t, fh.Close())
	crs, err := openColRuns([]mergeRun{tempMergeRun(p), tempMergeRun(p)})
	require.NoError(t, err)
	_, err = mergeColumns(context.Background(), crs, &keySink{})
	require.ErrorIs(t, err, errUnsorted)
}

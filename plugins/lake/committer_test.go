package lake

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParquetLakeBurstsAreNotPauses feeds the lake as a consumer of a
// 12-partition topic at a low rate does: every 80ms a burst of 12 small
// batches (one per partition fetched) arriving together. The input never
// pauses, so the generation must wait for commit_interval (or the stop),
// not be committed as idle after each burst. Measuring the gap between
// batches rather than between bursts made the idle limit 50ms, shorter
// than the 80ms between bursts: one commit per burst.
func TestParquetLakeBurstsAreNotPauses(t *testing.T) {
	const bursts, perBurst, rowsPerBatch = 15, 12, 2
	dir := t.TempDir()
	send, stop := producerStream(t, nil, func(sb *service.StreamBuilder) error {
		return sb.AddOutputYAML(fmt.Sprintf(`
parquet_lake:
  path: %q
  commit_interval: 1m
  max_in_flight: 1024
`, dir))
	})
	rows := testRows("bursts", bursts*perBurst*rowsPerBatch, 1)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, bursts*perBurst)
	for b := range bursts {
		for p := range perBurst {
			first := (b*perBurst + p) * rowsPerBatch
			batch := rowsBatch(rows[first : first+rowsPerBatch])
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- send(ctx, batch)
			}()
		}
		time.Sleep(80 * time.Millisecond)
	}
	// Every batch waits on the open generation until the stop commits it.
	require.NoError(t, stop())
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	tbl := openLake(t, dir, S3Options{})
	snaps, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	// One commit is expected; a few more tolerate a slow machine that
	// delays a burst by more than four gaps. One a burst is the bug.
	assert.LessOrEqual(t, len(snaps), bursts/3, "commits for %d bursts of batches", bursts)
	got, err := tbl.Files(ctx)
	require.NoError(t, err)
	var n int64
	for _, f := range got {
		n += f.Rows
	}
	assert.Equal(t, int64(len(rows)), n, "every row lands")
}

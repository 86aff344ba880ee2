package query

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// Benchmarks over a generated lake of TRSTREAM_BENCH_ROWS rows (skipped
// when unset). The lake is written once to TRSTREAM_BENCH_DIR (default
// $TMPDIR/trstream-bench-<rows>) and reused:
//
//	TRSTREAM_BENCH_ROWS=10000000 go test -run '^$' -bench Query -benchtime 5x ./plugins/query
const (
	benchDays  = 30
	benchFiles = 2 // per partition
)

func benchLake(b *testing.B) (string, int) {
	b.Helper()
	n, _ := strconv.Atoi(os.Getenv("TRSTREAM_BENCH_ROWS"))
	if n <= 0 {
		b.Skip("set TRSTREAM_BENCH_ROWS (e.g. 10000000) to run the query benchmarks")
	}
	dir := os.Getenv("TRSTREAM_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("trstream-bench-%d", n))
	}
	done := filepath.Join(dir, ".complete")
	if _, err := os.Stat(done); err == nil {
		return dir, n
	}
	b.Logf("writing a %d-row lake to %s", n, dir)
	start := time.Now()
	require.NoError(b, os.RemoveAll(dir))
	parts := benchDays * len(txn.Types) * benchFiles
	per := (n + parts - 1) / parts
	day0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	k := 0
	buf := make([]txn.Transaction, 0, 8192)
	for d := 0; d < benchDays; d++ {
		day := day0.AddDate(0, 0, d)
		for _, ty := range txn.Types {
			for f := 0; f < benchFiles; f++ {
				p := filepath.Join(dir, "data", "event_date="+day.Format(time.DateOnly), "type="+ty, fmt.Sprintf("part-%d.parquet", f))
				require.NoError(b, os.MkdirAll(filepath.Dir(p), 0o755))
				fh, err := os.Create(p)
				require.NoError(b, err)
				w := parquet.NewGenericWriter[txn.Transaction](fh)
				for i := 0; i < per && k < n; i++ {
					k++
					buf = append(buf, testTxn(k, day.Add(time.Duration(i)*time.Second%(24*time.Hour)), ty))
					if len(buf) == cap(buf) {
						_, err = w.Write(buf)
						require.NoError(b, err)
						buf = buf[:0]
					}
				}
				_, err = w.Write(buf)
				require.NoError(b, err)
				buf = buf[:0]
				require.NoError(b, w.Close())
				require.NoError(b, fh.Close())
			}
		}
	}
	require.NoError(b, os.WriteFile(done, nil, 0o644))
	b.Logf("lake written in %s", time.Since(start).Round(time.Millisecond))
	return dir, n
}

func benchEngine(b *testing.B, dir string) *Engine {
	e, err := Open(context.Background(), Options{
		Source: GlobSource(dir), LakeDir: dir, StateDir: b.TempDir(), Timeout: 10 * time.Minute,
	})
	require.NoError(b, err)
	b.Cleanup(func() { e.Close() })
	return e
}

// BenchmarkQueryDailyTotals: daily totals per type over the whole lake.
func BenchmarkQueryDailyTotals(b *testing.B) {
	dir, n := benchLake(b)
	e := benchEngine(b, dir)
	q := "SELECT event_date, type, count(*) AS n, sum(amount) AS total FROM transactions GROUP BY ALL ORDER BY ALL"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := e.Query(context.Background(), q, 0)
		require.NoError(b, err)
		require.Equal(b, benchDays*len(txn.Types), res.RowCount)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkQueryOneDayVsAll: the same aggregate over one day (pruned to
// that day's files) and over the whole table; reports the files read and
// the pruning ratio (files read / files in the snapshot).
func BenchmarkQueryOneDayVsAll(b *testing.B) {
	dir, n := benchLake(b)
	e := benchEngine(b, dir)
	total := benchDays * len(txn.Types) * benchFiles
	for _, c := range []struct {
		name, where string
		rows        int
	}{
		{"all_days", "", n},
		{"one_day", "WHERE event_date = '2024-01-15'", n / benchDays},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := "SELECT count(*), sum(amount), avg(balance_after) FROM transactions " + c.where
			res, err := e.Query(context.Background(), "EXPLAIN ANALYZE "+q, 0)
			require.NoError(b, err)
			m := filesRead.FindStringSubmatch(Text(res.Rows[0][1]))
			require.NotNil(b, m)
			read, _ := strconv.Atoi(m[1])
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, err := e.Query(context.Background(), q, 0)
				require.NoError(b, err)
			}
			b.ReportMetric(float64(c.rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(read), "files_read")
			b.ReportMetric(float64(read)/float64(total), "pruning_ratio")
		})
	}
}

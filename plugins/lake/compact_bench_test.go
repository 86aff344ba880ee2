package lake

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/internal/cputime"
	"github.com/trstream/trstream/internal/peakrss"
	"github.com/trstream/trstream/plugins/txn"
)

// randomRows builds n valid rows of one partition (date, typ) with random
// ids, times within the day, accounts and amounts, sorted by event_time:
// one writer's file.
func randomRows(rng *rand.Rand, n int, date time.Time, typ string) []txn.Transaction {
	out := make([]txn.Transaction, n)
	for i := range out {
		var id uuid.UUID
		for j := range id {
			id[j] = byte(rng.Uint32())
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		out[i] = txn.Transaction{
			TransactionID:    id.String(),
			EventTime:        date.Add(time.Duration(rng.Int64N(int64(24*time.Hour))) / time.Microsecond * time.Microsecond),
			AccountID:        fmt.Sprintf("acc-%06d", rng.IntN(200_000)),
			MerchantID:       fmt.Sprintf("m-%05d", rng.IntN(20_000)),
			MerchantCategory: "5411",
			Amount:           txn.AmountFromMinor(rng.Int64N(1_000_000), 2),
			Currency:         []string{"EUR", "USD", "GBP"}[rng.IntN(3)],
			Type:             typ,
			Status:           txn.Statuses[rng.IntN(len(txn.Statuses))],
			Channel:          txn.Channels[rng.IntN(len(txn.Channels))],
			Country:          []string{"DE", "FR", "GB", "US", "NL"}[rng.IntN(5)],
			CardFingerprint:  fmt.Sprintf("fp-%08x", rng.Uint32()),
			BalanceAfter:     txn.AmountFromMinor(rng.Int64N(100_000_000), 2),
			Source:           "bench",
		}
	}
	SortByEventTime(out)
	return out
}

// buildSmallFiles appends files×rowsPerFile random rows as that many
// files, spread over the partitions of dates×types, and returns the rows'
// total and the bytes written.
func buildSmallFiles(tb testing.TB, tbl *Table, seed uint64, files, rowsPerFile int, dates int, types []string) (int64, int64) {
	tb.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 3))
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	var batch []DataFile
	var rows, bytes int64
	for i := 0; i < files; i++ {
		date := base.AddDate(0, 0, i%dates)
		typ := types[(i/dates)%len(types)]
		rs := randomRows(rng, rowsPerFile, date, typ)
		dir, _ := tbl.Partitioning().Dir(&rs[0])
		f, err := tbl.writeFile(ctx, dir, rs, WriteOptions{})
		require.NoError(tb, err)
		batch = append(batch, f)
		rows += f.Rows
		bytes += f.Bytes
		if len(batch) == 50 || i == files-1 {
			require.NoError(tb, tbl.Append(ctx, batch, nil))
			batch = nil
		}
	}
	return rows, bytes
}

// BenchmarkCompact: 200 small files of 5,000 rows (1M rows, one
// partition, every file spanning the whole day) compacted with the
// defaults in one merge pass. Reports input rows/s and MB/s, CPU time and
// the output's size: the run of median wall time among the b.N runs (a
// lake is built for each, untimed), so that one run disturbed by another
// process on a shared machine does not make the figure.
func BenchmarkCompact(b *testing.B) {
	ctx := context.Background()
	type result struct {
		el, cpu     float64
		rows, bytes int64
		rep         CompactReport
	}
	var results []result
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		tbl := openLake(b, b.TempDir(), S3Options{})
		rows, bytes := buildSmallFiles(b, tbl, uint64(n), 200, 5000, 1, []string{txn.TypePayment})
		o := DefaultCompactOptions()
		o.Retention = time.Hour
		runtime.GC()
		b.StartTimer()
		start, cpu0 := time.Now(), cputime.Process()
		rep, err := Compact(ctx, tbl, o)
		el, cpu := time.Since(start).Seconds(), (cputime.Process() - cpu0).Seconds()
		b.StopTimer()
		require.NoError(b, err)
		require.EqualValues(b, rows, rep.RowsOut)
		b.Logf("%d files (%s) → %d files (%s) in %.2fs (%.2f CPU-s)", rep.FilesIn, FormatBytes(rep.BytesIn), rep.FilesOut, FormatBytes(rep.BytesOut), el, cpu)
		results = append(results, result{el, cpu, rows, bytes, rep})
		tbl.Close()
	}
	slices.SortFunc(results, func(x, y result) int { return cmp.Compare(x.el, y.el) })
	r := results[len(results)/2]
	b.ReportMetric(float64(r.rows)/r.el, "rows/s")
	b.ReportMetric(float64(r.bytes)/r.el/1e6, "MB/s")
	b.ReportMetric(float64(r.rep.FilesOut), "files_out")
	b.ReportMetric(float64(r.rows)/r.cpu, "rows/cpu-s")
	b.ReportMetric(r.cpu, "cpu-s")
	b.ReportMetric(float64(r.rep.BytesIn)/(1<<20), "in_MiB")
	b.ReportMetric(float64(r.rep.BytesOut)/(1<<20), "out_MiB")
	b.ReportMetric(float64(len(results)), "runs")
}

// duckGroupBy runs the dashboard-style aggregate over files with DuckDB
// and returns the median of reps runs after one untimed warm-up run (the
// first query of a connection also pays for opening it).
func duckGroupBy(tb testing.TB, paths []string, reps int) time.Duration {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	require.NoError(tb, err)
	defer db.Close()
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	q := fmt.Sprintf(`SELECT event_date, type, sum(amount), count(*) FROM read_parquet([%s], hive_partitioning = true)
GROUP BY event_date, type ORDER BY 1, 2`, strings.Join(quoted, ","))
	var times []time.Duration
	for i := -1; i < reps; i++ {
		start := time.Now()
		rs, err := db.Query(q)
		require.NoError(tb, err)
		for rs.Next() {
		}
		require.NoError(tb, rs.Err())
		rs.Close()
		if i >= 0 {
			times = append(times, time.Since(start))
		}
	}
	slices.Sort(times)
	return times[len(times)/2]
}

// BenchmarkDuckDBGroupBySmallVsCompacted: 1,000 small files (1M rows over
// 3 days × 6 types) against the same rows after compaction; a GROUP BY
// event_date, type with SUM(amount) through DuckDB over the file list.
// Reports both median latencies and their ratio.
func BenchmarkDuckDBGroupBySmallVsCompacted(b *testing.B) {
	ctx := context.Background()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		tbl := openLake(b, b.TempDir(), S3Options{})
		buildSmallFiles(b, tbl, 7, 1000, 1000, 3, txn.Types)
		before, err := tbl.Files(ctx)
		require.NoError(b, err)
		small := duckGroupBy(b, filePaths(before), 7)
		rep, err := Compact(ctx, tbl, DefaultCompactOptions())
		require.NoError(b, err)
		after, err := tbl.Files(ctx)
		require.NoError(b, err)
		big := duckGroupBy(b, filePaths(after), 7)
		b.ReportMetric(float64(small.Microseconds())/1000, "small_ms")
		b.ReportMetric(float64(big.Microseconds())/1000, "compacted_ms")
		b.ReportMetric(float64(small)/float64(big), "speedup")
		b.ReportMetric(float64(len(after)), "files_after")
		b.Logf("%d files: %s; %d files after compaction (%.1fs): %s; %.1fx", len(before), small, len(after), rep.Seconds, big, float64(small)/float64(big))
		tbl.Close()
	}
}

// TestCompactRSS measures the peak RSS of `trstream compact` on a ~1 GiB
// partition (TRSTREAM_BENCH_RSS=1; TRSTREAM_BENCH_RSS_MB sets the size).
// It builds the CLI, fills one partition with ~4 MiB files, compacts with
// the defaults and samples the child's peak RSS (internal/peakrss).
func TestCompactRSS(t *testing.T) {
	if os.Getenv("TRSTREAM_BENCH_RSS") != "1" {
		t.Skip("set TRSTREAM_BENCH_RSS=1")
	}
	mb := 1024
	if v := os.Getenv("TRSTREAM_BENCH_RSS_MB"); v != "" {
		fmt.Sscan(v, &mb)
	}
	ctx := context.Background()
	work := t.TempDir()
	bin := filepath.Join(work, "trstream")
	build := exec.Command("go", "build", "-o", bin, "github.com/trstream/trstream/cmd/trstream")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	dir := filepath.Join(work, "lake")
	tbl := openLake(t, dir, S3Options{})
	start := time.Now()
	const rowsPerFile = 60_000
	var rows, bytes int64
	for i := uint64(0); bytes < int64(mb)<<20; i++ {
		r, b := buildSmallFiles(t, tbl, i, 10, rowsPerFile, 1, []string{txn.TypePayment})
		rows += r
		bytes += b
	}
	files, err := tbl.Files(ctx)
	require.NoError(t, err)
	t.Logf("built %d files, %d rows, %s in %s", len(files), rows, FormatBytes(bytes), time.Since(start).Round(time.Second))
	tbl.Close()

	cmd := exec.Command(bin, "compact", "--lake", dir, "--temp-dir", work)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start = time.Now()
	// peakrss, not ru_maxrss: this test process holds the built files'
	// memory, which ru_maxrss would report as the child's.
	peak, err := peakrss.Run(cmd)
	require.NoError(t, err)
	el := time.Since(start)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	t.Logf("compacted %s (%d rows) in %s: %.0f rows/s, %.1f MB/s, peak RSS %.0f MiB, %.1f CPU-s (%.0f rows/CPU-s)",
		FormatBytes(bytes), rows, el.Round(time.Millisecond), float64(rows)/el.Seconds(), float64(bytes)/el.Seconds()/1e6, float64(peak)/(1<<20),
		cpu.Seconds(), float64(rows)/cpu.Seconds())
	if os.Getenv("GOMEMLIMIT") == "" {
		require.Less(t, peak>>20, int64(512), "peak RSS above 512 MiB")
	}
}

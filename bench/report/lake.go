package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// benchLake: the generator's NDJSON → parquet_lake, against DuckDB's own
// partitioned COPY of the same file, and the bare parquet-go writer.
func benchLake(ctx context.Context, e *env) ([]Row, error) {
	const n = 1_000_000
	file, err := e.benchInput(ctx, n)
	if err != nil {
		return nil, err
	}
	st, _ := os.Stat(file)
	mb := float64(st.Size()) / 1e6
	lake := filepath.Join(e.tmp, "lake-bench")
	ours, err := e.run(ctx, []string{"BENCH_FILE=" + file, "BENCH_LAKE=" + lake}, e.bin, "-c", "bench/configs/lake_from_file.yaml")
	if err != nil {
		return nil, err
	}
	duckOut := filepath.Join(e.tmp, "duck-out")
	duck, err := duckdbCopy(ctx, file, duckOut)
	if err != nil {
		return nil, err
	}
	// The Parquet each writes, for the same rows: speed bought with size
	// would show here.
	oursMB, duckMB := parquetMB(filepath.Join(lake, "data")), parquetMB(duckOut)
	bare, err := e.goBench(ctx, "./plugins/lake", "BenchmarkBareParquetWriter", "rows/s")
	if err != nil {
		return nil, err
	}
	a, d := rate(n, ours.elapsed), rate(n, duck)
	return []Row{
		{
			Benchmark:  "parquet_lake from NDJSON, 1M rows, zstd, event_date/type",
			Figure:     fmt.Sprintf("%s, %.0f MB/s, peak RSS %d MiB, %.1f MB of Parquet", fmtRate(a, "rows/s"), mb/ours.elapsed.Seconds(), ours.maxRSS>>20, oursMB),
			Peer:       "DuckDB COPY … PARTITION_BY (event_date, type)",
			PeerFigure: fmt.Sprintf("%s, %.1f MB of Parquet", fmtRate(d, "rows/s"), duckMB),
			Ratio:      fmtRatio(a, d),
			Target:     "≥1× DuckDB",
			Verdict:    verdict(a >= d),
		},
		{
			Benchmark:  "parquet_lake vs the bare parquet-go writer (decoded rows)",
			Figure:     fmtRate(a, "rows/s"),
			Peer:       "parquet-go GenericWriter, zstd",
			PeerFigure: fmtRate(bare, "rows/s"),
			Ratio:      fmtRatio(a, bare),
			Target:     "≥0.5×",
			Verdict:    verdict(a >= 0.5*bare),
		},
	}, nil
}

// parquetMB sums the sizes of the .parquet files under dir, in MB.
func parquetMB(dir string) float64 {
	var n int64
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".parquet") {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return float64(n) / 1e6
}

// duckdbCopy times DuckDB reading the NDJSON and writing a partitioned,
// zstd Parquet dataset: what a user would run instead of trstream.
func duckdbCopy(ctx context.Context, in, out string) (time.Duration, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	q := fmt.Sprintf(`COPY (SELECT *, strftime(event_time::TIMESTAMP, '%%Y-%%m-%%d') AS event_date
		FROM read_json('%s', format='newline_delimited', columns={
			transaction_id:'VARCHAR', event_time:'TIMESTAMPTZ', account_id:'VARCHAR', counterparty_id:'VARCHAR',
			merchant_id:'VARCHAR', merchant_category:'VARCHAR', amount:'DECIMAL(18,4)', currency:'VARCHAR',
			type:'VARCHAR', status:'VARCHAR', channel:'VARCHAR', country:'VARCHAR', card_fingerprint:'VARCHAR',
			balance_after:'DECIMAL(18,4)', is_fraud:'BOOLEAN', fraud_scenario:'VARCHAR', source:'VARCHAR'}))
		TO '%s' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (event_date, type))`, in, out)
	start := time.Now()
	if _, err := db.ExecContext(ctx, q); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// goBench runs one Go benchmark and returns the named b.ReportMetric value.
func (e *env) goBench(ctx context.Context, pkg, name, metric string) (float64, error) {
	out, err := e.goTest(ctx, nil, pkg, "-run", "^$", "-bench", "^"+name+"$", "-benchtime", "3x")
	if err != nil {
		return 0, err
	}
	m := benchMetrics(out, strings.TrimPrefix(name, "Benchmark"))
	v, ok := m[metric]
	if !ok {
		return 0, fmt.Errorf("%s: no %q metric in: %s", name, metric, lastLines(out, 3))
	}
	return v, nil
}

// goTest runs `go test` on one package with extra env and returns stdout.
func (e *env) goTest(ctx context.Context, extraEnv []string, pkg string, args ...string) (string, error) {
	r, err := e.run(ctx, extraEnv, "go", append(append([]string{"test", "-count=1", "-timeout", "60m"}, args...), pkg)...)
	return r.stdout, err
}

var benchPair = regexp.MustCompile(`([0-9.e+]+) (\S+)`)

// benchMetrics parses the metrics of the result line of benchmark name
// (sub-benchmarks as name/sub), e.g. {"ns/op": 1.2e6, "rows/s": 8e6}.
func benchMetrics(out, name string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || (f[0] != "Benchmark"+name && !strings.HasPrefix(f[0], "Benchmark"+name+"-")) {
			continue
		}
		for _, p := range benchPair.FindAllStringSubmatch(strings.Join(f[2:], " "), -1) {
			if v, err := strconv.ParseFloat(p[1], 64); err == nil {
				m[p[2]] = v
			}
		}
	}
	return m
}

// logFloat finds re in out and parses its first group.
func logFloat(out string, re *regexp.Regexp) (float64, error) {
	m := re.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no match for %s in: %s", re, lastLines(out, 5))
	}
	return strconv.ParseFloat(m[1], 64)
}

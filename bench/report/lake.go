package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
	duck, err := duckdbCopy(ctx, file, filepath.Join(e.tmp, "duck-out"))
	if err != nil {
		return nil, err
	}
	bare, err := e.goBench(ctx, "./plugins/lake", "BenchmarkBareParquetWriter", "rows/s")
	if err != nil {
		return nil, err
	}
	a, d := rate(n, ours.elapsed), rate(n, duck)
	return []Row{
		{
			Benchmark:  "parquet_lake from NDJSON, 1M rows, zstd, event_date/type",
			Figure:     fmt.Sprintf("%s, %.0f MB/s, peak RSS %d MiB", fmtRate(a, "rows/s"), mb/ours.elapsed.Seconds(), ours.maxRSS>>20),
			Peer:       "DuckDB COPY … PARTITION_BY (event_date, type)",
			PeerFigure: fmtRate(d, "rows/s"),
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

var benchMetric = regexp.MustCompile(`([0-9.e+]+) (\S+)`)

// goBench runs one Go benchmark and returns the named b.ReportMetric value.
func (e *env) goBench(ctx context.Context, pkg, name, metric string) (float64, error) {
	r, err := e.run(ctx, nil, "go", "test", "-run", "^$", "-bench", "^"+name+"$", "-benchtime", "3x", pkg)
	if err != nil {
		return 0, err
	}
	for _, m := range benchMetric.FindAllStringSubmatch(r.stdout, -1) {
		if m[2] == metric {
			return strconv.ParseFloat(m[1], 64)
		}
	}
	return 0, fmt.Errorf("%s: no %q metric in: %s", name, metric, lastLines(r.stdout, 3))
}

package lake

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
)

const (
	lcFieldPath           = "path"
	lcFieldS3             = "s3"
	lcFieldCatalogURI     = "catalog_uri"
	lcFieldTargetFileSize = "target_file_size"
	lcFieldMinFileSize    = "min_file_size"
	lcFieldMinInputFiles  = "min_input_files"
	lcFieldRowGroupRows   = "row_group_rows"
	lcFieldRetention      = "retention"
	lcFieldDryRun         = "dry_run"
)

// Metric names of the lake_compact processor.
const (
	MetricCompactRuns       = "compact_runs_total"
	MetricCompactFilesIn    = "compact_files_in_total"
	MetricCompactFilesOut   = "compact_files_out_total"
	MetricCompactRows       = "compact_rows_total"
	MetricCompactDuplicates = "compact_duplicates_removed_total"
	MetricCompactSeconds    = "compact_seconds"
)

func lakeCompactSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Compacts the Parquet lake: bin-packs, sorts and deduplicates small files into large ones, atomically, on a local directory or S3.").
		Description(`
Each message that reaches the processor (typically a tick from a `+"`generate`"+` input) runs one compaction pass over the lake's current Iceberg snapshot, and the message body is replaced with the pass's JSON report (files, rows and bytes in and out, duplicates removed, per-partition details).

In every partition that holds at least `+"`min_input_files`"+` files smaller than `+"`min_file_size`"+`, those files are merged in `+"`(event_time, transaction_id)`"+` order into new zstd files of about `+"`target_file_size`"+`, with row groups of `+"`row_group_rows`"+` rows. Exact duplicates (the same `+"`transaction_id`"+` and `+"`event_time`"+`, as at-least-once writers leave them) are dropped on the way. Rows are streamed and merged through a bounded number of open files, so memory stays bounded whatever the partition size.

### Atomicity and concurrency

New files are written first (invisible) and swapped in with ONE Iceberg commit: readers see the old files or the new ones, never both and never neither. Concurrent appends by `+"`parquet_lake`"+` are kept (the commit is retried against the new snapshot). If another compactor replaced some of the same inputs first, the affected partitions are given up and their new files deleted.

### Retention

Replaced files stay on storage, and the snapshots that reference them stay readable for time travel, for `+"`retention`"+` after they were replaced; later passes then expire those snapshots and delete the files. Unreferenced files older than `+"`retention`"+` (at least 1h), left by crashed writers, are removed too.

### Metrics

`+"`"+MetricCompactRuns+"`, `"+MetricCompactFilesIn+"`, `"+MetricCompactFilesOut+"`, `"+MetricCompactRows+"` (rows rewritten), `"+MetricCompactDuplicates+"` and the timer `"+MetricCompactSeconds+"`.").
		Fields(
			service.NewStringField(lcFieldPath).
				Description("Where the lake lives: a directory, or `s3://bucket/prefix`; the same as the `parquet_lake` output's `path`.").
				Examples("./lake", "${TRSTREAM_LAKE:./lake}", "s3://data/trstream"),
			lakeS3Field(),
			service.NewStringField(lcFieldCatalogURI).
				Description("SQLite file of the Iceberg catalog; the writers' `catalog_uri`. Empty: `<path>/_catalog/catalog.db` for a local lake, `"+DefaultS3CatalogURI+"` for S3.").
				Default("").Example("/var/lib/trstream/catalog.db").Advanced(),
			service.NewStringField(lcFieldTargetFileSize).
				Description("Size of the output files: a byte count with an optional unit (KiB, MiB, GiB, KB, MB, GB).").
				Default("128MiB").Examples("128MiB", "512MiB"),
			service.NewStringField(lcFieldMinFileSize).
				Description("Only files smaller than this are compacted; at most `target_file_size`.").
				Default("32MiB").Example("64MiB"),
			service.NewIntField(lcFieldMinInputFiles).
				Description("A partition is compacted once it has at least this many small files (at least 2).").
				Default(DefaultMinInputFiles).Example(10),
			service.NewIntField(lcFieldRowGroupRows).
				Description(fmt.Sprintf("Rows per Parquet row group of the output files, between %d and %d (DuckDB reads row groups in parallel).", MinCompactRowGroupRows, MaxCompactRowGroupRows)).
				Default(DefaultCompactRowGroup).Example(122880).Advanced(),
			service.NewDurationField(lcFieldRetention).
				Description("How long replaced files (and the snapshots that reference them) are kept after they were replaced, for readers and time travel. `0s` deletes them in the next pass.").
				Default("1h").Examples("1h", "24h"),
			service.NewBoolField(lcFieldDryRun).
				Description("Only plan: report what would be compacted, write and delete nothing.").
				Default(false),
		).
		Example("Hourly compaction", "Compact the local lake every hour and log the report.", `
input:
  generate:
    interval: 1h
    mapping: root = {}
pipeline:
  processors:
    - lake_compact:
        path: ${TRSTREAM_LAKE:./lake}
        target_file_size: 128MiB
    - log:
        message: '${! content() }'
output:
  drop: {}
`).
		Example("S3 lake", "Compact a lake on MinIO every 15 minutes, sharing the writers' catalog.", `
input:
  generate:
    interval: 15m
    mapping: root = {}
pipeline:
  processors:
    - lake_compact:
        path: s3://lake/trstream
        s3:
          endpoint: http://localhost:9000
          force_path_style: true
        catalog_uri: ./.trstream/catalog.db
        retention: 24h
output:
  drop: {}
`)
}

func init() {
	service.MustRegisterProcessor("lake_compact", lakeCompactSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.Processor, error) {
			return newLakeCompactProcessor(conf, mgr)
		})
}

// ParseByteSize parses a byte count with an optional unit: B, KiB, MiB,
// GiB, TiB (powers of 1024; K, M, G, T too) or KB, MB, GB, TB (powers of
// 1000). Fractions are allowed ("1.5GiB").
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, fmt.Errorf("byte size %q: want a number with an optional unit such as 128MiB", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("byte size %q: unknown unit %q", s, unit)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("byte size %q: %w", s, err)
	}
	n := v * mult
	if n < 1 || n > 1<<50 {
		return 0, fmt.Errorf("byte size %q: out of range", s)
	}
	return int64(n), nil
}

// FormatBytes renders n with a binary unit, for reports.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

type lakeCompactProcessor struct {
	loc        Location
	catalogURI string
	opts       CompactOptions
	log        *service.Logger

	runs, filesIn, filesOut, rows, dups *service.MetricCounter
	seconds                             *service.MetricTimer

	mu  sync.Mutex
	tbl *Table
}

func parseLakeCompactConfig(conf *service.ParsedConfig) (loc Location, catalogURI string, o CompactOptions, err error) {
	o = DefaultCompactOptions()
	path, err := conf.FieldString(lcFieldPath)
	if err != nil {
		return loc, "", o, err
	}
	s3, err := parseLakeS3(conf)
	if err != nil {
		return loc, "", o, err
	}
	if loc, err = ParseLocation(path, s3); err != nil {
		return loc, "", o, fieldErr(lcFieldPath, err)
	}
	if catalogURI, err = conf.FieldString(lcFieldCatalogURI); err != nil {
		return loc, "", o, err
	}
	size := func(field string) (int64, error) {
		s, err := conf.FieldString(field)
		if err != nil {
			return 0, err
		}
		n, err := ParseByteSize(s)
		if err != nil {
			return 0, fieldErr(field, err)
		}
		return n, nil
	}
	if o.TargetFileSize, err = size(lcFieldTargetFileSize); err != nil {
		return loc, "", o, err
	}
	if o.MinFileSize, err = size(lcFieldMinFileSize); err != nil {
		return loc, "", o, err
	}
	if o.MinInputFiles, err = conf.FieldInt(lcFieldMinInputFiles); err != nil {
		return loc, "", o, err
	}
	if o.MinInputFiles < 2 {
		return loc, "", o, fieldErr(lcFieldMinInputFiles, fmt.Errorf("must be at least 2, got %d", o.MinInputFiles))
	}
	if o.RowGroupRows, err = conf.FieldInt(lcFieldRowGroupRows); err != nil {
		return loc, "", o, err
	}
	if o.Retention, err = conf.FieldDuration(lcFieldRetention); err != nil {
		return loc, "", o, err
	}
	if o.DryRun, err = conf.FieldBool(lcFieldDryRun); err != nil {
		return loc, "", o, err
	}
	// Validate names the field (its messages start with the field name).
	if err := o.Validate(); err != nil {
		return loc, "", o, fmt.Errorf("field %w", err)
	}
	return loc, catalogURI, o, nil
}

func newLakeCompactProcessor(conf *service.ParsedConfig, mgr *service.Resources) (*lakeCompactProcessor, error) {
	loc, catalogURI, o, err := parseLakeCompactConfig(conf)
	if err != nil {
		return nil, err
	}
	m := mgr.Metrics()
	return &lakeCompactProcessor{
		loc: loc, catalogURI: catalogURI, opts: o, log: mgr.Logger(),
		runs:     m.NewCounter(MetricCompactRuns),
		filesIn:  m.NewCounter(MetricCompactFilesIn),
		filesOut: m.NewCounter(MetricCompactFilesOut),
		rows:     m.NewCounter(MetricCompactRows),
		dups:     m.NewCounter(MetricCompactDuplicates),
		seconds:  m.NewTimer(MetricCompactSeconds),
	}, nil
}

// table opens the lake on first use and keeps it open.
func (p *lakeCompactProcessor) table(ctx context.Context) (*Table, error) {
	if p.tbl != nil {
		return p.tbl, nil
	}
	tbl, err := Open(ctx, p.loc, WithCatalogURI(p.catalogURI))
	if err != nil {
		return nil, err
	}
	p.tbl = tbl
	return tbl, nil
}

// Process runs one compaction pass (passes never overlap) and returns the
// message with the JSON report as its body; a failed pass also marks the
// message with the error.
func (p *lakeCompactProcessor) Process(ctx context.Context, msg *service.Message) (service.MessageBatch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	var rep CompactReport
	tbl, err := p.table(ctx)
	if err == nil {
		rep, err = Compact(ctx, tbl, p.opts)
	}
	p.runs.Incr(1)
	p.seconds.Timing(time.Since(start).Nanoseconds())
	if !rep.DryRun {
		p.filesIn.Incr(int64(rep.FilesIn))
		p.filesOut.Incr(int64(rep.FilesOut))
		p.rows.Incr(rep.RowsIn)
		p.dups.Incr(rep.DuplicatesRemoved)
	}
	body := struct {
		CompactReport
		Error string `json:"error,omitempty"`
	}{CompactReport: rep}
	if err != nil {
		body.Error = err.Error()
	}
	js, jerr := json.Marshal(body)
	if jerr != nil {
		return nil, jerr
	}
	out := msg.Copy()
	out.SetBytes(js)
	if err != nil {
		p.log.Errorf("lake_compact: %v", err)
		out.SetError(fmt.Errorf("lake_compact: %w", err))
	} else {
		p.log.Infof("lake_compact: %d files → %d, %d rows → %d, %d duplicates removed, %d conflicts in %.1fs",
			rep.FilesIn, rep.FilesOut, rep.RowsIn, rep.RowsOut, rep.DuplicatesRemoved, rep.Conflicts, rep.Seconds)
	}
	return service.MessageBatch{out}, nil
}

// Close closes the lake.
func (p *lakeCompactProcessor) Close(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tbl == nil {
		return nil
	}
	err := p.tbl.Close()
	p.tbl = nil
	return err
}

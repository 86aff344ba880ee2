package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// benchArrow stands in for the seed's pyarrow script
// (pyarrow.json.read_json, then dataset.write_dataset with hive
// partitioning), which cannot be installed here: no PyPI, no Debian package.
// It runs the same two steps on Apache Arrow's Go implementation, the
// arrow-go that iceberg-go already brings: an Arrow JSON reader, then
// per-partition Take and one pqarrow zstd writer per partition.
func benchArrow(ctx context.Context, e *env) ([]Row, error) {
	const n = 1_000_000
	file, err := e.benchInput(ctx, n)
	if err != nil {
		return nil, err
	}
	lake := filepath.Join(e.tmp, "lake-arrow-peer")
	ours, err := e.run(ctx, []string{"BENCH_FILE=" + file, "BENCH_LAKE=" + lake}, e.bin, "-c", "bench/configs/lake_from_file.yaml")
	if err != nil {
		return nil, err
	}
	start := time.Now()
	rows, err := arrowWriteDataset(ctx, file, filepath.Join(e.tmp, "arrow-out"))
	if err != nil {
		return nil, err
	}
	peer := time.Since(start)
	if rows != n {
		return nil, fmt.Errorf("arrow peer wrote %d rows, want %d", rows, n)
	}
	a, p := rate(n, ours.elapsed), rate(n, peer)
	return []Row{{
		Benchmark:  "parquet_lake from NDJSON, 1M rows, zstd, event_date/type",
		Figure:     fmtRate(a, "rows/s"),
		Peer:       "Arrow (arrow-go): JSON reader → hive-partitioned pqarrow, zstd; pyarrow's steps, as pyarrow is not installable",
		PeerFigure: fmtRate(p, "rows/s"),
		Ratio:      fmtRatio(a, p),
		Target:     "≥1× peer",
		Verdict:    verdict(a >= p),
	}}, nil
}

// arrowSchema is the wire form as a user would declare it for Arrow's JSON
// reader: exact decimals and microsecond UTC timestamps, like the lake.
var arrowSchema = arrow.NewSchema([]arrow.Field{
	{Name: "transaction_id", Type: arrow.BinaryTypes.String},
	{Name: "event_time", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "account_id", Type: arrow.BinaryTypes.String},
	{Name: "counterparty_id", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "merchant_id", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "merchant_category", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "amount", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}},
	{Name: "currency", Type: arrow.BinaryTypes.String},
	{Name: "type", Type: arrow.BinaryTypes.String},
	{Name: "status", Type: arrow.BinaryTypes.String},
	{Name: "channel", Type: arrow.BinaryTypes.String},
	{Name: "country", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "card_fingerprint", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "balance_after", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}, Nullable: true},
	{Name: "is_fraud", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "fraud_scenario", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "source", Type: arrow.BinaryTypes.String},
}, nil)

// arrowWriteDataset reads NDJSON in record batches and writes each batch's
// rows to <out>/event_date=D/type=T/part-0.parquet, one open writer per
// partition, as write_dataset does. It returns the rows written.
func arrowWriteDataset(ctx context.Context, in, out string) (int, error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	mem := memory.DefaultAllocator
	rd := array.NewJSONReader(bufio.NewReaderSize(f, 1<<20), arrowSchema, array.WithChunk(64<<10), array.WithAllocator(mem))
	defer rd.Release()

	props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd), parquet.WithAllocator(mem))
	writers := map[string]*pqarrow.FileWriter{}
	closeAll := func() error {
		var first error
		for _, w := range writers {
			if err := w.Close(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	total := 0
	for rd.Next() {
		rec := rd.RecordBatch()
		groups := arrowPartitions(rec)
		for dir, idx := range groups {
			w, ok := writers[dir]
			if !ok {
				if err := os.MkdirAll(filepath.Join(out, dir), 0o755); err != nil {
					closeAll()
					return 0, err
				}
				pf, err := os.Create(filepath.Join(out, dir, "part-0.parquet"))
				if err != nil {
					closeAll()
					return 0, err
				}
				if w, err = pqarrow.NewFileWriter(arrowSchema, pf, props, pqarrow.DefaultWriterProps()); err != nil {
					closeAll()
					return 0, err
				}
				writers[dir] = w
			}
			ib := array.NewInt32Builder(mem)
			ib.AppendValues(idx, nil)
			indices := ib.NewArray()
			ib.Release()
			taken, err := compute.Take(ctx, *compute.DefaultTakeOptions(), compute.NewDatumWithoutOwning(rec), compute.NewDatumWithoutOwning(indices))
			indices.Release()
			if err != nil {
				closeAll()
				return 0, err
			}
			part := taken.(*compute.RecordDatum).Value
			total += int(part.NumRows())
			err = w.Write(part)
			taken.Release()
			if err != nil {
				closeAll()
				return 0, err
			}
		}
	}
	if err := rd.Err(); err != nil {
		closeAll()
		return 0, err
	}
	return total, closeAll()
}

// arrowPartitions groups a batch's row indices by event_date/type directory.
func arrowPartitions(rec arrow.RecordBatch) map[string][]int32 {
	ts := rec.Column(1).(*array.Timestamp)
	typ := rec.Column(8).(*array.String)
	groups := map[string][]int32{}
	for i := 0; i < int(rec.NumRows()); i++ {
		day := time.UnixMicro(int64(ts.Value(i))).UTC().Format("2006-01-02")
		dir := "event_date=" + day + "/type=" + typ.Value(i)
		groups[dir] = append(groups[dir], int32(i))
	}
	return groups
}

package lake

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/internal/cputime"
	"github.com/trstream/trstream/plugins/generator"
	"github.com/trstream/trstream/plugins/txn"
)

const benchRows = 100_000

// BenchmarkParquetLake: NDJSON lines → parquet_lake (decode, partition,
// sort, zstd Parquet, one Iceberg commit per group) on a local lake, batches
// of 500 with 64 in flight. Reports rows/s and input MB/s.
func BenchmarkParquetLake(b *testing.B) {
	rows := testRows("bench", benchRows, 3)
	lines := make([][]byte, len(rows))
	var inBytes int64
	for i := range rows {
		lines[i] = rows[i].AppendJSON(nil)
		inBytes += int64(len(lines[i]) + 1)
	}
	b.ResetTimer()
	var cpu time.Duration
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		dir := b.TempDir()
		sb := service.NewStreamBuilder()
		require.NoError(b, sb.SetLoggerYAML("level: warn"))
		send, err := sb.AddBatchProducerFunc()
		require.NoError(b, err)
		require.NoError(b, sb.AddOutputYAML(lakeOutYAML(dir, "")))
		stream, err := sb.Build()
		require.NoError(b, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- stream.Run(ctx) }()
		b.StartTimer()
		c0 := cputime.Process()
		sem := make(chan struct{}, 64)
		errs := make(chan error, len(lines)/500+1)
		for i := 0; i < len(lines); i += 500 {
			batch := make(service.MessageBatch, 0, 500)
			for j := i; j < min(i+500, len(lines)); j++ {
				batch = append(batch, service.NewMessage(lines[j]))
			}
			sem <- struct{}{}
			go func() {
				errs <- send(ctx, batch)
				<-sem
			}()
		}
		for i := 0; i < len(lines); i += 500 {
			require.NoError(b, <-errs)
		}
		b.StopTimer()
		cpu += cputime.Process() - c0
		require.NoError(b, stream.StopWithin(10*time.Second))
		cancel()
		<-done
		b.StartTimer()
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(benchRows*b.N)/sec, "rows/s")
	b.ReportMetric(float64(inBytes*int64(b.N))/sec/1e6, "MB/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(benchRows*b.N), "cpu-ns/row")
}

// BenchmarkBareParquetWriter: parquet-go GenericWriter on already decoded
// rows with the same zstd codec, sorted per partition: the writer's limit.
func BenchmarkBareParquetWriter(b *testing.B) {
	rows := testRows("bench", benchRows, 3)
	var inBytes int64
	for i := range rows {
		inBytes += int64(len(rows[i].AppendJSON(nil)) + 1)
	}
	codec, _ := Codec("zstd")
	b.ResetTimer()
	c0 := cputime.Process()
	for n := 0; n < b.N; n++ {
		for _, g := range partitioned(rows) {
			require.NoError(b, WriteParquet(io.Discard, g, codec, 128<<10))
		}
	}
	cpu := cputime.Process() - c0
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(benchRows*b.N)/sec, "rows/s")
	b.ReportMetric(float64(inBytes*int64(b.N))/sec/1e6, "MB/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(benchRows*b.N), "cpu-ns/row")
}

// partitioned splits rows by the default partitioning, each sorted as the
// output writes it.
func partitioned(rows []txn.Transaction) map[string][]txn.Transaction {
	part, _ := ParsePartitioning(DefaultPartitionBy)
	groups := map[string][]txn.Transaction{}
	for i := range rows {
		dir, _ := part.Dir(&rows[i])
		groups[dir] = append(groups[dir], rows[i])
	}
	for _, g := range groups {
		SortByEventTime(g)
	}
	return groups
}

// benchWrite writes every group with write b.N times and reports file
// bytes, CPU and rows per second.
func benchWrite(b *testing.B, groups map[string][]txn.Transaction, write func(io.Writer, []txn.Transaction) error) {
	var size int64
	c0 := cputime.Process()
	for n := 0; n < b.N; n++ {
		size = 0
		for _, g := range groups {
			cw := &countingWriter{w: io.Discard}
			require.NoError(b, write(cw, g))
			size += cw.n
		}
	}
	cpu := cputime.Process() - c0
	b.ReportMetric(float64(size)/benchRows, "file-B/row")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(benchRows*b.N), "cpu-ns/row")
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkZstdLevels compares zstd levels on the benchmark rows: file
// bytes per row against CPU per row (the basis of the lake's default).
func BenchmarkZstdLevels(b *testing.B) {
	groups := partitioned(generatorRows(b, benchRows))
	for _, c := range []struct {
		name  string
		level zstd.Level
	}{{"fastest", zstd.SpeedFastest}, {"fastest-entropy", 0}, {"default", zstd.SpeedDefault}, {"better", zstd.SpeedBetterCompression}} {
		b.Run(c.name, func(b *testing.B) {
			var codec compress.Codec = &zstd.Codec{Level: c.level}
			if c.level == 0 {
				codec = fastZstd
			}
			benchWrite(b, groups, func(w io.Writer, rows []txn.Transaction) error {
				return WriteParquet(w, rows, codec, 128<<10)
			})
		})
	}
}

// generatorRows decodes n events of the transaction generator (its default
// model): realistic column values, unlike testRows.
func generatorRows(tb testing.TB, n int) []txn.Transaction {
	m, err := generator.New(generator.DefaultConfig())
	require.NoError(tb, err)
	out := make([]txn.Transaction, 0, n)
	var buf []byte
	for len(out) < n {
		buf, _ = m.Append(buf[:0])
		t, err := txn.Decode(buf)
		if err != nil {
			continue // an injected invalid event
		}
		out = append(out, t)
	}
	return out
}

// BenchmarkWriters compares the lake's column encoder with parquet-go's
// GenericWriter on the generator's rows (and the bare benchmark's rows),
// partitioned and sorted as the output writes them.
func BenchmarkWriters(b *testing.B) {
	codec, _ := Codec("zstd")
	for _, rows := range []struct {
		name   string
		groups map[string][]txn.Transaction
	}{{"generator", partitioned(generatorRows(b, benchRows))}, {"test", partitioned(testRows("bench", benchRows, 3))}} {
		for _, w := range []struct {
			name  string
			write func(io.Writer, []*txn.Transaction, compress.Codec, int, int) error
		}{{"cols", writeParquetCols}, {"generic", writeParquetGeneric}} {
			b.Run(rows.name+"/"+w.name, func(b *testing.B) {
				benchWrite(b, rows.groups, func(out io.Writer, rs []txn.Transaction) error {
					return w.write(out, ptrsOf(rs), codec, 128<<10, pageBufferSize)
				})
			})
		}
	}
}

// BenchmarkWriteParquetPages compares data page sizes on the generator's
// rows, partitioned and sorted as the output does: file bytes per row
// against CPU per row (the basis of pageBufferSize).
func BenchmarkWriteParquetPages(b *testing.B) {
	groups := partitioned(generatorRows(b, benchRows))
	codec, _ := Codec("zstd")
	for _, size := range []int{256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			benchWrite(b, groups, func(w io.Writer, rows []txn.Transaction) error {
				return writeParquet(w, rows, codec, 128<<10, size)
			})
		})
	}
}

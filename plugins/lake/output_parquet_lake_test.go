package lake

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

func TestParquetLakeConfig(t *testing.T) {
	spec := parquetLakeOutputSpec()
	env := service.NewEnvironment()
	for _, tc := range []struct {
		name, yaml, errField string
	}{
		{"ok", `path: /tmp/x`, ""},
		{"missing path", `commit_interval: 1s`, "path"},
		{"bad partition", "path: /tmp/x\npartition_by: [event_date, nope]", "partition_by"},
		{"timestamp identity", "path: /tmp/x\npartition_by: [amount]", "partition_by"},
		{"duplicate partition", "path: /tmp/x\npartition_by: [type, type]", "partition_by"},
		{"bad compression", "path: /tmp/x\ncompression: brotli", "compression"},
		{"bad scheme", "path: gs://b/p", "path"},
		{"zero interval", "path: /tmp/x\ncommit_interval: 0s", "commit_interval"},
		{"negative rows", "path: /tmp/x\nmax_rows: -1", "max_rows"},
		{"zero open partitions", "path: /tmp/x\nmax_open_partitions: 0", "max_open_partitions"},
		{"s3", "path: s3://bucket/prefix\ns3:\n  endpoint: http://localhost:9000\n  force_path_style: true", ""},
		{"hour", "path: /tmp/x\npartition_by: [event_hour, currency]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := spec.ParseYAML(tc.yaml, env)
			if err == nil {
				_, err = newParquetLakeOutput(conf, service.MockResources())
			}
			if tc.errField == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.errField)
		})
	}
}

// TestParquetLakePartitionByMismatch: an output whose partition_by differs
// from the existing table's fails to connect, naming the field and the
// table's keys.
func TestParquetLakePartitionByMismatch(t *testing.T) {
	dir := t.TempDir()
	openLake(t, dir, S3Options{}) // event_date, type
	conf, err := parquetLakeOutputSpec().ParseYAML("path: "+dir+"\npartition_by: [event_hour]", service.NewEnvironment())
	require.NoError(t, err)
	o, err := newParquetLakeOutput(conf, service.MockResources())
	require.NoError(t, err)
	err = o.Connect(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "field partition_by: lake: partition keys differ: the table is partitioned by [event_date type], not [event_hour]")
	require.NoError(t, o.Close(t.Context()))
}

// rowsMapping returns a Bloblang mapping for a generate input that emits
// rows in order, with Kafka metadata when topic is set.
func rowsMapping(rows []txn.Transaction, topic string, firstOffset int) string {
	var b strings.Builder
	b.WriteString("let rows = [\n")
	for i := range rows {
		js, _ := json.Marshal(string(rows[i].AppendJSON(nil)))
		b.Write(js)
		b.WriteString(",\n")
	}
	b.WriteString("]\nlet i = count(\"" + fmt.Sprint(time.Now().UnixNano()) + "\") - 1\nroot = $rows.index($i)\n")
	if topic != "" {
		fmt.Fprintf(&b, "meta kafka_topic = %q\nmeta kafka_partition = (($i + %d) %% 3).string()\nmeta kafka_offset = ($i + %d).string()\n", topic, firstOffset, firstOffset)
	}
	return b.String()
}

// runStream runs generate → parquet_lake until every row is acked.
func runStream(t testing.TB, rows []txn.Transaction, topic string, firstOffset int, outYAML string) {
	t.Helper()
	runStreamOpts(t, rows, topic, firstOffset, outYAML, "")
}

// runStreamPaced is runStream with an interval between batches.
func runStreamPaced(t testing.TB, rows []txn.Transaction, topic string, first int, outYAML, interval string) {
	t.Helper()
	runStreamOpts(t, rows, topic, first, outYAML, interval)
}

func runStreamOpts(t testing.TB, rows []txn.Transaction, topic string, firstOffset int, outYAML, interval string) {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	mapping, _ := json.Marshal(rowsMapping(rows, topic, firstOffset))
	require.NoError(t, sb.AddInputYAML(fmt.Sprintf(`
generate:
  count: %d
  interval: %q
  batch_size: 50
  mapping: %s
`, len(rows), interval, mapping)))
	require.NoError(t, sb.AddOutputYAML(outYAML))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	require.NoError(t, stream.Run(ctx))
}

func lakeOutYAML(path string, extra string) string {
	return fmt.Sprintf(`
parquet_lake:
  path: %q
  commit_interval: 200ms
%s`, path, extra)
}

func openLake(t testing.TB, path string, s3 S3Options, opts ...Option) *Table {
	t.Helper()
	loc, err := ParseLocation(path, s3)
	require.NoError(t, err)
	tbl, err := Open(context.Background(), loc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { tbl.Close() })
	return tbl
}

// fileIDs reads every committed file's transaction ids.
func fileIDs(t testing.TB, tbl *Table) []string {
	t.Helper()
	ctx := context.Background()
	files, err := tbl.Files(ctx)
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		rel, ok := tbl.Location().Rel(f.Path)
		require.True(t, ok, f.Path)
		rows, err := ReadFile(ctx, tbl.Storage(), rel)
		require.NoError(t, err)
		require.EqualValues(t, f.Rows, len(rows))
		for i := range rows {
			out = append(out, rows[i].TransactionID)
		}
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func totalRows(t testing.TB, tbl *Table) int64 {
	files, err := tbl.Files(context.Background())
	require.NoError(t, err)
	var n int64
	for _, f := range files {
		n += f.Rows
	}
	return n
}

func TestParquetLakeStream(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("stream", 400, 4)
	runStream(t, rows, "", 0, lakeOutYAML(dir, ""))

	tbl := openLake(t, dir, S3Options{})
	files, err := tbl.Files(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, files)
	dates, types := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		rel, _ := tbl.Location().Rel(f.Path)
		assert.Regexp(t, `^data/event_date=2024-05-0[1-4]/type=[a-z]+/part-[0-9a-f-]+\.parquet$`, rel)
		dates[f.Partition["event_date"]] = true
		types[f.Partition["type"]] = true
	}
	assert.Len(t, dates, 4)
	assert.Len(t, types, len(txn.Types))
	assert.EqualValues(t, len(rows), totalRows(t, tbl))
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl))

	// Iceberg agrees: the current snapshot's total-records.
	snaps, err := tbl.Snapshots(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, snaps)
	assert.EqualValues(t, len(rows), snaps[len(snaps)-1].Rows)

	checkDuckDB(t, dir, rows)
}

// checkDuckDB reads the lake with DuckDB's plain Parquet reader.
func checkDuckDB(t *testing.T, dir string, rows []txn.Transaction) {
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	glob := filepath.Join(dir, "data", "**", "*.parquet")
	src := fmt.Sprintf("read_parquet('%s', hive_partitioning = true)", glob)

	types := map[string]string{}
	drows, err := db.Query("DESCRIBE SELECT * FROM " + src)
	require.NoError(t, err)
	cols, _ := drows.Columns()
	for drows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, drows.Scan(ptrs...))
		types[fmt.Sprint(vals[0])] = fmt.Sprint(vals[1])
	}
	require.NoError(t, drows.Err())
	assert.Contains(t, []string{"TIMESTAMP", "TIMESTAMP WITH TIME ZONE"}, types["event_time"])
	assert.Equal(t, "DECIMAL(18,4)", types["amount"])
	assert.Equal(t, "VARCHAR", types["transaction_id"])
	assert.Equal(t, "VARCHAR", types["currency"])
	assert.Equal(t, "VARCHAR", types["type"])
	assert.Equal(t, "DATE", types["event_date"])

	q, err := db.Query("SELECT transaction_id FROM " + src + " ORDER BY transaction_id")
	require.NoError(t, err)
	var got []string
	for q.Next() {
		var id string
		require.NoError(t, q.Scan(&id))
		got = append(got, id)
	}
	require.NoError(t, q.Err())
	assert.Equal(t, sorted(ids(rows)), got)

	// Exact amounts and microsecond times survive.
	var amt string
	var et time.Time
	require.NoError(t, db.QueryRow(fmt.Sprintf("SELECT amount::VARCHAR, event_time FROM %s WHERE transaction_id = '%s'", src, rows[7].TransactionID)).Scan(&amt, &et))
	assert.Equal(t, "12.4100", amt)
	assert.True(t, rows[7].EventTime.Equal(et), "%s vs %s", rows[7].EventTime, et)
}

// A message may hold several transactions, one per line (NDJSON); a
// pretty-printed transaction is still one; a message with a bad line fails
// as a whole, and none of its rows lands.
func TestParquetLakeNDJSONMessages(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("ndjson", 12, 1)
	line := func(i int) string { return string(rows[i].AppendJSON(nil)) }
	pretty, err := json.MarshalIndent(rows[6], "", "  ")
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	send, stop := producerStream(t, nil, toLake(dir))

	batch := service.MessageBatch{
		service.NewMessage([]byte(line(0) + "\n" + line(1) + "\r\n\n" + line(2))),
		service.NewMessage([]byte(line(3) + "\n")),
		service.NewMessage([]byte(line(4) + "\n" + `{"transaction_id":"nope"}` + "\n" + line(5))),
		service.NewMessage(pretty),
		service.NewMessage([]byte(" " + line(7) + " \n " + line(8) + "\n")),
	}
	// The third message fails (its second line); the rest land.
	require.Error(t, send(ctx, batch))
	stop()

	tbl := openLake(t, dir, S3Options{})
	want := []string{rows[0].TransactionID, rows[1].TransactionID, rows[2].TransactionID, rows[3].TransactionID,
		rows[6].TransactionID, rows[7].TransactionID, rows[8].TransactionID}
	assert.Equal(t, sorted(want), fileIDs(t, tbl))
}

func TestDecodeBatchNDJSONErrors(t *testing.T) {
	part, err := ParsePartitioning(DefaultPartitionBy)
	require.NoError(t, err)
	o := &lakeOutput{cfg: lakeConfig{part: part}}
	rows := testRows("ndjson-err", 3, 1)
	batch := service.MessageBatch{
		service.NewMessage([]byte(string(rows[0].AppendJSON(nil)) + "\n" + `{"transaction_id":"nope"}`)),
		service.NewMessage(rows[1].AppendJSON(nil)),
		service.NewMessage([]byte("{\n}")),
	}
	idx := batch.Index()
	d, berr := o.decodeBatch(batch)
	require.NotNil(t, berr)
	require.Len(t, d.items, 1)
	assert.Equal(t, rows[1].TransactionID, d.items[0].t.TransactionID)
	var msgs []string
	berr.WalkMessagesIndexedBy(idx, func(i int, _ *service.Message, err error) bool {
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("%d: %v", i, err))
		}
		return true
	})
	require.Len(t, msgs, 2)
	assert.Contains(t, msgs[0], "0: parquet_lake: line 2: ")
	assert.Contains(t, msgs[1], "2: parquet_lake: ")
}

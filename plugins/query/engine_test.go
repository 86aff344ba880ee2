package query

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// directRows runs q on an independent plain DuckDB connection and returns
// the rows as text, for comparison with the engine's.
func directRows(t *testing.T, q string) [][]string {
	t.Helper()
	c, err := duckdb.NewConnector("", nil)
	require.NoError(t, err)
	db := sql.OpenDB(c)
	defer db.Close()
	rows, err := db.Query(q)
	require.NoError(t, err)
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	require.NoError(t, err)
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		r := make([]string, len(vals))
		for i, v := range vals {
			r[i] = Text(normalize(v, cts[i].DatabaseTypeName()))
		}
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

func engineRows(t *testing.T, e *Engine, q string) [][]string {
	t.Helper()
	res, err := e.Query(context.Background(), q, 0)
	require.NoError(t, err, q)
	var out [][]string
	for _, row := range res.Rows {
		r := make([]string, len(row))
		for i, v := range row {
			r[i] = Text(v)
		}
		out = append(out, r)
	}
	return out
}

// (1) Results agree with a direct read of the same files.
func TestResultsAgreeWithDirectRead(t *testing.T) {
	e, dir := openTestEngine(t, nil)
	direct := "read_parquet('" + dir + "/data/*/*/*.parquet', hive_partitioning=true)"
	for _, q := range []string{
		"SELECT count(*), sum(amount), min(event_time), max(event_time), sum(balance_after) FROM %s",
		"SELECT event_date, type, count(*), sum(amount) FROM %s GROUP BY ALL ORDER BY ALL",
		"SELECT transaction_id, amount, currency, merchant_id FROM %s ORDER BY amount DESC LIMIT 7",
		"SELECT country, count(*) FILTER (WHERE is_fraud), avg(amount)::DECIMAL(18,4) FROM %s GROUP BY 1 ORDER BY 1",
		"SELECT * FROM %s WHERE event_date = DATE '2024-03-02' AND type = 'refund' ORDER BY transaction_id",
	} {
		want := directRows(t, fmt.Sprintf(q, direct))
		got := engineRows(t, e, fmt.Sprintf(q, "transactions"))
		require.NotEmpty(t, want)
		assert.Equal(t, want, got, q)
	}
	res, err := e.Query(context.Background(), "SELECT count(*) AS n FROM transactions", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(len(testDates)*len(testTypes)*filesPerPartition*rowsPerFile), res.Rows[0][0])
	assert.Equal(t, []Column{{Name: "n", Type: "BIGINT"}}, res.Columns)
}

// Row cap: truncated is set and ORDER BY survives the LIMIT wrapper.
func TestRowCap(t *testing.T) {
	e, _ := openTestEngine(t, func(o *Options) { o.MaxRows = 5 })
	res, err := e.Query(context.Background(), "SELECT amount FROM transactions ORDER BY amount DESC;", 0)
	require.NoError(t, err)
	assert.True(t, res.Truncated)
	assert.Equal(t, 5, res.RowCount)
	all := engineRows(t, e, "SELECT amount FROM transactions ORDER BY amount DESC LIMIT 5")
	for i := range all {
		assert.Equal(t, all[i][0], Text(res.Rows[i][0]))
	}
	res, err = e.Query(context.Background(), "SELECT 1 AS a, 2 AS a", 3)
	require.NoError(t, err)
	assert.False(t, res.Truncated)
	assert.Equal(t, "a", res.Columns[1].Name, "duplicate names kept despite the wrapper")
	// Comment after the semicolon: the wrapper does not parse, the plain query runs.
	res, err = e.Query(context.Background(), "SELECT range FROM range(10); -- ten", 4)
	require.NoError(t, err)
	assert.True(t, res.Truncated)
	assert.Len(t, res.Rows, 4)
	// Explicit limit under MaxRows.
	res, err = e.Query(context.Background(), "SELECT * FROM range(3)", 2)
	require.NoError(t, err)
	assert.True(t, res.Truncated)
	// Exactly at the cap is not truncated.
	res, err = e.Query(context.Background(), "SELECT * FROM range(5)", 0)
	require.NoError(t, err)
	assert.False(t, res.Truncated)
}

// (2) Every attack is refused with a clear error, and nothing ran.
func TestAttacksRefused(t *testing.T) {
	e, dir := openTestEngine(t, nil)
	out := filepath.Join(dir, "pwned.csv")
	cases := []struct {
		sql  string
		kind Kind
		msg  string
	}{
		{"select 1; copy (select 1) to '" + out + "'", KindRefused, "exactly one statement"},
		{"copy (select 1) to '" + out + "'; select 1", KindRefused, "exactly one statement"},
		{"COPY transactions TO '" + out + "'", KindRefused, "COPY statements are not allowed"},
		{"EXPLAIN ANALYZE COPY (SELECT 1) TO '" + out + "'", KindRefused, "EXPLAIN is allowed only for SELECT"},
		{"explain /* x */ analyze\n copy (select 1) to '" + out + "'", KindRefused, "EXPLAIN is allowed only for SELECT"},
		{"SELECT * FROM read_text('/etc/passwd')", KindRefused, "Permission Error"},
		{"SELECT * FROM read_csv('/etc/passwd')", KindRefused, "Permission Error"},
		{"SELECT * FROM glob('/etc/*')", KindRefused, "Permission Error"},
		{"SELECT * FROM read_parquet('" + dir + "/../*/x.parquet')", KindRefused, ""},
		{"ATTACH '" + filepath.Join(dir, "x.db") + "' AS x", KindRefused, "ATTACH statements are not allowed"},
		{"INSTALL httpfs", KindRefused, "LOAD/INSTALL statements are not allowed"},
		{"LOAD httpfs", KindRefused, "LOAD/INSTALL statements are not allowed"},
		{"SET enable_external_access = true", KindRefused, "SET statements are not allowed"},
		{"RESET allowed_directories", KindRefused, "SET statements are not allowed"},
		{"PRAGMA enable_profiling", KindRefused, "PRAGMA statements are not allowed"},
		{"CALL pragma_version()", KindRefused, "CALL statements are not allowed"},
		{"CREATE TABLE t AS SELECT 1", KindRefused, "CREATE statements are not allowed"},
		{"DROP VIEW transactions", KindRefused, "DROP statements are not allowed"},
		{"EXPORT DATABASE '" + dir + "/exp'", KindRefused, "EXPORT statements are not allowed"},
		{"SELECT * FROM query('COPY (SELECT 1) TO ''" + out + "''')", KindInvalid, "single SELECT"},
		{"", KindInvalid, "empty"},
		{"SELEKT 1", KindInvalid, "Parser Error"},
		{"SELECT nope FROM transactions", KindInvalid, "Binder Error"},
	}
	for _, c := range cases {
		_, err := e.Query(context.Background(), c.sql, 0)
		require.Error(t, err, c.sql)
		assert.Equal(t, c.kind.String(), ErrorKind(err).String(), "%s: %v", c.sql, err)
		assert.Contains(t, err.Error(), c.msg, c.sql)
	}
	assert.NoFileExists(t, out)
	assert.NoFileExists(t, filepath.Join(dir, "x.db"))
	// The lock held: access is still restricted and the views are intact.
	_, err := e.Query(context.Background(), "SELECT * FROM read_text('/etc/hostname')", 0)
	assert.Equal(t, KindRefused, ErrorKind(err))
	_, err = e.Query(context.Background(), "SELECT count(*) FROM transactions", 0)
	assert.NoError(t, err)
}

// (2) A runaway query hits the timeout, is interrupted, and the same pool
// (one connection) serves the next query.
func TestTimeoutInterruptsAndPoolRecovers(t *testing.T) {
	e, _ := openTestEngine(t, func(o *Options) { o.PoolSize = 1; o.Timeout = 1500 * time.Millisecond })
	_, err := e.Query(context.Background(),
		"SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range + b.range = 3", 0)
	require.Error(t, err)
	assert.Equal(t, KindTimeout, ErrorKind(err), "%v", err)
	res, err := e.Query(context.Background(), "SELECT count(*) FROM transactions", 0)
	require.NoError(t, err)
	assert.Equal(t, 1, res.RowCount)
	// Caller cancellation interrupts too.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err = e.Query(ctx, "SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range + b.range = 3", 0)
	assert.Equal(t, KindCanceled, ErrorKind(err), "%v", err)
	_, err = e.Query(context.Background(), "SELECT 1", 0)
	require.NoError(t, err)
}

// (3) Keyword-looking names are fine: safety is DuckDB's, not keyword matching.
func TestKeywordLikeNamesAccepted(t *testing.T) {
	e, _ := openTestEngine(t, nil)
	res, err := e.Query(context.Background(), `SELECT event_time AS created_at, amount AS "copy", 'drop table x; attach' AS updated_by
		FROM transactions -- set pragma install
		ORDER BY created_at LIMIT 2`, 0)
	require.NoError(t, err)
	assert.Equal(t, []Column{{"created_at", "TIMESTAMPTZ"}, {"copy", "DECIMAL(18,4)"}, {"updated_by", "VARCHAR"}}, res.Columns)
	assert.Equal(t, "2024-03-01T00:00:00Z", res.Rows[0][0])
	for _, q := range []string{"DESCRIBE transactions", "SHOW TABLES", "SUMMARIZE SELECT amount FROM transactions", "EXPLAIN SELECT 1", "FROM transactions LIMIT 1", "PRAGMA show_tables"} {
		_, err := e.Query(context.Background(), q, 0)
		assert.NoError(t, err, q)
	}
}

var filesRead = regexp.MustCompile(`Total Files Read: (\d+)`)

// (5) Partition pruning: a one-day filter reads only that day's files.
func TestPartitionPruning(t *testing.T) {
	e, _ := openTestEngine(t, nil)
	read := func(where string) int {
		res, err := e.Query(context.Background(), "EXPLAIN ANALYZE SELECT sum(amount) FROM transactions "+where, 0)
		require.NoError(t, err)
		var plan strings.Builder
		for _, r := range res.Rows {
			for _, v := range r {
				plan.WriteString(Text(v))
			}
		}
		m := filesRead.FindStringSubmatch(plan.String())
		require.NotNil(t, m, plan.String())
		n, _ := strconv.Atoi(m[1])
		return n
	}
	all := len(testDates) * len(testTypes) * filesPerPartition
	assert.Equal(t, all, read(""))
	assert.Equal(t, len(testTypes)*filesPerPartition, read("WHERE event_date = '2024-03-02'"))
	assert.Equal(t, filesPerPartition, read("WHERE event_date = '2024-03-02' AND type = 'refund'"))
}

// The view follows the snapshot: new files appear, an empty lake is an empty
// typed table with the same columns.
func TestSnapshotRefreshAndEmptyLake(t *testing.T) {
	dir := t.TempDir()
	files := []string{}
	src := SourceFunc(func(ctx context.Context) ([]string, error) { return files, nil })
	e, err := Open(context.Background(), Options{Source: src, LakeDir: dir})
	require.NoError(t, err)
	defer e.Close()
	res, err := e.Query(context.Background(), "SELECT count(*) FROM transactions", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(0), res.Rows[0][0])
	empty := engineRows(t, e, "SELECT column_name, column_type FROM (DESCRIBE transactions)")

	all := buildLake(t, dir)
	files = all[:1]
	res, err = e.Query(context.Background(), "SELECT count(*) FROM transactions", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(rowsPerFile), res.Rows[0][0])
	files = all
	res, err = e.Query(context.Background(), "SELECT count(*) FROM transactions", 0)
	require.NoError(t, err)
	assert.Equal(t, int64(len(all)*rowsPerFile), res.Rows[0][0])
	full := engineRows(t, e, "SELECT column_name, column_type FROM (DESCRIBE transactions)")
	assert.Equal(t, full, empty, "empty lake has the same typed columns")
}

// DLQ view appears when dead-letter files exist.
func TestDLQView(t *testing.T) {
	e, dir := openTestEngine(t, nil)
	_, err := e.Query(context.Background(), "SELECT * FROM dlq", 0)
	require.Error(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "dlq"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "dlq", "x.jsonl"), []byte(`{"error":"bad amount","payload":"{}"}`+"\n"), 0o644))
	res, err := e.Query(context.Background(), "SELECT error FROM dlq", 0)
	require.NoError(t, err)
	assert.Equal(t, "bad amount", res.Rows[0][0])
}

// A remote (s3://) lake is read through the local cache: each file is
// fetched once, then read locally.
func TestRemoteLakeReadThroughCache(t *testing.T) {
	local := t.TempDir()
	files := buildLake(t, local)
	var uris []string
	for _, f := range files {
		rel, _ := filepath.Rel(local, f)
		uris = append(uris, "s3://bucket/lake/"+filepath.ToSlash(rel))
	}
	var fetches atomic.Int64
	fetch := func(ctx context.Context, uri string) (io.ReadCloser, error) {
		fetches.Add(1)
		b, err := os.ReadFile(filepath.Join(local, strings.TrimPrefix(uri, "s3://bucket/lake/")))
		if err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	state := t.TempDir()
	e, err := Open(context.Background(), Options{
		Source:   SourceFunc(func(context.Context) ([]string, error) { return uris, nil }),
		Fetch:    fetch,
		StateDir: state,
	})
	require.NoError(t, err)
	defer e.Close()
	got := engineRows(t, e, "SELECT event_date, type, count(*), sum(amount) FROM transactions GROUP BY ALL ORDER BY ALL")
	want := directRows(t, "SELECT event_date, type, count(*), sum(amount) FROM read_parquet('"+local+"/data/*/*/*.parquet', hive_partitioning=true) GROUP BY ALL ORDER BY ALL")
	assert.Equal(t, want, got)
	assert.Equal(t, int64(len(files)), fetches.Load())
	engineRows(t, e, "SELECT count(*) FROM transactions")
	assert.Equal(t, int64(len(files)), fetches.Load(), "cached files are not fetched again")
	// The lake directory is not readable: only the cache is.
	_, err = e.Query(context.Background(), "SELECT count(*) FROM read_parquet('"+local+"/data/*/*/*.parquet')", 0)
	assert.Equal(t, KindRefused, ErrorKind(err))
}

func TestSavedQueriesSurviveRestart(t *testing.T) {
	e, dir := openTestEngine(t, nil)
	ctx := context.Background()
	_, err := e.SaveQuery(ctx, SavedQuery{Name: "daily", SQL: "SELECT event_date, sum(amount) AS total FROM transactions GROUP BY 1 ORDER BY 1;"})
	require.NoError(t, err)
	_, err = e.SaveQuery(ctx, SavedQuery{Name: "top_day", SQL: "SELECT * FROM daily ORDER BY total DESC LIMIT 1"})
	require.NoError(t, err)
	for _, bad := range []SavedQuery{
		{Name: "x", SQL: "COPY transactions TO '/tmp/x'"},
		{Name: "x", SQL: "SELECT 1; SELECT 2"},
		{Name: "x", SQL: "EXPLAIN SELECT 1"},
		{Name: "transactions", SQL: "SELECT 1"},
		{Name: "Bad-Name", SQL: "SELECT 1"},
		{Name: "x", SQL: "SELECT 1) AS y; DROP VIEW daily; SELECT (1"},
	} {
		_, err := e.SaveQuery(ctx, bad)
		assert.Error(t, err, bad.SQL)
	}
	want := engineRows(t, e, "SELECT * FROM top_day")
	require.NoError(t, e.Close())

	e2, err := Open(ctx, Options{Source: GlobSource(dir), LakeDir: dir})
	require.NoError(t, err)
	defer e2.Close()
	names := []string{}
	for _, q := range e2.SavedQueries() {
		names = append(names, q.Name)
		assert.Empty(t, q.Error)
	}
	assert.Equal(t, []string{"daily", "top_day"}, names)
	assert.Equal(t, want, engineRows(t, e2, "SELECT * FROM top_day"))
	require.NoError(t, e2.DeleteSavedQuery(ctx, "top_day"))
	_, err = e2.Query(ctx, "SELECT * FROM top_day", 0)
	assert.Equal(t, KindInvalid, ErrorKind(err))
}

func TestTablesAndPartitions(t *testing.T) {
	e, _ := openTestEngine(t, nil)
	tables, err := e.Tables(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, tables)
	assert.Equal(t, "transactions", tables[0].Name)
	info, err := e.Table(context.Background(), "transactions")
	require.NoError(t, err)
	assert.Len(t, info.Partitions, len(testDates)*len(testTypes))
	assert.Equal(t, int64(len(testDates)*len(testTypes)*filesPerPartition*rowsPerFile), info.Rows)
	p := info.Partitions[0]
	assert.Equal(t, "event_date=2024-03-01/type=payment", p.Path)
	assert.Equal(t, filesPerPartition, p.Files)
	assert.Equal(t, int64(filesPerPartition*rowsPerFile), p.Rows)
	_, err = e.Table(context.Background(), "nope")
	assert.Equal(t, KindNotFound, ErrorKind(err))
}

func TestSplitStatements(t *testing.T) {
	got := SplitStatements(`SELECT 1; SELECT 'a;b' AS "x;y"; -- c;omment
	/* a; */ SELECT $$;$$, $t$;$t$ ;; SELECT $1`)
	assert.Equal(t, []string{"SELECT 1", `SELECT 'a;b' AS "x;y"`, "-- c;omment\n\t/* a; */ SELECT $$;$$, $t$;$t$", "SELECT $1"}, got)
	assert.Empty(t, SplitStatements(" -- nothing\n "))
}

func TestExplainBody(t *testing.T) {
	for q, want := range map[string]string{
		"EXPLAIN SELECT 1":                      "SELECT 1",
		"explain analyze select 1":              "select 1",
		" /*c*/ EXPLAIN (FORMAT json) SELECT 1": "SELECT 1",
		"EXPLAIN ANALYSE\n--x\nFROM t":          "FROM t",
	} {
		got, ok := explainBody(q)
		assert.True(t, ok, q)
		assert.Equal(t, want, got, q)
	}
	_, ok := explainBody("EXPLAINX SELECT 1")
	assert.False(t, ok)
}

func TestNormalize(t *testing.T) {
	e, _ := openTestEngine(t, nil)
	res, err := e.Query(context.Background(), `SELECT 1.5::DECIMAL(10,3) AS d, 12345678901234567890123::HUGEINT AS h, DATE '2024-01-02' AS dt,
		TIMESTAMP '2024-01-02 03:04:05.5' AS ts, 'nan'::DOUBLE AS f, '00000000-0000-4000-8000-000000000001'::UUID AS u,
		INTERVAL 3 DAY + INTERVAL 90 MINUTE AS i, [1,2] AS l, {'a': DATE '2024-01-01'} AS s, NULL AS n, '\x00ab'::BLOB AS b`, 0)
	require.NoError(t, err)
	r := res.Rows[0]
	assert.Equal(t, "1.500", Text(r[0]))
	assert.Equal(t, "12345678901234567890123", Text(r[1]))
	assert.Equal(t, "2024-01-02", r[2])
	assert.Equal(t, "2024-01-02T03:04:05.5", r[3])
	assert.Equal(t, "NaN", r[4])
	assert.Equal(t, "00000000-0000-4000-8000-000000000001", r[5])
	assert.Equal(t, "3 days 01:30:00", r[6])
	assert.Equal(t, "[1,2]", Text(r[7]))
	assert.Nil(t, r[9])
	assert.Equal(t, `\x00ab`, r[10])
}

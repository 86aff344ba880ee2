package lake

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// mergeKey is what the merge orders and deduplicates by.
type mergeKey struct {
	t  int64
	id string
}

// keySink collects the keys of merged rows.
type keySink struct{ keys []mergeKey }

func (s *keySink) write(b *colBatch) error {
	for _, r := range b.sel {
		s.keys = append(s.keys, mergeKey{b.time(r), string(b.id(r))})
	}
	return nil
}

// collisionRuns writes runs files whose rows share few event times (so that
// runs of equal times cross windows), sorted by event_time only (ids
// within one time in random order), with exact duplicates within and
// across files. It returns their paths and the distinct keys.
func collisionRuns(t *testing.T, runs, rowsPerRun int) ([]string, map[mergeKey]bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	pool := testRows("colmerge", runs*rowsPerRun, 1)
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	distinct := map[mergeKey]bool{}
	var paths []string
	for r := 0; r < runs; r++ {
		rows := make([]txn.Transaction, 0, rowsPerRun)
		for i := 0; i < rowsPerRun; i++ {
			// A row drawn twice is an exact duplicate.
			k := rng.IntN(len(pool) / 2)
			row := pool[k]
			row.EventTime = base.Add(time.Duration(k%3000) * time.Second)
			if i%5 == 0 {
				// The same id at another time is another row.
				row.EventTime = row.EventTime.Add(time.Microsecond)
			}
			rows = append(rows, row)
		}
		slices.SortStableFunc(rows, func(a, b txn.Transaction) int { return a.EventTime.Compare(b.EventTime) })
		for _, row := range rows {
			distinct[mergeKey{row.EventTime.UnixMicro(), row.TransactionID}] = true
		}
		p := filepath.Join(t.TempDir(), "run.parquet")
		fh, err := os.Create(p)
		require.NoError(t, err)
		require.NoError(t, WriteParquet(fh, rows, &parquet.Snappy, 7000))
		require.NoError(t, fh.Close())
		paths = append(paths, p)
	}
	return paths, distinct
}

// TestMergeColumns checks the column-wise merge against the row merge:
// the same keys in the same order, every key once, over several windows
// and row groups, with runs of equal event times crossing windows.
func TestMergeColumns(t *testing.T) {
	ctx := context.Background()
	paths, distinct := collisionRuns(t, 7, 3*colWindowRows/5)
	var runs []mergeRun
	for _, p := range paths {
		runs = append(runs, tempMergeRun(p))
	}

	crs, err := openColRuns(runs)
	require.NoError(t, err)
	var cols keySink
	cst, err := mergeColumns(ctx, crs, &cols)
	require.NoError(t, err)

	srcs, names, err := openMergeRuns(runs)
	require.NoError(t, err)
	var rows []mergeKey
	rst, err := mergeRuns(ctx, srcs, names, func(b []txn.Transaction) error {
		for _, r := range b {
			rows = append(rows, mergeKey{r.EventTime.UnixMicro(), r.TransactionID})
		}
		return nil
	})
	require.NoError(t, err)

	require.Equal(t, rst, cst)
	require.NotZero(t, cst.duplicates)
	require.Equal(t, len(distinct), len(cols.keys))
	require.Equal(t, cst.rowsIn-cst.duplicates, int64(len(cols.keys)))
	require.Equal(t, rows, cols.keys)
	// Through intermediate runs, the same.
	dir := t.TempDir()
	var copies []mergeRun
	for i, p := range paths {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		cp := filepath.Join(dir, fmt.Sprintf("in-%d.parquet", i))
		require.NoError(t, os.WriteFile(cp, data, 0o644))
		copies = append(copies, tempMergeRun(cp))
	}
	f, c, err := copies[0].file()
	require.NoError(t, err)
	budget := 5 * colRunMemory(f) / 2 // two lake files a group
	c.Close()
	reduced, dups, err := reduceColRuns(ctx, copies, dir, budget)
	require.NoError(t, err)
	require.Less(t, len(reduced), len(copies))
	require.Greater(t, len(reduced), 1)
	crs, err = openColRuns(reduced)
	require.NoError(t, err)
	var staged keySink
	sst, err := mergeColumns(ctx, crs, &staged)
	require.NoError(t, err)
	require.Equal(t, cst.duplicates, dups+sst.duplicates)
	require.Equal(t, cols.keys, staged.keys)

	for i := 1; i < len(cols.keys); i++ {
		a, b := cols.keys[i-1], cols.keys[i]
		require.True(t, a.t < b.t || (a.t == b.t && a.id < b.id), "row %d: %v then %v", i, a, b)
	}
}

// TestMergeColumnsUnsorted: a run whose event_time goes backwards fails
// the merge instead of producing unsorted output.
func TestMergeColumnsUnsorted(t *testing.T) {
	rows := testRows("colmerge-unsorted", 1000, 1)
	rows[500], rows[10] = rows[10], rows[500]
	p := filepath.Join(t.TempDir(), "run.parquet")
	fh, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, WriteParquet(fh, rows, &parquet.Snappy, 1000))
	require.NoError(t, fh.Close())
	crs, err := openColRuns([]mergeRun{tempMergeRun(p), tempMergeRun(p)})
	require.NoError(t, err)
	_, err = mergeColumns(context.Background(), crs, &keySink{})
	require.ErrorIs(t, err, errUnsorted)
}

// TestMergeColumnsFullRows: runs of many small pages over several row
// groups, merged column-wise into the compaction layout (pages go back to
// parquet-go's pools once written), read back whole: every column of
// every row is the row merge's.
func TestMergeColumnsFullRows(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(8, 9))
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	var runs []mergeRun
	for r := 0; r < 5; r++ {
		rows := testRows(fmt.Sprintf("fullrows-%d", r), 3*colWindowRows/2, 1)
		for i := range rows {
			rows[i].EventTime = base.Add(time.Duration(rng.Int64N(int64(time.Hour))) / time.Microsecond * time.Microsecond)
			if i%7 == 0 {
				rows[i].CounterpartyID, rows[i].MerchantID = "", ""
			}
		}
		SortByEventTime(rows)
		// An exact duplicate of another run's row.
		if r > 0 {
			rows = append(rows, rows[0])
			SortByEventTime(rows)
		}
		p := filepath.Join(dir, fmt.Sprintf("run-%d.parquet", r))
		fh, err := os.Create(p)
		require.NoError(t, err)
		pw := parquet.NewGenericWriter[txn.Transaction](fh, parquet.Compression(&parquet.Snappy),
			parquet.MaxRowsPerRowGroup(10_000), parquet.PageBufferSize(4<<10))
		_, err = pw.Write(rows)
		require.NoError(t, err)
		require.NoError(t, pw.Close())
		require.NoError(t, fh.Close())
		runs = append(runs, tempMergeRun(p))
	}

	srcs, names, err := openMergeRuns(runs)
	require.NoError(t, err)
	var want []txn.Transaction
	_, err = mergeRuns(ctx, srcs, names, func(b []txn.Transaction) error {
		want = append(want, b...)
		return nil
	})
	require.NoError(t, err)

	out, st, err := mergeToTempRunCol(ctx, runs, dir)
	require.NoError(t, err)
	require.NotZero(t, st.duplicates)
	f, c, err := out.file()
	require.NoError(t, err)
	defer c.Close()
	require.True(t, columnarSchema(f))
	requireCompactBounds(t, f)
	got := make([]txn.Transaction, f.NumRows())
	pr := parquet.NewGenericReader[txn.Transaction](f)
	n, err := pr.Read(got)
	if err != nil {
		require.ErrorIs(t, err, io.EOF)
	}
	require.NoError(t, pr.Close())
	require.Len(t, want, n)
	for i := range want {
		w, g := want[i], got[i]
		require.True(t, w.EventTime.Equal(g.EventTime), "row %d", i)
		w.EventTime, g.EventTime = time.Time{}, time.Time{}
		require.Equal(t, w, g, "row %d", i)
	}
}

// foreignRow is txn.Transaction's columns in another order: files of
// another writer, which the row merge reads by column name.
type foreignRow struct {
	EventTime        time.Time  `parquet:"event_time,timestamp(microsecond)"`
	TransactionID    string     `parquet:"transaction_id"`
	Amount           txn.Amount `parquet:"amount,decimal(4:18)"`
	AccountID        string     `parquet:"account_id"`
	CounterpartyID   string     `parquet:"counterparty_id,optional"`
	MerchantID       string     `parquet:"merchant_id,optional"`
	MerchantCategory string     `parquet:"merchant_category,optional"`
	Currency         string     `parquet:"currency"`
	Type             string     `parquet:"type"`
	Status           string     `parquet:"status"`
	Channel          string     `parquet:"channel"`
	Country          string     `parquet:"country"`
	CardFingerprint  string     `parquet:"card_fingerprint,optional"`
	BalanceAfter     txn.Amount `parquet:"balance_after,decimal(4:18)"`
	IsFraud          bool       `parquet:"is_fraud"`
	FraudScenario    string     `parquet:"fraud_scenario,optional"`
	Source           string     `parquet:"source"`
}

// TestCompactForeignSchema: inputs whose columns are not in the lake's
// order take the row merge, and come out in the compaction layout, with
// a dictionary that outgrows compactDictMaxBytes falling back to PLAIN.
func TestCompactForeignSchema(t *testing.T) {
	ctx := context.Background()
	defer func(n int64) { compactDictMaxBytes = n }(compactDictMaxBytes)
	compactDictMaxBytes = 256
	tbl := newCompactLake(t)
	rows := testRows("foreign", 2000, 1)
	for i := range rows {
		rows[i].Type = txn.TypePayment
		rows[i].Source = fmt.Sprintf("src-%d", i%500)
	}
	dir, _ := tbl.Partitioning().Dir(&rows[0])
	var files []DataFile
	for i := 0; i < 4; i++ {
		chunk := slices.Clone(rows[i*500 : (i+1)*500])
		SortByEventTime(chunk)
		fr := make([]foreignRow, len(chunk))
		for j, r := range chunk {
			fr[j] = foreignRow{r.EventTime, r.TransactionID, r.Amount, r.AccountID, r.CounterpartyID, r.MerchantID, r.MerchantCategory,
				r.Currency, r.Type, r.Status, r.Channel, r.Country, r.CardFingerprint, r.BalanceAfter, r.IsFraud, r.FraudScenario, r.Source}
		}
		rel := NewFilePath(dir)
		fw, err := tbl.store.Create(ctx, rel)
		require.NoError(t, err)
		cw := &countingWriter{w: fw}
		pw := parquet.NewGenericWriter[foreignRow](cw)
		_, err = pw.Write(fr)
		require.NoError(t, err)
		require.NoError(t, pw.Close())
		require.NoError(t, fw.Close())
		files = append(files, DataFile{Path: tbl.store.URI(rel), Partition: PartitionOf(rel), Rows: int64(len(fr)), Bytes: cw.n})
	}
	require.NoError(t, tbl.Append(ctx, files, nil))

	o := compactTestOpts()
	o.MinFileSize, o.TargetFileSize = 1<<20, 1<<20
	rep, err := Compact(ctx, tbl, o)
	require.NoError(t, err)
	require.Len(t, rep.Partitions, 1)
	after, err := tbl.Files(ctx)
	require.NoError(t, err)
	require.Len(t, after, 1)
	requireSortedFiles(t, tbl, filePaths(after))
	requireSameRows(t, tbl, rows)
	rel, _ := tbl.Location().Rel(after[0].Path)
	r, err := tbl.store.Open(ctx, rel)
	require.NoError(t, err)
	defer r.Close()
	f, err := openParquet(r, r.Size())
	require.NoError(t, err)
	require.True(t, columnarSchema(f))
	encodings := map[string][]string{}
	for _, c := range f.Metadata().RowGroups[0].Columns {
		for _, e := range c.MetaData.Encoding {
			encodings[c.MetaData.PathInSchema[0]] = append(encodings[c.MetaData.PathInSchema[0]], e.String())
		}
	}
	assert.Contains(t, encodings["event_time"], "DELTA_BINARY_PACKED")
	assert.Contains(t, encodings["amount"], "DELTA_BINARY_PACKED")
	assert.Contains(t, encodings["status"], "RLE_DICTIONARY")
	assert.Contains(t, encodings["source"], "PLAIN", "the dictionary fell back")
	requireCompactBounds(t, f)
	assert.EqualValues(t, len(rows), duckCount(t, localPaths(t, tbl, after)))
	// DuckDB reads every layout the file mixes.
	var sum int64
	var sources, statuses, max string
	for _, r := range rows {
		sum += int64(r.Amount)
		max = maxString(max, r.TransactionID)
	}
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	var gotSum int64
	var gotMax string
	require.NoError(t, db.QueryRow(fmt.Sprintf(`SELECT (sum(amount) * 10000)::BIGINT, max(transaction_id), count(DISTINCT source)::VARCHAR,
		count(DISTINCT status)::VARCHAR FROM read_parquet('%s')`, localPaths(t, tbl, after)[0])).Scan(&gotSum, &gotMax, &sources, &statuses))
	assert.Equal(t, sum, gotSum)
	assert.Equal(t, max, gotMax)
	assert.Equal(t, "500", sources)
	assert.NotEqual(t, "0", statuses)
}

func maxString(a, b string) string {
	if b > a {
		return b
	}
	return a
}

// requireCompactBounds checks that the row groups of a compaction output
// have min/max for every column but compactNoBounds.
func requireCompactBounds(t *testing.T, f *parquet.File) {
	t.Helper()
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			name, st := c.MetaData.PathInSchema[0], c.MetaData.Statistics
			if c.MetaData.NumValues == st.NullCount {
				continue // no value to bound
			}
			if slices.Contains(compactNoBounds, name) {
				require.Empty(t, st.MinValue, name)
			} else {
				require.NotEmpty(t, st.MinValue, name)
				require.NotEmpty(t, st.MaxValue, name)
			}
		}
	}
}

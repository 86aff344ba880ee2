package lake

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// compactTestOpts are small sizes so that test data of a few hundred KiB
// exercises several output files and intermediate merge rounds.
func compactTestOpts() CompactOptions {
	o := DefaultCompactOptions()
	o.TargetFileSize = 256 << 10
	o.MinFileSize = 64 << 10
	o.MinInputFiles = 3
	o.MaxFanIn = 6
	o.Retention = time.Hour
	return o
}

// appendChunks writes rows in chunks of chunk rows (each chunk becomes one
// file per partition it touches) and appends each chunk in its own commit.
func appendChunks(t testing.TB, tbl *Table, rows []txn.Transaction, chunk int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < len(rows); i += chunk {
		files, err := tbl.WriteFiles(ctx, rows[i:min(len(rows), i+chunk)], WriteOptions{})
		require.NoError(t, err)
		require.NoError(t, tbl.Append(ctx, files, nil))
	}
}

// compactData is rows over 3 days and every type, plus one busy partition
// (2024-05-01/deposit) big enough for several output files, with exact
// duplicates of some rows (as an at-least-once writer leaves them). It
// returns the distinct rows and the rows with duplicates, in write order.
func compactData(seed string, n int) (uniq, all []txn.Transaction) {
	uniq = testRows(seed, n, 3)
	busy := testRows(seed+"-busy", 4*n, 1)
	for i := range busy {
		busy[i].Type = txn.TypeDeposit
	}
	uniq = append(uniq, busy...)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(uniq), func(i, j int) { uniq[i], uniq[j] = uniq[j], uniq[i] })
	all = append([]txn.Transaction(nil), uniq...)
	// Redeliver a few stretches: duplicates land in other files.
	all = append(all, uniq[100:400]...)
	all = append(all, uniq[len(uniq)/2:len(uniq)/2+150]...)
	all = append(all, uniq[100:130]...)
	return uniq, all
}

// lakeRows reads every row of the current snapshot.
func lakeRows(t testing.TB, tbl *Table) []txn.Transaction {
	t.Helper()
	ctx := context.Background()
	files, err := tbl.Files(ctx)
	require.NoError(t, err)
	var out []txn.Transaction
	for _, f := range files {
		rel, ok := tbl.Location().Rel(f.Path)
		require.True(t, ok, f.Path)
		rows, err := ReadFile(ctx, tbl.Storage(), rel)
		require.NoError(t, err)
		require.EqualValues(t, f.Rows, len(rows), f.Path)
		out = append(out, rows...)
	}
	return out
}

func byID(rows []txn.Transaction) []txn.Transaction {
	rows = append([]txn.Transaction(nil), rows...)
	sort.Slice(rows, func(i, j int) bool { return rows[i].TransactionID < rows[j].TransactionID })
	return rows
}

// requireSameRows checks the lake holds exactly want: the same ids once
// each, and every column equal.
func requireSameRows(t testing.TB, tbl *Table, want []txn.Transaction) {
	t.Helper()
	got := byID(lakeRows(t, tbl))
	want = byID(want)
	require.Equal(t, ids(want), ids(got), "ids")
	for i := range want {
		w, g := want[i], got[i]
		require.True(t, w.EventTime.Equal(g.EventTime), "%s: event_time %s vs %s", w.TransactionID, w.EventTime, g.EventTime)
		w.EventTime, g.EventTime = time.Time{}, time.Time{}
		require.Equal(t, w, g)
	}
}

// requireSortedFiles checks each file of paths is sorted by (event_time,
// transaction_id) with no repeated key.
func requireSortedFiles(t testing.TB, tbl *Table, paths []string) {
	t.Helper()
	for _, p := range paths {
		rel, ok := tbl.Location().Rel(p)
		require.True(t, ok)
		rows, err := ReadFile(context.Background(), tbl.Storage(), rel)
		require.NoError(t, err)
		for i := 1; i < len(rows); i++ {
			require.Negative(t, compareRows(&rows[i-1], &rows[i]), "%s row %d", p, i)
		}
	}
}

func filePaths(files []DataFile) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.Path
	}
	return out
}

func duckCount(t testing.TB, paths []string) int64 {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	defer db.Close()
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = "'" + strings.ReplaceAll(p, "'", "''") + "'"
	}
	var n int64
	require.NoError(t, db.QueryRow(fmt.Sprintf(
		"SELECT count(*) FROM read_parquet([%s], hive_partitioning = true) WHERE event_date IS NOT NULL AND type IS NOT NULL",
		strings.Join(quoted, ","))).Scan(&n))
	return n
}

func partitionsOf(files []DataFile) map[string]int {
	out := map[string]int{}
	for _, f := range files {
		out[f.Partition["event_date"]+"/"+f.Partition["type"]]++
	}
	return out
}

// testCompactRoundTrip is test 1 on any lake: many small files with exact
// duplicates → the same rows minus duplicates, fewer larger sorted files,
// readable by DuckDB. It returns the options it compacted with.
func testCompactRoundTrip(t *testing.T, tbl *Table) CompactOptions {
	ctx := context.Background()
	uniq, all := compactData("rt", 1800)
	appendChunks(t, tbl, all, 600)

	before, err := tbl.Files(ctx)
	require.NoError(t, err)
	snapsBefore, err := tbl.Snapshots(ctx)
	require.NoError(t, err)

	// The sizes follow the busy partition's input, whatever the writer's
	// files weigh: every input is small, and the busy partition is cut in
	// about three files too large to be compacted again.
	opts := compactTestOpts()
	var busy int64
	for _, f := range before {
		if f.Partition["event_date"]+"/"+f.Partition["type"] == "2024-05-01/deposit" {
			busy += f.Bytes
		}
	}
	opts.TargetFileSize, opts.MinFileSize = busy*2/5, busy/8
	rep, err := Compact(ctx, tbl, opts)
	require.NoError(t, err)
	t.Logf("compact %.2fs: files %d→%d rows %d→%d bytes %d→%d dups %d commits %d", rep.Seconds, rep.FilesIn, rep.FilesOut, rep.RowsIn, rep.RowsOut,
		rep.BytesIn, rep.BytesOut, rep.DuplicatesRemoved, rep.Commits)

	assert.EqualValues(t, len(all)-len(uniq), rep.DuplicatesRemoved)
	assert.Equal(t, rep.RowsIn-rep.DuplicatesRemoved, rep.RowsOut)
	assert.EqualValues(t, len(all), rep.RowsIn, "every file was small")
	assert.Equal(t, len(before), rep.FilesIn)
	assert.Equal(t, 1, rep.Commits, "one pass, one commit")
	assert.Zero(t, rep.Conflicts)
	requireSameRows(t, tbl, uniq)

	after, err := tbl.Files(ctx)
	require.NoError(t, err)
	assert.Less(t, len(after), len(before)/3)
	assert.Equal(t, rep.FilesOut, len(after))
	var inAvg, outAvg int64
	for _, f := range before {
		inAvg += f.Bytes
	}
	for _, f := range after {
		outAvg += f.Bytes
	}
	inAvg /= int64(len(before))
	outAvg /= int64(len(after))
	assert.Greater(t, outAvg, 3*inAvg, "files are larger")
	// The busy partition is spread over several files near the target.
	parts := partitionsOf(after)
	assert.GreaterOrEqual(t, parts["2024-05-01/deposit"], 2, "%v", parts)
	for p, n := range parts {
		if p != "2024-05-01/deposit" {
			assert.Equal(t, 1, n, p)
		}
	}
	for _, f := range after {
		assert.Less(t, f.Bytes, 2*opts.TargetFileSize, f.Path)
	}
	requireSortedFiles(t, tbl, filePaths(after))
	assert.EqualValues(t, len(uniq), duckCount(t, localPaths(t, tbl, after)))

	// One new snapshot, a replace, with the table's totals.
	snaps, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	require.Len(t, snaps, len(snapsBefore)+1)
	last := snaps[len(snaps)-1]
	assert.Contains(t, []string{"replace", "overwrite"}, last.Operation)
	assert.EqualValues(t, len(uniq), last.Rows)
	assert.Equal(t, []int64{last.ID}, rep.SnapshotIDs)
	return opts
}

func newCompactLake(t testing.TB) *Table {
	return openLake(t, t.TempDir(), S3Options{})
}

// TestCompactRoundTrip: test 1 (local disk), test 2 (re-run is a no-op)
// and time travel within the retention.
func TestCompactRoundTrip(t *testing.T) {
	ctx := context.Background()
	tbl := newCompactLake(t)
	opts := testCompactRoundTrip(t, tbl)

	// Time travel: the snapshot before the compaction still lists its
	// files, and they still exist (retention 1h).
	ice, err := tbl.Iceberg(ctx)
	require.NoError(t, err)
	parent := ice.Metadata().SnapshotByID(*ice.CurrentSnapshot().ParentSnapshotID)
	oldFiles, err := tbl.snapshotFiles(ctx, ice, parent)
	require.NoError(t, err)
	require.NotEmpty(t, oldFiles)
	for _, df := range oldFiles {
		_, err := os.Stat(df.FilePath())
		require.NoError(t, err, "replaced file deleted within the retention")
	}

	// Test 2: running again does nothing.
	files, err := tbl.Files(ctx)
	require.NoError(t, err)
	snaps, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	rep, err := Compact(ctx, tbl, opts)
	require.NoError(t, err)
	assert.Empty(t, rep.Partitions)
	assert.Zero(t, rep.Commits)
	files2, err := tbl.Files(ctx)
	require.NoError(t, err)
	assert.Equal(t, files, files2)
	snaps2, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, snaps, snaps2)

	// Retention over (0): old snapshots are expired and the replaced files
	// deleted; the current ones stay.
	o := opts
	o.Retention = 0
	rep, err = Compact(ctx, tbl, o)
	require.NoError(t, err)
	assert.Equal(t, len(snaps)-1, rep.ExpiredSnapshots)
	assert.Equal(t, len(oldFiles), rep.DeletedFiles)
	for _, df := range oldFiles {
		_, err := os.Stat(df.FilePath())
		assert.ErrorIs(t, err, os.ErrNotExist)
	}
	snaps3, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	require.Len(t, snaps3, 1)
	assert.Equal(t, snaps[len(snaps)-1].ID, snaps3[0].ID)
	files3, err := tbl.Files(ctx)
	require.NoError(t, err)
	assert.Equal(t, files, files3)
	for _, f := range files3 {
		_, err := os.Stat(f.Path)
		require.NoError(t, err)
	}
	objs, err := tbl.Storage().List(ctx, "data")
	require.NoError(t, err)
	assert.Len(t, objs, len(files3), "only the current files are left")
}

// TestCompactDryRun: test 3, a dry run plans and changes nothing.
func TestCompactDryRun(t *testing.T) {
	ctx := context.Background()
	tbl := newCompactLake(t)
	_, all := compactData("dry", 600)
	appendChunks(t, tbl, all, 300)
	files, err := tbl.Files(ctx)
	require.NoError(t, err)
	snaps, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	objs, err := tbl.Storage().List(ctx, "")
	require.NoError(t, err)

	o := compactTestOpts()
	o.DryRun = true
	o.Retention = 0
	var progress []string
	o.Progress = func(p PartitionReport) { progress = append(progress, p.Partition) }
	rep, err := Compact(ctx, tbl, o)
	require.NoError(t, err)
	assert.True(t, rep.DryRun)
	require.NotEmpty(t, rep.Partitions)
	assert.Len(t, progress, len(rep.Partitions))
	var planned int
	for _, p := range rep.Partitions {
		assert.Equal(t, StatusPlanned, p.Status)
		assert.GreaterOrEqual(t, p.FilesIn, o.MinInputFiles)
		assert.Len(t, p.Inputs, p.FilesIn)
		assert.GreaterOrEqual(t, p.FilesOut, 1)
		planned += p.FilesIn
	}
	assert.Equal(t, len(files), planned)
	assert.EqualValues(t, len(all), rep.RowsIn)
	assert.Zero(t, rep.Commits)

	files2, err := tbl.Files(ctx)
	require.NoError(t, err)
	assert.Equal(t, files, files2)
	snaps2, err := tbl.Snapshots(ctx)
	require.NoError(t, err)
	assert.Equal(t, snaps, snaps2)
	objs2, err := tbl.Storage().List(ctx, "")
	require.NoError(t, err)
	assert.ElementsMatch(t, objs, objs2, "nothing written or deleted")
}

// TestCompactUnsortedAndOptions: an input not sorted by event_time is
// sorted alone; min_input_files and min_file_size gate the work.
func TestCompactUnsortedAndOptions(t *testing.T) {
	ctx := context.Background()
	tbl := newCompactLake(t)
	rows := testRows("uns", 3000, 1)
	for i := range rows {
		rows[i].Type = txn.TypePayment
	}
	dir, _ := tbl.Partitioning().Dir(&rows[0])
	var files []DataFile
	for i := 0; i < 6; i++ {
		chunk := slices.Clone(rows[i*500 : (i+1)*500])
		if i%2 == 1 {
			rand.New(rand.NewPCG(uint64(i), 9)).Shuffle(len(chunk), func(a, b int) { chunk[a], chunk[b] = chunk[b], chunk[a] })
		} else {
			SortByEventTime(chunk)
		}
		f, err := tbl.writeFile(ctx, dir, chunk, WriteOptions{})
		require.NoError(t, err)
		files = append(files, f)
	}
	require.NoError(t, tbl.Append(ctx, files, nil))

	o := compactTestOpts()
	o.MinInputFiles = 7
	rep, err := Compact(ctx, tbl, o)
	require.NoError(t, err)
	assert.Empty(t, rep.Partitions)
	assert.Equal(t, 1, rep.PartitionsSkipped)

	o.MinInputFiles = 3
	o.MinFileSize = 1 << 10 // every file is larger
	o.TargetFileSize = 1 << 20
	rep, err = Compact(ctx, tbl, o)
	require.NoError(t, err)
	assert.Empty(t, rep.Partitions)
	assert.Zero(t, rep.PartitionsSkipped)

	o.MinFileSize = 1 << 20
	rep, err = Compact(ctx, tbl, o)
	require.NoError(t, err)
	require.Len(t, rep.Partitions, 1)
	assert.Equal(t, 3, rep.Partitions[0].UnsortedInputs)
	after, err := tbl.Files(ctx)
	require.NoError(t, err)
	require.Len(t, after, 1)
	requireSortedFiles(t, tbl, filePaths(after))
	requireSameRows(t, tbl, rows)
}

func TestCompactOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*CompactOptions)
		field string
	}{
		{"defaults", func(*CompactOptions) {}, ""},
		{"min inputs 1", func(o *CompactOptions) { o.MinInputFiles = 1 }, "min_input_files"},
		{"negative target", func(o *CompactOptions) { o.TargetFileSize = -1 }, "target_file_size"},
		{"min above target", func(o *CompactOptions) { o.MinFileSize = 2 * o.TargetFileSize }, "min_file_size"},
		{"row groups small", func(o *CompactOptions) { o.RowGroupRows = 1000 }, "row_group_rows"},
		{"row groups large", func(o *CompactOptions) { o.RowGroupRows = 2_000_000 }, "row_group_rows"},
		{"negative retention", func(o *CompactOptions) { o.Retention = -time.Second }, "retention"},
		{"fan-in", func(o *CompactOptions) { o.MaxFanIn = 1 }, "max_fan_in"},
		{"codec", func(o *CompactOptions) { o.Compression = "brotli" }, "compression"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultCompactOptions()
			tc.edit(&o)
			err := o.Validate()
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
}

// localPaths returns the files' paths for DuckDB: as they are on a local
// lake; copies under a temporary directory, keeping the Hive directories,
// on S3 (DuckDB has no S3 access in tests).
func localPaths(t testing.TB, tbl *Table, files []DataFile) []string {
	t.Helper()
	if !tbl.Location().IsS3() {
		return filePaths(files)
	}
	root := t.TempDir()
	var out []string
	for _, f := range files {
		rel, ok := tbl.Location().Rel(f.Path)
		require.True(t, ok)
		dst := filepath.Join(root, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, tbl.copyToLocal(context.Background(), rel, dst))
		out = append(out, dst)
	}
	return out
}

// unreferenced lists objects under data/ that no snapshot references.
func unreferenced(t testing.TB, tbl *Table) []string {
	t.Helper()
	ctx := tbl.ctx(context.Background())
	ice, err := tbl.Iceberg(ctx)
	require.NoError(t, err)
	ref := map[string]bool{}
	for _, s := range ice.Metadata().Snapshots() {
		dfs, err := tbl.snapshotFiles(ctx, ice, &s)
		require.NoError(t, err)
		for _, df := range dfs {
			rel, _ := tbl.Location().Rel(df.FilePath())
			ref[rel] = true
		}
	}
	objs, err := tbl.Storage().List(ctx, "data")
	require.NoError(t, err)
	var out []string
	for _, o := range objs {
		if !ref[o.Path] {
			out = append(out, o.Path)
		}
	}
	return out
}

// TestCompactS3: test 1 against gofakes3, then retention 0 deletes the
// replaced objects.
func TestCompactS3(t *testing.T) {
	endpoint, _ := startS3(t, 0, 0)
	catalog := filepath.Join(t.TempDir(), "catalog.db")
	tbl := openLake(t, "s3://bucket/prefix", s3Opts(endpoint), WithCatalogURI(catalog))
	o := testCompactRoundTrip(t, tbl)

	ctx := context.Background()
	o.Retention = 0
	rep, err := Compact(ctx, tbl, o)
	require.NoError(t, err)
	assert.Empty(t, rep.Partitions)
	assert.Positive(t, rep.DeletedFiles)
	files, err := tbl.Files(ctx)
	require.NoError(t, err)
	objs, err := tbl.Storage().List(ctx, "data")
	require.NoError(t, err)
	assert.Len(t, objs, len(files), "replaced objects deleted")
}

// TestCompactConcurrentWriter: test 4, a writer appends (with exact
// duplicates, as at-least-once delivery leaves them) while compactions
// run; nothing appended is lost.
func TestCompactConcurrentWriter(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	comp := openLake(t, dir, S3Options{})
	writer := openLake(t, dir, S3Options{})

	uniq, all := compactData("cw0", 300)
	appendChunks(t, writer, all, 200)

	const rounds = 24
	done := make(chan struct{})
	var written []txn.Transaction
	go func() {
		defer close(done)
		for r := 0; r < rounds; r++ {
			rows := testRows(fmt.Sprintf("cw-%d", r), 120, 3)
			if r > 0 {
				// Redeliver part of the previous round.
				rows = append(rows, testRows(fmt.Sprintf("cw-%d", r-1), 120, 3)[:20]...)
			}
			files, err := writer.WriteFiles(ctx, rows, WriteOptions{MaxRows: 30})
			if !assert.NoError(t, err) {
				return
			}
			if !assert.NoError(t, writer.Append(ctx, files, nil)) {
				return
			}
			written = append(written, rows...)
			time.Sleep(30 * time.Millisecond)
		}
	}()
	o := compactTestOpts()
	o.Retention = 0
	passes, commits := 0, 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		rep, err := Compact(ctx, comp, o)
		require.NoError(t, err)
		t.Logf("pass %d: %.2fs, %d partitions, %d commits, %d expired", passes, rep.Seconds, len(rep.Partitions), rep.Commits, rep.ExpiredSnapshots)
		passes++
		commits += rep.Commits
		assert.Zero(t, rep.Conflicts, "no other compactor")
	}
	t.Logf("%d passes, %d commits while writing", passes, commits)
	assert.Positive(t, commits)

	// Everything appended is there (duplicates included so far).
	want := append(append([]txn.Transaction(nil), uniq...), written...)
	wantIDs := map[string]bool{}
	for _, r := range want {
		wantIDs[r.TransactionID] = true
	}
	got := lakeRows(t, comp)
	gotIDs := map[string]bool{}
	for _, r := range got {
		gotIDs[r.TransactionID] = true
	}
	assert.Equal(t, len(wantIDs), len(gotIDs))
	for id := range wantIDs {
		require.True(t, gotIDs[id], "lost %s", id)
	}

	// A final compaction of everything removes the remaining duplicates.
	o.MinFileSize = o.TargetFileSize
	o.MinInputFiles = 2
	_, err := Compact(ctx, comp, o)
	require.NoError(t, err)
	var distinct []txn.Transaction
	seen := map[string]bool{}
	for _, r := range want {
		if !seen[r.TransactionID] {
			seen[r.TransactionID] = true
			distinct = append(distinct, r)
		}
	}
	requireSameRows(t, comp, distinct)
}

// TestCompactTwoCompactors: test 5, two compactors (separate tables, like
// two processes) race over the same partitions: no corruption, no
// duplicate, no loss, and the loser leaves no files behind.
func TestCompactTwoCompactors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := openLake(t, dir, S3Options{})
	b := openLake(t, dir, S3Options{})
	var want []txn.Transaction
	conflicts, commits := 0, 0
	for round := 0; round < 3; round++ {
		uniq, all := compactData(fmt.Sprintf("two-%d", round), 300)
		appendChunks(t, a, all, 150)
		want = append(want, uniq...)

		reps := make([]CompactReport, 2)
		errs := make([]error, 2)
		start := make(chan struct{})
		finished := make(chan int)
		for i, tbl := range []*Table{a, b} {
			go func() {
				<-start
				reps[i], errs[i] = Compact(ctx, tbl, compactTestOpts())
				finished <- i
			}()
		}
		close(start)
		<-finished
		<-finished
		for i := range reps {
			require.NoError(t, errs[i])
			conflicts += reps[i].Conflicts
			commits += reps[i].Commits
		}
		requireSameRows(t, a, want)
		assert.Empty(t, unreferenced(t, a), "a loser's files are deleted")
	}
	t.Logf("%d commits, %d partitions lost to the other compactor", commits, conflicts)
	assert.Positive(t, commits)
	files, err := a.Files(ctx)
	require.NoError(t, err)
	requireSortedFiles(t, a, filePaths(files))
}

// TestCompactAppendDuringCompaction: a file appended to a partition after
// the compactor planned it (and before its commit) survives the swap.
func TestCompactAppendDuringCompaction(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	comp := openLake(t, dir, S3Options{})
	writer := openLake(t, dir, S3Options{})
	uniq, all := compactData("adc", 300)
	appendChunks(t, writer, all, 150)
	late := testRows("late", 300, 3)
	o := compactTestOpts()
	once := false
	o.Progress = func(PartitionReport) {
		if once {
			return
		}
		once = true
		files, err := writer.WriteFiles(ctx, late, WriteOptions{})
		require.NoError(t, err)
		require.NoError(t, errOnly(writer.appendFenced(ctx, files, Offsets{"tx": {0: 42}}, Offsets{"tx": {0: 1_700_000_000_000}}, nil, nil, nil)))
	}
	rep, err := Compact(ctx, comp, o)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Commits)
	requireSameRows(t, comp, append(uniq, late...))
	offs, maxTS, err := comp.positions(ctx)
	require.NoError(t, err)
	assert.Equal(t, Offsets{"tx": {0: 42}}, offs, "the writer's offsets survive the replace")
	assert.Equal(t, Offsets{"tx": {0: 1_700_000_000_000}}, maxTS, "and the max timestamps beside them")
}

const compactChildEnv = "TRSTREAM_COMPACT_CHILD_DIR"

// TestHelperCompactChild is the child process of TestCompactKill9: one
// compaction pass with retention 0 (so expiry and deletion run too).
func TestHelperCompactChild(t *testing.T) {
	dir := os.Getenv(compactChildEnv)
	if dir == "" {
		t.Skip("run by TestCompactKill9")
	}
	loc, err := ParseLocation(dir, S3Options{})
	require.NoError(t, err)
	tbl, err := Open(context.Background(), loc)
	require.NoError(t, err)
	defer tbl.Close()
	o := compactTestOpts()
	o.Retention = 0
	rep, err := Compact(context.Background(), tbl, o)
	require.NoError(t, err)
	fmt.Printf("child: %d files → %d, %d commits\n", rep.FilesIn, rep.FilesOut, rep.Commits)
}

// TestCompactKill9: test 6, SIGKILL a compacting child process at random
// moments; after each kill the current snapshot holds exactly the
// appended ids once each; finally a compaction succeeds and orphan
// cleanup leaves only referenced files. TRSTREAM_CHAOS_ITERATIONS sets the
// number of kills (20).
func TestCompactKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	iterations := 20
	if n, err := strconv.Atoi(os.Getenv("TRSTREAM_CHAOS_ITERATIONS")); err == nil && n > 0 {
		iterations = n
	}
	ctx := context.Background()
	dir := t.TempDir()
	tmp := t.TempDir()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 11))

	child := func(kill time.Duration) (time.Duration, bool) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCompactChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), compactChildEnv+"="+dir, "TMPDIR="+tmp)
		start := time.Now()
		require.NoError(t, cmd.Start())
		if kill >= 0 {
			timer := time.AfterFunc(kill, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
			defer timer.Stop()
		}
		err := cmd.Wait()
		if kill < 0 {
			require.NoError(t, err, "unkilled child")
		}
		return time.Since(start), err != nil
	}
	var want []string
	addData := func(i int) {
		tbl := openLake(t, dir, S3Options{})
		defer tbl.Close()
		rows := testRows(fmt.Sprintf("k9-%d", i), 360, 2)
		appendChunks(t, tbl, rows, 120)
		want = append(want, ids(rows)...)
	}
	// check verifies the current snapshot and returns its id.
	check := func(label string) int64 {
		tbl := openLake(t, dir, S3Options{})
		defer tbl.Close()
		got := ids(lakeRows(t, tbl))
		require.Equal(t, sorted(want), sorted(got), "%s: the snapshot must hold every id exactly once", label)
		snaps, err := tbl.Snapshots(ctx)
		require.NoError(t, err)
		return snaps[len(snaps)-1].ID
	}

	// Calibrate: a full child run on fresh work. Every fourth round runs
	// to completion too, so the lake keeps changing shape (compacted and
	// not) and kills keep landing inside the work.
	addData(0)
	typical, _ := child(-1)
	check("calibration")
	t.Logf("typical child run %s", typical)
	kills, killed, landed := 0, 0, 0
	for i := 1; kills < iterations; i++ {
		addData(i)
		if i%4 == 0 {
			typical, _ = child(-1)
			check(fmt.Sprintf("after full round %d", i))
			continue
		}
		kills++
		before := func() int64 {
			tbl := openLake(t, dir, S3Options{})
			defer tbl.Close()
			snaps, err := tbl.Snapshots(ctx)
			require.NoError(t, err)
			return snaps[len(snaps)-1].ID
		}()
		_, wasKilled := child(time.Duration(rng.Int64N(int64(typical) + 1)))
		if wasKilled {
			killed++
		}
		if check(fmt.Sprintf("after kill %d", kills)) != before {
			landed++
		}
	}
	t.Logf("%d kills: %d children died by SIGKILL, %d had committed their compaction first", kills, killed, landed)

	// A final compaction succeeds and cleans up after the killed ones.
	tbl := openLake(t, dir, S3Options{})
	o := compactTestOpts()
	o.Retention = 0
	o.OrphanAge = time.Nanosecond
	rep, err := Compact(ctx, tbl, o)
	require.NoError(t, err)
	t.Logf("final: %d files → %d, deleted %d unreferenced files", rep.FilesIn, rep.FilesOut, rep.DeletedFiles)
	check("final")
	assert.Empty(t, unreferenced(t, tbl))
	files, err := tbl.Files(ctx)
	require.NoError(t, err)
	requireSortedFiles(t, tbl, filePaths(files))
	objs, err := tbl.Storage().List(ctx, "data")
	require.NoError(t, err)
	assert.Len(t, objs, len(files), "only current files remain")
}

// TestLakeCompactConfig: test 8, the processor's config through its spec.
func TestLakeCompactConfig(t *testing.T) {
	spec := lakeCompactSpec()
	env := service.NewEnvironment()
	for _, tc := range []struct {
		name, yaml, errField string
	}{
		{"ok", "path: /tmp/x", ""},
		{"all", "path: /tmp/x\ntarget_file_size: 256MiB\nmin_file_size: 64MB\nmin_input_files: 10\nrow_group_rows: 122880\nretention: 0s\ndry_run: true", ""},
		{"s3", "path: s3://bucket/prefix\ns3:\n  endpoint: http://localhost:9000\n  force_path_style: true\ncatalog_uri: /tmp/c.db", ""},
		{"missing path", "min_input_files: 5", "path"},
		{"bad scheme", "path: gs://b/p", "path"},
		{"bad size", "path: /tmp/x\ntarget_file_size: lots", "target_file_size"},
		{"bad unit", "path: /tmp/x\nmin_file_size: 3 parsecs", "min_file_size"},
		{"zero size", "path: /tmp/x\ntarget_file_size: 0", "target_file_size"},
		{"min above target", "path: /tmp/x\ntarget_file_size: 16MiB", "min_file_size"},
		{"min inputs 0", "path: /tmp/x\nmin_input_files: 0", "min_input_files"},
		{"min inputs 1", "path: /tmp/x\nmin_input_files: 1", "min_input_files"},
		{"row groups", "path: /tmp/x\nrow_group_rows: 5000", "row_group_rows"},
		{"retention", "path: /tmp/x\nretention: -1h", "retention"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf, err := spec.ParseYAML(tc.yaml, env)
			if err == nil {
				var p *lakeCompactProcessor
				if p, err = newLakeCompactProcessor(conf, service.MockResources()); err == nil {
					require.NoError(t, p.Close(context.Background()))
				}
			}
			if tc.errField == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.errField)
		})
	}
	for in, want := range map[string]int64{"128MiB": 128 << 20, "1.5GiB": 3 << 29, "64MB": 64e6, "4096": 4096, "2k": 2048} {
		got, err := ParseByteSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
}

// TestLakeCompactProcessor: generate ticks → lake_compact; each message
// becomes the pass's JSON report.
func TestLakeCompactProcessor(t *testing.T) {
	dir := t.TempDir()
	tbl := openLake(t, dir, S3Options{})
	uniq, all := compactData("proc", 300)
	appendChunks(t, tbl, all, 150)

	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	require.NoError(t, sb.AddInputYAML(`
generate:
  count: 2
  interval: 1ms
  mapping: root = {}
`))
	require.NoError(t, sb.AddProcessorYAML(fmt.Sprintf(`
lake_compact:
  path: %q
  target_file_size: 256KiB
  min_file_size: 64KiB
  min_input_files: 3
`, dir)))
	var reports []map[string]any
	require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		b, err := m.AsBytes()
		require.NoError(t, err)
		var r map[string]any
		require.NoError(t, json.Unmarshal(b, &r))
		reports = append(reports, r)
		return m.GetError()
	}))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, stream.Run(ctx))

	require.Len(t, reports, 2)
	assert.EqualValues(t, len(all), reports[0]["rows_in"])
	assert.EqualValues(t, len(all)-len(uniq), reports[0]["duplicates_removed"])
	assert.EqualValues(t, 1, reports[0]["commits"])
	assert.EqualValues(t, 0, reports[1]["commits"], "the second tick finds nothing to do")
	assert.Nil(t, reports[0]["error"])
	requireSameRows(t, tbl, uniq)
}

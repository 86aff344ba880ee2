package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/trstream/trstream/plugins/txn"
)

// Compaction defaults.
const (
	DefaultTargetFileSize    = 128 << 20
	DefaultMinFileSize       = 32 << 20
	DefaultMinInputFiles     = 5
	DefaultCompactRowGroup   = 256 << 10
	MinCompactRowGroupRows   = 100_000
	MaxCompactRowGroupRows   = 1_000_000
	DefaultMaxFanIn          = 32
	DefaultRetention         = time.Hour
	DefaultOrphanAge         = time.Hour
	DefaultMaxCommitBytes    = 4 << 30
	compactSpoolChunk        = 8 << 20
	compactSpoolParallel     = 4
	compactMaxConflictRounds = 8
)

// CompactOptions configure Compact. Start from DefaultCompactOptions: zero
// sizes take their defaults, but Retention is used as given (0 deletes
// replaced files at once).
type CompactOptions struct {
	// TargetFileSize is the size output files are cut at (bytes).
	TargetFileSize int64
	// MinFileSize: only files smaller than this are compacted (bytes).
	MinFileSize int64
	// MinInputFiles is the number of small files a partition needs before
	// it is compacted.
	MinInputFiles int
	// RowGroupRows is the row group size of output files, within
	// MinCompactRowGroupRows and MaxCompactRowGroupRows.
	RowGroupRows int
	// MaxFanIn is the fewest runs merged at once by the row merge (inputs
	// whose schema is not the lake's); more inputs are merged in rounds
	// through temporary run files. The column merge sizes its rounds by
	// the memory its open runs take instead (colMergeBudget).
	MaxFanIn int
	// Compression is the output codec (default zstd).
	Compression string
	// Retention is how long replaced files stay on storage (and old
	// snapshots stay readable for time travel) after they were replaced.
	Retention time.Duration
	// OrphanAge is the age after which unreferenced files under data/
	// (left by crashed writers or compactors) are deleted. 0 means
	// max(Retention, DefaultOrphanAge); negative disables orphan cleanup.
	OrphanAge time.Duration
	// NoExpire skips snapshot expiry and orphan cleanup.
	NoExpire bool
	// MaxCommitBytes commits early once this many output bytes wait for
	// their commit (0: DefaultMaxCommitBytes). Normally one pass is one
	// commit.
	MaxCommitBytes int64
	// DryRun only plans: nothing is written, committed or deleted.
	DryRun bool
	// TempDir holds intermediate runs and local copies of S3 inputs
	// (default os.TempDir()).
	TempDir string
	// Progress, if set, is called after each partition is planned (dry
	// run) or written.
	Progress func(PartitionReport)
}

// DefaultCompactOptions returns the documented defaults.
func DefaultCompactOptions() CompactOptions {
	return CompactOptions{
		TargetFileSize: DefaultTargetFileSize,
		MinFileSize:    DefaultMinFileSize,
		MinInputFiles:  DefaultMinInputFiles,
		RowGroupRows:   DefaultCompactRowGroup,
		MaxFanIn:       DefaultMaxFanIn,
		Compression:    "zstd",
		Retention:      DefaultRetention,
		MaxCommitBytes: DefaultMaxCommitBytes,
	}
}

// Validate checks the options, naming the offending setting by its config
// field name.
func (o CompactOptions) Validate() error {
	switch {
	case o.TargetFileSize < 0:
		return fmt.Errorf("target_file_size must be positive, got %d", o.TargetFileSize)
	case o.MinFileSize < 0:
		return fmt.Errorf("min_file_size must be positive, got %d", o.MinFileSize)
	case o.MinInputFiles < 0:
		return fmt.Errorf("min_input_files must be at least 2, got %d", o.MinInputFiles)
	case o.MaxFanIn < 0:
		return fmt.Errorf("max_fan_in must be at least 2, got %d", o.MaxFanIn)
	case o.Retention < 0:
		return fmt.Errorf("retention must not be negative, got %s", o.Retention)
	}
	d := o.withDefaults()
	switch {
	case d.MinInputFiles < 2:
		return fmt.Errorf("min_input_files must be at least 2, got %d", d.MinInputFiles)
	case d.MaxFanIn < 2:
		return fmt.Errorf("max_fan_in must be at least 2, got %d", d.MaxFanIn)
	case d.MinFileSize > d.TargetFileSize:
		return fmt.Errorf("min_file_size (%d) must not exceed target_file_size (%d): outputs would be compacted again on every run", d.MinFileSize, d.TargetFileSize)
	case d.RowGroupRows < MinCompactRowGroupRows || d.RowGroupRows > MaxCompactRowGroupRows:
		return fmt.Errorf("row_group_rows must be between %d and %d, got %d", MinCompactRowGroupRows, MaxCompactRowGroupRows, d.RowGroupRows)
	}
	if _, err := Codec(d.Compression); err != nil {
		return fmt.Errorf("compression: %w", err)
	}
	return nil
}

func (o CompactOptions) withDefaults() CompactOptions {
	if o.TargetFileSize == 0 {
		o.TargetFileSize = DefaultTargetFileSize
	}
	if o.MinFileSize == 0 {
		o.MinFileSize = min(DefaultMinFileSize, o.TargetFileSize)
	}
	if o.MinInputFiles == 0 {
		o.MinInputFiles = DefaultMinInputFiles
	}
	if o.RowGroupRows == 0 {
		o.RowGroupRows = DefaultCompactRowGroup
	}
	if o.MaxFanIn == 0 {
		o.MaxFanIn = DefaultMaxFanIn
	}
	if o.MaxCommitBytes <= 0 {
		o.MaxCommitBytes = DefaultMaxCommitBytes
	}
	if o.Compression == "" {
		o.Compression = "zstd"
	}
	if o.OrphanAge == 0 {
		o.OrphanAge = max(o.Retention, DefaultOrphanAge)
	}
	return o
}

// Partition statuses in reports.
const (
	StatusPlanned   = "planned"
	StatusWritten   = "written"
	StatusCommitted = "committed"
	StatusConflict  = "conflict"
	StatusFailed    = "failed"
)

// PartitionReport is what compaction did (or plans to do) in one partition.
type PartitionReport struct {
	// Partition is the Hive directory under data/, for example
	// "event_date=2024-05-01/type=payment".
	Partition string `json:"partition"`
	Status    string `json:"status"`
	FilesIn   int    `json:"files_in"`
	RowsIn    int64  `json:"rows_in"`
	BytesIn   int64  `json:"bytes_in"`
	// FilesOut is the estimate in a dry run.
	FilesOut          int      `json:"files_out"`
	RowsOut           int64    `json:"rows_out"`
	BytesOut          int64    `json:"bytes_out"`
	DuplicatesRemoved int64    `json:"duplicates_removed"`
	UnsortedInputs    int      `json:"unsorted_inputs,omitempty"`
	Inputs            []string `json:"inputs,omitempty"`
	Outputs           []string `json:"outputs,omitempty"`
	Seconds           float64  `json:"seconds"`
	Error             string   `json:"error,omitempty"`
}

// CompactReport summarises one compaction pass.
type CompactReport struct {
	DryRun  bool      `json:"dry_run"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	// Partitions lists the partitions planned or compacted.
	Partitions []PartitionReport `json:"partitions"`
	// PartitionsSkipped counts partitions with small files, but fewer
	// than min_input_files of them.
	PartitionsSkipped int   `json:"partitions_skipped"`
	FilesIn           int   `json:"files_in"`
	FilesOut          int   `json:"files_out"`
	RowsIn            int64 `json:"rows_in"`
	RowsOut           int64 `json:"rows_out"`
	BytesIn           int64 `json:"bytes_in"`
	BytesOut          int64 `json:"bytes_out"`
	DuplicatesRemoved int64 `json:"duplicates_removed"`
	// Conflicts counts partitions given up because a concurrent compactor
	// replaced their inputs first; their new files were deleted.
	Conflicts int `json:"conflicts"`
	// Commits and SnapshotIDs are the Replace commits made.
	Commits     int     `json:"commits"`
	SnapshotIDs []int64 `json:"snapshot_ids,omitempty"`
	// ExpiredSnapshots and DeletedFiles are the retention step: snapshots
	// removed and unreferenced files deleted.
	ExpiredSnapshots int    `json:"expired_snapshots"`
	DeletedFiles     int    `json:"deleted_files"`
	Warning          string `json:"warning,omitempty"`
}

func (r *CompactReport) add(p PartitionReport) {
	r.FilesIn += p.FilesIn
	r.FilesOut += p.FilesOut
	r.RowsIn += p.RowsIn
	r.RowsOut += p.RowsOut
	r.BytesIn += p.BytesIn
	r.BytesOut += p.BytesOut
	r.DuplicatesRemoved += p.DuplicatesRemoved
}

// compactPlan is one partition's input files.
type compactPlan struct {
	dir    string
	inputs []DataFile
	rels   []string
	rows   int64
	bytes  int64
}

// planCompaction groups the current small files by partition, keeping the
// partitions with at least MinInputFiles of them, ordered by directory.
func (t *Table) planCompaction(files []DataFile, o CompactOptions) (plans []compactPlan, skipped int) {
	byDir := map[string]*compactPlan{}
	for _, f := range files {
		if f.Bytes >= o.MinFileSize {
			continue
		}
		rel, ok := t.loc.Rel(f.Path)
		if !ok || !strings.HasPrefix(rel, "data/") {
			continue
		}
		dir := strings.TrimPrefix(path.Dir(rel), "data/")
		p := byDir[dir]
		if p == nil {
			p = &compactPlan{dir: dir}
			byDir[dir] = p
		}
		p.inputs = append(p.inputs, f)
		p.rels = append(p.rels, rel)
		p.rows += f.Rows
		p.bytes += f.Bytes
	}
	for _, dir := range compactDirs(byDir) {
		p := byDir[dir]
		if len(p.inputs) < o.MinInputFiles {
			skipped++
			continue
		}
		plans = append(plans, *p)
	}
	return plans, skipped
}

func (p *compactPlan) report(status string) PartitionReport {
	return PartitionReport{Partition: p.dir, Status: status, FilesIn: len(p.inputs), RowsIn: p.rows,
		BytesIn: p.bytes, Inputs: append([]string(nil), p.rels...)}
}

// outputCount is how many files a partition's rows are spread over.
func (p *compactPlan) outputCount(target int64) int {
	return max(1, int((p.bytes+target-1)/target))
}

// compactPending is a written partition waiting for its commit.
type compactPending struct {
	plan compactPlan
	rep  PartitionReport
	out  []DataFile
}

// Compact runs one compaction pass over the table's current snapshot. In
// each partition holding at least MinInputFiles files smaller than
// MinFileSize, those files are merged in (event_time, transaction_id)
// order, exact duplicates (same transaction_id and event_time) are
// dropped, and the rows are written to new files of about TargetFileSize.
// The new files are swapped in with one Replace commit per pass (split
// when MaxCommitBytes is reached), so readers see either the old files or
// the new ones. Appends committed meanwhile are kept; partitions whose
// inputs a concurrent compactor replaced first are given up and their new
// files deleted. Finally snapshots whose successor is older than
// Retention are expired (deleting the files only they reference) and old
// orphans are removed.
//
// Memory is bounded: rows are streamed, merged MaxFanIn runs at a time.
func Compact(ctx context.Context, t *Table, opts CompactOptions) (rep CompactReport, err error) {
	start := time.Now()
	rep = CompactReport{DryRun: opts.DryRun, Started: start.UTC(), Partitions: []PartitionReport{}}
	if err := opts.Validate(); err != nil {
		return rep, err
	}
	o := opts.withDefaults()
	defer func() {
		rep.Seconds = time.Since(start).Seconds()
		sortPartitionReports(rep.Partitions)
	}()

	files, err := t.Files(ctx)
	if err != nil {
		return rep, err
	}
	plans, skipped := t.planCompaction(files, o)
	rep.PartitionsSkipped = skipped

	if o.DryRun {
		for i := range plans {
			p := &plans[i]
			pr := p.report(StatusPlanned)
			pr.FilesOut = p.outputCount(o.TargetFileSize)
			rep.Partitions = append(rep.Partitions, pr)
			rep.add(pr)
			if o.Progress != nil {
				o.Progress(pr)
			}
		}
		return rep, nil
	}

	var tmp string
	if len(plans) > 0 {
		if tmp, err = os.MkdirTemp(o.TempDir, "trstream-compact-"); err != nil {
			return rep, err
		}
		defer os.RemoveAll(tmp)
	}

	var pending []compactPending
	var pendingBytes int64
	var errs []error
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if err := t.commitCompaction(ctx, pending, &rep); err != nil {
			errs = append(errs, err)
		}
		pending, pendingBytes = nil, 0
	}
	for i := range plans {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		p := plans[i]
		pstart := time.Now()
		pr := p.report(StatusWritten)
		out, st, err := t.compactPartition(ctx, &p, o, tmp)
		pr.Seconds = time.Since(pstart).Seconds()
		if err != nil {
			if gone, _ := t.inputsGone(ctx, p.inputs); gone {
				pr.Status = StatusConflict
				rep.Conflicts++
			} else {
				pr.Status = StatusFailed
				pr.Error = err.Error()
				errs = append(errs, fmt.Errorf("partition %s: %w", p.dir, err))
			}
			rep.Partitions = append(rep.Partitions, pr)
			if o.Progress != nil {
				o.Progress(pr)
			}
			continue
		}
		pr.FilesOut = len(out)
		pr.UnsortedInputs = st.unsorted
		pr.DuplicatesRemoved = st.duplicates
		for _, f := range out {
			pr.RowsOut += f.Rows
			pr.BytesOut += f.Bytes
			pr.Outputs = append(pr.Outputs, f.Path)
		}
		if o.Progress != nil {
			o.Progress(pr)
		}
		pending = append(pending, compactPending{plan: p, rep: pr, out: out})
		pendingBytes += pr.BytesOut
		if pendingBytes >= o.MaxCommitBytes {
			flush()
		}
	}
	flush()
	if len(errs) > 0 {
		return rep, errors.Join(errs...)
	}
	if !o.NoExpire {
		n, deleted, err := t.expireReplaced(ctx, o.Retention)
		rep.ExpiredSnapshots = n
		rep.DeletedFiles += deleted
		if err != nil {
			rep.Warning = "snapshot expiry: " + err.Error()
		}
		if o.OrphanAge >= 0 {
			orphans, err := t.cleanOrphansOnce(ctx, o.OrphanAge)
			rep.DeletedFiles += len(orphans)
			if err != nil {
				rep.Warning = strings.TrimPrefix(rep.Warning+"; orphan cleanup: "+err.Error(), "; ")
			}
		}
	}
	return rep, nil
}

// commitCompaction swaps the pending partitions' inputs for their outputs
// in one Replace. When some inputs are gone (a concurrent compactor got
// there first), those partitions are dropped, their outputs deleted, and
// the rest is committed. On any other error the outputs are left to
// orphan cleanup: the commit may have landed.
func (t *Table) commitCompaction(ctx context.Context, pending []compactPending, rep *CompactReport) error {
	for round := 0; len(pending) > 0; round++ {
		var remove, add []DataFile
		for _, p := range pending {
			remove = append(remove, p.plan.inputs...)
			add = append(add, p.out...)
		}
		err := t.Replace(ctx, remove, add)
		if err == nil {
			rep.Commits++
			t.mu.Lock()
			if t.tbl != nil && t.tbl.CurrentSnapshot() != nil {
				rep.SnapshotIDs = append(rep.SnapshotIDs, t.tbl.CurrentSnapshot().SnapshotID)
			}
			t.mu.Unlock()
			for _, p := range pending {
				p.rep.Status = StatusCommitted
				rep.Partitions = append(rep.Partitions, p.rep)
				rep.add(p.rep)
			}
			return nil
		}
		if !errors.Is(err, ErrFileNotInTable) || round >= compactMaxConflictRounds {
			for _, p := range pending {
				p.rep.Status = StatusFailed
				p.rep.Error = err.Error()
				rep.Partitions = append(rep.Partitions, p.rep)
			}
			return fmt.Errorf("commit compaction: %w", err)
		}
		cur, ferr := t.Files(ctx)
		if ferr != nil {
			return fmt.Errorf("commit compaction: %w (then listing files: %w)", err, ferr)
		}
		live := make(map[string]bool, len(cur))
		for _, f := range cur {
			live[f.Path] = true
		}
		var keep []compactPending
		for _, p := range pending {
			ok := true
			for _, in := range p.plan.inputs {
				if !live[in.Path] {
					ok = false
					break
				}
			}
			if ok {
				keep = append(keep, p)
				continue
			}
			t.deleteFiles(ctx, p.out)
			p.rep.Status = StatusConflict
			p.rep.FilesOut, p.rep.RowsOut, p.rep.BytesOut, p.rep.DuplicatesRemoved = 0, 0, 0, 0
			p.rep.Outputs = nil
			rep.Partitions = append(rep.Partitions, p.rep)
			rep.Conflicts++
		}
		pending = keep
	}
	return nil
}

// inputsGone reports whether any of files left the current snapshot.
func (t *Table) inputsGone(ctx context.Context, files []DataFile) (bool, error) {
	cur, err := t.Files(ctx)
	if err != nil {
		return false, err
	}
	live := make(map[string]bool, len(cur))
	for _, f := range cur {
		live[f.Path] = true
	}
	for _, f := range files {
		if !live[f.Path] {
			return true, nil
		}
	}
	return false, nil
}

// deleteFiles removes uncommitted files written by this package.
func (t *Table) deleteFiles(ctx context.Context, files []DataFile) {
	for _, f := range files {
		if rel, ok := t.loc.Rel(f.Path); ok {
			_ = t.store.Delete(ctx, rel)
		}
	}
}

// compactStats is what merging one partition found.
type compactStats struct {
	duplicates int64
	unsorted   int
}

// mergeBudget is the memory the open runs of one merge may take.
const mergeBudget = 128 << 20

// colMergeBudget is mergeBudget for the column-wise merge, whose open
// runs are measured from their files' metadata (colRunMemory) rather than
// guessed. The estimate counts encoded bytes, and pages of dictionary
// indexes or delta-packed integers decode to several times that, so the
// budget keeps a margin: compacting a 1 GiB partition of the writer's files
// peaked at 510 MiB with 160 MiB and at 455 MiB with 128 MiB (and ran
// faster, 29.3 → 28.0 s); the rest of the merge is bounded apart (three
// windows, one row group's pages).
const colMergeBudget = 128 << 20

// fanIn sizes a row merge's fan-in by memory rather than by count: an open
// run holds about twice its file's size in buffers, up to 5 MiB, so 200
// small files merge in one pass instead of being written to temporary
// runs and read back first. It is never below maxFanIn.
func fanIn(p *compactPlan, maxFanIn int) int {
	if len(p.inputs) == 0 {
		return maxFanIn
	}
	perRun := min(max(2*p.bytes/int64(len(p.inputs)), 256<<10), 5<<20)
	return max(maxFanIn, min(int(mergeBudget/perRun), 512))
}

// compactPartition merges one partition's inputs into new, uncommitted
// files. On error nothing it wrote is left behind.
func (t *Table) compactPartition(ctx context.Context, p *compactPlan, o CompactOptions, tmp string) (out []DataFile, st compactStats, err error) {
	dir, err := os.MkdirTemp(tmp, "part-")
	if err != nil {
		return nil, st, err
	}
	defer os.RemoveAll(dir)

	runs, unsorted, columnar, err := t.prepareRuns(ctx, p, dir)
	if err != nil {
		return nil, st, err
	}
	st.unsorted = unsorted
	var dups int64
	if columnar {
		runs, dups, err = reduceColRuns(ctx, runs, dir, colMergeBudget)
	} else {
		runs, dups, err = reduceRuns(ctx, runs, dir, fanIn(p, o.MaxFanIn))
	}
	if err != nil {
		return nil, st, err
	}
	st.duplicates = dups
	codec, err := Codec(o.Compression)
	if err != nil {
		return nil, st, err
	}
	rowsPerFile := max(1, (p.rows+int64(p.outputCount(o.TargetFileSize))-1)/int64(p.outputCount(o.TargetFileSize)))
	var bytesPerRow float64
	if p.rows > 0 {
		bytesPerRow = float64(p.bytes) / float64(p.rows)
	}
	var files []DataFile
	var mst mergeStats
	if columnar {
		files, mst, err = t.mergeColumnsToLake(ctx, p.dir, runs, o, codec, rowsPerFile, bytesPerRow)
	} else {
		files, mst, err = t.mergeRowsToLake(ctx, p.dir, runs, o, codec, rowsPerFile, bytesPerRow)
	}
	if err != nil {
		return nil, st, err
	}
	st.duplicates += mst.duplicates
	var rowsOut int64
	for _, f := range files {
		rowsOut += f.Rows
	}
	// Every input row is either written or counted as a duplicate; the
	// inputs' row counts come from the table metadata.
	if rowsOut+st.duplicates != p.rows {
		t.deleteFiles(ctx, files)
		return nil, st, fmt.Errorf("row count mismatch: inputs hold %d rows, wrote %d and dropped %d duplicates", p.rows, rowsOut, st.duplicates)
	}
	return files, st, nil
}

// mergeColumnsToLake merges runs of the lake's schema column-wise into new
// files of partition dir. On error nothing it wrote is left behind.
func (t *Table) mergeColumnsToLake(ctx context.Context, dir string, runs []mergeRun, o CompactOptions, codec compress.Codec, rowsPerFile int64, bytesPerRow float64) ([]DataFile, mergeStats, error) {
	crs, err := openColRuns(runs)
	if err != nil {
		return nil, mergeStats{}, err
	}
	out := &lakeColOutput{ctx: ctx, t: t, dir: dir}
	w := newColWriter(out, codec, o.RowGroupRows, compactPageBytes)
	w.rowsPerFile, w.target, w.bytesPerRow = rowsPerFile, o.TargetFileSize, bytesPerRow
	st, err := mergeColumns(ctx, crs, w)
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		w.abort()
		return nil, st, err
	}
	return out.files, st, nil
}

// mergeRowsToLake merges runs row by row (inputs whose schema differs from
// the lake's) into new files of partition dir. On error nothing it wrote
// is left behind.
func (t *Table) mergeRowsToLake(ctx context.Context, dir string, runs []mergeRun, o CompactOptions, codec compress.Codec, rowsPerFile int64, bytesPerRow float64) ([]DataFile, mergeStats, error) {
	srcs, names, err := openMergeRuns(runs)
	if err != nil {
		return nil, mergeStats{}, err
	}
	w := &compactWriter{
		ctx: ctx, t: t, dir: dir, codec: codec, rowGroupRows: o.RowGroupRows, target: o.TargetFileSize,
		rowsPerFile: rowsPerFile, bytesPerRow: bytesPerRow,
	}
	sink := newAsyncSink(w.write)
	st, err := mergeRuns(ctx, srcs, names, sink.emit)
	if serr := sink.close(); err == nil {
		err = serr
	}
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		w.abort()
		return nil, st, err
	}
	return w.files, st, nil
}

// prepareRuns turns a partition's inputs into sorted runs: each file whose
// event_time never decreases is a run as it is; an unsorted one is sorted
// in bounded chunks into temporary runs. Inputs on remote storage are
// first copied to dir.
//
// columnar reports whether every input has the lake's schema, so that
// the column-wise merge can read them.
func (t *Table) prepareRuns(ctx context.Context, p *compactPlan, dir string) (runs []mergeRun, unsorted int, columnar bool, err error) {
	_, local := t.store.(*localStorage)
	paths := make([]string, len(p.rels))
	if !local {
		if err := t.spool(ctx, p.rels, dir, paths); err != nil {
			return nil, 0, false, err
		}
	}
	// openInput opens input i; the returned closer releases it.
	openInput := func(i int) (*parquet.File, io.Closer, error) {
		var ra io.ReaderAt
		var size int64
		var c io.Closer
		if local {
			r, err := t.store.Open(ctx, p.rels[i])
			if err != nil {
				return nil, nil, err
			}
			ra, size, c = r, r.Size(), r
		} else {
			fh, err := os.Open(paths[i])
			if err != nil {
				return nil, nil, err
			}
			stt, err := fh.Stat()
			if err != nil {
				fh.Close()
				return nil, nil, err
			}
			ra, size, c = fh, stt.Size(), fh
		}
		f, err := openParquet(ra, size)
		if err != nil {
			c.Close()
			return nil, nil, err
		}
		return f, c, nil
	}
	columnar = true
	fail := func(err error) ([]mergeRun, int, bool, error) {
		removeTempRuns(runs)
		return nil, 0, false, err
	}
	// Check the inputs in parallel (each check decodes a file's
	// event_time column), then make runs of them in order.
	type check struct {
		sorted, columnar bool
		mem              int64
	}
	checks := make([]check, len(p.rels))
	err = parallelDo(len(p.rels), func(i int) error {
		f, c, err := openInput(i)
		if err != nil {
			return fmt.Errorf("%s: %w", p.rels[i], err)
		}
		defer c.Close()
		sorted, err := eventTimesSorted(f)
		if err != nil {
			return fmt.Errorf("%s: %w", p.rels[i], err)
		}
		if sorted {
			checks[i] = check{true, columnarSchema(f), colRunMemory(f)}
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	for i := range p.rels {
		name := p.rels[i]
		if ck := checks[i]; ck.sorted {
			columnar = columnar && ck.columnar
			mem := ck.mem
			spec := mergeRun{name: name, file: func() (*parquet.File, io.Closer, error) { return openInput(i) }, open: func() (rowSource, error) {
				f, c, err := openInput(i)
				if err != nil {
					return nil, err
				}
				r, err := newParquetRun(name, f, c)
				if err != nil {
					c.Close()
					return nil, err
				}
				return r, nil
			}}
			spec.mem = mem
			if !local {
				spec.temp = paths[i]
			}
			runs = append(runs, spec)
			continue
		}
		unsorted++
		f, c, err := openInput(i)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", name, err))
		}
		src, err := newParquetRun(name, f, c)
		if err != nil {
			c.Close()
			return fail(err)
		}
		tmps, _, err := sortIntoRuns(ctx, src, dir, sortChunkRows)
		if err != nil {
			return fail(fmt.Errorf("sort %s: %w", name, err))
		}
		if !local {
			_ = os.Remove(paths[i])
		}
		for _, tp := range tmps {
			runs = append(runs, tempMergeRun(tp))
		}
	}
	return runs, unsorted, columnar, nil
}

// spool copies remote inputs to local files in dir, a few at a time, in
// large ranged reads.
func (t *Table) spool(ctx context.Context, rels []string, dir string, paths []string) error {
	errs := make([]error, len(rels))
	sem := make(chan struct{}, compactSpoolParallel)
	var wg sync.WaitGroup
	for i, rel := range rels {
		paths[i] = fmt.Sprintf("%s/in-%05d.parquet", dir, i)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = t.copyToLocal(ctx, rel, paths[i])
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (t *Table) copyToLocal(ctx context.Context, rel, dst string) error {
	r, err := t.store.Open(ctx, rel)
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	defer r.Close()
	fh, err := os.Create(dst)
	if err != nil {
		return err
	}
	buf := make([]byte, min(r.Size(), compactSpoolChunk))
	for off := int64(0); off < r.Size(); {
		n := min(int64(len(buf)), r.Size()-off)
		got, err := r.ReadAt(buf[:n], off)
		if int64(got) == n {
			err = nil
		}
		if err != nil {
			fh.Close()
			return fmt.Errorf("%s: %w", rel, err)
		}
		if _, err := fh.Write(buf[:n]); err != nil {
			fh.Close()
			return err
		}
		off += n
	}
	return fh.Close()
}

// compactWriter writes merged rows of one partition to new lake files, in
// row groups of rowGroupRows, cutting a file at rowsPerFile rows or when
// its estimated size reaches target.
type compactWriter struct {
	ctx          context.Context
	t            *Table
	dir          string
	codec        compress.Codec
	rowGroupRows int
	target       int64
	rowsPerFile  int64
	// bytesPerRow estimates the compressed size of a buffered row: the
	// inputs' ratio until a row group of this compaction has been flushed.
	bytesPerRow float64
	flushedB    int64
	flushedR    int64

	fw          FileWriter
	cw          *countingWriter
	pw          *parquet.GenericWriter[txn.Transaction]
	rel         string
	fileRows    int64
	fileFlushed int64
	groupRows   int

	files []DataFile
}

func (w *compactWriter) open() error {
	w.rel = NewFilePath(w.dir)
	fw, err := w.t.store.Create(w.ctx, w.rel)
	if err != nil {
		return fmt.Errorf("create %s: %w", w.rel, err)
	}
	w.fw = fw
	w.cw = &countingWriter{w: fw}
	w.pw = parquet.NewGenericWriter[txn.Transaction](w.cw, append(compactWriterOptions(),
		parquet.Compression(w.codec),
		parquet.MaxRowsPerRowGroup(int64(w.rowGroupRows)),
		parquet.CreatedBy("trstream", "lake", ""),
	)...)
	w.fileRows, w.fileFlushed, w.groupRows = 0, 0, 0
	return nil
}

func (w *compactWriter) write(rows []txn.Transaction) error {
	for len(rows) > 0 {
		if w.pw == nil {
			if err := w.open(); err != nil {
				return err
			}
		}
		n := min(len(rows), w.rowGroupRows-w.groupRows)
		if left := w.rowsPerFile - w.fileRows; int64(n) > left {
			n = int(left)
		}
		if _, err := w.pw.Write(rows[:n]); err != nil {
			return fmt.Errorf("write %s: %w", w.rel, err)
		}
		rows = rows[n:]
		w.fileRows += int64(n)
		w.groupRows += n
		if w.groupRows >= w.rowGroupRows {
			before := w.cw.n
			if err := w.pw.Flush(); err != nil {
				return fmt.Errorf("write %s: %w", w.rel, err)
			}
			w.flushedB += w.cw.n - before
			w.flushedR += int64(w.groupRows)
			w.fileFlushed = w.fileRows
			w.groupRows = 0
			w.bytesPerRow = float64(w.flushedB) / float64(w.flushedR)
		}
		est := w.cw.n + int64(float64(w.fileRows-w.fileFlushed)*w.bytesPerRow)
		if w.fileRows >= w.rowsPerFile || est >= w.target {
			if err := w.closeFile(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *compactWriter) closeFile() error {
	if w.pw == nil {
		return nil
	}
	pw, fw := w.pw, w.fw
	w.pw, w.fw = nil, nil
	if err := pw.Close(); err != nil {
		fw.Abort()
		return fmt.Errorf("write %s: %w", w.rel, err)
	}
	if err := fw.Close(); err != nil {
		fw.Abort()
		return fmt.Errorf("publish %s: %w", w.rel, err)
	}
	w.files = append(w.files, DataFile{Path: w.t.store.URI(w.rel), Partition: PartitionOf(w.rel), Rows: w.fileRows, Bytes: w.cw.n})
	return nil
}

func (w *compactWriter) finish() error { return w.closeFile() }

// abort discards the open file and deletes the finished ones.
func (w *compactWriter) abort() {
	if w.fw != nil {
		w.fw.Abort()
		w.pw, w.fw = nil, nil
	}
	w.t.deleteFiles(context.WithoutCancel(w.ctx), w.files)
	w.files = nil
}

// expireReplaced expires the snapshots whose successor is older than
// retention, then deletes what only they referenced: the data files a
// compaction replaced, their manifests and manifest lists. The current
// snapshot and every snapshot replaced less than retention ago are kept,
// so time travel to them works. The commit is a compare-and-swap on the
// current snapshot, retried after concurrent commits. It returns the
// snapshots expired and the data files deleted. A crash between the
// commit and the deletes leaves orphans for CleanOrphans.
func (t *Table) expireReplaced(ctx context.Context, retention time.Duration) (int, int, error) {
	ctx = t.ctx(ctx)
	cutoff := time.Now().Add(-retention).UnixMilli()
	wait := 10 * time.Millisecond
	var lastErr error
	for attempt := 0; attempt < maxCommitAttempts; attempt++ {
		tbl, err := t.reload(ctx)
		if err != nil {
			return 0, 0, err
		}
		md := tbl.Metadata()
		cur := tbl.CurrentSnapshot()
		if cur == nil {
			return 0, 0, nil
		}
		// Ancestors newest first; keep a prefix.
		var anc []*table.Snapshot
		for s := cur; s != nil; {
			anc = append(anc, s)
			if s.ParentSnapshotID == nil {
				break
			}
			s = md.SnapshotByID(*s.ParentSnapshotID)
		}
		keep := 1
		for keep < len(anc) && anc[keep-1].TimestampMs > cutoff {
			keep++
		}
		if keep >= len(md.Snapshots()) {
			return 0, 0, nil
		}
		kept := map[int64]bool{}
		for _, s := range anc[:keep] {
			kept[s.SnapshotID] = true
		}
		expiring := map[int64]bool{}
		for _, s := range md.Snapshots() {
			if !kept[s.SnapshotID] {
				expiring[s.SnapshotID] = true
			}
		}
		dataFiles, metaFiles, err := t.releasedFiles(ctx, tbl, expiring)
		if err != nil {
			return 0, 0, err
		}
		tx := tbl.NewTransaction()
		if err := tx.ExpireSnapshots(table.WithOlderThan(0), table.WithRetainLast(keep), table.WithPostCommit(false)); err != nil {
			return 0, 0, err
		}
		after, err := tx.Commit(ctx)
		if err != nil {
			lastErr = err
			if !isConflict(err) {
				return 0, 0, err
			}
			select {
			case <-ctx.Done():
				return 0, 0, ctx.Err()
			case <-time.After(wait + rand.N(wait)):
			}
			wait = min(wait*2, time.Second)
			continue
		}
		// iceberg-go may keep a snapshot we planned to expire (same
		// millisecond as now): then keep its files too.
		for _, s := range after.Metadata().Snapshots() {
			if expiring[s.SnapshotID] {
				return len(expiring), 0, nil
			}
		}
		var errs []error
		deleted := 0
		for _, rel := range dataFiles {
			if err := t.store.Delete(ctx, rel); err != nil {
				errs = append(errs, err)
			} else {
				deleted++
			}
		}
		for _, rel := range metaFiles {
			if err := t.store.Delete(ctx, rel); err != nil {
				errs = append(errs, err)
			}
		}
		return len(expiring), deleted, errors.Join(errs...)
	}
	return 0, 0, fmt.Errorf("%w: expire snapshots: %w", ErrConflict, lastErr)
}

// releasedFiles lists, relative to the lake, the data files, manifests and
// manifest lists referenced by the expiring snapshots and by no other.
// Manifests shared by snapshots are read once.
func (t *Table) releasedFiles(ctx context.Context, tbl *table.Table, expiring map[int64]bool) (data, meta []string, err error) {
	fs, err := t.fs(ctx, tbl)
	if err != nil {
		return nil, nil, err
	}
	type entry struct {
		path    string
		deleted bool
	}
	entries := map[string][]entry{} // the data file entries of a manifest
	keepData, dropData := map[string]bool{}, map[string]bool{}
	keepMeta, dropMeta := map[string]bool{}, map[string]bool{}
	for _, s := range tbl.Metadata().Snapshots() {
		exp := expiring[s.SnapshotID]
		mark := func(p string) {
			if exp {
				dropMeta[p] = true
			} else {
				keepMeta[p] = true
			}
		}
		mark(s.ManifestList)
		mans, err := s.Manifests(fs)
		if err != nil {
			return nil, nil, err
		}
		for _, m := range mans {
			mark(m.FilePath())
			if m.ManifestContent() != iceberg.ManifestContentData {
				continue
			}
			es, ok := entries[m.FilePath()]
			if !ok {
				all, err := m.FetchEntries(fs, false)
				if err != nil {
					return nil, nil, err
				}
				for _, e := range all {
					es = append(es, entry{e.DataFile().FilePath(), e.Status() == iceberg.EntryStatusDELETED})
				}
				entries[m.FilePath()] = es
			}
			// An expiring snapshot releases every file its manifests
			// name; a kept one holds its live files (a DELETED entry is
			// the record of a replace, not a reference).
			for _, e := range es {
				if exp {
					dropData[e.path] = true
				} else if !e.deleted {
					keepData[e.path] = true
				}
			}
		}
	}
	rel := func(drop, keep map[string]bool) []string {
		var out []string
		for p := range drop {
			if keep[p] {
				continue
			}
			if r, ok := t.loc.Rel(p); ok {
				out = append(out, r)
			}
		}
		sort.Strings(out)
		return out
	}
	return rel(dropData, keepData), rel(dropMeta, keepMeta), nil
}

// cleanOrphansOnce is CleanOrphans reading each manifest once however
// many snapshots share it: it deletes the files under data/ (and stale
// temporary files) that no snapshot references and that are older than
// olderThan, and returns their paths relative to the lake.
func (t *Table) cleanOrphansOnce(ctx context.Context, olderThan time.Duration) ([]string, error) {
	ctx = t.ctx(ctx)
	// List first: a file committed after the table is read but listed
	// before would look orphaned (the age bound covers the rest).
	var objs []ObjectInfo
	var err error
	if ls, ok := t.store.(*localStorage); ok {
		objs, err = ls.list("data", true)
	} else {
		objs, err = t.store.List(ctx, "data")
	}
	if err != nil {
		return nil, err
	}
	tbl, fs, err := t.reloadFS(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	referenced := map[string]bool{}
	for _, s := range tbl.Metadata().Snapshots() {
		mans, err := s.Manifests(fs)
		if err != nil {
			return nil, err
		}
		firstTime := func(m iceberg.ManifestFile) bool {
			ok := !seen[m.FilePath()]
			seen[m.FilePath()] = true
			return ok
		}
		err = eachLiveDataEntry(fs, mans, firstTime, func(e iceberg.ManifestEntry) {
			if rel, ok := t.loc.Rel(e.DataFile().FilePath()); ok {
				referenced[rel] = true
			}
		})
		if err != nil {
			return nil, err
		}
	}
	cutoff := time.Now().Add(-olderThan)
	var deleted []string
	for _, o := range objs {
		if referenced[o.Path] || o.ModTime.After(cutoff) {
			continue
		}
		if err := t.store.Delete(ctx, o.Path); err != nil {
			return deleted, err
		}
		deleted = append(deleted, o.Path)
	}
	return deleted, nil
}

// sortPartitionReports orders reports by partition, for stable output.
func sortPartitionReports(ps []PartitionReport) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
}

// compactDirs returns the partition directories of m in order.
func compactDirs(m map[string]*compactPlan) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

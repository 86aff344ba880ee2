package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/uuid"
)

// DataFile is one Parquet file of the lake.
type DataFile struct {
	// Path is the full URI (s3://…) or absolute local path, exactly as the
	// Iceberg table references it.
	Path string
	// Partition holds the Hive partition values by key, for example
	// {"event_date": "2024-05-01", "type": "payment"}.
	Partition map[string]string
	// Rows and Bytes are the file's row count and size.
	Rows  int64
	Bytes int64
}

// Snapshot summarises one Iceberg snapshot.
type Snapshot struct {
	ID        int64
	ParentID  int64 // 0 for the first
	Time      time.Time
	Operation string // append, replace, overwrite, delete
	// Rows and Files are the table's totals after the snapshot.
	Rows  int64
	Files int64
	// AddedRows and AddedFiles are what the snapshot added.
	AddedRows  int64
	AddedFiles int64
	// Properties is the whole snapshot summary.
	Properties map[string]string
}

// Option configures Open.
type Option func(*openConfig)

type openConfig struct {
	catalogURI   string
	partitionBy  []string
	partitionSet bool
}

// WithCatalogURI sets the SQLite catalog file (see catalogPath).
func WithCatalogURI(uri string) Option { return func(c *openConfig) { c.catalogURI = uri } }

// WithPartitionBy sets the partition keys a writer needs: the table is
// created with them, and opening an existing table with other keys is an
// error. Without it an existing table is opened with its own keys (readers,
// the compactor) and a new one is created with DefaultPartitionBy.
func WithPartitionBy(keys []string) Option {
	return func(c *openConfig) { c.partitionBy, c.partitionSet = keys, true }
}

// ErrPartitioning is wrapped by Open's error when an existing table is
// partitioned by other keys than WithPartitionBy names.
var ErrPartitioning = errors.New("lake: partition keys differ")

// ErrConflict is wrapped by errors from commits that lost every retry to
// concurrent writers.
var ErrConflict = errors.New("lake: concurrent commit conflict")

// ErrFileNotInTable is returned by Replace when a file to remove is not in
// the current snapshot (a concurrent compaction replaced it first).
var ErrFileNotInTable = errors.New("lake: file is not in the current snapshot")

// maxCommitAttempts bounds the reload-and-retry loop of one commit.
const maxCommitAttempts = 60

// Table is the lake's Iceberg table plus its storage. It is safe for
// concurrent use; every commit is a compare-and-swap in the catalog, so
// several Tables (in one or many processes) may commit at once.
type Table struct {
	loc   Location
	store Storage
	cat   *sqlcat.Catalog
	db    *sql.DB
	aws   *aws.Config
	part  Partitioning
	ident table.Identifier

	// writerID marks this Table's snapshots (PropWriterID).
	writerID string

	mu  sync.Mutex
	tbl *table.Table
	// idsThrough is the newest snapshot whose appended ids were handed to
	// the caller (RecentIDs, ForeignIDs; 0: the table had none), once
	// idsTracked.
	idsThrough int64
	idsTracked bool
	// foreign are ids other writers appended that a commit read
	// (readForeign) and ForeignIDs has not handed out yet; foreignErr
	// says some could not be read.
	foreign    []idKey
	foreignErr error
}

// Open opens the lake at loc, creating the Iceberg table
// trstream.transactions on first use.
func Open(ctx context.Context, loc Location, opts ...Option) (*Table, error) {
	cfg := openConfig{partitionBy: DefaultPartitionBy}
	for _, o := range opts {
		o(&cfg)
	}
	part, err := ParsePartitioning(cfg.partitionBy)
	if err != nil {
		return nil, err
	}
	path, err := catalogPath(loc, cfg.catalogURI)
	if err != nil {
		return nil, err
	}
	t := &Table{loc: loc, part: part, ident: catalog.ToIdentifier(Namespace, TableName), writerID: uuid.NewString()}
	if loc.IsS3() {
		if t.aws, err = awsConfig(ctx, loc.S3); err != nil {
			return nil, err
		}
	}
	if t.store, err = NewStorage(ctx, loc); err != nil {
		return nil, err
	}
	if t.cat, t.db, err = openCatalog(loc, path); err != nil {
		t.store.Close()
		return nil, err
	}
	ctx = t.ctx(ctx)
	if err := ensureTable(ctx, t.cat, loc, part); err != nil {
		t.Close()
		return nil, err
	}
	tbl, err := t.reload(ctx)
	if err != nil {
		t.Close()
		return nil, err
	}
	if got := strings.TrimSuffix(tbl.Location(), "/"); got != loc.URI() {
		t.Close()
		return nil, fmt.Errorf("catalog %s holds %s.%s at %s, not %s: use another catalog_uri", path, Namespace, TableName, got, loc.URI())
	}
	have := partitionsFromSpec(tbl.Spec())
	switch {
	case !cfg.partitionSet:
		if t.part, err = ParsePartitioning(have); err != nil {
			t.Close()
			return nil, fmt.Errorf("table's partition spec: %w", err)
		}
	case !sameKeys(have, part.Keys()):
		t.Close()
		return nil, fmt.Errorf("%w: the table is partitioned by %v, not %v", ErrPartitioning, have, part.Keys())
	}
	return t, nil
}

// ctx attaches the lake's AWS configuration, which iceberg-go's S3 IO reads
// from the context, so metadata and data share credentials and retries.
func (t *Table) ctx(ctx context.Context) context.Context {
	if t.aws != nil {
		return utils.WithAwsConfig(ctx, t.aws)
	}
	return ctx
}

// Close releases the catalog and storage.
func (t *Table) Close() error {
	var errs []error
	if t.cat != nil {
		errs = append(errs, t.cat.Close())
	}
	if t.db != nil {
		errs = append(errs, t.db.Close())
	}
	if t.store != nil {
		errs = append(errs, t.store.Close())
	}
	return errors.Join(errs...)
}

// Location is where the lake lives.
func (t *Table) Location() Location { return t.loc }

// Storage is the lake's object store.
func (t *Table) Storage() Storage { return t.store }

// Partitioning is the table's partition layout.
func (t *Table) Partitioning() Partitioning { return t.part }

// Iceberg returns the most recently loaded iceberg-go table, for readers
// that want to scan it directly.
func (t *Table) Iceberg(ctx context.Context) (*table.Table, error) { return t.reload(t.ctx(ctx)) }

func (t *Table) reload(ctx context.Context) (*table.Table, error) {
	tbl, err := t.cat.LoadTable(ctx, t.ident)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.tbl = tbl
	t.mu.Unlock()
	return tbl, nil
}

func (t *Table) fs(ctx context.Context, tbl *table.Table) (iceio.IO, error) { return tbl.FS(ctx) }

// reloadFS reloads the table and opens its file IO, for walks of manifests.
func (t *Table) reloadFS(ctx context.Context) (*table.Table, iceio.IO, error) {
	tbl, err := t.reload(ctx)
	if err != nil {
		return nil, nil, err
	}
	fs, err := t.fs(ctx, tbl)
	return tbl, fs, err
}

// currentFiles lists the data files of tbl's current snapshot.
func (t *Table) currentFiles(ctx context.Context, tbl *table.Table) ([]iceberg.DataFile, error) {
	snap := tbl.CurrentSnapshot()
	if snap == nil {
		return nil, nil
	}
	return t.snapshotFiles(ctx, tbl, snap)
}

func (t *Table) snapshotFiles(ctx context.Context, tbl *table.Table, snap *table.Snapshot) ([]iceberg.DataFile, error) {
	fs, err := t.fs(ctx, tbl)
	if err != nil {
		return nil, err
	}
	mans, err := snap.Manifests(fs)
	if err != nil {
		return nil, err
	}
	var out []iceberg.DataFile
	err = eachLiveDataEntry(fs, mans, nil, func(e iceberg.ManifestEntry) { out = append(out, e.DataFile()) })
	return out, err
}

// eachLiveDataEntry calls fn for every entry not marked deleted of the
// data manifests in mans that keep accepts (nil: all of them).
func eachLiveDataEntry(fs iceio.IO, mans []iceberg.ManifestFile, keep func(iceberg.ManifestFile) bool, fn func(iceberg.ManifestEntry)) error {
	for _, m := range mans {
		if m.ManifestContent() != iceberg.ManifestContentData || (keep != nil && !keep(m)) {
			continue
		}
		entries, err := m.FetchEntries(fs, true)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Status() != iceberg.EntryStatusDELETED {
				fn(e)
			}
		}
	}
	return nil
}

func (t *Table) toDataFile(df iceberg.DataFile) DataFile {
	part := map[string]string{}
	if rel, ok := t.loc.Rel(df.FilePath()); ok {
		part = PartitionOf(rel)
	}
	return DataFile{Path: df.FilePath(), Partition: part, Rows: df.Count(), Bytes: df.FileSizeBytes()}
}

// Files lists the data files of the current snapshot, sorted by path.
func (t *Table) Files(ctx context.Context) ([]DataFile, error) {
	ctx = t.ctx(ctx)
	tbl, err := t.reload(ctx)
	if err != nil {
		return nil, err
	}
	dfs, err := t.currentFiles(ctx, tbl)
	if err != nil {
		return nil, err
	}
	out := make([]DataFile, len(dfs))
	for i, df := range dfs {
		out[i] = t.toDataFile(df)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func summaryInt(p map[string]string, k string) int64 {
	n, _ := strconv.ParseInt(p[k], 10, 64)
	return n
}

// Snapshots lists the table's snapshots, oldest first.
func (t *Table) Snapshots(ctx context.Context) ([]Snapshot, error) {
	tbl, err := t.reload(t.ctx(ctx))
	if err != nil {
		return nil, err
	}
	var out []Snapshot
	for _, s := range tbl.Metadata().Snapshots() {
		sn := Snapshot{ID: s.SnapshotID, Time: time.UnixMilli(s.TimestampMs).UTC()}
		if s.ParentSnapshotID != nil {
			sn.ParentID = *s.ParentSnapshotID
		}
		if s.Summary != nil {
			sn.Operation = string(s.Summary.Operation)
			sn.Properties = map[string]string(s.Summary.Properties)
			sn.Rows = summaryInt(sn.Properties, "total-records")
			sn.Files = summaryInt(sn.Properties, "total-data-files")
			sn.AddedRows = summaryInt(sn.Properties, "added-records")
			sn.AddedFiles = summaryInt(sn.Properties, "added-data-files")
		}
		out = append(out, sn)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// positionsOf returns the offsets of the newest snapshot in tbl's current
// ancestry that carries them, and the max timestamps of that same snapshot
// (PropMaxTimestamps): none when it has them not (written before they were
// kept), as an older snapshot's would not match its offsets.
func positionsOf(tbl *table.Table) (offsets, maxTS Offsets, err error) {
	offsets, maxTS, _, err = positionsAt(tbl.Metadata(), tbl.CurrentSnapshot())
	return offsets, maxTS, err
}

// positionsAt is positionsOf as of snapshot s: the positions of the newest
// snapshot from s back that records them. known is false when the walk
// reached an expired snapshot first (the positions returned are then
// empty, though older snapshots may have had some).
func positionsAt(md table.Metadata, s *table.Snapshot) (offsets, maxTS Offsets, known bool, err error) {
	for s != nil {
		if s.Summary != nil {
			if js, ok := s.Summary.Properties[PropOffsets]; ok {
				if offsets, err = ParseOffsets(js); err != nil {
					return nil, nil, false, err
				}
				maxTS, err = ParseOffsets(s.Summary.Properties[PropMaxTimestamps])
				return offsets, maxTS, true, err
			}
		}
		if s.ParentSnapshotID == nil {
			break
		}
		s = md.SnapshotByID(*s.ParentSnapshotID)
	}
	return Offsets{}, Offsets{}, s != nil, nil
}

// positions returns the Kafka offsets and max timestamps of the current
// snapshot, read from one state of the table.
func (t *Table) positions(ctx context.Context) (offsets, maxTS Offsets, err error) {
	tbl, err := t.reload(t.ctx(ctx))
	if err != nil {
		return nil, nil, err
	}
	return positionsOf(tbl)
}

// Offsets returns the Kafka offsets committed with the current snapshot.
func (t *Table) Offsets(ctx context.Context) (Offsets, error) {
	offs, _, err := t.positions(ctx)
	return offs, err
}

// icebergFile builds the manifest entry of a file written by this package,
// from its metadata alone (no footer read).
func (t *Table) icebergFile(tbl *table.Table, f DataFile) (iceberg.DataFile, error) {
	spec := tbl.Spec()
	vals := map[int]any{}
	logical := map[int]string{}
	for _, pf := range spec.Fields() {
		v, ok := f.Partition[pf.Name]
		if !ok {
			return nil, fmt.Errorf("file %s: no value for partition key %s", f.Path, pf.Name)
		}
		switch pf.Transform.(type) {
		case iceberg.DayTransform:
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				return nil, fmt.Errorf("file %s: partition %s=%q: %w", f.Path, pf.Name, v, err)
			}
			vals[pf.FieldID] = iceberg.Date(d.Unix() / 86400)
			logical[pf.FieldID] = "date"
		case iceberg.HourTransform:
			h, err := time.Parse("2006-01-02-15", v)
			if err != nil {
				return nil, fmt.Errorf("file %s: partition %s=%q: %w", f.Path, pf.Name, v, err)
			}
			vals[pf.FieldID] = int32(h.Unix() / 3600)
		default:
			k := t.part.key(pf.Name)
			switch {
			case k != nil && k.isBool:
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, fmt.Errorf("file %s: partition %s=%q: %w", f.Path, pf.Name, v, err)
				}
				vals[pf.FieldID] = b
			case v == "" && k != nil && k.optional:
				vals[pf.FieldID] = nil
			default:
				vals[pf.FieldID] = v
			}
		}
	}
	b, err := iceberg.NewDataFileBuilder(spec, iceberg.EntryContentData, f.Path, iceberg.ParquetFile,
		vals, logical, nil, f.Rows, f.Bytes)
	if err != nil {
		return nil, err
	}
	return b.Build(), nil
}

func (p Partitioning) key(name string) *partKey {
	for i := range p.keys {
		if p.keys[i].name == name {
			return &p.keys[i]
		}
	}
	return nil
}

// isConflict reports whether a commit lost a compare-and-swap race and may
// be retried against the reloaded table.
func isConflict(err error) bool {
	if errors.Is(err, table.ErrCommitFailed) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "requirement failed") || strings.Contains(msg, "database is locked") ||
		strings.Contains(msg, "SQLITE_BUSY")
}

// commit runs build against a freshly loaded table and commits, reloading
// and rebuilding after every conflict. build receives the current table,
// the transaction and the snapshot properties to pass on (holding the
// commit id). When a commit fails for another reason, commit checks
// whether it landed anyway (the catalog may have applied it before the
// error) and then reports success.
func (t *Table) commit(ctx context.Context, build func(tbl *table.Table, tx *table.Transaction, props iceberg.Properties) error) error {
	ctx = t.ctx(ctx)
	commitID := uuid.NewString()
	wait := 10 * time.Millisecond
	var lastErr error
	for attempt := 1; attempt <= maxCommitAttempts; attempt++ {
		tbl, err := t.reload(ctx)
		if err != nil {
			return err
		}
		tx := tbl.NewTransaction()
		if err := build(tbl, tx, iceberg.Properties{PropCommitID: commitID, PropWriterID: t.writerID}); err != nil {
			return err
		}
		newTbl, err := tx.Commit(ctx)
		if err == nil {
			t.mu.Lock()
			t.tbl = newTbl
			t.mu.Unlock()
			return nil
		}
		lastErr = err
		if !isConflict(err) {
			if ok, _ := t.landed(ctx, commitID); ok {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait + rand.N(wait)):
		}
		wait = min(wait*2, time.Second)
	}
	return fmt.Errorf("%w: %d attempts: %w", ErrConflict, maxCommitAttempts, lastErr)
}

// landed reports whether a snapshot with the commit id exists.
func (t *Table) landed(ctx context.Context, commitID string) (bool, error) {
	tbl, err := t.reload(ctx)
	if err != nil {
		return false, err
	}
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[PropCommitID] == commitID {
			return true, nil
		}
	}
	return false, nil
}

// Append commits files in one snapshot, together with offsets merged over
// the current snapshot's offsets (see Offsets.Merge). Files must have been
// written under this lake (WriteFiles does); nothing is read from them. A
// conflict with a concurrent commit is retried against the reloaded table,
// re-merging the offsets. With no files and no offsets it does nothing.
func (t *Table) Append(ctx context.Context, files []DataFile, offsets Offsets) error {
	_, err := t.appendFenced(ctx, files, offsets, nil, nil, nil, nil)
	return err
}

// FencedError is returned by a fenced append when another writer already
// committed offsets at or past the lowest offset this one holds for a
// partition (a consumer-group rebalance moved the partition): committing
// would land those rows twice. Nothing was committed; Current holds the
// table's offsets, to skip what the other writer landed.
type FencedError struct {
	Topic     string
	Partition int32
	Floor     int64
	Committed int64 // the table's next offset; -1: none
	// Hole, when not -1, is an offset this writer gave up on (a fenced
	// commit held it) and nobody has landed: committing would pass over it.
	Hole    int64
	Current Offsets
	// CurrentMaxTS are the table's max timestamps, of the same snapshot.
	CurrentMaxTS Offsets
	// ID, when set, is a transaction id of this commit that another
	// writer landed meanwhile (Topic and the offsets are then unset).
	ID string
}

func (e *FencedError) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("lake: transaction %s of this commit was landed by another writer meanwhile", e.ID)
	}
	if e.Hole >= 0 {
		return fmt.Sprintf("lake: %s/%d: offset %d, which a fenced commit held, is not landed yet (the table is at %d); committing would pass over it",
			e.Topic, e.Partition, e.Hole, e.Committed)
	}
	return fmt.Sprintf("lake: %s/%d was committed up to %d by another writer, past this writer's offset %d",
		e.Topic, e.Partition, e.Committed, e.Floor)
}

// appendFenced is Append that first checks, on the very snapshot it commits
// on top of, that no other writer committed past floor (the lowest offset
// of the rows being appended, per partition), that the table has passed
// every offset in barrier (see holes), and, when holds is set, that no
// other writer landed an id of these rows since the writer last read
// theirs (holds reports the first of the given ids that the rows have):
// after a rebalance, the new owner of a partition may be given the copy of
// an event the old owner has just landed. base is the offsets of that
// snapshot, when the append commits.
func (t *Table) appendFenced(ctx context.Context, files []DataFile, offsets, maxTS, floor, barrier Offsets, holds func([]idKey) (idKey, bool)) (base Offsets, err error) {
	if len(files) == 0 && len(offsets) == 0 {
		return nil, nil
	}
	err = t.commit(ctx, func(tbl *table.Table, tx *table.Transaction, props iceberg.Properties) error {
		cur, curTS, err := positionsOf(tbl)
		if err != nil {
			return err
		}
		base = cur
		for _, e := range floor.Sorted() {
			if next, ok := cur.Next(e.Topic, e.Partition); ok && next > e.NextOffset {
				return &FencedError{Topic: e.Topic, Partition: e.Partition, Floor: e.NextOffset, Committed: next, Hole: -1, Current: cur, CurrentMaxTS: curTS}
			}
		}
		for _, e := range barrier.Sorted() {
			next, ok := cur.Next(e.Topic, e.Partition)
			if !ok {
				next = -1
			}
			if next <= e.NextOffset {
				return &FencedError{Topic: e.Topic, Partition: e.Partition, Floor: -1, Committed: next, Hole: e.NextOffset, Current: cur, CurrentMaxTS: curTS}
			}
		}
		if holds != nil {
			t.readForeign(ctx, tbl)
			t.mu.Lock()
			foreign := t.foreign
			t.mu.Unlock()
			if k, ok := holds(foreign); ok {
				id, _ := uuid.FromBytes(k[:])
				return &FencedError{Floor: -1, Committed: -1, Hole: -1, Current: cur, CurrentMaxTS: curTS, ID: id.String()}
			}
		}
		mergedTS := curTS.Merge(maxTS)
		for _, e := range offsets.Sorted() {
			// A partition raised without a max timestamp (records without
			// Kafka timestamps, Append) has none: the old one would not
			// cover the new records.
			if _, ok := maxTS.Next(e.Topic, e.Partition); !ok {
				if next, ok := cur.Next(e.Topic, e.Partition); !ok || e.NextOffset > next {
					mergedTS.remove(e.Topic, e.Partition)
				}
			}
		}
		if err := setOffsetsProps(props, cur.Merge(offsets), mergedTS); err != nil {
			return err
		}
		if len(files) == 0 {
			// Offsets only: an empty append still records a snapshot.
			return tx.AddFiles(ctx, nil, props, false)
		}
		dfs := make([]iceberg.DataFile, len(files))
		for i, f := range files {
			if dfs[i], err = t.icebergFile(tbl, f); err != nil {
				return err
			}
		}
		return tx.AddDataFiles(ctx, dfs, props, table.WithoutDuplicateCheck())
	})
	if err != nil {
		return nil, err
	}
	return base, nil
}

// PropOffsetsReset names the topic whose offsets a snapshot dropped
// (ResetOffsets).
const PropOffsetsReset = "trstream.offsets-reset"

// ResetOffsets drops topic's committed offsets in one snapshot (no files),
// so that its records land from the start of its log again, and returns
// what was dropped. It is for a topic that was deleted and created again
// (or a broker that lost its log): parquet_lake refuses the records of a
// log that ends below the committed offsets. Stop the topic's writers
// first: a running writer keeps the offsets it loaded, and merges its own
// back on its next commit.
func (t *Table) ResetOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	var dropped map[int32]int64
	err := t.commit(ctx, func(tbl *table.Table, tx *table.Transaction, props iceberg.Properties) error {
		cur, curTS, err := positionsOf(tbl)
		if err != nil {
			return err
		}
		if dropped = cur[topic]; len(dropped) == 0 {
			return fmt.Errorf("the lake holds no offsets of topic %q", topic)
		}
		rest, restTS := cur.Clone(), curTS.Clone()
		delete(rest, topic)
		delete(restTS, topic)
		if err := setOffsetsProps(props, rest, restTS); err != nil {
			return err
		}
		props[PropOffsetsReset] = topic
		return tx.AddFiles(ctx, nil, props, false)
	})
	return dropped, err
}

// Replace atomically swaps files for compaction: remove must all be in the
// current snapshot (else ErrFileNotInTable), add are new files holding the
// same rows. A conflict with a concurrent append is retried against the
// reloaded table, so appended files are kept; the current offsets are
// carried into the new snapshot.
func (t *Table) Replace(ctx context.Context, remove, add []DataFile) error {
	if len(remove) == 0 && len(add) == 0 {
		return nil
	}
	return t.commit(ctx, func(tbl *table.Table, tx *table.Transaction, props iceberg.Properties) error {
		cur, err := t.currentFiles(ctx, tbl)
		if err != nil {
			return err
		}
		byPath := make(map[string]iceberg.DataFile, len(cur))
		for _, df := range cur {
			byPath[df.FilePath()] = df
		}
		dels := make([]iceberg.DataFile, len(remove))
		for i, f := range remove {
			df, ok := byPath[f.Path]
			if !ok {
				return fmt.Errorf("%w: %s", ErrFileNotInTable, f.Path)
			}
			dels[i] = df
		}
		adds := make([]iceberg.DataFile, len(add))
		for i, f := range add {
			if adds[i], err = t.icebergFile(tbl, f); err != nil {
				return err
			}
		}
		offs, maxTS, err := positionsOf(tbl)
		if err != nil {
			return err
		}
		if err := setOffsetsProps(props, offs, maxTS); err != nil {
			return err
		}
		return tx.ReplaceDataFilesWithDataFiles(ctx, dels, adds, props, table.WithoutDuplicateCheck())
	})
}

// CleanOrphans deletes data files under data/ that no snapshot references
// and that are older than olderThan (so files being written and committed
// right now survive; use at least several commit intervals), plus stale
// temporary files. It returns the deleted paths, relative to the lake.
func (t *Table) CleanOrphans(ctx context.Context, olderThan time.Duration) ([]string, error) {
	return t.cleanOrphansOnce(ctx, olderThan)
}

// lastPositions returns the offsets and max timestamps of the most
// recently loaded table state (after a commit: the merged ones just
// committed).
func (t *Table) lastPositions() (Offsets, Offsets) {
	t.mu.Lock()
	tbl := t.tbl
	t.mu.Unlock()
	if tbl == nil {
		return Offsets{}, Offsets{}
	}
	o, ts, err := positionsOf(tbl)
	if err != nil {
		return Offsets{}, Offsets{}
	}
	return o, ts
}

// setOffsetsProps puts the offsets and max timestamps a snapshot carries
// into its summary properties.
func setOffsetsProps(props iceberg.Properties, offsets, maxTS Offsets) error {
	js, err := offsets.MarshalJSON()
	if err != nil {
		return err
	}
	tjs, err := maxTS.MarshalJSON()
	if err != nil {
		return err
	}
	props[PropOffsets], props[PropMaxTimestamps] = string(js), string(tjs)
	return nil
}

// deleteUncommitted removes data files that no snapshot references (a
// fenced or abandoned commit). It is best effort: CleanOrphans catches what
// it misses.
func (t *Table) deleteUncommitted(ctx context.Context, files []DataFile) {
	for _, f := range files {
		if rel, ok := t.loc.Rel(f.Path); ok {
			_ = t.store.Delete(ctx, rel)
		}
	}
}

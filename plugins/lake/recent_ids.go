package lake

import (
	"context"
	"io"

	"github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/parquet-go/parquet-go"
)

// maxWarmSnapshots bounds how far back a walk of the history goes.
const maxWarmSnapshots = 500

// RecentIDs returns the transaction ids of the newest appended rows, oldest
// first: the whole files added by the newest append snapshots of the
// current history, until at least n ids, maxWarmSnapshots snapshots or the
// start of the history. A writer warms its id window with them on start, so
// an event produced again across its restart still lands once. Compaction
// snapshots add no new ids and are passed over; a file that can no longer
// be read (replaced, then expired) is skipped, as warming is best effort and
// compaction removes what it misses.
func (t *Table) RecentIDs(ctx context.Context, n int) ([]idKey, error) {
	if n <= 0 {
		return nil, nil
	}
	ctx = t.ctx(ctx)
	tbl, fs, err := t.reloadFS(ctx)
	if err != nil {
		return nil, err
	}
	cur := tbl.CurrentSnapshot()
	ids, err := t.appendedIDs(ctx, fs, tbl, cur, func(*table.Snapshot) bool { return true },
		func(_ *table.Snapshot, total int) bool { return total >= n })
	if err == nil {
		t.setIDsThrough(cur)
	}
	return ids, err
}

// ForeignIDs returns the ids that other writers appended between the
// snapshot of the last RecentIDs or ForeignIDs call and the most recently
// loaded table state, oldest first. A writer calls it after each commit
// (which loads the table), so an event that another writer landed, and
// that comes again after a rebalance moved its partition here, lands once.
// Before any RecentIDs call it returns nothing.
func (t *Table) ForeignIDs(ctx context.Context) ([]idKey, error) {
	t.mu.Lock()
	tbl, since, tracked := t.tbl, t.idsThrough, t.idsTracked
	t.mu.Unlock()
	if tbl == nil || !tracked {
		return nil, nil
	}
	cur := tbl.CurrentSnapshot()
	if cur == nil || cur.SnapshotID == since {
		return nil, nil
	}
	ctx = t.ctx(ctx)
	fs, err := t.fs(ctx, tbl)
	if err != nil {
		return nil, err
	}
	ids, err := t.appendedIDs(ctx, fs, tbl, cur,
		func(s *table.Snapshot) bool { return s.Summary.Properties[PropWriterID] != t.writerID },
		func(s *table.Snapshot, _ int) bool { return s.SnapshotID == since })
	if err == nil {
		t.setIDsThrough(cur)
	}
	return ids, err
}

func (t *Table) setIDsThrough(s *table.Snapshot) {
	t.mu.Lock()
	t.idsTracked = true
	if s != nil {
		t.idsThrough = s.SnapshotID
	}
	t.mu.Unlock()
}

// appendedIDs walks the history back from s, reading the ids added by the
// append snapshots that want accepts, until stop (given the snapshot about
// to be read and the ids so far), maxWarmSnapshots or the history's start.
// The ids come back oldest snapshot first.
func (t *Table) appendedIDs(ctx context.Context, fs iceio.IO, tbl *table.Table, s *table.Snapshot,
	want func(*table.Snapshot) bool, stop func(*table.Snapshot, int) bool,
) ([]idKey, error) {
	var perSnap [][]idKey // newest snapshot first
	total := 0
	md := tbl.Metadata()
	for i := 0; s != nil && i < maxWarmSnapshots && !stop(s, total); i++ {
		if s.Summary != nil && s.Summary.Operation == table.OpAppend && want(s) {
			ids, err := t.addedIDs(ctx, fs, s)
			if err != nil {
				return nil, err
			}
			perSnap = append(perSnap, ids)
			total += len(ids)
		}
		if s.ParentSnapshotID == nil {
			break
		}
		s = md.SnapshotByID(*s.ParentSnapshotID)
	}
	out := make([]idKey, 0, total)
	for i := len(perSnap) - 1; i >= 0; i-- {
		out = append(out, perSnap[i]...)
	}
	return out, nil
}

// addedIDs reads the transaction_id column of the data files snapshot s
// added (its own manifests' ADDED entries).
func (t *Table) addedIDs(ctx context.Context, fs iceio.IO, s *table.Snapshot) ([]idKey, error) {
	mans, err := s.Manifests(fs)
	if err != nil {
		return nil, err
	}
	var ids []idKey
	own := func(m iceberg.ManifestFile) bool { return m.SnapshotID() == s.SnapshotID }
	err = eachLiveDataEntry(fs, mans, own, func(e iceberg.ManifestEntry) {
		if e.Status() != iceberg.EntryStatusADDED {
			return
		}
		if rel, ok := t.loc.Rel(e.DataFile().FilePath()); ok {
			ids, _ = t.fileIDs(ctx, rel, ids) // unreadable: skipped, see RecentIDs
		}
	})
	return ids, err
}

// fileIDs appends the transaction ids of one data file, reading only that
// column.
func (t *Table) fileIDs(ctx context.Context, rel string, ids []idKey) ([]idKey, error) {
	r, err := t.store.Open(ctx, rel)
	if err != nil {
		return ids, err
	}
	defer r.Close()
	f, err := parquet.OpenFile(io.NewSectionReader(r, 0, r.Size()), r.Size(), parquet.SkipBloomFilters(true))
	if err != nil {
		return ids, err
	}
	leaf, ok := f.Schema().Lookup("transaction_id")
	if !ok {
		return ids, nil
	}
	c := colReader{f: f, col: leaf.ColumnIndex}
	defer c.close()
	var vals []parquet.Value
	for {
		vals, err = c.read(vals[:0], 4096)
		for _, v := range vals {
			ids = append(ids, keyOf(string(v.ByteArray())))
		}
		if err != nil || len(vals) == 0 {
			return ids, err
		}
	}
}

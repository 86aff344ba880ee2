package lake

import (
	"context"
	"errors"
	"fmt"
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
// snapshots add no new ids and are passed over.
//
// floor says how far back the ids reach, per topic partition: every row
// the table landed from an offset at or above floor has its id among them.
// It is the offsets of the newest snapshot the walk did not read (where it
// stopped, or one with a file that can no longer be read: replaced, then
// expired); empty when the walk read the history from its start. The
// writer checks a replay below the committed offsets by id above floor,
// and skips it by offset below.
func (t *Table) RecentIDs(ctx context.Context, n int) (ids []idKey, floor Offsets, err error) {
	if n <= 0 {
		return nil, nil, nil
	}
	ctx = t.ctx(ctx)
	tbl, fs, err := t.reloadFS(ctx)
	if err != nil {
		return nil, nil, err
	}
	cur := tbl.CurrentSnapshot()
	all := func(*table.Snapshot) bool { return true }
	ids, edge, err := t.appendedIDs(ctx, fs, tbl, cur, all,
		func(_ *table.Snapshot, total int) bool { return total >= n })
	floor = Offsets{}
	if edge != nil && err == nil {
		// A row at or above floor that was skipped as a duplicate of one
		// landed below it must be known too, or its replay would look
		// late and land. The ids of the edge snapshot and those before it,
		// another quarter of the window, cover the events produced twice
		// close together (an at-least-once producer's retries), whose
		// copies a snapshot boundary splits. floor stays: it promises
		// only rows landed at or above it.
		more, _, _ := t.appendedIDs(ctx, fs, tbl, edge, all,
			func(_ *table.Snapshot, total int) bool { return total >= max(1, n/4) })
		ids = append(more, ids...)
	}
	if edge != nil {
		var known bool
		if floor, _, known, err = positionsAt(tbl.Metadata(), edge); err != nil {
			return nil, nil, err
		}
		if !known {
			// The edge's offsets are lost with its history: the ids
			// reach back to no known offset.
			if floor, _, err = positionsOf(tbl); err != nil {
				return nil, nil, err
			}
		}
	}
	t.setIDsThrough(cur)
	return ids, floor, nil
}

// ForeignIDs returns the ids that other writers appended between the
// snapshot of the last RecentIDs or ForeignIDs call and the most recently
// loaded table state, oldest first, with those a commit read meanwhile
// (readForeign). A writer calls it after each commit (which loads the
// table), so an event that another writer landed, and that comes again
// after a rebalance moved its partition here, lands once. Before any
// RecentIDs call it returns nothing. An error means that some of those ids
// could not be read (a file, or the walk's bound): the ids that could are
// returned, and the next call starts after this one all the same, so the
// writer must stop trusting its window below the loaded offsets.
func (t *Table) ForeignIDs(ctx context.Context) ([]idKey, error) {
	t.mu.Lock()
	tbl := t.tbl
	t.mu.Unlock()
	t.readForeign(ctx, tbl)
	t.mu.Lock()
	defer t.mu.Unlock()
	ids, err := t.foreign, t.foreignErr
	t.foreign, t.foreignErr = nil, nil
	return ids, err
}

// readForeign reads the ids other writers appended since the last read up
// to tbl's current snapshot, and keeps them, and any error, for the next
// ForeignIDs call.
func (t *Table) readForeign(ctx context.Context, tbl *table.Table) {
	t.mu.Lock()
	since, tracked := t.idsThrough, t.idsTracked
	t.mu.Unlock()
	if tbl == nil || !tracked {
		return
	}
	cur := tbl.CurrentSnapshot()
	if cur == nil || cur.SnapshotID == since {
		return
	}
	ctx = t.ctx(ctx)
	var (
		ids  []idKey
		edge *table.Snapshot
	)
	fs, err := t.fs(ctx, tbl)
	if err == nil {
		ids, edge, err = t.appendedIDs(ctx, fs, tbl, cur,
			func(s *table.Snapshot) bool { return s.Summary.Properties[PropWriterID] != t.writerID },
			func(s *table.Snapshot, _ int) bool { return s.SnapshotID == since })
	}
	if err == nil && edge != nil && edge.SnapshotID != since {
		err = fmt.Errorf("the history since snapshot %d is longer than %d snapshots, or expired", since, maxWarmSnapshots)
	}
	t.mu.Lock()
	t.foreign = append(t.foreign, ids...)
	t.foreignErr = errors.Join(t.foreignErr, err)
	t.mu.Unlock()
	t.setIDsThrough(cur)
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
// The ids come back oldest snapshot first. edge is the newest snapshot
// whose ids are not all among them: where the walk stopped, the snapshot
// with a file it could not read (err says why), or the oldest snapshot read
// when its parent has expired; nil when the walk reached the history's
// start.
func (t *Table) appendedIDs(ctx context.Context, fs iceio.IO, tbl *table.Table, s *table.Snapshot,
	want func(*table.Snapshot) bool, stop func(*table.Snapshot, int) bool,
) (ids []idKey, edge *table.Snapshot, err error) {
	var perSnap [][]idKey // newest snapshot first
	total := 0
	md := tbl.Metadata()
	for i := 0; s != nil; i++ {
		if i >= maxWarmSnapshots || stop(s, total) {
			edge = s
			break
		}
		if s.Summary != nil && s.Summary.Operation == table.OpAppend && want(s) {
			got, rerr := t.addedIDs(ctx, fs, s)
			if rerr != nil {
				edge, err = s, rerr
				break
			}
			perSnap = append(perSnap, got)
			total += len(got)
		}
		if s.ParentSnapshotID == nil {
			break
		}
		parent := md.SnapshotByID(*s.ParentSnapshotID)
		if parent == nil {
			edge = s
			break
		}
		s = parent
	}
	ids = make([]idKey, 0, total)
	for i := len(perSnap) - 1; i >= 0; i-- {
		ids = append(ids, perSnap[i]...)
	}
	return ids, edge, err
}

// addedIDs reads the transaction_id column of the data files snapshot s
// added (its own manifests' ADDED entries).
func (t *Table) addedIDs(ctx context.Context, fs iceio.IO, s *table.Snapshot) ([]idKey, error) {
	mans, err := s.Manifests(fs)
	if err != nil {
		return nil, err
	}
	var ids []idKey
	var ferr error // the first file that could not be read
	own := func(m iceberg.ManifestFile) bool { return m.SnapshotID() == s.SnapshotID }
	err = eachLiveDataEntry(fs, mans, own, func(e iceberg.ManifestEntry) {
		if e.Status() != iceberg.EntryStatusADDED {
			return
		}
		if rel, ok := t.loc.Rel(e.DataFile().FilePath()); ok && ferr == nil {
			ids, ferr = t.fileIDs(ctx, rel, ids)
		}
	})
	if err == nil {
		err = ferr
	}
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

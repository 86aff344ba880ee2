package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
)

// The column-wise k-way merge behind Compact. Rows are merged a window at a
// time: the window ends before the smallest event time any unfinished run
// has looked ahead to, so every run's part of it is a prefix of what it
// looked ahead, and rows of one event time never straddle two windows
// (duplicates are always found within one). Each run's part is read column
// by column; the merge orders references to rows by (event_time,
// transaction_id) and drops exact duplicates; the writer then gathers each
// output column from those references. Reading the next window overlaps
// with writing the previous one.

// colWindowRows is the rows a window aims at. colBatches windows are held
// at a time, each about 24 bytes per column and row.
const colWindowRows = 32 << 10

// colBatches is how many windows are in flight: being read, waiting, and
// being written.
const colBatches = 3

// rowRef is a merged row: source slot and row within it.
type rowRef struct{ src, row int32 }

// colBatch is one merged window: the values of each contributing run
// (src[slot][column]) and the rows in output order.
type colBatch struct {
	src [][][]parquet.Value
	sel []rowRef
	// seq numbers the windows from 1 in the order they are read.
	seq int64
	// pending counts the writer's tasks still reading the batch.
	pending sync.WaitGroup
}

func (b *colBatch) slot(i int) [][]parquet.Value {
	for len(b.src) <= i {
		b.src = append(b.src, make([][]parquet.Value, numCols))
	}
	return b.src[i]
}

func (b *colBatch) time(r rowRef) int64 { return b.src[r.src][colTime][r.row].Int64() }
func (b *colBatch) id(r rowRef) []byte  { return b.src[r.src][colID][r.row].ByteArray() }

// release readies a written batch for reuse. Its values are left in
// place: the next window overwrites them, and clears what it does not
// (colRun.take, clearSlots), so that no slice holds page references
// beyond its length.
func (b *colBatch) release() {
	b.sel = b.sel[:0]
}

// clearSlots empties the slots from i on, which the window being read
// does not use.
func (b *colBatch) clearSlots(i int) {
	for _, s := range b.src[min(i, len(b.src)):] {
		for c := range s {
			clear(s[c])
			s[c] = s[c][:0]
		}
	}
}

// colMerger plans windows over a set of runs.
type colMerger struct {
	runs   []*colRun
	step   []int // rows each run looks ahead to
	counts []int
	// ret holds the pages the runs read to their end.
	ret pageRetirer
	// written marks windows written after others still in flight;
	// writtenUpTo is the last window up to which all are written.
	written     map[int64]bool
	writtenUpTo int64
	takes       []take
	short       []int // runs to look further ahead in
}

func newColMerger(runs []*colRun) *colMerger {
	m := &colMerger{runs: runs, step: make([]int, len(runs)), counts: make([]int, len(runs)), written: map[int64]bool{}}
	for i := range m.step {
		m.step[i] = max(colWindowRows/len(runs), 256)
	}
	for _, r := range runs {
		for c := range r.cols {
			r.cols[c].ret = &m.ret
		}
	}
	return m
}

// recycle takes back batch b, written, releases the pages no window in
// flight can hold and numbers b as the next window.
func (m *colMerger) recycle(b *colBatch) {
	if b.seq > 0 {
		m.written[b.seq] = true
		for m.written[m.writtenUpTo+1] {
			delete(m.written, m.writtenUpTo+1)
			m.writtenUpTo++
		}
		m.ret.releaseUpTo(m.writtenUpTo)
	}
	m.ret.seq++
	b.seq = m.ret.seq
}

// plan sets m.counts to each run's rows in the next window and returns
// their sum; 0 means every run is consumed.
func (m *colMerger) plan() (int, error) {
	for {
		limit := int64(math.MaxInt64)
		open := false
		m.short = m.short[:0]
		for i, r := range m.runs {
			if !r.done && len(r.ahead) < m.step[i] {
				m.short = append(m.short, i)
			}
		}
		err := parallelDo(len(m.short), func(j int) error {
			i := m.short[j]
			return m.runs[i].lookAhead(m.step[i] - len(m.runs[i].ahead))
		})
		if err != nil {
			return 0, err
		}
		for _, r := range m.runs {
			if !r.done {
				open = true
				limit = min(limit, r.lastAhead())
			}
		}
		total, ahead := 0, 0
		for i, r := range m.runs {
			if open {
				m.counts[i] = r.countBefore(limit)
			} else {
				m.counts[i] = len(r.ahead)
			}
			total += m.counts[i]
			ahead += len(r.ahead)
		}
		if !open || total >= colWindowRows/2 || (total > 0 && ahead >= 2*colWindowRows) {
			return total, nil
		}
		// Look further ahead in the runs that end the window.
		for i, r := range m.runs {
			if !r.done && r.lastAhead() == limit {
				m.step[i] = 2 * max(m.step[i], len(r.ahead))
			}
		}
	}
}

// next fills b with the next window, merged; false when the runs are
// consumed.
func (m *colMerger) next(b *colBatch) (ok bool, dups int64, err error) {
	total, err := m.plan()
	if err != nil || total == 0 {
		return false, 0, err
	}
	m.takes = m.takes[:0]
	for i, r := range m.runs {
		if m.counts[i] > 0 {
			m.takes = append(m.takes, take{r, b.slot(len(m.takes)), m.counts[i]})
		}
	}
	b.clearSlots(len(m.takes))
	if err := m.takeAll(); err != nil {
		return false, 0, err
	}
	slots := len(m.takes)
	b.sel = slices.Grow(b.sel[:0], total)
	if slots == 1 {
		for i := range total {
			b.sel = append(b.sel, rowRef{0, int32(i)})
		}
	} else {
		b.heapMerge(slots)
	}
	return true, b.dedupe(), nil
}

// take is one run's part of a window: n rows into the slot dst.
type take struct {
	r   *colRun
	dst [][]parquet.Value
	n   int
}

// takeAll reads m.takes in parallel (parallelDo): reading is
// decompressing and decoding pages, and a window may need a new page of
// every column of every run (all of them in the first window of small
// files, one page a column each) while the writer has nothing to do yet.
func (m *colMerger) takeAll() error {
	return parallelDo(len(m.takes), func(i int) error {
		t := m.takes[i]
		return t.r.take(t.dst, t.n)
	})
}

// parallelDo calls f(0)…f(n-1) on up to GOMAXPROCS goroutines, each
// taking the next index, and returns their errors joined.
func parallelDo(n int, f func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			if err := f(i); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// heapMerge appends the rows of slots 0..n-1 to b.sel in (event_time,
// transaction_id) order, each slot's rows staying in their order.
func (b *colBatch) heapMerge(n int) {
	type head struct {
		t   int64
		ref rowRef
	}
	less := func(x, y *head) bool {
		if x.t != y.t {
			return x.t < y.t
		}
		return bytes.Compare(b.id(x.ref), b.id(y.ref)) < 0
	}
	h := make([]head, 0, n)
	for s := 0; s < n; s++ {
		if len(b.src[s][colTime]) > 0 {
			h = append(h, head{b.src[s][colTime][0].Int64(), rowRef{int32(s), 0}})
		}
	}
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			if r := l + 1; r < len(h) && less(&h[r], &h[l]) {
				l = r
			}
			if !less(&h[l], &h[i]) {
				return
			}
			h[i], h[l] = h[l], h[i]
			i = l
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(h) > 0 {
		top := &h[0]
		b.sel = append(b.sel, top.ref)
		times := b.src[top.ref.src][colTime]
		if next := int(top.ref.row) + 1; next < len(times) {
			top.ref.row = int32(next)
			top.t = times[next].Int64()
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
}

// dedupe orders each run of equal event times by transaction_id (a run
// file need only be sorted by event_time) and drops rows whose event_time
// and transaction_id repeat the previous row's: exact duplicates. It
// returns how many it dropped.
func (b *colBatch) dedupe() int64 {
	sel := b.sel
	out := sel[:0]
	var dups int64
	byID := func(x, y rowRef) int { return bytes.Compare(b.id(x), b.id(y)) }
	for i := 0; i < len(sel); {
		t := b.time(sel[i])
		j := i + 1
		for j < len(sel) && b.time(sel[j]) == t {
			j++
		}
		g := sel[i:j]
		if len(g) > 1 && !slices.IsSortedFunc(g, byID) {
			slices.SortStableFunc(g, byID)
		}
		for k := range g {
			if k > 0 && bytes.Equal(b.id(g[k]), b.id(out[len(out)-1])) {
				dups++
				continue
			}
			out = append(out, g[k])
		}
		i = j
	}
	b.sel = out
	return dups
}

// colSink receives merged windows in order.
type colSink interface {
	write(b *colBatch) error
}

// mergeColumns merges sorted runs into sink window by window, reading the
// next window while the sink writes the previous one. Every run is closed.
func mergeColumns(ctx context.Context, runs []*colRun, sink colSink) (st mergeStats, err error) {
	defer func() {
		if cerr := closeColRuns(runs); err == nil {
			err = cerr
		}
	}()
	m := newColMerger(runs)
	full := make(chan *colBatch, 1)
	free := make(chan *colBatch, colBatches)
	for range colBatches {
		free <- &colBatch{}
	}
	stop := make(chan struct{})
	var readErr error
	var dups int64
	go func() {
		defer close(full)
		for {
			var b *colBatch
			select {
			case b = <-free:
			case <-stop:
				return
			}
			if readErr = ctx.Err(); readErr != nil {
				return
			}
			m.recycle(b)
			ok, d, err := m.next(b)
			if err != nil || !ok {
				readErr = err
				return
			}
			dups += d
			full <- b
		}
	}()
	for b := range full {
		if err == nil {
			err = sink.write(b)
			if err != nil {
				close(stop)
			}
		}
		go func() {
			b.pending.Wait()
			b.release()
			free <- b
		}()
	}
	if err == nil {
		err = readErr
	}
	for _, r := range runs {
		st.rowsIn += r.rows
	}
	st.duplicates = dups
	return st, err
}

// openColRuns opens runs for the column-wise merge.
func openColRuns(runs []mergeRun) ([]*colRun, error) {
	out := make([]*colRun, 0, len(runs))
	for _, r := range runs {
		f, c, err := r.file()
		if err == nil {
			var cr *colRun
			if cr, err = newColRun(r.name, f, c); err == nil {
				out = append(out, cr)
				continue
			}
			c.Close()
		}
		closeColRuns(out)
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	return out, nil
}

// mergeToTempRunCol merges runs column-wise into one new temporary run and
// removes the temporary inputs.
func mergeToTempRunCol(ctx context.Context, runs []mergeRun, dir string) (mergeRun, mergeStats, error) {
	crs, err := openColRuns(runs)
	if err != nil {
		return mergeRun{}, mergeStats{}, err
	}
	out := &tempColOutput{dir: dir}
	w := newColWriter(out, tempRunCodec, tempRunRowGroupRows, tempRunPageBytes)
	st, err := mergeColumns(ctx, crs, w)
	if err == nil && w.pw == nil && len(out.paths) == 0 {
		// No rows: still one (empty) run file.
		err = w.open()
	}
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		w.abort()
		return mergeRun{}, st, err
	}
	removeTempRuns(runs)
	return tempMergeRun(out.paths[0]), st, nil
}

// reduceColRuns merges runs column-wise into temporary runs until all of
// them fit budget together, and returns them with the duplicates dropped
// on the way. Consecutive runs are grouped up to budget (at least two a
// group): lake files with large pages hold several MiB each, a temporary
// run (small pages) little, so the final merge can take many more.
func reduceColRuns(ctx context.Context, runs []mergeRun, dir string, budget int64) ([]mergeRun, int64, error) {
	var dups int64
	for {
		var total int64
		for i := range runs {
			if runs[i].mem == 0 {
				f, c, err := runs[i].file()
				if err != nil {
					return nil, dups, fmt.Errorf("%s: %w", runs[i].name, err)
				}
				runs[i].mem = colRunMemory(f)
				c.Close()
			}
			total += runs[i].mem
		}
		if total <= budget || len(runs) <= 2 {
			return runs, dups, nil
		}
		var next []mergeRun
		for i := 0; i < len(runs); {
			j, mem := i+1, runs[i].mem
			for j < len(runs) && (j-i < 2 || mem+runs[j].mem <= budget) {
				mem += runs[j].mem
				j++
			}
			if j-i == 1 {
				next = append(next, runs[i])
				i = j
				continue
			}
			r, st, err := mergeToTempRunCol(ctx, runs[i:j], dir)
			if err != nil {
				return nil, dups, err
			}
			dups += st.duplicates
			next = append(next, r)
			i = j
		}
		runs = next
	}
}

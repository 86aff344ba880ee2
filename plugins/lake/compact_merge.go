package lake

import (
	"bufio"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/trstream/trstream/plugins/txn"
)

// The streaming k-way merge behind Compact. Every input is a sorted run (a
// Parquet file whose rows are in event_time order); runs are read in small
// chunks, merged through a heap on (event_time, transaction_id), and
// consecutive rows with the same event_time and transaction_id (exact
// duplicates) are dropped. Memory is bounded by the fan-in (open runs ×
// one chunk and one page per column each) plus one output row group,
// whatever the size of the partition.

// mergeChunkRows is how many rows a run reads at a time.
const mergeChunkRows = 512

// sortChunkRows bounds the rows held in memory when an unsorted input is
// split into sorted runs (about 100 MiB of decoded rows at most).
const sortChunkRows = 128 << 10

// tempRunRowGroupRows is the row group size of intermediate run files.
const tempRunRowGroupRows = 64 << 10

// tempRunPageBytes is the page buffer size of intermediate run files.
const tempRunPageBytes = 32 << 10

// errUnsorted reports an input whose event_time goes backwards, found while
// merging (inputs are checked before the merge, so this means the file
// changed under us).
var errUnsorted = errors.New("lake: compaction input is not sorted by event_time")

// rowSource is a stream of rows: Read fills rows and returns io.EOF at the
// end, like parquet.GenericReader.
type rowSource interface {
	Read(rows []txn.Transaction) (int, error)
	Close() error
}

// parquetRun reads the rows of one Parquet file of the lake's schema.
type parquetRun struct {
	name   string
	closer io.Closer
	r      *parquet.GenericReader[txn.Transaction]
}

// openParquet opens a Parquet file for reading without the bloom filters
// and page index the merge never uses.
func openParquet(ra io.ReaderAt, size int64) (*parquet.File, error) {
	return parquet.OpenFile(ra, size, parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
}

// newParquetRun reads f's rows as txn.Transaction. A file whose schema
// cannot be converted is an error, not a panic.
func newParquetRun(name string, f *parquet.File, closer io.Closer) (run *parquetRun, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: cannot read as a transaction file: %v", name, r)
		}
	}()
	for _, col := range []string{"transaction_id", "event_time"} {
		if _, ok := f.Schema().Lookup(col); !ok {
			return nil, fmt.Errorf("%s: no %s column", name, col)
		}
	}
	return &parquetRun{name: name, closer: closer, r: parquet.NewGenericReader[txn.Transaction](f)}, nil
}

func (p *parquetRun) Read(rows []txn.Transaction) (int, error) { return p.r.Read(rows) }

func (p *parquetRun) Close() error {
	err := p.r.Close()
	if p.closer != nil {
		err = errors.Join(err, p.closer.Close())
	}
	return err
}

// openLocalParquet opens a Parquet file on local disk.
func openLocalParquet(path string) (*parquet.File, io.Closer, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	f, err := openParquet(fh, st.Size())
	if err != nil {
		fh.Close()
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, fh, nil
}

// openLocalParquetRun opens a Parquet file on local disk as a run.
func openLocalParquetRun(path string) (*parquetRun, error) {
	f, fh, err := openLocalParquet(path)
	if err != nil {
		return nil, err
	}
	run, err := newParquetRun(path, f, fh)
	if err != nil {
		fh.Close()
		return nil, err
	}
	return run, nil
}

// eventTimesSorted reports whether f's event_time column never decreases,
// reading that one column only.
func eventTimesSorted(f *parquet.File) (bool, error) {
	leaf, ok := f.Schema().Lookup("event_time")
	if !ok {
		return false, errors.New("no event_time column")
	}
	last := int64(math.MinInt64)
	vals := make([]parquet.Value, 1024)
	for _, rg := range f.RowGroups() {
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		for {
			p, err := pages.ReadPage()
			if err == io.EOF {
				break
			}
			if err != nil {
				pages.Close()
				return false, err
			}
			vr := p.Values()
			for {
				n, err := vr.ReadValues(vals)
				for i := 0; i < n; i++ {
					if vals[i].IsNull() {
						continue
					}
					v := vals[i].Int64()
					if v < last {
						parquet.Release(p)
						pages.Close()
						return false, nil
					}
					last = v
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					parquet.Release(p)
					pages.Close()
					return false, err
				}
			}
			parquet.Release(p)
		}
		if err := pages.Close(); err != nil {
			return false, err
		}
	}
	return true, nil
}

// compareRows orders rows by event_time, then transaction_id.
func compareRows(a, b *txn.Transaction) int {
	if c := a.EventTime.Compare(b.EventTime); c != 0 {
		return c
	}
	return strings.Compare(a.TransactionID, b.TransactionID)
}

// mergeCursor is a run being merged: a chunk of its rows and their event times
// in microseconds.
type mergeCursor struct {
	src  rowSource
	name string
	buf  []txn.Transaction
	keys []int64
	pos  int
	n    int
	last int64
	rows int64
}

// fill reads the next chunk; it returns false at the end of the run.
func (c *mergeCursor) fill() (bool, error) {
	for {
		n, err := c.src.Read(c.buf)
		for i := 0; i < n; i++ {
			k := c.buf[i].EventTime.UnixMicro()
			if k < c.last {
				return false, fmt.Errorf("%w: %s", errUnsorted, c.name)
			}
			c.keys[i], c.last = k, k
		}
		c.pos, c.n = 0, n
		c.rows += int64(n)
		if n > 0 {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read %s: %w", c.name, err)
		}
	}
}

type mergeHeap []*mergeCursor

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if ka, kb := a.keys[a.pos], b.keys[b.pos]; ka != kb {
		return ka < kb
	}
	return a.buf[a.pos].TransactionID < b.buf[b.pos].TransactionID
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(*mergeCursor)) }
func (h *mergeHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// mergeStats counts what one merge read and dropped.
type mergeStats struct {
	rowsIn     int64
	duplicates int64
}

// mergeRuns merges sorted runs into emit in (event_time, transaction_id)
// order and drops exact duplicates: rows with the same event_time and
// transaction_id as one already emitted. Rows of one event_time are
// gathered and ordered by id before they are emitted, so a run only needs
// to be sorted by event_time. emit receives batches it may keep only until
// it returns. Every source is closed.
func mergeRuns(ctx context.Context, srcs []rowSource, names []string, emit func([]txn.Transaction) error) (st mergeStats, err error) {
	h := make(mergeHeap, 0, len(srcs))
	defer func() {
		for _, s := range srcs {
			if cerr := s.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
	}()
	for i, s := range srcs {
		c := &mergeCursor{src: s, name: names[i], buf: make([]txn.Transaction, mergeChunkRows),
			keys: make([]int64, mergeChunkRows), last: math.MinInt64}
		ok, err := c.fill()
		if err != nil {
			return st, err
		}
		st.rowsIn += int64(c.n)
		if ok {
			h = append(h, c)
		}
	}
	heap.Init(&h)

	out := make([]txn.Transaction, 0, 4096)
	flushOut := func() error {
		if len(out) == 0 {
			return nil
		}
		err := emit(out)
		clear(out)
		out = out[:0]
		return err
	}
	// group holds the rows of the current event_time.
	var group []txn.Transaction
	groupKey := int64(math.MinInt64)
	flushGroup := func() error {
		if len(group) > 1 {
			slices.SortStableFunc(group, func(a, b txn.Transaction) int {
				return strings.Compare(a.TransactionID, b.TransactionID)
			})
		}
		for i := range group {
			if i > 0 && group[i].TransactionID == group[i-1].TransactionID {
				st.duplicates++
				continue
			}
			out = append(out, group[i])
			if len(out) == cap(out) {
				if err := flushOut(); err != nil {
					return err
				}
			}
		}
		clear(group)
		group = group[:0]
		return nil
	}

	steps := 0
	for len(h) > 0 {
		if steps++; steps%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		c := h[0]
		k := c.keys[c.pos]
		if k != groupKey {
			if err := flushGroup(); err != nil {
				return st, err
			}
			groupKey = k
		}
		group = append(group, c.buf[c.pos])
		c.buf[c.pos] = txn.Transaction{}
		c.pos++
		if c.pos == c.n {
			ok, err := c.fill()
			if err != nil {
				return st, err
			}
			st.rowsIn += int64(c.n)
			if !ok {
				heap.Pop(&h)
				continue
			}
		}
		heap.Fix(&h, 0)
	}
	if err := flushGroup(); err != nil {
		return st, err
	}
	return st, flushOut()
}

// tempRunWriter writes a sorted run to a local temporary Parquet file (snappy:
// cheap to write and read back).
type tempRunWriter struct {
	path string
	fh   *os.File
	bw   *bufio.Writer
	pw   *parquet.GenericWriter[txn.Transaction]
	rows int64
}

func newTempRun(dir string) (*tempRunWriter, error) {
	fh, err := os.CreateTemp(dir, "run-*.parquet")
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(fh, 1<<20)
	pw := parquet.NewGenericWriter[txn.Transaction](bw,
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(tempRunRowGroupRows),
		// Small pages: a reader holds about one page per column, and the
		// final merge opens up to fan-in runs at once.
		parquet.PageBufferSize(tempRunPageBytes),
	)
	return &tempRunWriter{path: fh.Name(), fh: fh, bw: bw, pw: pw}, nil
}

func (w *tempRunWriter) write(rows []txn.Transaction) error {
	w.rows += int64(len(rows))
	_, err := w.pw.Write(rows)
	return err
}

func (w *tempRunWriter) close() error {
	err := w.pw.Close()
	if err == nil {
		err = w.bw.Flush()
	}
	if cerr := w.fh.Close(); err == nil {
		err = cerr
	}
	return err
}

func (w *tempRunWriter) abort() {
	_ = w.fh.Close()
	_ = os.Remove(w.path)
}

// sortIntoRuns reads an unsorted source in chunks of at most chunkRows,
// sorts each chunk by (event_time, transaction_id) and writes it as a
// temporary run. It returns the run paths and the rows read.
func sortIntoRuns(ctx context.Context, src rowSource, dir string, chunkRows int) (paths []string, rows int64, err error) {
	defer func() {
		if cerr := src.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err != nil {
			for _, p := range paths {
				_ = os.Remove(p)
			}
			paths = nil
		}
	}()
	buf := make([]txn.Transaction, chunkRows)
	for {
		if err := ctx.Err(); err != nil {
			return paths, rows, err
		}
		n := 0
		var rerr error
		for n < len(buf) && rerr == nil {
			var k int
			k, rerr = src.Read(buf[n:])
			n += k
		}
		if rerr != nil && rerr != io.EOF {
			return paths, rows, rerr
		}
		if n > 0 {
			rows += int64(n)
			SortByEventTime(buf[:n])
			w, err := newTempRun(dir)
			if err != nil {
				return paths, rows, err
			}
			paths = append(paths, w.path)
			for i := 0; i < n; i += 4096 {
				if err := w.write(buf[i:min(n, i+4096)]); err != nil {
					w.abort()
					return paths, rows, err
				}
			}
			if err := w.close(); err != nil {
				return paths, rows, err
			}
			clear(buf[:n])
		}
		if rerr == io.EOF {
			return paths, rows, nil
		}
	}
}

// mergeRun is a sorted run waiting to be merged: a lake file (read through
// the storage, or a local copy of it) or a temporary run.
type mergeRun struct {
	name string
	open func() (rowSource, error)
	// file opens the run's Parquet file, for the column-wise merge.
	file func() (*parquet.File, io.Closer, error)
	// mem is what the run holds open in a column-wise merge (0: not yet
	// known).
	mem int64
	// temp is the local file to remove once the run is merged, if any.
	temp string
}

func tempMergeRun(path string) mergeRun {
	return mergeRun{name: tempRunName(path), temp: path,
		open: func() (rowSource, error) { return openLocalParquetRun(path) },
		file: func() (*parquet.File, io.Closer, error) { return openLocalParquet(path) },
	}
}

func openMergeRuns(runs []mergeRun) ([]rowSource, []string, error) {
	srcs := make([]rowSource, 0, len(runs))
	names := make([]string, 0, len(runs))
	for _, r := range runs {
		s, err := r.open()
		if err != nil {
			for _, s := range srcs {
				s.Close()
			}
			return nil, nil, fmt.Errorf("%s: %w", r.name, err)
		}
		srcs = append(srcs, s)
		names = append(names, r.name)
	}
	return srcs, names, nil
}

func removeTempRuns(runs []mergeRun) {
	for _, r := range runs {
		if r.temp != "" {
			_ = os.Remove(r.temp)
		}
	}
}

// mergeToTempRun merges runs into one new temporary run and removes the
// temporary inputs.
func mergeToTempRun(ctx context.Context, runs []mergeRun, dir string) (mergeRun, mergeStats, error) {
	srcs, names, err := openMergeRuns(runs)
	if err != nil {
		return mergeRun{}, mergeStats{}, err
	}
	w, err := newTempRun(dir)
	if err != nil {
		for _, s := range srcs {
			s.Close()
		}
		return mergeRun{}, mergeStats{}, err
	}
	sink := newAsyncSink(w.write)
	st, err := mergeRuns(ctx, srcs, names, sink.emit)
	if serr := sink.close(); err == nil {
		err = serr
	}
	if err == nil {
		err = w.close()
	}
	if err != nil {
		w.abort()
		return mergeRun{}, st, err
	}
	removeTempRuns(runs)
	return tempMergeRun(w.path), st, nil
}

// reduceRuns merges runs fanIn at a time into temporary runs until at most
// fanIn are left, and returns them with the duplicates dropped on the way.
// Intermediate runs hold deduplicated rows, so the counts add up.
func reduceRuns(ctx context.Context, runs []mergeRun, dir string, fanIn int) ([]mergeRun, int64, error) {
	var dups int64
	for len(runs) > fanIn {
		var next []mergeRun
		for i := 0; i < len(runs); i += fanIn {
			group := runs[i:min(len(runs), i+fanIn)]
			if len(group) == 1 {
				next = append(next, group[0])
				continue
			}
			r, st, err := mergeToTempRun(ctx, group, dir)
			if err != nil {
				return nil, dups, err
			}
			dups += st.duplicates
			next = append(next, r)
		}
		runs = next
	}
	return runs, dups, nil
}

// tempRunName is a readable name for a temporary run in errors.
func tempRunName(p string) string { return "temp run " + filepath.Base(p) }

// asyncSink runs write (Parquet encoding and compression) in its own
// goroutine, so that it overlaps with the merge. emit copies each batch
// into one of a few reused buffers; close waits for the writer and
// returns its first error.
type asyncSink struct {
	ch   chan []txn.Transaction
	free chan []txn.Transaction
	done chan struct{}
	err  error
}

func newAsyncSink(write func([]txn.Transaction) error) *asyncSink {
	const buffers = 4
	s := &asyncSink{
		ch:   make(chan []txn.Transaction, buffers),
		free: make(chan []txn.Transaction, buffers),
		done: make(chan struct{}),
	}
	for i := 0; i < buffers; i++ {
		s.free <- nil
	}
	go func() {
		defer close(s.done)
		for b := range s.ch {
			if s.err == nil {
				s.err = write(b)
			}
			clear(b)
			s.free <- b[:0]
		}
	}()
	return s
}

// emit hands a copy of rows to the writer. It fails fast once the writer
// has failed.
func (s *asyncSink) emit(rows []txn.Transaction) error {
	var b []txn.Transaction
	select {
	case b = <-s.free:
	case <-s.done:
		return s.err
	}
	s.ch <- append(b, rows...)
	return nil
}

// close flushes and stops the writer.
func (s *asyncSink) close() error {
	close(s.ch)
	<-s.done
	return s.err
}

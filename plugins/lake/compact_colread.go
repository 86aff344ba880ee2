package lake

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/parquet-go/parquet-go"
)

// Column-wise reading of compaction inputs. A merge reads each input one
// column at a time into parquet.Values, which point into the decoded pages
// (no per-row reflection, no string allocation). A page read to its end is
// retired with the window being read; it goes back to parquet-go's buffer
// pools once every window up to that one is written (values of a window
// are still encoded while the next ones are read), so the next pages are
// decoded into warm memory instead of fresh allocations.

// colReader streams the values of one column of a Parquet file across its
// row groups.
type colReader struct {
	f     *parquet.File
	col   int
	rg    int
	pages parquet.Pages
	page  parquet.Page
	vr    parquet.ValueReader
	eof   bool
	// ret, if set, takes the pages read to their end.
	ret *pageRetirer
}

// pageRetirer holds pages read to their end until the windows that may
// hold their values are written.
type pageRetirer struct {
	// seq is the window being read.
	seq int64
	// mu guards pages: the runs of a window are read in parallel.
	mu    sync.Mutex
	pages []retiredPage
}

type retiredPage struct {
	p   parquet.Page
	seq int64
}

func (r *pageRetirer) retire(p parquet.Page) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.pages = append(r.pages, retiredPage{p, r.seq})
	r.mu.Unlock()
}

// releaseUpTo releases the pages retired while windows up to seq were
// read: windows up to seq are written.
func (r *pageRetirer) releaseUpTo(seq int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(r.pages) && r.pages[n].seq <= seq {
		parquet.Release(r.pages[n].p)
		n++
	}
	if n > 0 {
		r.pages = r.pages[:copy(r.pages, r.pages[n:])]
		clear(r.pages[len(r.pages) : len(r.pages)+n])
	}
}

// read appends the next n values to dst; fewer only at the end of the
// column.
func (c *colReader) read(dst []parquet.Value, n int) ([]parquet.Value, error) {
	for n > 0 && !c.eof {
		if c.vr == nil {
			if err := c.nextPage(); err != nil {
				return dst, err
			}
			continue
		}
		start := len(dst)
		if cap(dst)-start < n {
			// A quarter more than asked: a window slot's share of the
			// next window varies, and growing by exact steps reallocates
			// (and zeroes) every slot many times over.
			dst = slices.Grow(dst, n+(start+n)/4+64)
		}
		dst = dst[:start+n]
		k, err := c.vr.ReadValues(dst[start:])
		dst = dst[:start+k]
		n -= k
		if err == io.EOF || (k == 0 && err == nil) {
			c.vr = nil
			c.ret.retire(c.page)
			c.page = nil
		} else if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func (c *colReader) nextPage() error {
	for {
		if c.pages == nil {
			rgs := c.f.RowGroups()
			if c.rg >= len(rgs) {
				c.eof = true
				return nil
			}
			c.pages = rgs[c.rg].ColumnChunks()[c.col].Pages()
			c.rg++
		}
		p, err := c.pages.ReadPage()
		if err == io.EOF {
			err = c.pages.Close()
			c.pages = nil
			if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		c.page, c.vr = p, p.Values()
		return nil
	}
}

func (c *colReader) close() {
	if c.pages != nil {
		_ = c.pages.Close()
		c.pages = nil
	}
	// A page still being read is left to the garbage collector: a
	// window being written may hold its values.
	c.vr, c.page = nil, nil
}

// Columns of the lake schema the merge orders rows by.
var (
	colTime = leafIndex("event_time")
	colID   = leafIndex("transaction_id")
	numCols = len(parquetSchema.Columns())
)

func leafIndex(name string) int {
	leaf, ok := parquetSchema.Lookup(name)
	if !ok {
		panic("lake schema has no column " + name)
	}
	return leaf.ColumnIndex
}

// columnarSchema reports whether a file can be merged column-wise: its
// schema is the lake's, column for column.
func columnarSchema(f *parquet.File) bool {
	return parquet.EqualNodes(f.Schema(), parquetSchema)
}

// colRun is a sorted run read column-wise: one reader per column, and a
// lookahead of event times that decides how far the next window reaches.
type colRun struct {
	name   string
	closer io.Closer
	cols   []colReader
	// ahead holds the event_time values of the run's next rows; done is
	// set once it reaches the end of the run.
	ahead []parquet.Value
	done  bool
	last  int64
	rows  int64
}

func newColRun(name string, f *parquet.File, closer io.Closer) (*colRun, error) {
	if !columnarSchema(f) {
		return nil, fmt.Errorf("%s: not the lake's schema", name)
	}
	r := &colRun{name: name, closer: closer, cols: make([]colReader, numCols), last: math.MinInt64}
	for i := range r.cols {
		r.cols[i] = colReader{f: f, col: i}
	}
	return r, nil
}

// lookAhead reads up to n more event times, checking they never decrease.
func (r *colRun) lookAhead(n int) error {
	if r.done {
		return nil
	}
	start := len(r.ahead)
	var err error
	r.ahead, err = r.cols[colTime].read(r.ahead, n)
	if err != nil {
		return fmt.Errorf("read %s: %w", r.name, err)
	}
	for _, v := range r.ahead[start:] {
		t := v.Int64()
		if t < r.last {
			return fmt.Errorf("%w: %s", errUnsorted, r.name)
		}
		r.last = t
	}
	if len(r.ahead)-start < n {
		r.done = true
	}
	return nil
}

// lastAhead is the last event time looked ahead (the run must have some).
func (r *colRun) lastAhead() int64 { return r.ahead[len(r.ahead)-1].Int64() }

// countBefore is how many looked-ahead rows have event_time < t.
func (r *colRun) countBefore(t int64) int {
	n, _ := slices.BinarySearchFunc(r.ahead, t, func(v parquet.Value, t int64) int {
		switch x := v.Int64(); {
		case x < t:
			return -1
		case x > t:
			return 1
		}
		return 0
	})
	return n
}

// take moves the run's next n rows, every column, into dst (one slice per
// column, reused).
func (r *colRun) take(dst [][]parquet.Value, n int) error {
	for c := range r.cols {
		old := dst[c]
		if c == colTime {
			dst[c] = append(old[:0], r.ahead[:n]...)
			r.ahead = r.ahead[:copy(r.ahead, r.ahead[n:])]
			clearTail(old, dst[c])
			continue
		}
		var err error
		dst[c], err = r.cols[c].read(old[:0], n)
		clearTail(old, dst[c])
		if err != nil {
			return fmt.Errorf("read %s: %w", r.name, err)
		}
		if len(dst[c]) != n {
			return fmt.Errorf("read %s: column %d holds fewer rows than event_time", r.name, c)
		}
	}
	r.rows += int64(n)
	return nil
}

// clearTail zeroes what old held past cur, when cur reuses old's array:
// stale values would keep their pages from the garbage collector.
func clearTail(old, cur []parquet.Value) {
	if cap(cur) == cap(old) && len(old) > len(cur) {
		clear(old[len(cur):])
	}
}

func (r *colRun) close() error {
	for i := range r.cols {
		r.cols[i].close()
	}
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// closeColRuns closes every run, returning the first error.
func closeColRuns(runs []*colRun) error {
	var errs []error
	for _, r := range runs {
		if r != nil {
			errs = append(errs, r.close())
		}
	}
	return errors.Join(errs...)
}

// colPageGuess bounds the decoded size of one page where a file does not
// say: the lake writer's pages are 1 MiB at most.
const colPageGuess = 1 << 20

// colRunMemory estimates what a run of f holds while it is merged
// column-wise: one decoded page per column (no larger than the column's
// largest chunk) and a read buffer per column.
func colRunMemory(f *parquet.File) int64 {
	largest := make([]int64, numCols)
	for _, rg := range f.Metadata().RowGroups {
		for i, c := range rg.Columns {
			if i < len(largest) {
				largest[i] = max(largest[i], c.MetaData.TotalUncompressedSize)
			}
		}
	}
	var n int64
	for _, b := range largest {
		n += min(b, colPageGuess) + 4<<10
	}
	return n
}

package lake

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
)

// Column-wise writing of merged windows. Each output column is gathered
// from the window's row references and encoded by its own parquet-go
// ColumnWriter, several columns at once (encoding and compression are
// most of compaction's CPU); row groups are cut at rowGroupRows and files
// at rowsPerFile rows or an estimated target size.

// compactPageBytes is the page size of compaction outputs: zstd finds
// more in 1 MiB pages than in parquet-go's default 256 KiB (the 1M-row
// benchmark's output: 45.0 MiB instead of 49.3 MiB, at the same CPU).
const compactPageBytes = 1 << 20

// colWriteChunk is the rows handed to a ColumnWriter at once: it cuts a
// page only between calls, so this bounds how far a page overshoots.
const colWriteChunk = 1024

// colOutput is where a colWriter's files go.
type colOutput interface {
	// create starts a new file.
	create() (io.Writer, error)
	// publish finishes the file create started, now complete.
	publish(rows, bytes int64) error
	// abort discards the file create started and every published one.
	abort()
}

// colWriter writes merged windows to Parquet files of the lake's schema.
// Each column has its own goroutine, so columns are encoded in parallel
// and a fast column runs ahead of a slow one; they meet only where a row
// group or file ends.
type colWriter struct {
	out          colOutput
	codec        compress.Codec
	pageBytes    int
	rowGroupRows int
	// rowsPerFile and target cut files (0: never).
	rowsPerFile int64
	target      int64
	// bytesPerRow estimates the compressed size of a buffered row.
	bytesPerRow float64
	flushedB    int64
	flushedR    int64

	pw          *parquet.Writer
	cw          *countingWriter
	fileRows    int64
	fileFlushed int64
	groupRows   int

	tasks   []chan colTask
	errs    []error
	segment sync.WaitGroup
	stopped bool
	// slots lets GOMAXPROCS columns encode at once: more would only be
	// time-sliced, each holding a zstd encoder and its buffers.
	slots chan struct{}
}

// colTask is a stretch of rows of one window for one column.
type colTask struct {
	b     *colBatch
	rows  []rowRef
	cw    *parquet.ColumnWriter
	flush bool
}

func newColWriter(out colOutput, codec compress.Codec, rowGroupRows, pageBytes int) *colWriter {
	w := &colWriter{out: out, codec: codec, rowGroupRows: rowGroupRows, pageBytes: pageBytes,
		tasks: make([]chan colTask, numCols), errs: make([]error, numCols)}
	w.slots = make(chan struct{}, runtime.GOMAXPROCS(0))
	for c := range w.tasks {
		w.tasks[c] = make(chan colTask, 4)
		go w.column(c)
	}
	return w
}

// column encodes column c's tasks in order. After an error it only
// acknowledges them.
func (w *colWriter) column(c int) {
	buf := make([]parquet.Value, colWriteChunk)
	var cols [][]parquet.Value // the batch's column c, by slot
	for t := range w.tasks[c] {
		w.slots <- struct{}{}
		cols = cols[:0]
		for _, s := range t.b.src {
			cols = append(cols, s[c])
		}
		for off := 0; off < len(t.rows) && w.errs[c] == nil; off += colWriteChunk {
			part := t.rows[off:min(len(t.rows), off+colWriteChunk)]
			buf := buf[:len(part)]
			for j, r := range part {
				buf[j] = cols[r.src][r.row]
			}
			_, w.errs[c] = t.cw.WriteRowValues(buf)
		}
		clear(cols)
		if t.flush && w.errs[c] == nil {
			w.errs[c] = t.cw.Flush()
		}
		<-w.slots
		clear(buf)
		t.b.pending.Done()
		w.segment.Done()
	}
}

func (w *colWriter) open() error {
	ow, err := w.out.create()
	if err != nil {
		return err
	}
	w.cw = &countingWriter{w: ow}
	opts := append(compactWriterOptions(),
		parquet.Compression(w.codec),
		parquet.MaxRowsPerRowGroup(int64(w.rowGroupRows)),
		parquet.CreatedBy("trstream", "lake", ""),
		// The column index and chunk statistics keep min/max; per-page
		// header copies would compute every page's bounds twice.
		parquet.DataPageStatistics(false),
	)
	if w.pageBytes > 0 {
		opts = append(opts, parquet.PageBufferSize(w.pageBytes))
	}
	w.pw = parquet.NewWriter(w.cw, opts...)
	w.fileRows, w.fileFlushed, w.groupRows = 0, 0, 0
	return nil
}

// write implements colSink: it hands the window's rows to the column
// goroutines and returns; b.pending tells when they are done with b.
func (w *colWriter) write(b *colBatch) error {
	rows := b.sel
	for len(rows) > 0 {
		if w.pw == nil {
			if err := w.open(); err != nil {
				return err
			}
		}
		n := min(len(rows), w.rowGroupRows-w.groupRows)
		if w.rowsPerFile > 0 {
			n = int(min(int64(n), w.rowsPerFile-w.fileRows))
		}
		endGroup := w.groupRows+n >= w.rowGroupRows
		cols := w.pw.ColumnWriters()
		b.pending.Add(numCols)
		w.segment.Add(numCols)
		for c := range w.tasks {
			w.tasks[c] <- colTask{b: b, rows: rows[:n], cw: cols[c], flush: endGroup}
		}
		rows = rows[n:]
		w.fileRows += int64(n)
		w.groupRows += n
		if endGroup {
			if err := w.flushGroup(); err != nil {
				return err
			}
		}
		est := w.cw.n + int64(float64(w.fileRows-w.fileFlushed)*w.bytesPerRow)
		if (w.rowsPerFile > 0 && w.fileRows >= w.rowsPerFile) || (w.target > 0 && est >= w.target) {
			if err := w.closeFile(); err != nil {
				return err
			}
		}
	}
	return nil
}

// wait waits for the column goroutines to finish every task handed out.
func (w *colWriter) wait() error {
	w.segment.Wait()
	return errors.Join(w.errs...)
}

func (w *colWriter) flushGroup() error {
	if err := w.wait(); err != nil {
		return err
	}
	before := w.cw.n
	if err := w.pw.Flush(); err != nil {
		return err
	}
	w.flushedB += w.cw.n - before
	w.flushedR += int64(w.groupRows)
	w.fileFlushed = w.fileRows
	w.groupRows = 0
	w.bytesPerRow = float64(w.flushedB) / float64(w.flushedR)
	return nil
}

func (w *colWriter) closeFile() error {
	if w.pw == nil {
		return nil
	}
	if err := w.wait(); err != nil {
		return err
	}
	pw := w.pw
	w.pw = nil
	if err := pw.Close(); err != nil {
		return err
	}
	return w.out.publish(w.fileRows, w.cw.n)
}

// stop ends the column goroutines once they are done.
func (w *colWriter) stop() {
	if !w.stopped {
		w.stopped = true
		for _, ch := range w.tasks {
			close(ch)
		}
		w.segment.Wait()
	}
}

// finish closes the last file and stops the column goroutines.
func (w *colWriter) finish() error {
	defer w.stop()
	return w.closeFile()
}

// abort discards the open file and every finished one.
func (w *colWriter) abort() {
	w.stop()
	w.pw = nil
	w.out.abort()
}

// lakeColOutput writes new data files of one partition of a table.
type lakeColOutput struct {
	ctx   context.Context
	t     *Table
	dir   string
	rel   string
	fw    FileWriter
	files []DataFile
}

func (o *lakeColOutput) create() (io.Writer, error) {
	o.rel = NewFilePath(o.dir)
	fw, err := o.t.store.Create(o.ctx, o.rel)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", o.rel, err)
	}
	o.fw = fw
	return fw, nil
}

func (o *lakeColOutput) publish(rows, bytes int64) error {
	fw := o.fw
	o.fw = nil
	if err := fw.Close(); err != nil {
		fw.Abort()
		return fmt.Errorf("publish %s: %w", o.rel, err)
	}
	o.files = append(o.files, DataFile{Path: o.t.store.URI(o.rel), Partition: PartitionOf(o.rel), Rows: rows, Bytes: bytes})
	return nil
}

func (o *lakeColOutput) abort() {
	if o.fw != nil {
		o.fw.Abort()
		o.fw = nil
	}
	o.t.deleteFiles(context.WithoutCancel(o.ctx), o.files)
	o.files = nil
}

// tempColOutput writes an intermediate run to a local temporary file.
type tempColOutput struct {
	dir   string
	fh    *os.File
	bw    *bufio.Writer
	paths []string
}

func (o *tempColOutput) create() (io.Writer, error) {
	fh, err := os.CreateTemp(o.dir, "run-*.parquet")
	if err != nil {
		return nil, err
	}
	o.fh, o.bw = fh, bufio.NewWriterSize(fh, 1<<20)
	return o.bw, nil
}

func (o *tempColOutput) publish(rows, bytes int64) error {
	fh := o.fh
	o.fh = nil
	err := o.bw.Flush()
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(fh.Name())
		return err
	}
	o.paths = append(o.paths, fh.Name())
	return nil
}

func (o *tempColOutput) abort() {
	if o.fh != nil {
		_ = o.fh.Close()
		_ = os.Remove(o.fh.Name())
		o.fh = nil
	}
	for _, p := range o.paths {
		_ = os.Remove(p)
	}
	o.paths = nil
}

package lake

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"reflect"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding/delta"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/trstream/trstream/plugins/txn"
)

// The lake's own Parquet encoder. parquet-go's GenericWriter walks the
// rows through reflection-built column writers, buffers every value twice
// (column buffer, then page), computes page and column bounds with generic
// comparisons and checksums every page. This writer knows the schema: it
// gathers each column straight from the rows (through pointers, so rows
// are never copied), dictionary-encodes the strings that repeat, and
// writes the pages, the chunk statistics and the footer itself. The file
// is what parquet-go would write for the same rows (schema, logical types,
// data page v2, zstd), minus the page index (column and offset indexes,
// optional in the format: DuckDB, Spark and Trino read row-group
// statistics, which are kept) and page checksums.
//
// The footer's schema, column orders and created_by come from a file
// parquet-go writes for the same struct, so the two writers cannot drift
// apart; a field type this encoder does not know makes WriteParquet use
// parquet-go instead.

// colKind is how a txn.Transaction field is encoded.
type colKind uint8

const (
	colString colKind = iota // BYTE_ARRAY (STRING)
	colMicros                // time.Time as INT64 microseconds
	colInt64                 // int64 (decimal amounts)
	colBool                  // BOOLEAN
)

// txnColumn is one leaf column of the lake schema.
type txnColumn struct {
	name     string
	kind     colKind
	optional bool    // the empty string is NULL
	off      uintptr // the field's offset in txn.Transaction
	ptype    format.Type
	// sortKey marks event_time: every file is sorted by it.
	sortKey bool
}

// colLayout is the lake schema as the encoder sees it.
type colLayout struct {
	cols      []txnColumn
	schema    []format.SchemaElement
	orders    []format.ColumnOrder
	createdBy string
	version   int32
}

// fastLayout is nil when the encoder cannot write txn.Transaction.
var fastLayout, fastLayoutErr = newColLayout()

func newColLayout() (*colLayout, error) {
	l := &colLayout{}
	rt := reflect.TypeFor[txn.Transaction]()
	timeType := reflect.TypeFor[time.Time]()
	leaves := parquetSchema.Columns()
	l.cols = make([]txnColumn, len(leaves))
	seen := 0
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		leaf, ok := parquetSchema.Lookup(tag)
		if !ok {
			return nil, fmt.Errorf("field %s: no column %q", f.Name, tag)
		}
		pt := leaf.Node.Type().PhysicalType()
		if pt == nil {
			return nil, fmt.Errorf("column %s: no physical type", tag)
		}
		c := txnColumn{name: tag, off: f.Offset, optional: leaf.Node.Optional(), ptype: *pt}
		switch {
		case f.Type == timeType:
			var ts *format.TimestampType
			if lt := leaf.Node.Type().LogicalType(); lt != nil {
				ts, _ = lt.Value.(*format.TimestampType)
			}
			if ts == nil {
				return nil, fmt.Errorf("column %s: a time without a timestamp type", tag)
			}
			if _, ok := ts.Unit.Value.(*format.MicroSeconds); !ok {
				return nil, fmt.Errorf("column %s: only microsecond timestamps", tag)
			}
			c.kind = colMicros
		case f.Type.Kind() == reflect.String && c.ptype == format.ByteArray:
			c.kind = colString
		case f.Type.Kind() == reflect.Int64 && c.ptype == format.Int64:
			c.kind = colInt64
		case f.Type.Kind() == reflect.Bool && c.ptype == format.Boolean:
			c.kind = colBool
		default:
			return nil, fmt.Errorf("column %s: Go type %s as %s is not supported", tag, f.Type, c.ptype)
		}
		if c.optional && c.kind != colString {
			return nil, fmt.Errorf("column %s: only strings may be optional", tag)
		}
		if strings.Contains(opts, "list") || leaf.MaxRepetitionLevel > 0 {
			return nil, fmt.Errorf("column %s: repeated", tag)
		}
		c.sortKey = tag == "event_time" && c.kind == colMicros
		l.cols[leaf.ColumnIndex] = c
		seen++
	}
	if seen != len(leaves) {
		return nil, fmt.Errorf("%d struct fields for %d columns", seen, len(leaves))
	}
	// The footer parquet-go writes for no rows: its schema elements, column
	// orders and created_by are this writer's too.
	var buf bytes.Buffer
	pw := parquet.NewGenericWriter[txn.Transaction](&buf, parquet.CreatedBy("trstream", "lake", ""))
	if err := pw.Close(); err != nil {
		return nil, err
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		return nil, err
	}
	md := f.Metadata()
	l.schema, l.orders, l.createdBy, l.version = md.Schema, md.ColumnOrders, md.CreatedBy, md.Version
	if len(l.schema) != len(leaves)+1 {
		return nil, fmt.Errorf("template schema has %d elements for %d columns", len(l.schema), len(leaves))
	}
	return l, nil
}

// Dictionary encoding is tried on every string column of a row group and
// given up when the column turns out not to repeat: past dictMinTry values
// with more than half of them distinct, or past dictMaxEntries entries or
// dictMaxBytes of values.
const (
	dictMinTry     = 256
	dictMaxEntries = 1 << 14
	dictMaxBytes   = 1 << 20
)

// maxPageRows caps the rows of a page, as parquet-mr's page row count limit
// (20,000) does. Dictionary indexes, delta-packed integers and booleans
// take a few bits a row, so a byte budget alone let one page hold a whole
// row group: a reader decoding it (the compactor holds one page a column
// per open file) then holds 4-8 bytes a row, ten times the page's size.
const maxPageRows = 20_000

// colEncoder holds the buffers of one file being written; they are reused
// from file to file through encoders.
type colEncoder struct {
	codec    compress.Codec
	pageSize int

	data  []byte   // string bytes, or PLAIN values
	offs  []uint32 // string offsets into data, one more than the values
	defs  []uint8  // definition levels of an optional column
	idx   []int32  // dictionary indexes
	dict  map[string]int32
	dvals []string
	ints  []int64

	page  []byte // a page's encoded values
	lvls  []byte // a page's encoded levels
	comp  []byte // compressed values
	tmp   []byte
	hdr   bytes.Buffer
	chunk []byte // the column chunk being built
	tenc  *thrift.Encoder
	phdr  format.PageHeader
}

var encoders = sync.Pool{New: func() any {
	e := &colEncoder{dict: map[string]int32{}}
	e.tenc = thrift.NewEncoder(new(thrift.CompactProtocol).NewWriter(&e.hdr))
	return e
}}

var parquetMagic = []byte("PAR1")

// writeParquetCols writes rows, sorted by event_time, as one Parquet file
// of the lake's schema.
func writeParquetCols(w io.Writer, rows []*txn.Transaction, codec compress.Codec, rowGroupRows, pageSize int) error {
	l := fastLayout
	e := encoders.Get().(*colEncoder)
	defer encoders.Put(e)
	e.codec, e.pageSize = codec, pageSize
	if rowGroupRows <= 0 {
		rowGroupRows = len(rows)
	}
	ow := &countingWriter{w: w}
	if _, err := ow.Write(parquetMagic); err != nil {
		return err
	}
	var groups []format.RowGroup
	for start := 0; start < len(rows); start += rowGroupRows {
		rg := rows[start:min(len(rows), start+rowGroupRows)]
		g := format.RowGroup{NumRows: int64(len(rg)), FileOffset: ow.n, Ordinal: int16(len(groups)),
			Columns: make([]format.ColumnChunk, len(l.cols))}
		for i := range l.cols {
			c := &l.cols[i]
			md, err := e.column(c, rg, ow.n)
			if err != nil {
				return fmt.Errorf("column %s: %w", c.name, err)
			}
			if _, err := ow.Write(e.chunk); err != nil {
				return err
			}
			first := md.DataPageOffset
			if md.DictionaryPageOffset > 0 {
				first = md.DictionaryPageOffset
			}
			g.Columns[i] = format.ColumnChunk{FileOffset: first, MetaData: md}
			g.TotalByteSize += md.TotalUncompressedSize
			g.TotalCompressedSize += md.TotalCompressedSize
			if c.sortKey {
				g.SortingColumns = []format.SortingColumn{{ColumnIdx: int32(i)}}
			}
		}
		groups = append(groups, g)
	}
	meta := format.FileMetaData{
		Version:      l.version,
		Schema:       l.schema,
		NumRows:      int64(len(rows)),
		RowGroups:    groups,
		CreatedBy:    l.createdBy,
		ColumnOrders: l.orders,
	}
	e.hdr.Reset()
	if err := e.tenc.Encode(&meta); err != nil {
		return err
	}
	n := e.hdr.Len()
	e.hdr.Write(binary.LittleEndian.AppendUint32(nil, uint32(n)))
	e.hdr.Write(parquetMagic)
	_, err := ow.Write(e.hdr.Bytes())
	return err
}

// column encodes one column of a row group into e.chunk, which will start
// at file offset base, and returns its metadata.
func (e *colEncoder) column(c *txnColumn, rows []*txn.Transaction, base int64) (format.ColumnMetaData, error) {
	md := format.ColumnMetaData{
		Type:         c.ptype,
		PathInSchema: []string{c.name},
		Codec:        e.codec.CompressionCodec(),
		NumValues:    int64(len(rows)),
	}
	e.chunk = e.chunk[:0]
	var err error
	switch c.kind {
	case colString:
		err = e.stringColumn(c, rows, base, &md)
	case colMicros, colInt64:
		err = e.int64Column(c, rows, base, &md)
	case colBool:
		err = e.boolColumn(c, rows, base, &md)
	}
	md.TotalCompressedSize = int64(len(e.chunk))
	return md, err
}

func fieldPtr(r *txn.Transaction, off uintptr) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(r), off)
}

// stringColumn gathers a string column, dictionary-encoded when its
// values repeat, else DELTA_LENGTH_BYTE_ARRAY (parquet-go's choice for
// strings), with the column's bounds.
func (e *colEncoder) stringColumn(c *txnColumn, rows []*txn.Transaction, base int64, md *format.ColumnMetaData) error {
	e.defs = e.defs[:0]
	nulls := 0
	if c.optional {
		for _, r := range rows {
			if *(*string)(fieldPtr(r, c.off)) == "" {
				e.defs = append(e.defs, 0)
				nulls++
			} else {
				e.defs = append(e.defs, 1)
			}
		}
	}
	md.Statistics.NullCount = int64(nulls)
	if nulls == len(rows) {
		// Only nulls: one page of levels, no values.
		md.Encoding = []format.Encoding{format.DeltaLengthByteArray, format.RLE}
		e.offs = append(e.offs[:0], 0)
		e.data = e.data[:0]
		return e.plainStringPages(rows, base, md)
	}
	if e.dictionary(c, rows) {
		return e.dictPages(rows, base, md)
	}
	// Values and bounds. A bound is compared on its first eight bytes
	// first: most comparisons end there.
	e.data = e.data[:0]
	e.offs = append(e.offs[:0], 0)
	var lo, hi string
	var loP, hiP uint64
	have := false
	for _, r := range rows {
		s := *(*string)(fieldPtr(r, c.off))
		if c.optional && s == "" {
			continue
		}
		e.data = append(e.data, s...)
		e.offs = append(e.offs, uint32(len(e.data)))
		p := prefix8(s)
		if !have {
			lo, hi, loP, hiP, have = s, s, p, p, true
			continue
		}
		if p < loP || (p == loP && s < lo) {
			lo, loP = s, p
		}
		if p > hiP || (p == hiP && s > hi) {
			hi, hiP = s, p
		}
	}
	if len(e.data) > 1<<31-1 {
		return fmt.Errorf("%d bytes of strings in one row group", len(e.data))
	}
	md.Statistics.MinValue = append([]byte{}, lo...)
	md.Statistics.MaxValue = append([]byte{}, hi...)
	md.Encoding = []format.Encoding{format.DeltaLengthByteArray, format.RLE}
	return e.plainStringPages(rows, base, md)
}

// prefix8 is s's first eight bytes as a big-endian number, zero-padded:
// it orders strings as their bytes do, up to ties.
func prefix8(s string) uint64 {
	if len(s) >= 8 {
		return binary.BigEndian.Uint64(unsafe.Slice(unsafe.StringData(s), 8))
	}
	var b [8]byte
	copy(b[:], s)
	return binary.BigEndian.Uint64(b[:])
}

// dictionary tries to dictionary-encode a string column into e.dvals and
// e.idx (non-null values only). The decoder gives the low-cardinality
// columns' values canonical strings, so most lookups are answered by a
// small cache keyed by the string's data pointer, without hashing it.
func (e *colEncoder) dictionary(c *txnColumn, rows []*txn.Transaction) bool {
	clear(e.dict)
	e.dvals = e.dvals[:0]
	e.idx = e.idx[:0]
	var cache [64]struct {
		p *byte
		n int // the length plus one: zero is an empty slot
		i int32
	}
	size := 0
	for _, r := range rows {
		s := *(*string)(fieldPtr(r, c.off))
		if c.optional && s == "" {
			continue
		}
		p := unsafe.StringData(s)
		slot := &cache[(uintptr(unsafe.Pointer(p))>>3^uintptr(len(s)))&63]
		if slot.p == p && slot.n == len(s)+1 {
			e.idx = append(e.idx, slot.i)
			continue
		}
		i, ok := e.dict[s]
		if !ok {
			n := len(e.dvals)
			if n >= dictMaxEntries || size+len(s) > dictMaxBytes ||
				(len(e.idx) >= dictMinTry && 2*(n+1) > len(e.idx)) {
				return false
			}
			i = int32(n)
			e.dict[s] = i
			e.dvals = append(e.dvals, s)
			size += len(s)
		}
		e.idx = append(e.idx, i)
		slot.p, slot.n, slot.i = p, len(s)+1, i
	}
	return true
}

// dictPages writes the dictionary page and the index pages of a
// dictionary-encoded string column.
func (e *colEncoder) dictPages(rows []*txn.Transaction, base int64, md *format.ColumnMetaData) error {
	md.Encoding = []format.Encoding{format.Plain, format.RLE, format.RLEDictionary}
	// Bounds from the dictionary's distinct values.
	lo, hi := e.dvals[0], e.dvals[0]
	e.page = e.page[:0]
	for _, s := range e.dvals {
		lo, hi = min(lo, s), max(hi, s)
		e.page = binary.LittleEndian.AppendUint32(e.page, uint32(len(s)))
		e.page = append(e.page, s...)
	}
	md.Statistics.MinValue = append([]byte{}, lo...)
	md.Statistics.MaxValue = append([]byte{}, hi...)
	md.DictionaryPageOffset = base
	e.phdr = format.PageHeader{Type: format.DictionaryPage}
	e.phdr.DictionaryPageHeader = thrift.New(format.DictionaryPageHeader{NumValues: int32(len(e.dvals)), Encoding: format.Plain})
	if err := e.emitPage(nil, e.codec, md); err != nil {
		return err
	}
	md.DataPageOffset = base + int64(len(e.chunk))
	width := max(1, bits.Len32(uint32(len(e.dvals)-1)))
	enc := rle.Encoding{BitWidth: width}
	// Pages of at most pageSize index bytes (about width bits each).
	per := min(maxPageRows, max(8, e.pageSize*8/width))
	v := 0
	for r := 0; r < len(rows); {
		nr, nv := e.pageSpan(r, len(rows), per)
		var err error
		// EncodeInt32 writes from the start of its buffer.
		if e.tmp, err = enc.EncodeInt32(e.tmp, e.idx[v:v+nv]); err != nil {
			return err
		}
		e.page = append(append(e.page[:0], byte(width)), e.tmp...)
		if err := e.dataPage(r, nr, nv, format.RLEDictionary, md); err != nil {
			return err
		}
		r, v = r+nr, v+nv
	}
	return nil
}

// pageSpan returns how many of the rows from row r go into a page of at
// most maxValues values and maxPageRows rows, and how many values they hold.
func (e *colEncoder) pageSpan(r, rows, maxValues int) (nr, nv int) {
	if len(e.defs) == 0 {
		n := min(maxValues, rows-r)
		return n, n
	}
	for r+nr < len(e.defs) && nv < maxValues && nr < maxPageRows {
		nv += int(e.defs[r+nr])
		nr++
	}
	return nr, nv
}

// plainStringPages writes a gathered string column (e.data, e.offs) as
// DELTA_LENGTH_BYTE_ARRAY pages of about pageSize bytes.
func (e *colEncoder) plainStringPages(rows []*txn.Transaction, base int64, md *format.ColumnMetaData) error {
	md.DataPageOffset = base
	nvals := len(e.offs) - 1
	v := 0
	for r := 0; r < len(rows); {
		// Rows until the values reach pageSize bytes.
		nr, nv := 0, 0
		start := e.offs[v]
		for r+nr < len(rows) && nr < maxPageRows {
			if len(e.defs) == 0 || e.defs[r+nr] == 1 {
				if nv > 0 && int(e.offs[v+nv]-start) >= e.pageSize {
					break
				}
				nv++
			}
			nr++
		}
		var err error
		if e.page, err = (&delta.LengthByteArrayEncoding{}).EncodeByteArray(e.page[:0], nil, e.offs[v:v+nv+1]); err != nil {
			return err
		}
		e.page = append(e.page, e.data[e.offs[v]:e.offs[v+nv]]...)
		if err := e.dataPage(r, nr, nv, format.DeltaLengthByteArray, md); err != nil {
			return err
		}
		r, v = r+nr, v+nv
	}
	if v != nvals {
		return fmt.Errorf("wrote %d of %d values", v, nvals)
	}
	return nil
}

// int64Column writes an INT64 column (times as microseconds)
// DELTA_BINARY_PACKED and uncompressed: sorted times and amounts
// bit-pack into 2-3 bytes a value, smaller than zstd makes 8-byte PLAIN
// values and with no compression pass, for the writer or for readers.
func (e *colEncoder) int64Column(c *txnColumn, rows []*txn.Transaction, base int64, md *format.ColumnMetaData) error {
	e.ints = e.ints[:0]
	if c.kind == colMicros {
		for _, r := range rows {
			e.ints = append(e.ints, (*time.Time)(fieldPtr(r, c.off)).UnixMicro())
		}
	} else {
		for _, r := range rows {
			e.ints = append(e.ints, *(*int64)(fieldPtr(r, c.off)))
		}
	}
	lo, hi := e.ints[0], e.ints[0]
	for _, x := range e.ints {
		lo, hi = min(lo, x), max(hi, x)
	}
	md.Statistics.MinValue = binary.LittleEndian.AppendUint64(nil, uint64(lo))
	md.Statistics.MaxValue = binary.LittleEndian.AppendUint64(nil, uint64(hi))
	md.Encoding = []format.Encoding{format.DeltaBinaryPacked}
	md.Codec = format.Uncompressed
	md.DataPageOffset = base
	e.defs = e.defs[:0]
	per := min(maxPageRows, max(1, e.pageSize/8))
	for r := 0; r < len(rows); r += per {
		n := min(per, len(rows)-r)
		var err error
		if e.page, err = (&delta.BinaryPackedEncoding{}).EncodeInt64(e.page[:0], e.ints[r:r+n]); err != nil {
			return err
		}
		if err := e.dataPageCodec(r, n, n, format.DeltaBinaryPacked, &parquet.Uncompressed, md); err != nil {
			return err
		}
	}
	return nil
}

// boolColumn writes a BOOLEAN column PLAIN (bit-packed).
func (e *colEncoder) boolColumn(c *txnColumn, rows []*txn.Transaction, base int64, md *format.ColumnMetaData) error {
	lo, hi := true, false
	for _, r := range rows {
		b := *(*bool)(fieldPtr(r, c.off))
		lo, hi = lo && b, hi || b
	}
	md.Statistics.MinValue = []byte{b2u(lo)}
	md.Statistics.MaxValue = []byte{b2u(hi)}
	md.Encoding = []format.Encoding{format.Plain}
	md.DataPageOffset = base
	e.defs = e.defs[:0]
	per := min(maxPageRows, max(8, e.pageSize*8))
	for r := 0; r < len(rows); r += per {
		n := min(per, len(rows)-r)
		e.page = e.page[:0]
		var cur byte
		for i, row := range rows[r : r+n] {
			if *(*bool)(fieldPtr(row, c.off)) {
				cur |= 1 << (i & 7)
			}
			if i&7 == 7 {
				e.page = append(e.page, cur)
				cur = 0
			}
		}
		if n&7 != 0 {
			e.page = append(e.page, cur)
		}
		if err := e.dataPage(r, n, n, format.Plain, md); err != nil {
			return err
		}
	}
	return nil
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// dataPage appends a data page (v2) of nr rows from row r, nv of them
// non-null, whose encoded values are in e.page.
func (e *colEncoder) dataPage(r, nr, nv int, enc format.Encoding, md *format.ColumnMetaData) error {
	return e.dataPageCodec(r, nr, nv, enc, e.codec, md)
}

func (e *colEncoder) dataPageCodec(r, nr, nv int, enc format.Encoding, codec compress.Codec, md *format.ColumnMetaData) error {
	e.lvls = e.lvls[:0]
	if len(e.defs) > 0 {
		var err error
		if e.lvls, err = (&rle.Encoding{BitWidth: 1}).EncodeLevels(e.lvls, e.defs[r:r+nr]); err != nil {
			return err
		}
	}
	e.phdr = format.PageHeader{Type: format.DataPageV2}
	e.phdr.DataPageHeaderV2 = thrift.New(format.DataPageHeaderV2{
		NumValues:                  int32(nr),
		NumNulls:                   int32(nr - nv),
		NumRows:                    int32(nr),
		Encoding:                   enc,
		DefinitionLevelsByteLength: int32(len(e.lvls)),
		IsCompressed:               thrift.New(codec.CompressionCodec() != format.Uncompressed),
	})
	return e.emitPage(e.lvls, codec, md)
}

// emitPage compresses e.page and appends the page in e.phdr, with levels
// (uncompressed, data page v2) before the values, to e.chunk.
func (e *colEncoder) emitPage(levels []byte, codec compress.Codec, md *format.ColumnMetaData) error {
	values := e.page
	if codec.CompressionCodec() != format.Uncompressed {
		var err error
		if e.comp, err = codec.Encode(e.comp[:0], e.page); err != nil {
			return err
		}
		values = e.comp
	}
	e.phdr.UncompressedPageSize = int32(len(levels) + len(e.page))
	e.phdr.CompressedPageSize = int32(len(levels) + len(values))
	e.hdr.Reset()
	if err := e.tenc.Encode(&e.phdr); err != nil {
		return err
	}
	md.TotalUncompressedSize += int64(e.hdr.Len()) + int64(e.phdr.UncompressedPageSize)
	e.chunk = append(e.chunk, e.hdr.Bytes()...)
	e.chunk = append(e.chunk, levels...)
	e.chunk = append(e.chunk, values...)
	return nil
}

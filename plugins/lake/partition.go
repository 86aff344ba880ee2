package lake

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/apache/iceberg-go"

	"github.com/trstream/trstream/plugins/txn"
)

// Partition keys with a transform; any other key is a column of
// txn.Transaction partitioned by identity.
const (
	// KeyEventDate is day(event_time), a YYYY-MM-DD directory.
	KeyEventDate = "event_date"
	// KeyEventHour is hour(event_time), a YYYY-MM-DD-HH directory.
	KeyEventHour = "event_hour"
)

// DefaultPartitionBy is the lake's default layout.
var DefaultPartitionBy = []string{KeyEventDate, "type"}

// hiveNull is the directory value of a null (empty optional) partition.
const hiveNull = "__HIVE_DEFAULT_PARTITION__"

// Partitioning maps transactions to Hive directories and Iceberg partition
// values. The zero value is unpartitioned.
type Partitioning struct {
	keys []partKey
}

type partKey struct {
	name     string
	sourceID int
	kind     int     // kindDay, kindHour, kindIdentity
	field    int     // struct field index for identity keys
	offset   uintptr // its offset in txn.Transaction
	isBool   bool
	optional bool
}

const (
	kindDay = iota
	kindHour
	kindIdentity
)

// ParsePartitioning validates a partition_by list: event_date, event_hour, or
// the name of a string or boolean column of txn.Transaction.
func ParsePartitioning(keys []string) (Partitioning, error) {
	var p Partitioning
	seen := map[string]bool{}
	rt := reflect.TypeFor[txn.Transaction]()
	for _, k := range keys {
		if seen[k] {
			return p, fmt.Errorf("partition key %q listed twice", k)
		}
		seen[k] = true
		switch k {
		case KeyEventDate:
			p.keys = append(p.keys, partKey{name: k, sourceID: columnID("event_time"), kind: kindDay})
			continue
		case KeyEventHour:
			p.keys = append(p.keys, partKey{name: k, sourceID: columnID("event_time"), kind: kindHour})
			continue
		}
		id := columnID(k)
		if id == 0 {
			return p, fmt.Errorf("unknown partition key %q: want event_date, event_hour or a column of the transaction schema", k)
		}
		var fi = -1
		for i := 0; i < rt.NumField(); i++ {
			tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("parquet"), ",")
			if tag == k {
				fi = i
			}
		}
		f := rt.Field(fi)
		switch f.Type.Kind() {
		case reflect.String, reflect.Bool:
		default:
			return p, fmt.Errorf("partition key %q: only string and boolean columns can be partitioned by identity (use event_date or event_hour for event_time)", k)
		}
		p.keys = append(p.keys, partKey{
			name: k, sourceID: id, kind: kindIdentity, field: fi, offset: f.Offset,
			isBool:   f.Type.Kind() == reflect.Bool,
			optional: strings.Contains(f.Tag.Get("parquet"), ",optional"),
		})
	}
	return p, nil
}

// Keys returns the partition key names in order.
func (p Partitioning) Keys() []string {
	out := make([]string, len(p.keys))
	for i, k := range p.keys {
		out[i] = k.name
	}
	return out
}

// Spec returns the Iceberg partition spec: field ids from 1000, each field
// named after its key.
func (p Partitioning) Spec() iceberg.PartitionSpec {
	fields := make([]iceberg.PartitionField, len(p.keys))
	for i, k := range p.keys {
		var tr iceberg.Transform = iceberg.IdentityTransform{}
		switch k.kind {
		case kindDay:
			tr = iceberg.DayTransform{}
		case kindHour:
			tr = iceberg.HourTransform{}
		}
		fields[i] = iceberg.PartitionField{SourceIDs: []int{k.sourceID}, FieldID: 1000 + i, Name: k.name, Transform: tr}
	}
	return iceberg.NewPartitionSpec(fields...)
}

// partitionsFromSpec recovers the key list of an existing table's spec.
func partitionsFromSpec(spec iceberg.PartitionSpec) []string {
	var out []string
	for _, f := range spec.Fields() {
		out = append(out, f.Name)
	}
	return out
}

// AppendDir appends the Hive directory of t (what Dir returns) to b,
// without the partition values: the output's per-row path, allocation-free
// for the usual keys.
func (p Partitioning) AppendDir(b []byte, t *txn.Transaction) []byte {
	for i, k := range p.keys {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, k.name...)
		b = append(b, '=')
		switch k.kind {
		case kindDay:
			b = appendDate(b, t.EventTime.UTC(), false)
		case kindHour:
			b = appendDate(b, t.EventTime.UTC(), true)
		case kindIdentity:
			if k.isBool {
				b = strconv.AppendBool(b, *(*bool)(unsafe.Add(unsafe.Pointer(t), k.offset)))
				continue
			}
			s := *(*string)(unsafe.Add(unsafe.Pointer(t), k.offset))
			if s == "" && k.optional {
				b = append(b, hiveNull...)
				continue
			}
			b = append(b, escapeHive(s)...)
		}
	}
	return b
}

// appendDate appends et as YYYY-MM-DD (or YYYY-MM-DD-HH), what
// AppendFormat writes, without its layout parsing: it runs for every row.
func appendDate(b []byte, et time.Time, hour bool) []byte {
	y, m, d := et.Date()
	if y < 0 || y > 9999 {
		if hour {
			return et.AppendFormat(b, "2006-01-02-15")
		}
		return et.AppendFormat(b, time.DateOnly)
	}
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10),
		'-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
	if hour {
		h := et.Hour()
		b = append(b, '-', byte('0'+h/10), byte('0'+h%10))
	}
	return b
}

// Dir returns the Hive directory of t relative to data/, for example
// "event_date=2024-05-01/type=payment", and its Iceberg partition values by
// partition field id.
func (p Partitioning) Dir(t *txn.Transaction) (string, map[int]any) {
	var b strings.Builder
	vals := make(map[int]any, len(p.keys))
	for i, k := range p.keys {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(k.name)
		b.WriteByte('=')
		switch k.kind {
		case kindDay:
			et := t.EventTime.UTC()
			b.WriteString(et.Format(time.DateOnly))
			vals[1000+i] = iceberg.Date(et.Unix() / 86400)
			if et.Unix() < 0 && et.Unix()%86400 != 0 {
				vals[1000+i] = iceberg.Date(et.Unix()/86400 - 1)
			}
		case kindHour:
			et := t.EventTime.UTC()
			b.WriteString(et.Format("2006-01-02-15"))
			h := et.Unix() / 3600
			if et.Unix() < 0 && et.Unix()%3600 != 0 {
				h--
			}
			vals[1000+i] = int32(h)
		case kindIdentity:
			v := reflect.ValueOf(t).Elem().Field(k.field)
			if k.isBool {
				b.WriteString(fmt.Sprint(v.Bool()))
				vals[1000+i] = v.Bool()
				continue
			}
			s := v.String()
			if s == "" && k.optional {
				b.WriteString(hiveNull)
				vals[1000+i] = nil
				continue
			}
			b.WriteString(escapeHive(s))
			vals[1000+i] = s
		}
	}
	return b.String(), vals
}

// escapeHive percent-escapes what Hive escapes in partition directory
// values, so every value round-trips through a path segment.
func escapeHive(s string) string {
	needs := false
	for i := 0; i < len(s); i++ {
		if hiveEscape(s[i]) {
			needs = true
			break
		}
	}
	if !needs {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; hiveEscape(c) {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func hiveEscape(c byte) bool {
	return c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0
}

// PartitionOf parses the key=value directories of a data file path into a
// map, unescaping values, for example {"event_date": "2024-05-01", "type":
// "payment"}. A null partition value is the empty string.
func PartitionOf(path string) map[string]string {
	out := map[string]string{}
	segs := strings.Split(path, "/")
	for _, s := range segs[:max(len(segs)-1, 0)] {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			continue
		}
		if v == hiveNull {
			v = ""
		} else if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		out[k] = v
	}
	return out
}

// sameKeys reports whether two partition key lists are equal.
func sameKeys(a, b []string) bool { return slices.Equal(a, b) }

// dirCache maps rows to partition directories without building the
// directory of every row. For the usual layouts, a time key (event_date or
// event_hour) and at most one string column, a row's directory follows
// from its day or hour number and that string's bytes; the decoder gives
// low-cardinality values canonical strings, so the string's data pointer
// and length identify it without reading it. A row whose key misses the
// cache gets its directory built and looked up, as every row would without
// it.
type dirCache struct {
	slots [64]struct {
		tk  int64
		p   *byte
		n   int // length plus one: 0 is an empty slot
		idx int
	}
}

// quickKey returns the time number and string of t's partition key, if
// the layout is one dirCache handles.
func (p *Partitioning) quickKey(t *txn.Transaction) (tk int64, s string, ok bool) {
	nTime, nStr := 0, 0
	for _, k := range p.keys {
		switch k.kind {
		case kindDay, kindHour:
			nTime++
			div := int64(86400)
			if k.kind == kindHour {
				div = 3600
			}
			sec := t.EventTime.Unix()
			tk = sec / div
			if sec%div < 0 {
				tk--
			}
			tk = tk*2 + int64(k.kind) // day 5 and hour 5 differ
		case kindIdentity:
			if k.isBool {
				return 0, "", false
			}
			nStr++
			s = *(*string)(unsafe.Add(unsafe.Pointer(t), k.offset))
		}
	}
	return tk, s, nTime <= 1 && nStr <= 1
}

// lookup returns the cached directory index of t, or -1.
func (c *dirCache) lookup(p *Partitioning, t *txn.Transaction) (idx int, slot int) {
	tk, s, ok := p.quickKey(t)
	if !ok {
		return -1, -1
	}
	ptr := unsafe.StringData(s)
	h := uint64(tk)*0x9E3779B97F4A7C15 ^ uint64(uintptr(unsafe.Pointer(ptr)))>>3 ^ uint64(len(s))
	slot = int(h>>58) & 63
	e := &c.slots[slot]
	if e.n == len(s)+1 && e.tk == tk && e.p == ptr {
		return e.idx, slot
	}
	return -1, slot
}

// store caches t's directory index in slot (from lookup).
func (c *dirCache) store(p *Partitioning, t *txn.Transaction, slot, idx int) {
	if slot < 0 {
		return
	}
	tk, s, _ := p.quickKey(t)
	e := &c.slots[slot]
	e.tk, e.p, e.n, e.idx = tk, unsafe.StringData(s), len(s)+1, idx
}

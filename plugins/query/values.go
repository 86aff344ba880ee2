package query

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// normalize turns a driver value into a JSON-ready value: nil, bool,
// int64/uint64 and friends, float64, string, json.Number (exact DECIMAL and
// HUGEINT text), []any or map[string]any.
//
// Dates are YYYY-MM-DD, timestamps ISO 8601 (with Z when they carry a time
// zone), UUIDs canonical text, BLOBs text with \xHH escapes, NaN and
// infinities strings, intervals DuckDB-like text.
func normalize(v any, typ string) any {
	switch x := v.(type) {
	case nil, bool, string, int8, int16, int32, int64, int, uint8, uint16, uint32, uint64, uint:
		return v
	case float64:
		return normFloat(x)
	case float32:
		return normFloat(float64(x))
	case time.Time:
		return formatTime(x, typ)
	case duckdb.Decimal:
		return json.Number(decimalText(x))
	case *big.Int:
		if x == nil {
			return nil
		}
		return json.Number(x.String())
	case big.Int:
		return json.Number(x.String())
	case []byte:
		if typ == "UUID" && len(x) == 16 {
			return uuidText(x)
		}
		return blobText(x)
	case duckdb.UUID:
		return uuidText(x[:])
	case *duckdb.UUID:
		if x == nil {
			return nil
		}
		return uuidText(x[:])
	case duckdb.Interval:
		return intervalText(x)
	case []any:
		et := strings.TrimSuffix(typ, "[]")
		if i := strings.LastIndexByte(et, '['); i > 0 && strings.HasSuffix(et, "]") && et != typ {
			et = et[:i] // ARRAY type such as INTEGER[3]
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e, et)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e, "")
		}
		return out
	case duckdb.Map:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(normalize(k, ""))] = normalize(e, "")
		}
		return out
	case duckdb.OrderedMap:
		out := make(map[string]any, x.Len())
		keys, values := x.Keys(), x.Values()
		for i := range keys {
			out[fmt.Sprint(normalize(keys[i], ""))] = normalize(values[i], "")
		}
		return out
	case duckdb.Union:
		return normalize(x.Value, "")
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func normFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return f
}

func formatTime(t time.Time, typ string) string {
	switch typ {
	case "DATE":
		return t.Format(time.DateOnly)
	case "TIME":
		return t.Format("15:04:05.999999")
	case "TIMETZ":
		return t.Format("15:04:05.999999Z07:00")
	case "TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS":
		return t.Format("2006-01-02T15:04:05.999999999")
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// decimalText writes a DECIMAL with all its scale digits, exactly.
func decimalText(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	s := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + s
	}
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	return sign + s[:len(s)-scale] + "." + s[len(s)-scale:]
}

func uuidText(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func blobText(b []byte) string {
	if utf8.Valid(b) {
		printable := true
		for _, c := range b {
			if c < 0x20 && c != '\n' && c != '\t' {
				printable = false
				break
			}
		}
		if printable {
			return string(b)
		}
	}
	var sb strings.Builder
	for _, c := range b {
		if c >= 0x20 && c < 0x7f && c != '\\' {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, "\\x%02X", c)
		}
	}
	return sb.String()
}

func intervalText(iv duckdb.Interval) string {
	var parts []string
	if y, m := iv.Months/12, iv.Months%12; y != 0 || m != 0 {
		if y != 0 {
			parts = append(parts, plural(int64(y), "year"))
		}
		if m != 0 {
			parts = append(parts, plural(int64(m), "month"))
		}
	}
	if iv.Days != 0 {
		parts = append(parts, plural(int64(iv.Days), "day"))
	}
	if iv.Micros != 0 || len(parts) == 0 {
		us := iv.Micros
		sign := ""
		if us < 0 {
			sign, us = "-", -us
		}
		s := fmt.Sprintf("%s%02d:%02d:%02d", sign, us/3600e6, us/60e6%60, us/1e6%60)
		if f := us % 1e6; f != 0 {
			s += strings.TrimRight(fmt.Sprintf(".%06d", f), "0")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func plural(n int64, unit string) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d %s", n, unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Text formats a normalized value for CSV and tables: NULL is "" (see
// textOr for a placeholder), nested values are JSON.
func Text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any, map[string]any:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	return fmt.Sprint(v)
}

// IsNumericType reports whether a DuckDB type name is numeric.
func IsNumericType(t string) bool {
	switch t {
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE":
		return true
	}
	return strings.HasPrefix(t, "DECIMAL")
}

// AppendRowObject appends row as a JSON object whose keys are the
// pre-encoded JSON strings keys, in column order.
func AppendRowObject(b []byte, keys [][]byte, row []any) ([]byte, error) {
	b = append(b, '{')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, keys[i]...)
		b = append(b, ':')
		vb, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b = append(b, vb...)
	}
	return append(b, '}'), nil
}

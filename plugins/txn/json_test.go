package txn

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The table path of AppendText writes what the general strconv path
// writes, and the text parses back to the same amount.
func TestAmountAppendTextFastPath(t *testing.T) {
	cases := []Amount{0, 1, 9, 10, 99, 100, 1000, 9999, 10000, 10001, 10010, 10100, 12345, 1234500,
		99_999_999_9999, 1e8 * amountUnit, 1e8*amountUnit - 1, 1e8*amountUnit + 1, MaxAmount, -1, -12345, math.MinInt64, math.MaxInt64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		cases = append(cases, Amount(r.Int64N(1e13)-1e12))
	}
	for _, a := range cases {
		want := []byte{}
		v := int64(a)
		if v < 0 {
			want = append(want, '-')
			v = -v
		}
		want = appendAmountSlow(want, v)
		got := a.AppendText([]byte("x"))
		require.Equal(t, "x"+string(want), string(got), "%d", int64(a))
		if a > math.MinInt64 && a.String() != "" {
			back, err := ParseAmount(string(got[1:]))
			if err == nil { // amounts past MaxAmount do not parse back
				require.Equal(t, a, back)
			}
		}
	}
}

func TestMayNeedEscapeNeverMissesAByte(t *testing.T) {
	// Every byte value at every position, among neighbours that borrows
	// could disturb: whatever needs escaping is flagged, and ids, digits
	// and codes pass.
	for _, fill := range []byte{'a', '0', '-', '~', '!', '=', '?', 0x7f, 0x80} {
		for c := 0; c < 256; c++ {
			for pos := 0; pos < 8; pos++ {
				w := []byte(strings.Repeat(string(fill), 8))
				w[pos] = byte(c)
				if !allPlain(w) {
					require.True(t, mayNeedEscape(word(w)), "byte %#x at %d among %#x", c, pos, fill)
				}
			}
		}
	}
	for _, s := range []string{"acc-0000", "12345678", "0b0c1d2e", "-3f40-41", "EURpayme", "generato", "_bank_tr"} {
		require.False(t, mayNeedEscape(word([]byte(s))), s)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		w := make([]byte, 8)
		for i := range w {
			// Mostly printable ASCII, sometimes anything.
			w[i] = byte(0x20 + r.IntN(0x60))
			if r.IntN(16) == 0 {
				w[i] = byte(r.IntN(256))
			}
		}
		if !allPlain(w) {
			require.True(t, mayNeedEscape(word(w)), "%q", w)
		}
	}
}

func word(w []byte) uint64 {
	var x uint64
	for i, c := range w {
		x |= uint64(c) << (8 * i)
	}
	return x
}

func allPlain(w []byte) bool {
	for _, c := range w {
		if !plainASCII[c] {
			return false
		}
	}
	return true
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	var cases []string
	for n := 0; n < 20; n++ {
		base := strings.Repeat("x", n)
		cases = append(cases, base)
		for i := 0; i < n; i++ {
			for _, c := range []string{`"`, `\`, "<", ">", "&", "\t", "\x00", "\x7f", "é", "\xff"} {
				cases = append(cases, base[:i]+c+base[i+1:])
			}
		}
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendString(nil, s)), "%q", s)
	}
}

func BenchmarkAppendAmount(b *testing.B) {
	buf := make([]byte, 0, 64)
	for i := 0; i < b.N; i++ {
		buf = Amount(1234500 + i%1000).AppendText(buf[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

package txn

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// refLimitsDecode is Limits.Decode as it was before the fast path: the
// reference decoder, then the limits.
func refLimitsDecode(l Limits, data []byte, now time.Time) (Transaction, error) {
	t, err := decodeReflect(data)
	if err == nil {
		return t, l.Validate(&t, now)
	}
	if isValidationError(&t, err) {
		return t, l.Validate(&t, now)
	}
	return t, err
}

// decodeSeeds are wire forms covering the fast subset and its edges.
func decodeSeeds() []string {
	full := sample()
	full.IsFraud, full.FraudScenario = true, FraudCardTesting
	transfer := sample()
	transfer.Type, transfer.MerchantID, transfer.MerchantCategory, transfer.CardFingerprint = TypeTransfer, "", "", ""
	transfer.CounterpartyID = "acc-000043"
	jpy := sample()
	jpy.Currency, jpy.Amount = "JPY", 5000*amountUnit
	esc := sample()
	esc.AccountID = "quote\"and\\é"
	var out []string
	for _, tx := range []Transaction{sample(), full, transfer, jpy, esc} {
		out = append(out, string(tx.AppendJSON(nil)))
	}
	s := out[0]
	out = append(out,
		" \n\t"+strings.ReplaceAll(s, ",", " ,\r\n ")+" \n",
		strings.ReplaceAll(s, ":", " : "),
		strings.Replace(s, `"amount":123.45`, `"amount":"123.45"`, 1),
		strings.Replace(s, `"amount":123.45`, `"amount":1.2345e2`, 1),
		strings.Replace(s, `"amount":123.45`, `"amount":12345E-2`, 1),
		strings.Replace(s, `"amount":123.45`, `"amount":null`, 1),
		strings.Replace(s, `"balance_after":-5.00`, `"balance_after":"-5"`, 1),
		strings.Replace(s, `13:45:12.123456Z`, `14:45:12.1234567+01:00`, 1),
		strings.Replace(s, `13:45:12.123456Z`, `13:45:12Z`, 1),
		strings.Replace(s, `"currency":"EUR"`, `"Currency":"EUR"`, 1),
		strings.Replace(s, `"currency":"EUR"`, `"currency":"EUR","currency":"USD"`, 1),
		strings.Replace(s, `"currency":"EUR"`, `"currency":"EUR","extra":[1,{"a":null}]`, 1),
		strings.Replace(s, `"source":"generator"`, `"source":"gen\u0065rator"`, 1),
		strings.Replace(s, `"is_fraud":false`, `"is_fraud":true`, 1),
		s+"}", s+"]", s+"{}", s+" x", "null", "[]", "{}", "",
	)
	// Times and amounts around the fast parsers' edges.
	for _, ts := range []string{
		"2024-02-29T13:45:12.123456Z", "2023-02-29T13:45:12.123456Z", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z", "0000-01-01T00:00:00Z",
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2026-01-01T00:00:00.1Z", "2026-01-01T00:00:00.1234567891Z",
		"2026-01-01T00:00:00.Z", "2026-01-01T00:00:00,5Z", "2026-01-01t00:00:00Z", "2026-01-01T00:00:00z",
		"2026-01-01T00:00:00.123+00:00", "2026-1-01T00:00:00Z", "2026-01-01T00:00:0aZ", "+026-01-01T00:00:00Z",
	} {
		out = append(out, strings.Replace(s, `2026-11-24T13:45:12.123456Z`, ts, 1))
	}
	for _, a := range []string{"0", "-0", "0.0001", "0.00001", "99999999999999", "999999999999999", "99999999999999.9999",
		"1.5", "-12.25", "00.5", "1.", ".5", "1e2", "100000000000000", "10000000000000.0001"} {
		out = append(out, strings.Replace(s, `"amount":123.45`, `"amount":`+a, 1))
		out = append(out, strings.Replace(s, `"balance_after":-5.00`, `"balance_after":`+a, 1))
	}
	return out
}

// mutate applies a few random edits that keep close to valid JSON.
func mutate(r *rand.Rand, s string) string {
	const alphabet = "\"{}[],:. \\-+eE0123456789tfnulrsa_xXéÉ\x00\x1f\xff"
	b := []byte(s)
	for n := 1 + r.IntN(3); n > 0 && len(b) > 0; n-- {
		i := r.IntN(len(b))
		switch r.IntN(6) {
		case 0: // replace
			b[i] = alphabet[r.IntN(len(alphabet))]
		case 1: // delete
			b = append(b[:i], b[i+1:]...)
		case 2: // insert
			b = append(b[:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, b[i:]...)...)
		case 3: // duplicate a span
			j := min(len(b), i+1+r.IntN(40))
			b = append(b[:j], append(append([]byte{}, b[i:j]...), b[j:]...)...)
		case 4: // change case
			if c := b[i]; c >= 'a' && c <= 'z' {
				b[i] = c - 32
			}
		case 5: // digit change
			if c := b[i]; c >= '0' && c <= '9' {
				b[i] = byte('0' + r.IntN(10))
			}
		}
	}
	return string(b)
}

func requireSameDecode(t testing.TB, in []byte) {
	t.Helper()
	want, wantErr := decodeReflect(in)
	got, gotErr := Decode(in)
	requireSame(t, in, want, wantErr, got, gotErr)

	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for _, l := range []Limits{
		DefaultLimits,
		{MaxAmount: 100 * amountUnit, MinTime: DefaultLimits.MinTime, MaxFuture: time.Hour},
		{MaxAmount: MaxAmount, MinTime: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), MaxFuture: 72 * time.Hour},
	} {
		want, wantErr := refLimitsDecode(l, in, now)
		got, gotErr := l.Decode(in, now)
		requireSame(t, in, want, wantErr, got, gotErr)
		var shared Transaction
		sharedErr := l.DecodeInto(in, now, &shared, true)
		requireSame(t, in, want, wantErr, shared, sharedErr)
	}
}

func requireSame(t testing.TB, in []byte, want Transaction, wantErr error, got Transaction, gotErr error) {
	t.Helper()
	require.Equal(t, want, got, "input %q", in)
	if wantErr == nil {
		require.NoError(t, gotErr, "input %q", in)
		return
	}
	require.Error(t, gotErr, "input %q", in)
	var wfe, gfe *FieldError
	require.True(t, errors.As(wantErr, &wfe))
	require.True(t, errors.As(gotErr, &gfe), "input %q: %v", in, gotErr)
	require.Equal(t, *wfe, *gfe, "input %q", in)
}

// TestDecodeFastMatchesReference compares Decode and Limits.Decode with the
// reflective reference on the seeds and many mutations of them.
func TestDecodeFastMatchesReference(t *testing.T) {
	fast := 0
	for _, s := range decodeSeeds() {
		requireSameDecode(t, []byte(s))
		var tx Transaction
		if decodeFast([]byte(s), &tx) {
			fast++
		}
	}
	require.GreaterOrEqual(t, fast, 10, "the seeds should mostly take the fast path")
	n := 20000
	if testing.Short() {
		n = 2000
	}
	r := rand.New(rand.NewPCG(1, 2))
	seeds := decodeSeeds()
	for i := 0; i < n; i++ {
		requireSameDecode(t, []byte(mutate(r, seeds[r.IntN(len(seeds))])))
	}
}

// FuzzDecodeFast: go test ./plugins/txn -run XXX -fuzz FuzzDecodeFast
func FuzzDecodeFast(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		requireSameDecode(t, in)
	})
}

func TestDecodeFastDoesNotAlias(t *testing.T) {
	tx := sample()
	in := tx.AppendJSON(nil)
	got, err := Decode(in)
	require.NoError(t, err)
	for i := range in {
		in[i] = 'x'
	}
	require.Equal(t, tx, got)
}

func BenchmarkDecode(b *testing.B) {
	tx := sample()
	in := tx.AppendJSON(nil)
	b.SetBytes(int64(len(in)))
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := Decode(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reflect", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := decodeReflect(in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestInternField(t *testing.T) {
	for f, list := range map[int][]string{fType: Types, fStatus: Statuses, fChannel: Channels, fFraudScenario: FraudScenarios, fSource: {"generator"}} {
		for _, s := range list {
			got, ok := internField(f, []byte(s))
			require.True(t, ok, s)
			require.Equal(t, s, got)
			require.Equal(t, unsafe.StringData(s), unsafe.StringData(got), "the constant itself")
		}
	}
	for c := range currencies {
		got, ok := internField(fCurrency, []byte(c))
		require.True(t, ok, c)
		require.Equal(t, c, got)
	}
	for c := range countries {
		got, ok := internField(fCountry, []byte(c))
		require.True(t, ok, c)
		require.Equal(t, c, got)
	}
	got, ok := internField(fMerchantCategory, []byte("0742"))
	require.True(t, ok)
	require.Equal(t, "0742", got)
	for _, s := range []string{"", "X", "ZZZ", "eur", "E1R", "AAAA", "payments", "07a2", "074"} {
		for _, f := range []int{fType, fStatus, fChannel, fCurrency, fCountry, fMerchantCategory, fSource, fFraudScenario} {
			_, ok := internField(f, []byte(s))
			require.False(t, ok, "%d %q", f, s)
		}
	}
	_, ok = internField(fCurrency, []byte("DE")) // a country is no currency
	require.False(t, ok)
	_, ok = internField(fTransactionID, []byte("EUR"))
	require.False(t, ok)
}

func BenchmarkDecodeInto(b *testing.B) {
	tx := sample()
	in := tx.AppendJSON(nil)
	now := time.Now()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	var t Transaction
	for range b.N {
		if err := DefaultLimits.DecodeInto(in, now, &t, true); err != nil {
			b.Fatal(err)
		}
	}
}

// dirty returns a Transaction with every field set, by reflection, so that
// a field added later is covered too.
func dirty(t *testing.T) Transaction {
	var tx Transaction
	v := reflect.ValueOf(&tx).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("dirty")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int64:
			f.SetInt(-7)
		case reflect.Struct:
			f.Set(reflect.ValueOf(time.Unix(1, 0).In(time.FixedZone("X", 3600))))
		default:
			t.Fatalf("field %s: kind %s not covered", v.Type().Field(i).Name, f.Kind())
		}
	}
	return tx
}

// TestDecodeIntoReusedRow: decoding into a row full of another's values
// (validate reuses one row for every message of a batch) gives what
// decoding into a zero row gives, optional fields absent or present.
func TestDecodeIntoReusedRow(t *testing.T) {
	now := time.Now()
	fast := 0
	for _, s := range decodeSeeds() {
		var zero Transaction
		errZero := DefaultLimits.DecodeInto([]byte(s), now, &zero, true)
		if errZero != nil {
			continue
		}
		reused := dirty(t)
		require.NoError(t, DefaultLimits.DecodeInto([]byte(s), now, &reused, true), "input %q", s)
		require.Equal(t, zero, reused, "input %q", s)
		var tx Transaction
		if decodeFast([]byte(s), &tx) {
			fast++
		}
	}
	require.GreaterOrEqual(t, fast, 10, "the seeds should mostly take the fast path")
}

package txn

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"
)

func sample() Transaction {
	return Transaction{
		TransactionID:    "0b0c1d2e-3f40-4152-8364-758697a8b9ca",
		EventTime:        time.Date(2026, 11, 24, 13, 45, 12, 123456000, time.UTC),
		AccountID:        "acc-000042",
		MerchantID:       "mer-0007",
		MerchantCategory: "5411",
		Amount:           1234500, // 123.45
		Currency:         "EUR",
		Type:             TypePayment,
		Status:           StatusCompleted,
		Channel:          ChannelPOS,
		Country:          "IT",
		CardFingerprint:  "9f86d081884c7d65",
		BalanceAfter:     -50000,
		Source:           "generator",
	}
}

func TestAppendJSONMatchesEncodingJSONAndDecodes(t *testing.T) {
	tx := sample()
	got := tx.AppendJSON(nil)
	require.True(t, json.Valid(got), string(got))
	require.Contains(t, string(got), `"amount":123.45`)
	require.Contains(t, string(got), `"event_time":"2026-11-24T13:45:12.123456Z"`)
	back, err := Decode(got)
	require.NoError(t, err)
	require.Equal(t, tx, back)

	tx.AccountID = "quote\"and\\é"
	var m map[string]any
	require.NoError(t, json.Unmarshal(tx.AppendJSON(nil), &m))
	require.Equal(t, tx.AccountID, m["account_id"])
}

func TestAmountText(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		err  string
	}{
		{"12.5", "12.50", ""},
		{"3", "3.00", ""},
		{"0.0001", "0.0001", ""},
		{"-7.125", "-7.125", ""},
		{"1e2", "100.00", ""},
		{"1.5E-3", "0.0015", ""},
		{"0.00001", "", "more than 4 decimal places"},
		{"abc", "", "not a decimal number"},
		{"1e30", "", "out of range"},
		{"", "", "not a decimal number"},
	} {
		t.Run(c.in, func(t *testing.T) {
			a, err := ParseAmount(c.in)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, a.String())
		})
	}
	require.Equal(t, Amount(1250000), AmountFromMinor(12500, 2))
	minor, exact := Amount(1250000).Minor(2)
	require.True(t, exact)
	require.Equal(t, int64(12500), minor)
	_, exact = Amount(1250001).Minor(2)
	require.False(t, exact)
}

func TestDecodeRejects(t *testing.T) {
	valid := string(func() []byte { tx := sample(); return tx.AppendJSON(nil) }())
	set := func(key, raw string) string {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(valid), &m))
		if raw == "" {
			delete(m, key)
		} else {
			m[key] = json.RawMessage(raw)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, c := range []struct {
		name, in, field, reason string
	}{
		{"malformed", `{"transaction_id":`, "", ReasonMalformedJSON},
		{"trailing", valid + `{}`, "", ReasonMalformedJSON},
		{"invalid utf8", strings.Replace(valid, "acc-000042", "acc-\xff", 1), "", ReasonInvalidUTF8},
		{"missing id", set("transaction_id", ""), "transaction_id", ReasonMissingField},
		{"missing amount", set("amount", ""), "amount", ReasonMissingField},
		{"wrong type account", set("account_id", `42`), "account_id", ReasonWrongType},
		{"wrong type amount", set("amount", `true`), "amount", ReasonWrongType},
		{"wrong type fraud", set("is_fraud", `"no"`), "is_fraud", ReasonWrongType},
		{"float noise amount", set("amount", `0.123456`), "amount", ReasonInvalidValue},
		{"negative amount", set("amount", `-5`), "amount", ReasonInvalidValue},
		{"absurd amount", set("amount", `99999999999`), "amount", ReasonInvalidValue},
		{"cents on JPY", set("currency", `"JPY"`), "amount", ReasonInvalidValue},
		{"unknown currency", set("currency", `"EUX"`), "currency", ReasonInvalidValue},
		{"bad uuid", set("transaction_id", `"not-a-uuid"`), "transaction_id", ReasonInvalidValue},
		{"bad time", set("event_time", `"yesterday"`), "event_time", ReasonInvalidValue},
		{"ancient time", set("event_time", `"1970-01-01T00:00:00Z"`), "event_time", ReasonInvalidValue},
		{"future time", set("event_time", `"2999-01-01T00:00:00Z"`), "event_time", ReasonInvalidValue},
		{"bad type", set("type", `"gift"`), "type", ReasonInvalidValue},
		{"bad country", set("country", `"XX"`), "country", ReasonInvalidValue},
		{"bad mcc", set("merchant_category", `"54A1"`), "merchant_category", ReasonInvalidValue},
		{"card number", set("card_fingerprint", `"4111111111111111"`), "card_fingerprint", ReasonInvalidValue},
		{"payment without merchant", set("merchant_id", ""), "merchant_id", ReasonMissingField},
		{"scenario without fraud", set("fraud_scenario", `"card_testing"`), "fraud_scenario", ReasonInvalidValue},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.in))
			require.Error(t, err)
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, c.reason, fe.Reason, err.Error())
			require.Equal(t, c.field, fe.Field, err.Error())
			require.Equal(t, c.reason, ReasonOf(err))
		})
	}
}

func TestParquetRoundTrip(t *testing.T) {
	rows := []Transaction{sample(), sample()}
	rows[1].TransactionID = "1b0c1d2e-3f40-4152-8364-758697a8b9ca"
	rows[1].MerchantID, rows[1].MerchantCategory = "", ""
	rows[1].Type, rows[1].CounterpartyID = TypeTransfer, "acc-000043"
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[Transaction](&buf)
	_, err := w.Write(rows)
	require.NoError(t, err)
	require.NoError(t, w.Close())

	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	schema := f.Schema()
	amount, _ := schema.Lookup("amount")
	require.Equal(t, "DECIMAL(18,4)", amount.Node.Type().LogicalType().String())
	merchant, _ := schema.Lookup("merchant_id")
	require.True(t, merchant.Node.Optional())

	back, err := parquet.Read[Transaction](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	require.NoError(t, err)
	require.Equal(t, rows, back)
}

func TestAppendTimeMatchesAppendFormat(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2026, 11, 24, 13, 45, 12, 123456789, time.UTC),
		time.Date(2000, 2, 29, 23, 59, 59, 999999000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 1000, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 12, 31, 12, 0, 0, 0, time.FixedZone("x", 5*3600)),
		time.Unix(0, 0),
	} {
		require.Equal(t, tm.UTC().Format(TimeLayout), string(appendTime(nil, tm)), tm.String())
	}
	// A sweep over days and leap years.
	for d := time.Date(1990, 1, 1, 7, 8, 9, 10000, time.UTC); d.Year() < 2110; d = d.Add(37*time.Hour + 11*time.Second) {
		require.Equal(t, d.Format(TimeLayout), string(appendTime(nil, d)))
	}
}

func TestAppendJSONEqualsEncodingJSON(t *testing.T) {
	tx := sample()
	for _, s := range []string{"plain", "quo\"te", "back\\slash", "<html>&", "tab\t", "é"} {
		tx.AccountID = s
		var a, b map[string]any
		require.NoError(t, json.Unmarshal(tx.AppendJSON(nil), &a))
		type plain Transaction // without MarshalJSON
		raw, err := json.Marshal(plain(tx))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, &b))
		require.Equal(t, b["account_id"], a["account_id"])
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	tx := sample()
	buf := make([]byte, 0, 512)
	var n int
	for i := 0; i < b.N; i++ {
		buf = tx.AppendJSON(buf[:0])
		n += len(buf)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(n)/1e6/b.Elapsed().Seconds(), "MB/s")
}

package validate

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/generator"
	"github.com/trstream/trstream/plugins/txn"
)

func good() txn.Transaction {
	return txn.Transaction{
		TransactionID:    "0b0c1d2e-3f40-4152-8364-758697a8b9ca",
		EventTime:        time.Date(2025, 11, 24, 13, 45, 12, 123456000, time.UTC),
		AccountID:        "acc-00000042",
		MerchantID:       "mer-000007",
		MerchantCategory: "5411",
		Amount:           1234500,
		Currency:         "EUR",
		Type:             txn.TypePayment,
		Status:           txn.StatusCompleted,
		Channel:          txn.ChannelPOS,
		Country:          "IT",
		CardFingerprint:  "9f86d081884c7d659f86d081884c7d65",
		BalanceAfter:     500000,
		Source:           "generator",
	}
}

func newProc(t *testing.T, yaml string) *validateProcessor {
	t.Helper()
	conf, err := validateConfigSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	p, err := newValidateProcessor(conf, service.MockResources())
	require.NoError(t, err)
	return p
}

// with returns the good transaction's JSON with key set to raw ("" deletes).
func with(key, raw string) string {
	tx := good()
	var m map[string]json.RawMessage
	_ = json.Unmarshal(tx.AppendJSON(nil), &m)
	if raw == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(raw)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestBadInputsGetReasonAndField(t *testing.T) {
	p := newProc(t, `max_amount: "5000"`)
	valid := string(func() []byte { tx := good(); return tx.AppendJSON(nil) }())
	for _, c := range []struct {
		name, in, reason, field string
	}{
		{"malformed", `{"transaction_id":`, txn.ReasonMalformedJSON, ""},
		{"not json", `hello`, txn.ReasonMalformedJSON, ""},
		{"empty", ``, txn.ReasonMalformedJSON, ""},
		{"invalid utf8", strings.Replace(valid, "acc-", "acc-\xff", 1), txn.ReasonInvalidUTF8, ""},
		{"missing currency", with("currency", ""), txn.ReasonMissingField, "currency"},
		{"missing event_time", with("event_time", ""), txn.ReasonMissingField, "event_time"},
		{"wrong type amount", with("amount", `true`), txn.ReasonWrongType, "amount"},
		{"wrong type is_fraud", with("is_fraud", `"no"`), txn.ReasonWrongType, "is_fraud"},
		{"bad currency", with("currency", `"EUX"`), txn.ReasonInvalidValue, "currency"},
		{"negative amount", with("amount", `-5`), txn.ReasonInvalidValue, "amount"},
		{"float noise", with("amount", `0.123456`), txn.ReasonInvalidValue, "amount"},
		{"over max_amount", with("amount", `5000.01`), txn.ReasonInvalidValue, "amount"},
		{"bad country", with("country", `"XX"`), txn.ReasonInvalidValue, "country"},
		{"bad time", with("event_time", `"2025-13-45T99:00:00Z"`), txn.ReasonInvalidValue, "event_time"},
		{"before min_time", with("event_time", `"1999-12-31T23:59:59Z"`), txn.ReasonInvalidValue, "event_time"},
		{"future", with("event_time", `"2999-01-01T00:00:00Z"`), txn.ReasonInvalidValue, "event_time"},
		{"transfer without counterparty", with("type", `"transfer"`), txn.ReasonMissingField, "counterparty_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg := service.NewMessage([]byte(c.in))
			msg.MetaSetMut("kafka_topic", "transactions")
			msg.MetaSetMut("kafka_partition", int32(3))
			msg.MetaSetMut("kafka_offset", int64(1234))
			out, err := p.ProcessBatch(context.Background(), service.MessageBatch{msg})
			require.NoError(t, err)
			require.Len(t, out, 1)
			require.Len(t, out[0], 1)
			m := out[0][0]
			require.Error(t, m.GetError())
			var fe *txn.FieldError
			require.ErrorAs(t, m.GetError(), &fe)
			reason, _ := m.MetaGet(MetaReason)
			field, _ := m.MetaGet(MetaField)
			full, _ := m.MetaGet(MetaError)
			require.Equal(t, c.reason, reason)
			require.Equal(t, c.field, field)
			require.Equal(t, m.GetError().Error(), full)
			topic, _ := m.MetaGet(MetaSourceTopic)
			part, _ := m.MetaGetMut(MetaSourcePartition)
			off, _ := m.MetaGet(MetaSourceOffset)
			require.Equal(t, "transactions", topic)
			require.Equal(t, int32(3), part, "types are kept")
			require.Equal(t, "1234", off)
			body, _ := m.AsBytes()
			require.Equal(t, c.in, string(body), "the original bytes are kept for the DLQ")
		})
	}
}

func TestValidPassesThroughOrNormalizes(t *testing.T) {
	// Non-canonical but valid: string amount, offset time, other key order.
	in := `{"source":"generator","is_fraud":false,"balance_after":"50","amount":"123.450","transaction_id":"0b0c1d2e-3f40-4152-8364-758697a8b9ca","event_time":"2025-11-24T14:45:12.123456+01:00","account_id":"acc-00000042","merchant_id":"mer-000007","merchant_category":"5411","currency":"EUR","type":"payment","status":"completed","channel":"pos","country":"IT","card_fingerprint":"9f86d081884c7d659f86d081884c7d65"}`
	for _, normalize := range []bool{false, true} {
		p := newProc(t, map[bool]string{false: `{}`, true: `normalize: true`}[normalize])
		msg := service.NewMessage([]byte(in))
		out, err := p.ProcessBatch(context.Background(), service.MessageBatch{msg})
		require.NoError(t, err)
		m := out[0][0]
		require.NoError(t, m.GetError())
		_, has := m.MetaGet(MetaReason)
		require.False(t, has)
		body, _ := m.AsBytes()
		if !normalize {
			require.Equal(t, in, string(body))
			continue
		}
		tx := good()
		tx.BalanceAfter = 500000
		require.Equal(t, string(tx.AppendJSON(nil)), string(body))
	}
}

func TestLimitsAreConfigurable(t *testing.T) {
	big := with("amount", `2000000000`)
	old := with("event_time", `"1995-06-01T00:00:00Z"`)
	def := newProc(t, `{}`)
	loose := newProc(t, "max_amount: \"5000000000\"\nmin_time: 1990-01-01T00:00:00Z\nmax_future: 48h")
	for _, c := range []struct {
		p    *validateProcessor
		in   string
		pass bool
	}{
		{def, big, false}, {loose, big, true}, {def, old, false}, {loose, old, true},
	} {
		out, err := c.p.ProcessBatch(context.Background(), service.MessageBatch{service.NewMessage([]byte(c.in))})
		require.NoError(t, err)
		require.Equal(t, c.pass, out[0][0].GetError() == nil, "%v", out[0][0].GetError())
	}
}

func TestBadConfigNamesField(t *testing.T) {
	for _, c := range [][2]string{
		{`max_amount: "abc"`, "max_amount"},
		{`max_amount: "-5"`, "max_amount"},
		{`max_amount: "1.00001"`, "max_amount"},
		{`min_time: yesterday`, "min_time"},
		{`max_future: -1h`, "max_future"},
	} {
		t.Run(c[0], func(t *testing.T) {
			conf, err := validateConfigSpec().ParseYAML(c[0], nil)
			if err == nil {
				_, err = newValidateProcessor(conf, service.MockResources())
			}
			require.ErrorContains(t, err, c[1])
		})
	}
	for _, c := range [][2]string{{`max_amount: "abc"`, "max_amount"}, {`min_time: yesterday`, "min_time"}} {
		err := service.NewStreamBuilder().SetYAML("input:\n  stdin: {}\npipeline:\n  processors:\n    - transaction_validate:\n        " + c[0] + "\noutput:\n  drop: {}\n")
		require.ErrorContains(t, err, c[1])
	}
}

// TestStreamRoutesErroredToDLQ runs generator → transaction_validate →
// switch on errored(): every message lands in exactly one sink, and the
// invalid sink holds exactly the injected invalid events, each with the
// reason the generator's truth predicts.
func TestStreamRoutesErroredToDLQ(t *testing.T) {
	dir := t.TempDir()
	goodPath, badPath := filepath.Join(dir, "good.jsonl"), filepath.Join(dir, "bad.jsonl")
	const n = 4000
	yaml := `
input:
  transaction_generator:
    rate: 0
    count: 4000
    accounts: 500
    seed: 11
    inject:
      duplicate_rate: 0.02
      late_rate: 0.02
      invalid_rate: 0.1
pipeline:
  processors:
    - transaction_validate: {}
output:
  switch:
    cases:
      - check: errored()
        output:
          file:
            path: ` + badPath + `
            codec: lines
          processors:
            - mapping: |
                root.reason = @dlq_reason
                root.field = @dlq_field
                root.error = @dlq_error
                root.kind = @generator_invalid_kind
                root.injected = @generator_injected
      - output:
          file:
            path: ` + goodPath + `
            codec: lines
          processors:
            - mapping: |
                root = this
                root.injected = @generator_injected.or("")
`
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetYAML(yaml))
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, stream.Run(ctx))

	lines := func(path string) []map[string]any {
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		var out []map[string]any
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
			out = append(out, m)
		}
		return out
	}
	goods, bads := lines(goodPath), lines(badPath)
	require.Equal(t, n, len(goods)+len(bads), "nothing dropped")
	require.NotEmpty(t, bads)
	for _, b := range bads {
		require.Equal(t, "invalid", b["injected"], "only injected invalid events are errored: %v", b)
		truth := generator.InvalidTruth[b["kind"].(string)]
		require.Equal(t, truth.Reason, b["reason"], "%v", b)
		if truth.Field != "*" {
			require.Equal(t, truth.Field, b["field"], "%v", b)
		}
		require.NotEmpty(t, b["error"])
	}
	for _, g := range goods {
		require.NotEqual(t, "invalid", g["injected"])
		require.NotEmpty(t, g["transaction_id"])
	}
	t.Logf("good %d, bad %d", len(goods), len(bads))
}

package redpanda

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
)

// TestToRecords: static fields are used as is, dynamic ones are resolved per
// message with the batch as context (batch_index, batch_size), and an empty
// metadata filter writes no headers.
func TestToRecords(t *testing.T) {
	build := func(yaml string) *redpandaWriter {
		conf, err := redpandaOutputConfigSpec().ParseYAML(yaml, nil)
		require.NoError(t, err)
		w, err := newRedpandaWriterFromConfig(conf, service.MockResources())
		require.NoError(t, err)
		return w
	}
	batch := service.MessageBatch{}
	for i := range 5 {
		m := service.NewMessage(fmt.Appendf(nil, "v%d", i))
		m.MetaSetMut("t", "topic-"+strconv.Itoa(i%2))
		m.MetaSetMut("h", "x")
		batch = append(batch, m)
	}

	w := build(`
seed_brokers: [ localhost:9092 ]
topic: ${! @t }
key: ${! batch_index() }-of-${! batch_size() }
partitioner: manual
partition: ${! batch_index() % 3 }
timestamp_ms: ${! 1000 + batch_index() }
metadata:
  include_patterns: [ "^h$" ]
`)
	recs, err := w.toRecords(batch)
	require.NoError(t, err)
	require.Len(t, recs, 5)
	for i, r := range recs {
		require.Equal(t, fmt.Sprintf("topic-%d", i%2), r.Topic)
		require.Equal(t, fmt.Sprintf("%d-of-5", i), string(r.Key))
		require.Equal(t, int32(i%3), r.Partition)
		require.Equal(t, int64(1000+i), r.Timestamp.UnixMilli())
		require.Equal(t, fmt.Sprintf("v%d", i), string(r.Value))
		require.Len(t, r.Headers, 1)
		require.Equal(t, "h", r.Headers[0].Key)
	}

	w = build("seed_brokers: [ localhost:9092 ]\ntopic: static\nkey: k\nmetadata: {}\n")
	require.Nil(t, w.meta, "an empty filter is dropped")
	recs, err = w.toRecords(batch)
	require.NoError(t, err)
	for _, r := range recs {
		require.Equal(t, "static", r.Topic)
		require.Equal(t, "k", string(r.Key))
		require.Empty(t, r.Headers)
	}

	// A failing interpolation names the field.
	w = build("seed_brokers: [ localhost:9092 ]\ntopic: ${! throw(\"no\") }\n")
	_, err = w.toRecords(batch)
	require.ErrorContains(t, err, "field topic")
}

// TestKeyMetaFastPath: a key that is one metadata value is read from the
// metadata directly, and gives the bytes the interpolation gives, for every
// kind of value; a message without the value goes through the interpolation.
func TestKeyMetaFastPath(t *testing.T) {
	values := []any{"acct-42", "", 42, int64(-7), 3.25, true, []byte("raw"), map[string]any{"a": 1}, []any{"x", 2}}
	for _, key := range []string{`${! meta("k") }`, `${!@k}`, `${! @k }`} {
		conf, err := redpandaOutputConfigSpec().ParseYAML("seed_brokers: [ localhost:9092 ]\ntopic: t\nkey: '"+key+"'\n", nil)
		require.NoError(t, err)
		w, err := newRedpandaWriterFromConfig(conf, service.MockResources())
		require.NoError(t, err)
		require.Equal(t, "k", w.key.meta, key)

		batch := service.MessageBatch{service.NewMessage([]byte("no key"))}
		for _, v := range values {
			m := service.NewMessage([]byte("v"))
			m.MetaSetMut("k", v)
			batch = append(batch, m)
		}
		recs, err := w.toRecords(batch)
		require.NoError(t, err)
		slow := w.key.is // the same interpolation, evaluated by Benthos
		for i, r := range recs {
			want, err := batch.TryInterpolatedBytes(i, slow)
			require.NoError(t, err)
			require.Equal(t, string(want), string(r.Key), "%s, message %d", key, i)
		}
	}
	for _, raw := range []string{`${! meta("k").uppercase() }`, `x-${! @k }`, `${! @k }${! @j }`, `${! metadata("k") }`, "k"} {
		require.Empty(t, metaOnly(raw), raw)
	}
}

// BenchmarkToRecordsKey: records of a 4096-message batch keyed by
// metadata, through the metadata fast path and through Bloblang (the same
// key written so that the fast path does not apply).
func BenchmarkToRecordsKey(b *testing.B) {
	batch := make(service.MessageBatch, 4096)
	for i := range batch {
		batch[i] = service.NewMessage([]byte(`{"transaction_id":"x"}`))
		batch[i].MetaSetMut("kafka_key", "acct-"+strconv.Itoa(i%1000))
	}
	for _, c := range []struct{ name, key string }{
		{"meta", `${! meta("kafka_key") }`},
		{"bloblang", `${! meta("kafka_key").string() }`},
	} {
		b.Run(c.name, func(b *testing.B) {
			conf, err := redpandaOutputConfigSpec().ParseYAML("seed_brokers: [ localhost:9092 ]\ntopic: t\nkey: '"+c.key+"'\n", nil)
			require.NoError(b, err)
			w, err := newRedpandaWriterFromConfig(conf, service.MockResources())
			require.NoError(b, err)
			b.SetBytes(int64(len(batch) * len(`{"transaction_id":"x"}`)))
			for b.Loop() {
				recs, err := w.toRecords(batch)
				if err != nil {
					b.Fatal(err)
				}
				w.putRecords(recs)
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

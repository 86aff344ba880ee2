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

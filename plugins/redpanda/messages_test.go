package redpanda

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMessagesSlabs: messages built from one batch's shared slabs keep their
// own keys, header values, offsets and lags through collections, and a
// change to one message's metadata leaves the others alone.
func TestMessagesSlabs(t *testing.T) {
	const n = 2000
	pm := &partitionMeta{topic: "t", partition: int64(1), highWatermark: n + 500}
	t0 := time.UnixMilli(1_700_000_000_000)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		rec := &kgo.Record{Offset: int64(500 + i), Timestamp: t0.Add(time.Duration(i/7) * time.Millisecond), Value: []byte(fmt.Sprintf("v%d", i))}
		if i%3 != 0 { // some records have no key
			rec.Key = []byte(fmt.Sprintf("key-%d", i))
		}
		for h := range i % 4 { // zero to three headers
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: fmt.Sprintf("h%d", h), Value: []byte(fmt.Sprintf("%d/%d", i, h))})
		}
		recs[i] = rec
	}
	batch := pm.messages(recs)
	recs = nil
	for range 3 {
		_ = make([]byte, 1<<20)
		runtime.GC()
	}
	batch[0].MetaSetMut("kafka_offset", int64(-1))
	batch[0].MetaSetMut("kafka_key", "changed")
	for i, m := range batch {
		got := map[string]any{}
		require.NoError(t, m.MetaWalkMut(func(k string, v any) error {
			got[k] = v
			return nil
		}))
		want := map[string]any{
			"kafka_key": "", "kafka_topic": "t", "kafka_partition": int64(1),
			"kafka_offset": int64(500 + i), "kafka_lag": int64(n - 1 - i),
			"kafka_timestamp_ms": t0.UnixMilli() + int64(i/7), "kafka_timestamp_unix": t0.Unix() + int64(i/7/1000),
			"kafka_tombstone_message": false,
		}
		if i%3 != 0 {
			want["kafka_key"] = fmt.Sprintf("key-%d", i)
		}
		for h := range i % 4 {
			want[fmt.Sprintf("h%d", h)] = fmt.Sprintf("%d/%d", i, h)
		}
		if i == 0 {
			want["kafka_offset"], want["kafka_key"] = int64(-1), "changed"
		}
		require.Equal(t, want, got, "message %d", i)
		b, err := m.AsBytes()
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("v%d", i), string(b))
	}
}

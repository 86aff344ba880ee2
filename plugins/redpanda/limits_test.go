package redpanda

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fakeGauge records the last value set per label set.
type fakeGauge struct {
	mu   sync.Mutex
	last map[string]int64
}

func (g *fakeGauge) Set(v int64, labels ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last[fmt.Sprint(labels)] = v
}

func (g *fakeGauge) get(labels ...string) (int64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.last[fmt.Sprint(labels)]
	return v, ok
}

func newTestReader(t *testing.T, yaml string) *redpandaReader {
	t.Helper()
	conf, err := redpandaInputConfigSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	r, err := newRedpandaReaderFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	return r
}

// connectedReader builds a reader and connects it; it is closed when the
// test ends. The context bounds the test.
func connectedReader(t *testing.T, yaml string) (*redpandaReader, context.Context) {
	t.Helper()
	r := newTestReader(t, yaml)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	require.NoError(t, r.Connect(ctx))
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r, ctx
}

// fetched builds a fetched partition of n records from offset 0 with a high
// watermark of hw.
func fetched(topic string, partition int32, n int, hw int64) kgo.FetchTopicPartition {
	p := kgo.FetchTopicPartition{Topic: topic, FetchPartition: kgo.FetchPartition{Partition: partition, HighWatermark: hw}}
	for i := range n {
		p.Records = append(p.Records, &kgo.Record{Topic: topic, Partition: partition, Offset: int64(i), Value: []byte("0123456789")})
	}
	return p
}

// TestLagGaugeZeroedOnRevoke: a revoked or lost partition's lag gauge goes
// to 0, so lag summed over a group's members counts each partition once.
func TestLagGaugeZeroedOnRevoke(t *testing.T) {
	r := newTestReader(t, "seed_brokers: [ 127.0.0.1:1 ]\ntopics: [ t ]\nconsumer_group: g\n")
	g := &fakeGauge{last: map[string]int64{}}
	r.lag = g

	r.mu.Lock()
	r.enqueue(fetched("t", 0, 3, 10))
	r.enqueue(fetched("t", 1, 3, 20))
	r.mu.Unlock()
	v, _ := g.get("t", "0")
	require.Equal(t, int64(7), v)
	v, _ = g.get("t", "1")
	require.Equal(t, int64(17), v)

	r.onLost(context.Background(), nil, map[string][]int32{"t": {0}})
	v, _ = g.get("t", "0")
	require.Equal(t, int64(0), v, "lost partition")
	v, _ = g.get("t", "1")
	require.Equal(t, int64(17), v, "kept partition")

	// A partition never owned gets no series.
	r.onLost(context.Background(), nil, map[string][]int32{"t": {5}})
	_, ok := g.get("t", "5")
	require.False(t, ok)
}

// TestCheckpointLimit: with checkpoint_limit, a partition's batches wait
// while its unacked messages would exceed the limit; other partitions and
// acks let them through; a batch larger than the limit goes alone.
func TestCheckpointLimit(t *testing.T) {
	tc := newTestCluster(t)
	tc.createTopic(t, "limited", 1)
	tc.produceValues(t, "limited", 40, 10)

	// 10 byte records, 50 byte yields: batches of 5 messages; limit 12
	// lets two batches of the partition out at a time.
	r, ctx := connectedReader(t, fmt.Sprintf(`
seed_brokers: [ %s ]
topics: [ limited ]
start_offset: earliest
max_yield_batch_bytes: 50B
checkpoint_limit: 12
fetch_max_wait: 100ms
`, tc.addr))

	var acks []service.AckFunc
	got := 0
	for got < 10 {
		b, ack, err := r.ReadBatch(ctx)
		require.NoError(t, err)
		got += len(b)
		acks = append(acks, ack)
	}
	require.Equal(t, 10, got)

	// The third batch would make 15 unacked: ReadBatch waits ...
	next := make(chan int, 1)
	go func() {
		b, ack, err := r.ReadBatch(ctx)
		if err == nil {
			acks = append(acks, ack)
		}
		next <- len(b)
	}()
	select {
	case n := <-next:
		t.Fatalf("a batch of %d went past checkpoint_limit", n)
	case <-time.After(200 * time.Millisecond):
	}
	// ... until an ack makes room.
	require.NoError(t, acks[0](ctx, nil))
	select {
	case n := <-next:
		require.Equal(t, 5, n)
	case <-ctx.Done():
		t.Fatal("an ack did not release the waiting batch")
	}

	// A limit below one batch still yields one batch at a time.
	r.limit = 3
	for _, ack := range acks[1:] {
		require.NoError(t, ack(ctx, nil))
	}
	b, ack, err := r.ReadBatch(ctx)
	require.NoError(t, err)
	require.Len(t, b, 5)
	require.NoError(t, ack(ctx, nil))
}

// TestStaticMembership: a member with instance_id joins its group, consumes
// and commits like any other.
func TestStaticMembership(t *testing.T) {
	tc := newTestCluster(t)
	tc.createTopic(t, "static", 2)
	tc.produceValues(t, "static", 20, 10)
	r, ctx := connectedReader(t, fmt.Sprintf(`
seed_brokers: [ %s ]
topics: [ static ]
consumer_group: statics
instance_id: member-1
commit_period: 50ms
fetch_max_wait: 100ms
heartbeat_interval: 100ms
`, tc.addr))
	got := 0
	for got < 20 {
		b, ack, err := r.ReadBatch(ctx)
		require.NoError(t, err)
		got += len(b)
		require.NoError(t, ack(ctx, nil))
	}
	waitFor(t, 10*time.Second, func() bool {
		c := tc.committed(t, "statics", "static")
		return c[0]+c[1] == 20
	}, "commits of the static member")
}

// TestMessageMetadata: every kafka_* key with its type, timestamps right when
// consecutive records share or change them, headers as metadata.
func TestMessageMetadata(t *testing.T) {
	pm := &partitionMeta{topic: "t", partition: int64(3), highWatermark: 10}
	t0 := time.UnixMilli(1_700_000_000_123)
	recs := []*kgo.Record{
		{Key: []byte("k"), Value: []byte("v"), Offset: 4, Timestamp: t0, Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}},
		{Value: []byte("v"), Offset: 5, Timestamp: t0},
		{Offset: 6, Timestamp: t0.Add(1500 * time.Millisecond)},
	}
	batch := pm.messages(recs)
	want := []map[string]any{
		{"kafka_key": "k", "kafka_offset": int64(4), "kafka_lag": int64(5), "kafka_timestamp_ms": t0.UnixMilli(), "kafka_timestamp_unix": t0.Unix(), "kafka_tombstone_message": false, "h": "x"},
		{"kafka_key": "", "kafka_offset": int64(5), "kafka_lag": int64(4), "kafka_timestamp_ms": t0.UnixMilli(), "kafka_timestamp_unix": t0.Unix(), "kafka_tombstone_message": false},
		{"kafka_key": "", "kafka_offset": int64(6), "kafka_lag": int64(3), "kafka_timestamp_ms": t0.UnixMilli() + 1500, "kafka_timestamp_unix": t0.Unix() + 1, "kafka_tombstone_message": true},
	}
	for i, m := range batch {
		got := map[string]any{}
		require.NoError(t, m.MetaWalkMut(func(k string, v any) error {
			got[k] = v
			return nil
		}))
		w := want[i]
		w["kafka_topic"], w["kafka_partition"] = "t", int64(3)
		require.Equal(t, w, got, "message %d", i)
	}
}

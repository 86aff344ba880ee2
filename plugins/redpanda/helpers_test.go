package redpanda

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// testCluster is an in-process Kafka cluster (kfake) on 127.0.0.1.
type testCluster struct {
	c    *kfake.Cluster
	addr string
	port int
}

func newTestCluster(t testing.TB, opts ...kfake.Opt) *testCluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{
		kfake.NumBrokers(1),
		// Short group sessions keep rebalance-driven tests quick.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	_, portStr, ok := strings.Cut(addr, ":")
	require.True(t, ok)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	return &testCluster{c: c, addr: addr, port: port}
}

func (tc *testCluster) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tc.addr)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func (tc *testCluster) createTopic(t testing.TB, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(tc.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, partitions, 1, nil, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Error())
}

// produce writes n keyed records (key-<i%keys>) with a seq header.
func (tc *testCluster) produce(t testing.TB, topic string, n, keys int) {
	t.Helper()
	cl := tc.client(t, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{
			Topic: topic,
			Key:   fmt.Appendf(nil, "key-%d", i%keys),
			Value: fmt.Appendf(nil, "value-%d", i),
			Headers: []kgo.RecordHeader{
				{Key: "seq", Value: []byte(strconv.Itoa(i))},
				{Key: "origin", Value: []byte("test")},
			},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
}

// consumeAll reads topic from the start until want records arrived.
func (tc *testCluster) consumeAll(t testing.TB, topic string, want int) []*kgo.Record {
	t.Helper()
	cl := tc.client(t, kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "got %d of %d records", len(out), want)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// committed returns the group's committed offsets for topic.
func (tc *testCluster) committed(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	adm := kadm.NewClient(tc.client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := adm.FetchOffsets(ctx, group)
	require.NoError(t, err)
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

package redpanda

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
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
	t.Cleanup(func() {
		st := time.Now()
		c.Close()
		if os.Getenv("REDPANDA_TEST_LOG") != "" {
			t.Logf("kfake close took %v", time.Since(st))
		}
	})
	addr := c.ListenAddrs()[0]
	_, portStr, ok := strings.Cut(addr, ":")
	require.True(t, ok)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	return &testCluster{c: c, addr: addr, port: port}
}

func (tc *testCluster) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tc.addr), kgo.DisableClientMetrics()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		st := time.Now()
		cl.Close()
		if os.Getenv("REDPANDA_TEST_LOG") != "" {
			t.Logf("client close took %v", time.Since(st))
		}
	})
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
	out, err := tc.fetchCommitted(group, topic)
	require.NoError(t, err)
	return out
}

// fetchCommitted is committed without testing.TB, for use off the test
// goroutine.
func (tc *testCluster) fetchCommitted(group, topic string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(tc.addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out, nil
}

// runningStream is a Benthos stream running in the background.
type runningStream struct {
	s    *service.Stream
	done chan error
}

// startStream builds a stream from YAML snippets and runs it. consume, when
// set, is the stream's output (returning an error nacks the batch).
func startStream(t testing.TB, input string, processors []string, output string, consume service.MessageBatchHandlerFunc) *runningStream {
	t.Helper()
	sb := service.NewStreamBuilder()
	level := "none"
	if l := os.Getenv("REDPANDA_TEST_LOG"); l != "" {
		level = l
	}
	require.NoError(t, sb.SetLoggerYAML("level: "+level))
	require.NoError(t, sb.AddInputYAML(input))
	for _, p := range processors {
		require.NoError(t, sb.AddProcessorYAML(p))
	}
	if consume != nil {
		require.NoError(t, sb.AddBatchConsumerFunc(consume))
	} else {
		require.NoError(t, sb.AddOutputYAML(output))
	}
	s, err := sb.Build()
	require.NoError(t, err)
	rs := &runningStream{s: s, done: make(chan error, 1)}
	go func() { rs.done <- s.Run(context.Background()) }()
	t.Cleanup(func() { rs.stop(t) })
	return rs
}

// stop stops the stream gracefully (acked offsets are committed) and waits.
func (rs *runningStream) stop(t testing.TB) {
	t.Helper()
	if rs.s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Run starts in a goroutine; Stop refuses a stream that has not
	// registered as running yet, so retry that case.
	for {
		err := rs.s.Stop(ctx)
		if err != nil && strings.Contains(err.Error(), "not been run yet") && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		require.NoError(t, err)
		break
	}
	<-rs.done
	rs.s = nil
}

// waitFor polls cond until it holds or the deadline passes; only the outcome
// is asserted, never how long it took.
func waitFor(t testing.TB, d time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	if !assert.Eventually(t, cond, d, 20*time.Millisecond, msgAndArgs...) {
		t.FailNow()
	}
}

// produceValues writes n unkeyed records of size bytes each.
func (tc *testCluster) produceValues(t testing.TB, topic string, n, size int, opts ...kgo.Opt) {
	t.Helper()
	cl := tc.client(t, opts...)
	value := make([]byte, size)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const chunk = 10000
	for done := 0; done < n; done += chunk {
		recs := make([]*kgo.Record, min(chunk, n-done))
		for i := range recs {
			recs[i] = &kgo.Record{Topic: topic, Value: value}
		}
		require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	}
}

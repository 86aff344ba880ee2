package redpanda

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTransactionIsolationLevel: a transactional producer writes one
// aborted and one committed transaction between two plain records; with
// read_committed the input yields the plain and committed records only, with
// read_uncommitted (the default) every data record, in offset order.
func TestTransactionIsolationLevel(t *testing.T) {
	tc := newTestCluster(t)
	tc.createTopic(t, "txn", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	plain := tc.client(t, kgo.DefaultProduceTopic("txn"))
	txn := tc.client(t, kgo.DefaultProduceTopic("txn"), kgo.TransactionalID("isolation-test"))
	send := func(cl *kgo.Client, values ...string) {
		for _, v := range values {
			require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr())
		}
	}
	inTxn := func(commit kgo.TransactionEndTry, values ...string) {
		require.NoError(t, txn.BeginTransaction())
		send(txn, values...)
		require.NoError(t, txn.EndTransaction(ctx, commit))
	}
	send(plain, "plain-0")
	inTxn(kgo.TryAbort, "aborted-0", "aborted-1")
	inTxn(kgo.TryCommit, "committed-0", "committed-1")
	send(plain, "plain-1")

	for _, tt := range []struct {
		level string
		want  []string
	}{
		{"read_committed", []string{"plain-0", "committed-0", "committed-1", "plain-1"}},
		{"read_uncommitted", []string{"plain-0", "aborted-0", "aborted-1", "committed-0", "committed-1", "plain-1"}},
	} {
		t.Run(tt.level, func(t *testing.T) {
			r, rctx := connectedReader(t, fmt.Sprintf(`
seed_brokers: [ %s ]
topics: [ txn ]
transaction_isolation_level: %s
fetch_max_wait: 100ms
`, tc.addr, tt.level))
			var got []string
			for len(got) == 0 || got[len(got)-1] != "plain-1" {
				batch, ack, err := r.ReadBatch(rctx)
				require.NoError(t, err)
				for _, m := range batch {
					b, err := m.AsBytes()
					require.NoError(t, err)
					got = append(got, string(b))
				}
				require.NoError(t, ack(rctx, nil))
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestAllowAutoTopicCreation: writing to a topic that does not exist, on a
// broker that allows auto-creation, fails the batch by default and creates
// the topic (and lands the batch) with allow_auto_topic_creation.
func TestAllowAutoTopicCreation(t *testing.T) {
	tc := newTestCluster(t, kfake.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	batch := service.MessageBatch{service.NewMessage([]byte("a")), service.NewMessage([]byte("b"))}

	write := func(topic string, auto bool) error {
		w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %s ]\ntopic: %s\nallow_auto_topic_creation: %t\ntimeout: 2s\n", tc.addr, topic, auto))
		require.NoError(t, w.Connect(ctx))
		defer func() { _ = w.Close(context.Background()) }()
		return w.WriteBatch(ctx, batch)
	}

	require.Error(t, write("not-made", false), "a missing topic fails the write")
	topics, err := kadm.NewClient(tc.client(t)).ListTopics(ctx)
	require.NoError(t, err)
	require.False(t, topics.Has("not-made"), "and is not created")

	require.NoError(t, write("made", true))
	recs := tc.consumeAll(t, "made", 2)
	require.Equal(t, "a", string(recs[0].Value))
	require.Equal(t, "b", string(recs[1].Value))
}

// TestRegexpTopicsIncludeExclude: with regexp_topics_include and
// regexp_topics_exclude the input reads every topic that matches an include
// pattern and no exclude pattern, and nothing else.
func TestRegexpTopicsIncludeExclude(t *testing.T) {
	tc := newTestCluster(t)
	topics := []string{"orders.eu", "orders.us", "orders.dlq", "payments"}
	for _, topic := range topics {
		tc.createTopic(t, topic, 1)
	}
	cl := tc.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range topics {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(topic)}).FirstErr())
	}

	r, rctx := connectedReader(t, fmt.Sprintf(`
seed_brokers: [ %s ]
regexp_topics_include: [ '^orders\.' ]
regexp_topics_exclude: [ '\.dlq$' ]
consumer_group: regexp
fetch_max_wait: 100ms
`, tc.addr))
	got := map[string]int{}
	read := func(ctx context.Context) error {
		batch, ack, err := r.ReadBatch(ctx)
		if err != nil {
			return err
		}
		for _, m := range batch {
			topic, _ := m.MetaGet("kafka_topic")
			b, err := m.AsBytes()
			require.NoError(t, err)
			require.Equal(t, topic, string(b))
			got[topic]++
		}
		return ack(ctx, nil)
	}
	for got["orders.eu"] == 0 || got["orders.us"] == 0 {
		require.NoError(t, read(rctx))
	}
	// Every topic's record was in the broker before the first fetch; read
	// on for a second to see that nothing else arrives.
	drain, stop := context.WithTimeout(rctx, time.Second)
	defer stop()
	for read(drain) == nil {
	}
	require.Equal(t, map[string]int{"orders.eu": 1, "orders.us": 1}, got)
}

// TestLagRefreshedUnderBackPressure: while nothing reads from the input
// (the pipeline applies back pressure, so it fetches nothing), the lag
// gauge still follows the records produced, refreshed every
// topic_lag_refresh_period from the broker's end offsets.
func TestLagRefreshedUnderBackPressure(t *testing.T) {
	tc := newTestCluster(t)
	tc.createTopic(t, "lagged", 1)
	tc.produceValues(t, "lagged", 10, 10)
	r := newTestReader(t, fmt.Sprintf("seed_brokers: [ %s ]\ntopics: [ lagged ]\ntopic_lag_refresh_period: 50ms\nfetch_max_wait: 100ms\n", tc.addr))
	g := &fakeGauge{last: map[string]int64{}}
	r.lag = g
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, r.Connect(ctx))
	t.Cleanup(func() { _ = r.Close(context.Background()) })

	for got := 0; got < 10; {
		batch, ack, err := r.ReadBatch(ctx)
		require.NoError(t, err)
		got += len(batch)
		require.NoError(t, ack(ctx, nil))
	}
	lag, ok := g.get("lagged", "0")
	require.True(t, ok)
	require.Equal(t, int64(0), lag)

	tc.produceValues(t, "lagged", 25, 10)
	require.Eventually(t, func() bool {
		lag, _ := g.get("lagged", "0")
		return lag == 25
	}, 10*time.Second, 20*time.Millisecond, "the lag of 25 unread records")
}

// TestTimelyNacks: with timely_nacks_maximum_wait, a batch that is neither
// acked nor nacked within it is nacked, so the input delivers it again (a
// replay waiting behind the held first delivery is nacked in turn, so it
// may come several times); without it, it is delivered once. Either way its
// offset is committed once a delivery is acked.
func TestTimelyNacks(t *testing.T) {
	for _, tt := range []struct {
		name    string
		conf    string
		atLeast int
		atMost  int
	}{
		{"on", "timely_nacks_maximum_wait: 200ms\n", 2, 100},
		{"off", "", 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestCluster(t)
			tc.createTopic(t, "slow", 1)
			tc.produceValues(t, "slow", 1, 10)
			var mu sync.Mutex
			deliveries := 0
			release := make(chan struct{})
			rs := startStream(t, fmt.Sprintf("redpanda:\n  seed_brokers: [ %s ]\n  topics: [ slow ]\n  consumer_group: timely\n  commit_period: 100ms\n  %s", tc.addr, tt.conf), nil, "",
				func(ctx context.Context, b service.MessageBatch) error {
					mu.Lock()
					deliveries++
					first := deliveries == 1
					mu.Unlock()
					if first {
						// Held past the wait: the slow downstream.
						select {
						case <-release:
						case <-ctx.Done():
						}
					}
					return nil
				})
			// Held five times the limit: the nack is forced meanwhile, and
			// the replay is delivered once the consumer is free.
			time.Sleep(time.Second)
			close(release)
			waitFor(t, 10*time.Second, func() bool { return tc.committed(t, "timely", "slow")[0] == 1 }, "the record committed")
			rs.stop(t)
			mu.Lock()
			defer mu.Unlock()
			require.GreaterOrEqual(t, deliveries, tt.atLeast)
			require.LessOrEqual(t, deliveries, tt.atMost)
		})
	}
}

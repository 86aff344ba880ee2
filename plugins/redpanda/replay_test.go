package redpanda

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
)

// TestNackReplay: a nacked batch is yielded again, rebuilt from its records
// (downstream changes to the first delivery do not leak into the replay),
// even when ReadBatch is already blocked waiting for new records; its offset
// is committed only after the replay is acked.
func TestNackReplay(t *testing.T) {
	tc := newTestCluster(t)
	tc.createTopic(t, "replay", 1)
	tc.produceValues(t, "replay", 5, 10)

	r, ctx := connectedReader(t, fmt.Sprintf(`
seed_brokers: [ %s ]
topics: [ replay ]
consumer_group: replayers
commit_period: 50ms
fetch_max_wait: 100ms
`, tc.addr))

	var first service.MessageBatch
	var ack service.AckFunc
	var err error
	for len(first) == 0 {
		first, ack, err = r.ReadBatch(ctx)
		require.NoError(t, err)
	}
	require.Len(t, first, 5)
	first[0].SetBytes([]byte("changed"))
	first[0].MetaSetMut("kafka_offset", int64(99))

	// Nack while a second ReadBatch waits on an empty topic.
	type read struct {
		batch service.MessageBatch
		ack   service.AckFunc
		err   error
	}
	got := make(chan read, 1)
	go func() {
		b, a, err := r.ReadBatch(ctx)
		got <- read{b, a, err}
	}()
	time.Sleep(50 * time.Millisecond) // usually blocked in PollFetches by now; either way works
	require.NoError(t, ack(ctx, errors.New("rejected")))

	var replay read
	select {
	case replay = <-got:
	case <-ctx.Done():
		t.Fatal("the nacked batch was not replayed")
	}
	require.NoError(t, replay.err)
	require.Len(t, replay.batch, 5)
	for i, m := range replay.batch {
		off, _ := m.MetaGetMut("kafka_offset")
		require.Equal(t, int64(i), off)
		b, err := m.AsBytes()
		require.NoError(t, err)
		require.Len(t, b, 10)
	}
	require.Empty(t, tc.committed(t, "replayers", "replay"), "nothing is committed before the replay is acked")

	require.NoError(t, replay.ack(ctx, nil))
	waitFor(t, 10*time.Second, func() bool { return tc.committed(t, "replayers", "replay")[0] == 5 }, "commit after the replay's ack")
}

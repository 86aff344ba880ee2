package redpanda

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestRoundTrip: keyed records with headers go through redpanda input ->
// redpanda output into a second topic and come back exactly once, with keys,
// headers and per-key order intact.
func TestRoundTrip(t *testing.T) {
	const n, keys = 2000, 17
	tc := newTestCluster(t)
	tc.createTopic(t, "rt-in", 4)
	tc.createTopic(t, "rt-out", 3)
	tc.produce(t, "rt-in", n, keys)

	startStream(t, fmt.Sprintf(`
redpanda:
  seed_brokers: [ %s ]
  topics: [ rt-in ]
  consumer_group: rt
  fetch_max_wait: 100ms
  fetch_max_partition_bytes: 8KiB
`, tc.addr), nil, fmt.Sprintf(`
redpanda:
  seed_brokers: [ %s ]
  topic: rt-out
  key: ${! meta("kafka_key") }
  max_in_flight: 1
  metadata:
    include_patterns: [ "^seq$", "^origin$" ]
  batching:
    count: 100
    period: 10ms
`, tc.addr), nil)

	recs := tc.consumeAll(t, "rt-out", n)
	require.Len(t, recs, n)

	// Exactly n records were written to the output topic.
	adm := kadm.NewClient(tc.client(t))
	ends, err := adm.ListEndOffsets(context.Background(), "rt-out")
	require.NoError(t, err)
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	require.Equal(t, int64(n), total)

	seen := map[int]bool{}
	lastSeq := map[string]int{}
	for _, r := range recs {
		hdr := map[string]string{}
		for _, h := range r.Headers {
			hdr[h.Key] = string(h.Value)
		}
		require.Len(t, hdr, 2, "only the filtered headers are written")
		require.Equal(t, "test", hdr["origin"])
		seq, err := strconv.Atoi(hdr["seq"])
		require.NoError(t, err)
		require.False(t, seen[seq], "duplicate seq %d", seq)
		seen[seq] = true
		require.Equal(t, fmt.Sprintf("key-%d", seq%keys), string(r.Key))
		require.Equal(t, fmt.Sprintf("value-%d", seq), string(r.Value))

		// Records are read partition by partition; a key lives in one
		// partition, so within a key the sequence must increase.
		if prev, ok := lastSeq[string(r.Key)]; ok {
			require.Greater(t, seq, prev, "key %s out of order", r.Key)
		}
		lastSeq[string(r.Key)] = seq
	}
	require.Len(t, seen, n)
}

package main

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trstream/trstream/internal/testenv"
	"github.com/trstream/trstream/internal/topics"
)

// startBroker runs kfake on loopback with the project's topics applied.
func startBroker(t *testing.T) string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	defs, err := topics.Load("../../redpanda/topics.yaml")
	require.NoError(t, err)
	_, err = topics.Apply(t.Context(), kadm.NewClient(cl), defs, 1)
	require.NoError(t, err)
	return cluster.ListenAddrs()[0]
}

// runIngest runs pipelines/ingest.yaml to completion with count events.
func runIngest(t *testing.T, brokers string, count, seed int) {
	t.Helper()
	s := testenv.PipelineStream(t, "../../pipelines/ingest.yaml", map[string]string{
		"TRSTREAM_BROKERS": brokers,
		"TRSTREAM_COUNT":   strconv.Itoa(count),
		"TRSTREAM_RATE":    "0",
		"TRSTREAM_SEED":    strconv.Itoa(seed),
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	require.NoError(t, s.Run(ctx))
}

// consume reads from the transactions topic in group until idle, commits,
// and returns transaction_id → key.
func consume(t *testing.T, brokers, group string, want int) map[string]string {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics("transactions"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	require.NoError(t, err)
	defer cl.Close()
	got := map[string]string{}
	deadline := time.Now().Add(time.Minute)
	idle := 0
	for time.Now().Before(deadline) && idle < 3 {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			var body struct {
				ID      string `json:"transaction_id"`
				Account string `json:"account_id"`
			}
			require.NoError(t, json.Unmarshal(r.Value, &body))
			require.Equal(t, body.Account, string(r.Key), "records are keyed by account_id")
			got[body.ID] = string(r.Key)
		})
		if n == 0 && len(got) >= want {
			idle++
		}
	}
	require.NoError(t, cl.CommitUncommittedOffsets(t.Context()))
	return got
}

// TestIngestEndToEnd: kfake ← ingest pipeline with count N → a consumer
// group reads back exactly N distinct transaction ids, keyed by account; a
// second run of the group resumes from its committed offsets.
func TestIngestEndToEnd(t *testing.T) {
	brokers := startBroker(t)
	const n = 5000
	runIngest(t, brokers, n, 7)

	first := consume(t, brokers, "e2e", n)
	require.Len(t, first, n)

	// Nothing new: the group resumes at its committed offsets and sees nothing.
	require.Empty(t, consume(t, brokers, "e2e", 0))

	// New events: the group sees exactly those.
	runIngest(t, brokers, 1000, 8)
	second := consume(t, brokers, "e2e", 1000)
	require.Len(t, second, 1000)
	for id := range second {
		require.NotContains(t, first, id)
	}
}

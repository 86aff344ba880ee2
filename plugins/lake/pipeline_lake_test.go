package lake

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	// What pipelines/lake.yaml names besides the lake and validate.
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	_ "github.com/trstream/trstream/plugins/prometheus"
	_ "github.com/trstream/trstream/plugins/redpanda"

	"github.com/trstream/trstream/internal/testenv"
)

// lakeYAMLCluster is a kfake broker with pipelines/lake.yaml's topics,
// holding valid events (testRows of seed) and the invalid bodies, and a
// client.
func lakeYAMLCluster(t *testing.T, seed string, valid int, invalid [][]byte) (broker string, cl *kgo.Client, ids []string) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	broker = cluster.ListenAddrs()[0]
	cl, err = kgo.NewClient(kgo.SeedBrokers(broker), kgo.DisableClientMetrics())
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	ctx := context.Background()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, 3, 1, nil, "transactions", "transactions.dlq")
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	var recs []*kgo.Record
	for _, m := range testRows(seed, valid, 3) {
		ids = append(ids, m.TransactionID)
		recs = append(recs, &kgo.Record{Topic: "transactions", Key: []byte(m.AccountID), Value: m.AppendJSON(nil)})
	}
	for _, b := range invalid {
		recs = append(recs, &kgo.Record{Topic: "transactions", Key: []byte("bad"), Value: b})
	}
	require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	return broker, cl, ids
}

// TestLakeYAMLRoutes runs pipelines/lake.yaml: every valid event lands in
// the lake once, every invalid one in transactions.dlq, byte for byte,
// with its reason in the headers.
func TestLakeYAMLRoutes(t *testing.T) {
	invalid := [][]byte{
		[]byte(`{"transaction_id":`),
		[]byte("not json"),
		func() []byte { m := testRows("eux", 1, 1)[0]; m.Currency = "EUX"; return m.AppendJSON(nil) }(),
	}
	broker, cl, ids := lakeYAMLCluster(t, t.Name(), 50, invalid)
	dir := t.TempDir()
	stream := testenv.PipelineStream(t, "../../pipelines/lake.yaml", map[string]string{
		"TRSTREAM_BROKERS": broker, "TRSTREAM_LAKE": dir,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()

	dlq := readDLQ(t, ctx, cl, len(invalid))
	tbl := openLake(t, dir, S3Options{})
	require.Eventually(t, func() bool { // every valid row committed
		files, err := tbl.Files(ctx)
		rows := int64(0)
		for _, f := range files {
			rows += f.Rows
		}
		return err == nil && rows >= int64(len(ids))
	}, 30*time.Second, 100*time.Millisecond)
	got := fileIDs(t, tbl)
	require.NoError(t, stream.StopWithin(10*time.Second))
	<-done

	slices.Sort(ids)
	assert.Equal(t, ids, got, "every valid event, once")
	var bodies [][]byte
	for _, r := range dlq {
		bodies = append(bodies, r.Value)
		h := headers(r)
		assert.NotEmpty(t, h["dlq_reason"], "%s", r.Value)
		assert.Equal(t, "transactions", h["dlq_source_topic"])
	}
	assert.ElementsMatch(t, invalid, bodies, "the invalid bodies, unchanged")
}

// TestLakeYAMLLakeFailureIsNotDeadLettered: lake.yaml with a lake that
// fails every commit (its data directory is a file, so no data file can be
// created, whoever runs the test): the invalid event still reaches the DLQ
// (so messages flow), the valid ones never do (they are nacked and read
// again) and nothing lands.
func TestLakeYAMLLakeFailureIsNotDeadLettered(t *testing.T) {
	bad := []byte("not json")
	broker, cl, _ := lakeYAMLCluster(t, t.Name(), 20, [][]byte{bad})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data"), nil, 0o644))
	stream := testenv.PipelineStream(t, "../../pipelines/lake.yaml", map[string]string{
		"TRSTREAM_BROKERS": broker,
		"TRSTREAM_LAKE":    dir,
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- stream.Run(runCtx) }()
	readDLQ(t, ctx, cl, 1)
	time.Sleep(2 * time.Second) // retries of the valid ones
	// The valid batches wait for a commit that keeps failing: no graceful
	// stop can end them, so the stream is cancelled.
	stop()
	<-done
	dlq := readDLQ(t, ctx, cl, 0)
	require.NotEmpty(t, dlq)
	for _, r := range dlq {
		assert.Equal(t, string(bad), string(r.Value), "only the invalid event is dead-lettered")
	}
	loc, err := ParseLocation(dir, S3Options{})
	require.NoError(t, err)
	tbl, err := Open(context.Background(), loc)
	require.NoError(t, err)
	defer tbl.Close()
	files, err := tbl.Files(context.Background())
	require.NoError(t, err)
	assert.Empty(t, files, "no commit could succeed")
}

// headers are r's headers by key.
func headers(r *kgo.Record) map[string]string {
	h := make(map[string]string, len(r.Headers))
	for _, kv := range r.Headers {
		h[kv.Key] = string(kv.Value)
	}
	return h
}

// readDLQ reads transactions.dlq until it holds n records (n = 0: what
// is there after a second).
func readDLQ(t *testing.T, ctx context.Context, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	c, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.DisableClientMetrics(),
		kgo.ConsumeTopics("transactions.dlq"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer c.Close()
	var out []*kgo.Record
	wait := 30 * time.Second
	if n == 0 {
		wait = time.Second
	}
	deadline := time.Now().Add(wait)
	for (n == 0 || len(out) < n) && time.Now().Before(deadline) {
		fctx, fcancel := context.WithDeadline(ctx, deadline)
		fs := c.PollFetches(fctx)
		fcancel()
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	require.True(t, n == 0 || len(out) == n, "%d of %d DLQ records", len(out), n)
	return out
}

// TestLakeYAMLFreshBrokerNotSkipped: pipelines/lake.yaml lands a topic,
// then runs on the same lake against a fresh broker, whose topic's offsets
// count from 0 again (an in-memory broker restarted, or the topic deleted
// and created again: Kafka drops its group offsets, so the group reads it
// from the start). Its records sit below the lake's committed offsets, yet
// none was landed. Within the id window (all of this small lake) ids, not
// offsets, decide there (late.go): the fresh events land, once, and are
// acknowledged, whether the fresh log ends below the committed offsets or
// was refilled past them. (Beyond the window such a log is refused, see
// TestParquetLakeRefusesLogBelowCommitted and TestCheckReplays.)
func TestLakeYAMLFreshBrokerNotSkipped(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fresh int // events on the fresh broker, against 90 landed (3 partitions)
	}{
		{"log ends below the committed offsets", 15},
		{"log refilled past the committed offsets", 300},
	} {
		t.Run(tt.name, func(t *testing.T) { freshBrokerNotSkipped(t, tt.fresh) })
	}
}

func freshBrokerNotSkipped(t *testing.T, fresh int) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := func(broker string, until func() bool) {
		stream := testenv.PipelineStream(t, "../../pipelines/lake.yaml", map[string]string{
			"TRSTREAM_BROKERS": broker, "TRSTREAM_LAKE": dir,
		})
		done := make(chan error, 1)
		go func() { done <- stream.Run(ctx) }()
		require.Eventually(t, until, 30*time.Second, 100*time.Millisecond)
		require.NoError(t, stream.StopWithin(10*time.Second))
		require.NoError(t, <-done)
	}

	brokerA, _, idsA := lakeYAMLCluster(t, t.Name(), 90, nil)
	var tbl *Table
	run(brokerA, func() bool {
		if tbl == nil {
			loc, err := ParseLocation(dir, S3Options{})
			require.NoError(t, err)
			if tbl, err = Open(ctx, loc); err != nil {
				return false
			}
		}
		return totalRows(t, tbl) >= int64(len(idsA))
	})
	defer tbl.Close()
	before, err := tbl.Offsets(ctx)
	require.NoError(t, err)

	// The fresh broker: new events, per partition fewer than were landed,
	// or more.
	brokerB, cl, idsB := lakeYAMLCluster(t, "fresh", fresh, nil)
	want := sorted(append(append([]string(nil), idsA...), idsB...))
	run(brokerB, func() bool { return totalRows(t, tbl) >= int64(len(want)) })

	assert.Equal(t, want, fileIDs(t, tbl), "both brokers' events, once")
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "transactions")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "trstream-lake")
		require.NoError(t, err)
		acked := true
		ends.Each(func(e kadm.ListedOffset) {
			o, ok := offs.Lookup(e.Topic, e.Partition)
			acked = acked && ok && o.At == e.Offset
		})
		return acked
	}, 10*time.Second, 100*time.Millisecond, "every fresh record acknowledged")
	assert.Empty(t, readDLQ(t, ctx, cl, 0), "nothing dead-lettered")
	after, err := tbl.Offsets(ctx)
	require.NoError(t, err)
	ends.Each(func(e kadm.ListedOffset) {
		assert.Equal(t, max(before["transactions"][e.Partition], e.Offset), after["transactions"][e.Partition],
			"partition %d: the lake's offset never moves back", e.Partition)
	})
}

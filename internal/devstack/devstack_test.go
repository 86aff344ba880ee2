package devstack

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRetentionApplied: the stack's broker drops what the topic's
// retention.ms expired, as a Kafka broker does, and keeps the rest.
func TestRetentionApplied(t *testing.T) {
	topicsFile := filepath.Join(t.TempDir(), "topics.yaml")
	require.NoError(t, os.WriteFile(topicsFile, []byte(`topics:
  - name: events
    partitions: 1
    replication_factor: 1
    configs:
      retention.ms: "3600000"
`), 0o644))
	s, err := Start(t.Context(), Config{TopicsFile: topicsFile, DataDir: t.TempDir(), Out: io.Discard, RetentionCheck: 50 * time.Millisecond})
	require.NoError(t, err)
	defer s.Stop()

	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Brokers), kgo.DisableClientMetrics())
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// Two batches: ten records from two hours ago, then five of now.
	for _, at := range []struct {
		n  int
		ts time.Time
	}{{10, time.Now().Add(-2 * time.Hour)}, {5, time.Now()}} {
		var recs []*kgo.Record
		for range at.n {
			recs = append(recs, &kgo.Record{Topic: "events", Value: []byte("x"), Timestamp: at.ts})
		}
		require.NoError(t, cl.ProduceSync(ctx, recs...).FirstErr())
	}
	adm := kadm.NewClient(cl)
	require.Eventually(t, func() bool {
		starts, err := adm.ListStartOffsets(ctx, "events")
		if err != nil {
			return false
		}
		o, _ := starts.Lookup("events", 0)
		return o.Offset == 10
	}, 20*time.Second, 50*time.Millisecond, "the expired batch dropped, the new one kept")
	ends, err := adm.ListEndOffsets(ctx, "events")
	require.NoError(t, err)
	o, _ := ends.Lookup("events", 0)
	require.Equal(t, int64(15), o.Offset)
}

// TestDataDirLocked: a second stack on the same broker log fails to start,
// naming the directory, and starts once the first has stopped.
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	topicsFile := filepath.Join(t.TempDir(), "topics.yaml")
	require.NoError(t, os.WriteFile(topicsFile, []byte("topics: []\n"), 0o644))
	cfg := Config{TopicsFile: topicsFile, DataDir: dir, Out: io.Discard}
	first, err := Start(t.Context(), cfg)
	require.NoError(t, err)
	_, err = Start(t.Context(), cfg)
	require.Error(t, err)
	require.Contains(t, err.Error(), "broker log "+dir+" is in use by another trstream dev")
	first.Stop()
	again, err := Start(t.Context(), cfg)
	require.NoError(t, err)
	again.Stop()
}

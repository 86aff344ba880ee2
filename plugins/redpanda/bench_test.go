package redpanda

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
)

const benchRecordBytes = 300

// BenchmarkRedpandaProduce writes 300 byte records through the output's
// WriteBatch (1000 record batches, 10 in flight like max_in_flight: 10).
func BenchmarkRedpandaProduce(b *testing.B) {
	tc := newTestCluster(b)
	tc.createTopic(b, "bench-out", 4)
	conf, err := redpandaOutputConfigSpec().ParseYAML(fmt.Sprintf("seed_brokers: [ %s ]\ntopic: bench-out\n", tc.addr), nil)
	require.NoError(b, err)
	w, err := newRedpandaWriterFromConfig(conf, service.MockResources())
	require.NoError(b, err)
	ctx := context.Background()
	require.NoError(b, w.Connect(ctx))
	defer w.Close(ctx)

	const batchSize, inFlight = 1000, 10
	payload := make([]byte, benchRecordBytes)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	batch := make(service.MessageBatch, batchSize)
	for i := range batch {
		batch[i] = service.NewMessage(payload)
	}

	b.ResetTimer()
	start := time.Now()
	batches := (b.N + batchSize - 1) / batchSize
	work := make(chan struct{}, batches)
	for range batches {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	for range inFlight {
		wg.Go(func() {
			for range work {
				if err := w.WriteBatch(ctx, batch); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	rows := float64(batches * batchSize)
	b.ReportMetric(rows/elapsed, "rows/s")
	b.ReportMetric(rows*benchRecordBytes/elapsed/1e6, "MB/s")
}

// BenchmarkRedpandaConsume reads pre-produced 300 byte records through the
// input's ReadBatch, acking every batch.
func BenchmarkRedpandaConsume(b *testing.B) {
	tc := newTestCluster(b)
	tc.createTopic(b, "bench-in", 4)
	n := max(b.N, 1000)
	tc.produceValues(b, "bench-in", n, benchRecordBytes)

	conf, err := redpandaInputConfigSpec().ParseYAML(fmt.Sprintf("seed_brokers: [ %s ]\ntopics: [ bench-in ]\nconsumer_group: bench\n", tc.addr), nil)
	require.NoError(b, err)
	r, err := newRedpandaReaderFromConfig(conf, service.MockResources())
	require.NoError(b, err)
	ctx := context.Background()
	require.NoError(b, r.Connect(ctx))
	defer r.Close(ctx)

	b.ResetTimer()
	start := time.Now()
	got := 0
	for got < n {
		batch, ack, err := r.ReadBatch(ctx)
		require.NoError(b, err)
		got += len(batch)
		require.NoError(b, ack(ctx, nil))
	}
	elapsed := time.Since(start).Seconds()
	b.ReportMetric(float64(got)/elapsed, "rows/s")
	b.ReportMetric(float64(got)*benchRecordBytes/elapsed/1e6, "MB/s")
}

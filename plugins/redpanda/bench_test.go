package redpanda

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	// As in the trstream binary, so that the stream benchmarks' profiles
	// show what it spends: the collector's policy and the tracer that
	// starts no span.
	_ "github.com/trstream/trstream/internal/gcpolicy"
	_ "github.com/trstream/trstream/plugins/nooptracer"
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

// benchStreamRecords is how many records the stream benchmarks move per
// iteration; the report's benchmark moves 1M, this is enough for a profile.
const benchStreamRecords = 200_000

// BenchmarkStreamConsume runs the report's consume pipeline (redpanda → drop,
// stopped by read_until on the last offset) in process, so a CPU profile
// (-cpuprofile) splits the cost between franz-go, Benthos and kfake.
func BenchmarkStreamConsume(b *testing.B) {
	tc := newTestCluster(b)
	tc.createTopic(b, "bench-stream-in", 1)
	// Uncompressed, as the report's topic is written by the output.
	tc.produceValues(b, "bench-stream-in", benchStreamRecords, benchRecordBytes, kgo.ProducerBatchCompression(kgo.NoCompression()))
	input := fmt.Sprintf(`
read_until:
  check: '@kafka_offset + batch_size() >= %d'
  input:
    redpanda:
      seed_brokers: [ %s ]
      topics: [ bench-stream-in ]
      start_offset: earliest
      max_yield_batch_bytes: 1MiB
`, benchStreamRecords, tc.addr)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		runStreamToEnd(b, input, "drop: {}", nil)
	}
	b.ReportMetric(float64(b.N*benchStreamRecords)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkStreamProduce pushes 300 byte records through a stream into the
// redpanda output: as batches of 2000 messages (the report's produce
// pipeline when it split lines with unarchive) and as messages of 4096
// lines with split_lines (as it does now).
func BenchmarkStreamProduce(b *testing.B) {
	tc := newTestCluster(b)
	tc.createTopic(b, "bench-stream-out", 1)
	payload := make([]byte, benchRecordBytes)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	const size, lines = 2000, 4096
	chunk := bytes.Repeat(append(payload, '\n'), lines)
	chunk = chunk[:len(chunk)-1]
	for _, c := range []struct {
		name    string
		extra   string
		batches int
		records int // a batch's
		mk      func() service.MessageBatch
	}{
		{"messages", "", benchStreamRecords / size, size, func() service.MessageBatch {
			batch := make(service.MessageBatch, size)
			for i := range batch {
				batch[i] = service.NewMessage(payload)
			}
			return batch
		}},
		{"split_lines", "split_lines: true", benchStreamRecords / lines, lines, func() service.MessageBatch {
			return service.MessageBatch{service.NewMessage(chunk)}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			output := fmt.Sprintf(`
redpanda:
  seed_brokers: [ %s ]
  topic: bench-stream-out
  max_in_flight: 16
  %s
`, tc.addr, c.extra)
			start := time.Now()
			for range b.N {
				runStreamToEnd(b, "", output, func(ctx context.Context, send service.MessageBatchHandlerFunc) error {
					return sendConcurrently(ctx, send, c.batches, c.mk)
				})
			}
			b.ReportMetric(float64(b.N*c.batches*c.records)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// sendConcurrently sends n batches made by mk from 16 goroutines: a send
// returns once its batch is acked, so 16 batches are in flight, as with an
// output's max_in_flight of 16.
func sendConcurrently(ctx context.Context, send service.MessageBatchHandlerFunc, n int, mk func() service.MessageBatch) error {
	const senders = 16
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			for range work {
				if err := send(ctx, mk()); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// runStreamToEnd builds a stream from an input (or, when produce is set, a
// producer function that sends batches) and an output, and runs it until the
// input ends.
func runStreamToEnd(b *testing.B, input, output string, produce func(context.Context, service.MessageBatchHandlerFunc) error) {
	b.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(b, sb.SetLoggerYAML("level: none"))
	var send service.MessageBatchHandlerFunc
	if produce != nil {
		var err error
		send, err = sb.AddBatchProducerFunc()
		require.NoError(b, err)
	} else {
		require.NoError(b, sb.AddInputYAML(input))
	}
	require.NoError(b, sb.AddOutputYAML(output))
	s, err := sb.Build()
	require.NoError(b, err)
	ctx := context.Background()
	if produce == nil {
		require.NoError(b, s.Run(ctx))
		return
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	require.NoError(b, produce(ctx, send))
	require.NoError(b, s.StopWithin(30*time.Second))
	<-done
}

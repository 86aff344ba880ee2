package lake_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"

	"github.com/trstream/trstream/internal/cputime"
	"github.com/trstream/trstream/internal/testenv"
	"github.com/trstream/trstream/plugins/lake"
	"github.com/trstream/trstream/plugins/txn"

	// The components pipelines/lake.yaml and the producer name (the
	// metrics section names the prometheus exporter), and, as in the
	// trstream binary, the collector's policy and the tracer that starts
	// no span.
	_ "github.com/trstream/trstream/internal/gcpolicy"
	_ "github.com/trstream/trstream/plugins/generator"
	_ "github.com/trstream/trstream/plugins/nooptracer"
	_ "github.com/trstream/trstream/plugins/prometheus"
	_ "github.com/trstream/trstream/plugins/redpanda"
	_ "github.com/trstream/trstream/plugins/validate"
)

// TestE2ELakeThroughput is the end-to-end benchmark: transaction_generator
// (rate 0, simulated time) → redpanda output → in-process kfake topic
// "transactions" (12 partitions) → redpanda input (consumer group) →
// transaction_validate → parquet_lake, as in pipelines/lake.yaml, both
// streams running at once. It reports the rows visible in the table over
// wall time and the event→visible latency of marker events produced every
// second during the run (produce time to the first snapshot whose Kafka
// offsets cover the marker). It never asserts timings.
//
// TRSTREAM_BENCH_E2E_SEQUENTIAL=1 fills the topic first and times the lake
// pipeline alone. The CPU time the process used over the timed run is
// reported per million events: the machine is shared, and CPU per event
// varies less than wall time. TRSTREAM_BENCH_E2E_CPUPROFILE=file profiles
// the timed run. TRSTREAM_BENCH_E2E_COMPRESSION sets the producer's codec
// (default none; pipelines/ingest.yaml uses zstd, whose cost it measures).
//
//	TRSTREAM_BENCH_E2E=1 [TRSTREAM_BENCH_E2E_ROWS=2000000] \
//	  go test ./plugins/lake -run TestE2ELakeThroughput -v -timeout 30m
func TestE2ELakeThroughput(t *testing.T) {
	if os.Getenv("TRSTREAM_BENCH_E2E") == "" {
		t.Skip("set TRSTREAM_BENCH_E2E=1 to run the end-to-end benchmark")
	}
	rows := 2_000_000
	if s := os.Getenv("TRSTREAM_BENCH_E2E_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		rows = n
	}
	const topic, partitions = "transactions", 12
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The broker keeps its log on disk (the page cache), as Redpanda and
	// Kafka do. In memory, kfake grows each 100 MiB segment as a heap slice
	// by doubling: those copies and the collector's work over them cost 12-18%
	// of this run's CPU (A/B, 2M events).
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond),
		kfake.DataDir(t.TempDir()))
	require.NoError(t, err)
	defer cluster.Close()
	broker := cluster.ListenAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DisableClientMetrics(),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	require.NoError(t, err)
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topic, topic+".dlq")
	require.NoError(t, err)
	require.NoError(t, resp.Error())

	dir := t.TempDir()
	// Simulated time far enough back that the last events are not in the
	// future (about 22k events a simulated day with the default model).
	start := time.Now().UTC().Add(-time.Duration(rows/20_000+30) * 24 * time.Hour).Truncate(24 * time.Hour)

	producer := buildStream(t, fmt.Sprintf(`
input:
  transaction_generator:
    rate: 0
    count: %d
    seed: 7
    time_mode: simulated
    start_time: %q
output:
  redpanda:
    seed_brokers: [ %q ]
    topic: %s
    key: ${! meta("kafka_key") }
    compression: %s
    max_in_flight: 16
    batching:
      count: 1024
      period: 50ms
logger:
  level: warn
`, rows, start.Format(time.RFC3339), broker, topic, cmp.Or(os.Getenv("TRSTREAM_BENCH_E2E_COMPRESSION"), "none")))

	// pipelines/lake.yaml itself, with the broker and lake filled in
	// (TRSTREAM_BENCH_E2E_PIPELINE names another file, to compare configs).
	pipeline := "../../pipelines/lake.yaml"
	if f := os.Getenv("TRSTREAM_BENCH_E2E_PIPELINE"); f != "" {
		pipeline = f
	}
	consumer := testenv.PipelineStream(t, pipeline, map[string]string{
		"TRSTREAM_BROKERS": broker,
		"TRSTREAM_LAKE":    dir,
	})

	began, cpuBegan := time.Now(), cputime.Process()
	var memBegan, memDone runtime.MemStats
	runtime.ReadMemStats(&memBegan)
	var wg sync.WaitGroup
	run := func(name string, s *service.Stream) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("%s: %v", name, err)
			}
			if ctx.Err() == nil {
				t.Logf("e2e: %s finished after %s", name, time.Since(began).Round(time.Millisecond))
			}
		}()
	}
	if os.Getenv("TRSTREAM_BENCH_E2E_SEQUENTIAL") != "" {
		// Fill the topic first: the consumer side alone is timed.
		require.NoError(t, producer.Run(ctx))
		t.Logf("e2e: producer alone: %d events in %s", rows, time.Since(began).Round(time.Millisecond))
		began, cpuBegan = time.Now(), cputime.Process()
		runtime.ReadMemStats(&memBegan)
	} else {
		run("producer", producer)
	}
	run("consumer", consumer)
	if f := os.Getenv("TRSTREAM_BENCH_E2E_CPUPROFILE"); f != "" {
		// The timed run only (with SEQUENTIAL: the lake pipeline alone).
		out, err := os.Create(f)
		require.NoError(t, err)
		require.NoError(t, pprof.StartCPUProfile(out))
		defer out.Close()
		defer pprof.StopCPUProfile()
	}

	loc, err := lake.ParseLocation(dir, lake.S3Options{})
	require.NoError(t, err)
	var tbl *lake.Table
	require.Eventually(t, func() bool {
		tbl, err = lake.Open(ctx, loc)
		return err == nil
	}, time.Minute, 100*time.Millisecond)
	defer tbl.Close()

	// Markers: one valid event a second, produced directly, timed until a
	// snapshot's offsets cover it.
	type marker struct {
		partition int32
		offset    int64
		sent      time.Time
	}
	var (
		mu      sync.Mutex
		pending []marker
		lat     []time.Duration
	)
	stopMarkers := make(chan struct{})
	markersDone := make(chan struct{})
	go func() {
		defer close(markersDone)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopMarkers:
				return
			case <-tick.C:
			}
			m := markerTxn(i)
			sent := time.Now()
			r := &kgo.Record{Topic: topic, Key: []byte(m.AccountID), Value: m.AppendJSON(nil)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Logf("marker: %v", err)
				continue
			}
			mu.Lock()
			pending = append(pending, marker{r.Partition, r.Offset, sent})
			mu.Unlock()
		}
	}()

	var (
		total    int64
		doneAt   time.Time
		lastPoll time.Time
		cpu      time.Duration // the process's CPU time until doneAt
	)
	// The peak of the live Go heap (as the last collection marked it),
	// sampled at each poll; runtime/metrics reads it without stopping the
	// world.
	heap := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var peakHeap uint64
	deadline := time.Now().Add(30 * time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if metrics.Read(heap); doneAt.IsZero() {
			peakHeap = max(peakHeap, heap[0].Value.Uint64())
		}
		offs, err := tbl.Offsets(ctx)
		if err != nil {
			continue
		}
		lastPoll = time.Now()
		total = 0
		for _, e := range offs.Sorted() {
			if e.Topic == topic {
				total += e.NextOffset
			}
		}
		mu.Lock()
		kept := pending[:0]
		for _, m := range pending {
			if next, ok := offs.Next(topic, m.partition); ok && next > m.offset {
				lat = append(lat, lastPoll.Sub(m.sent))
			} else {
				kept = append(kept, m)
			}
		}
		pending = kept
		markers := int64(len(lat) + len(pending))
		mu.Unlock()
		if doneAt.IsZero() && total >= int64(rows) {
			// Every generated event is committed (markers aside): stop
			// the markers and wait for the last ones.
			doneAt = lastPoll
			cpu = cputime.Process() - cpuBegan
			runtime.ReadMemStats(&memDone)
			close(stopMarkers)
			<-markersDone
		}
		if !doneAt.IsZero() && total >= int64(rows)+markers {
			break
		}
	}
	require.False(t, doneAt.IsZero(), "only %d of %d events committed in time", total, rows)
	wall := doneAt.Sub(began)

	files, err := tbl.Files(ctx)
	require.NoError(t, err)
	var visible, bytes int64
	for _, f := range files {
		visible += f.Rows
		bytes += f.Bytes
	}
	cancel()
	wg.Wait()

	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	t.Logf("e2e: %d events, all committed %s after the timed start: %.0f tx/s",
		rows, wall.Round(time.Millisecond), float64(rows)/wall.Seconds())
	// The machine is shared: CPU per event varies less than wall time.
	who := "generator, broker and lake pipeline"
	if os.Getenv("TRSTREAM_BENCH_E2E_SEQUENTIAL") != "" {
		who = "broker and lake pipeline"
	}
	t.Logf("e2e: %.2f CPU-s per 1M tx (%.1f CPU-s: %s; %.2f cores busy)",
		cpu.Seconds()/float64(rows)*1e6, cpu.Seconds(), who, cpu.Seconds()/wall.Seconds())
	// Allocation is the collector's work: less of it is less CPU.
	t.Logf("e2e: %.1f allocations and %.0f bytes allocated per tx, %d collections",
		float64(memDone.Mallocs-memBegan.Mallocs)/float64(rows), float64(memDone.TotalAlloc-memBegan.TotalAlloc)/float64(rows),
		memDone.NumGC-memBegan.NumGC)
	t.Logf("e2e: peak live heap %d MiB (sampled every 200ms)", peakHeap>>20)
	t.Logf("e2e: %d rows visible in %d files (%.1f MB) of the current snapshot", visible, len(files), float64(bytes)/1e6)
	t.Logf("e2e: event→visible latency over %d markers: p50 %s, p99 %s, max %s",
		len(lat), pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
	require.GreaterOrEqual(t, visible, int64(rows)/2, "most events should be valid and visible")
}

func buildStream(t *testing.T, yaml string) *service.Stream {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	require.NoError(t, sb.SetYAML(yaml))
	s, err := sb.Build()
	require.NoError(t, err)
	return s
}

// markerTxn is a valid event timed now.
func markerTxn(i int) txn.Transaction {
	return txn.Transaction{
		TransactionID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("e2e-marker-%d-%d", time.Now().UnixNano(), i))).String(),
		EventTime:     time.Now().UTC().Truncate(time.Microsecond),
		AccountID:     fmt.Sprintf("marker-%d", i),
		Amount:        txn.AmountFromMinor(100, 2),
		Currency:      "EUR",
		Type:          txn.TypeDeposit,
		Status:        txn.StatusCompleted,
		Channel:       txn.ChannelBankTransfer,
		Country:       "DE",
		Source:        "e2e-marker",
	}
}

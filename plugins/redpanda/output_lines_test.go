package redpanda

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newTestWriter parses an output config (seed_brokers added when missing)
// into a writer.
func newTestWriter(t testing.TB, yaml string) *redpandaWriter {
	t.Helper()
	if !strings.Contains(yaml, "seed_brokers") {
		yaml = "seed_brokers: [ localhost:9092 ]\n" + yaml
	}
	conf, err := redpandaOutputConfigSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	w, err := newRedpandaWriterFromConfig(conf, service.MockResources())
	require.NoError(t, err)
	return w
}

// unarchiveLines runs batch through Benthos' own `unarchive: {format:
// lines}` and returns the values it made.
func unarchiveLines(t *testing.T, batch service.MessageBatch) []string {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	send, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	require.NoError(t, sb.AddProcessorYAML("unarchive: { format: lines }"))
	var (
		mu  sync.Mutex
		out []string
	)
	require.NoError(t, sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range b {
			v, err := m.AsBytes()
			if err != nil {
				return err
			}
			out = append(out, string(v))
		}
		return nil
	}))
	s, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for _, m := range batch {
		require.NoError(t, send(ctx, service.MessageBatch{m.Copy()}))
	}
	require.NoError(t, s.Stop(ctx))
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	return out
}

// TestSplitLines: with split_lines every line of a message is a record, the
// same values unarchive's lines format makes (empty lines, a trailing
// newline and CRs included), and each record of a message carries the
// message's topic, key, partition, timestamp and headers.
func TestSplitLines(t *testing.T) {
	for _, c := range []struct {
		name  string
		value string
		want  []string
	}{
		{"one line", `{"a":1}`, []string{`{"a":1}`}},
		{"lines", "a\nbb\nccc", []string{"a", "bb", "ccc"}},
		{"trailing newline", "a\nb\n", []string{"a", "b", ""}},
		{"empty lines", "\n\na\n", []string{"", "", "a", ""}},
		{"crlf kept", "a\r\nb", []string{"a\r", "b"}},
		{"empty message", "", []string{""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mk := func() service.MessageBatch {
				m := service.NewMessage([]byte(c.value))
				m.MetaSetMut("k", "key-1")
				m.MetaSetMut("h", "x")
				return service.MessageBatch{m}
			}
			require.Equal(t, c.want, unarchiveLines(t, mk()), "unarchive's own split")

			w := newTestWriter(t, `
topic: t-${! @k }
key: ${! @k }
partitioner: manual
partition: ${! 2 }
timestamp_ms: ${! 1234 }
metadata:
  include_patterns: [ "^h$" ]
split_lines: true
`)
			recs, err := w.toRecords(mk())
			require.NoError(t, err)
			got := make([]string, len(recs))
			for i, r := range recs {
				got[i] = string(r.Value)
				require.Equal(t, "t-key-1", r.Topic)
				require.Equal(t, "key-1", string(r.Key))
				require.Equal(t, int32(2), r.Partition)
				require.Equal(t, int64(1234), r.Timestamp.UnixMilli())
				require.Equal(t, []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}, r.Headers)
			}
			require.Equal(t, c.want, got)
		})
	}
}

// TestSplitLinesBatch: the records of a batch of several messages are each
// message's lines in order, fields evaluated per message; without
// split_lines a multi-line message is one record.
func TestSplitLinesBatch(t *testing.T) {
	batch := service.MessageBatch{
		service.NewMessage([]byte("a0\na1")),
		service.NewMessage([]byte("b0")),
		service.NewMessage([]byte("c0\nc1\nc2")),
	}
	w := newTestWriter(t, "topic: t\nkey: m${! batch_index() }\nsplit_lines: true\n")
	// Twice: the second call reuses the first call's pooled slice.
	for range 2 {
		recs, err := w.toRecords(batch)
		require.NoError(t, err)
		var got []string
		for _, r := range recs {
			got = append(got, string(r.Key)+"="+string(r.Value))
		}
		require.Equal(t, []string{"m0=a0", "m0=a1", "m1=b0", "m2=c0", "m2=c1", "m2=c2"}, got)
		w.putRecords(recs)
	}

	w = newTestWriter(t, "topic: t\n")
	recs, err := w.toRecords(batch)
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.Equal(t, "c0\nc1\nc2", string(recs[2].Value))
}

// TestSplitLinesProduce: a file read by line_chunks goes to the broker with
// split_lines as one record per line, in order, the same records `kcat -P
// -l` makes from the file (when kcat is installed).
func TestSplitLinesProduce(t *testing.T) {
	const n = 5000
	tc := newTestCluster(t)
	tc.createTopic(t, "lines-ours", 1)
	tc.createTopic(t, "lines-kcat", 1)
	var file bytes.Buffer
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf(`{"seq":%d,"pad":%q}`, i, strings.Repeat("x", i%97))
		file.WriteString(want[i] + "\n")
	}
	path := filepath.Join(t.TempDir(), "lines.ndjson")
	require.NoError(t, os.WriteFile(path, file.Bytes(), 0o644))

	startStream(t, fmt.Sprintf(`
file:
  paths: [ %s ]
  scanner:
    line_chunks:
      count: 333
`, path), nil, fmt.Sprintf(`
redpanda:
  seed_brokers: [ %s ]
  topic: lines-ours
  max_in_flight: 1 # concurrent writes could interleave chunks
  split_lines: true
`, tc.addr), nil)
	adm := kadm.NewClient(tc.client(t))
	values := func(topic string) []string {
		recs := tc.consumeAll(t, topic, n)
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		require.NoError(t, err)
		end, _ := ends.Lookup(topic, 0)
		require.Equal(t, int64(n), end.Offset, "records in %s", topic)
		out := make([]string, len(recs))
		for i, r := range recs {
			out[i] = string(r.Value)
		}
		return out
	}
	require.Equal(t, want, values("lines-ours"))

	out, err := exec.Command(kcatPath(t), "-P", "-b", tc.addr, "-t", "lines-kcat", "-l", path).CombinedOutput()
	require.NoError(t, err, "kcat -P: %s", out)
	require.Equal(t, want, values("lines-kcat"))
}

// BenchmarkToRecordsLines: records of one 4096-line message (the produce
// benchmark's chunk) with split_lines.
func BenchmarkToRecordsLines(b *testing.B) {
	line := bytes.Repeat([]byte("x"), 387)
	value := bytes.Repeat(append(line, '\n'), 4096)
	value = value[:len(value)-1] // line_chunks leaves no trailing newline
	batch := service.MessageBatch{service.NewMessage(value)}
	w := newTestWriter(b, "topic: t\nsplit_lines: true\n")
	b.SetBytes(int64(len(value)))
	for b.Loop() {
		recs, err := w.toRecords(batch)
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) != 4096 {
			b.Fatalf("%d records", len(recs))
		}
		w.putRecords(recs)
	}
	b.ReportMetric(float64(b.N*4096)/b.Elapsed().Seconds(), "rows/s")
}

// TestRecordSlicesBounded: a slice for a huge batch is neither pooled nor
// the size of later new slices, so one huge message with split_lines does
// not make every later batch hold as much.
func TestRecordSlicesBounded(t *testing.T) {
	w := newTestWriter(t, "topic: t\nsplit_lines: true\n")
	huge := bytes.Repeat([]byte("x\n"), maxPooledRecords+1)
	recs, err := w.toRecords(service.MessageBatch{service.NewMessage(huge)})
	require.NoError(t, err)
	require.Len(t, recs, maxPooledRecords+2)
	w.putRecords(recs)
	next := w.getRecords(1)
	require.LessOrEqual(t, cap(next), maxPooledRecords, "a huge slice is not reused and does not size new ones")
}

// TestSplitLinesFailsWhole: a message is acked only when every record of
// it was; one line the producer refuses (larger than max_message_bytes)
// fails the write, so Benthos nacks the message.
func TestSplitLinesFailsWhole(t *testing.T) {
	tc := newTestCluster(t)
	tc.createTopic(t, "lines-fail", 1)
	w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %s ]\ntopic: lines-fail\nsplit_lines: true\nmax_message_bytes: 1KiB\n", tc.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, w.Connect(ctx))
	defer w.Close(ctx)

	ok := service.MessageBatch{service.NewMessage([]byte("a\nb\nc"))}
	require.NoError(t, w.WriteBatch(ctx, ok))
	bad := service.MessageBatch{service.NewMessage([]byte("a\n" + strings.Repeat("x", 2048) + "\nc"))}
	require.Error(t, w.WriteBatch(ctx, bad))
}

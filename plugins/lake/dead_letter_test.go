package lake

import (
	"context"
	"fmt"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// flagUpstream errors the message "flag me", and any with the metadata
// flag, as a processor before the lake would (transaction_validate, or any
// other), without setting dlq_* metadata.
const flagUpstream = `
switch:
  - check: content() == "flag me" || @flag == "yes"
    processors:
      - mapping: 'root = throw("flagged upstream")'
`

// deadLetters reads n records of transactions.dlq from cl's broker: each
// body with its headers.
func deadLetters(t *testing.T, cl *kgo.Client, n int) map[string][]map[string]string {
	t.Helper()
	out := map[string][]map[string]string{}
	for _, r := range readDLQ(t, context.Background(), cl, n) {
		out[string(r.Value)] = append(out[string(r.Value)], headers(r))
	}
	return out
}

// TestParquetLakeDeadLetter: with dead_letter (a redpanda output to a
// broker on loopback), a batch mixing valid rows, a message an earlier
// processor errored and messages that are not transactions is acked as a
// whole: the valid rows land once, the other messages reach the topic with
// their bodies unchanged, those the lake could not decode with the dlq_*
// headers transaction_validate would have set (the Kafka source included),
// and the upstream error's message with none added. Sent again, the batch
// lands nothing new and its dead letters are written again.
func TestParquetLakeDeadLetter(t *testing.T) {
	broker, cl, _ := lakeYAMLCluster(t, t.Name(), 0, nil)
	dir := t.TempDir()
	send, stop := producerStream(t, []string{flagUpstream}, func(sb *service.StreamBuilder) error {
		return sb.AddOutputYAML(lakeOutYAML(dir, fmt.Sprintf(`
  dead_letter:
    redpanda:
      seed_brokers: [ %q ]
      topic: transactions.dlq
      metadata:
        include_prefixes: [ "dlq_" ]
`, broker)))
	})
	rows := testRows(t.Name(), 6, 2)
	const noID = `{"amount":"1.00"}`
	batch := func() service.MessageBatch {
		b := txBatch(rows, 0)
		notJSON := service.NewMessage([]byte("not json"))
		notJSON.MetaSetMut("kafka_topic", "tx")
		notJSON.MetaSetMut("kafka_partition", int32(0))
		notJSON.MetaSetMut("kafka_offset", int64(len(rows)))
		return append(b, notJSON, service.NewMessage([]byte("flag me")), service.NewMessage([]byte(noID)))
	}
	ctx := context.Background()
	require.NoError(t, send(ctx, batch()), "the batch is acked")
	require.Len(t, deadLetters(t, cl, 3), 3, "three dead letters")
	require.NoError(t, send(ctx, batch()), "sent again, it is acked again")
	require.NoError(t, stop())

	tbl := openLake(t, dir, S3Options{})
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl), "the valid rows, once")

	got := deadLetters(t, cl, 6)
	require.Len(t, got, 3, "three bodies: %v", got)
	for body, hs := range got {
		require.Len(t, hs, 2, "%s: once a send", body)
		assert.Equal(t, hs[0], hs[1], "%s: the same headers again", body)
	}
	h := got["not json"][0]
	assert.Equal(t, "malformed_json", h["dlq_reason"])
	assert.Contains(t, h["dlq_error"], "parquet_lake:")
	assert.Equal(t, "tx", h["dlq_source_topic"], "the Kafka source")
	assert.Equal(t, fmt.Sprint(len(rows)), h["dlq_source_offset"])

	assert.Empty(t, got["flag me"][0], "errored upstream: sent as it came, no header added")

	h = got[noID][0]
	assert.Equal(t, "missing_field", h["dlq_reason"])
	assert.NotEmpty(t, h["dlq_field"])
}

// TestParquetLakeDeadLetterFails: when the dead_letter output fails, the
// batch is nacked with an error naming it, though its valid rows are
// committed; without dead_letter, a message that is not a transaction
// fails its batch and a flagged one lands like any other.
func TestParquetLakeDeadLetterFails(t *testing.T) {
	rows := testRows(t.Name(), 4, 1)
	batch := func(extra ...string) service.MessageBatch {
		b := txBatch(rows, 0)
		for _, e := range extra {
			b = append(b, service.NewMessage([]byte(e)))
		}
		return b
	}
	ctx := context.Background()

	t.Run("dead_letter fails", func(t *testing.T) {
		dir := t.TempDir()
		send, stop := producerStream(t, nil, func(sb *service.StreamBuilder) error {
			return sb.AddOutputYAML(lakeOutYAML(dir, `
  dead_letter:
    reject: "dlq down"
`))
		})
		err := send(ctx, batch("not json"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "dead_letter")
		assert.Contains(t, err.Error(), "dlq down")
		require.NoError(t, stop())
		assert.Equal(t, sorted(ids(rows)), fileIDs(t, openLake(t, dir, S3Options{})), "the valid rows are committed")
	})

	t.Run("no dead_letter", func(t *testing.T) {
		dir := t.TempDir()
		send, stop := producerStream(t, []string{flagUpstream}, toLake(dir))
		require.Error(t, send(ctx, batch("not json")), "a message that is not a transaction fails its batch")
		other := testRows("flagged", 1, 1)
		flagged := kafkaMessage(&other[0], "tx", 0, int64(len(rows)))
		flagged.MetaSetMut("flag", "yes")
		require.NoError(t, send(ctx, service.MessageBatch{flagged}))
		require.NoError(t, stop())
		want := sorted(append(ids(rows), other[0].TransactionID))
		assert.Equal(t, want, fileIDs(t, openLake(t, dir, S3Options{})), "the flagged transaction lands too")
	})
}

package lake

import (
	"context"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// parquet_lake takes the transaction transaction_validate attached to a
// message, but only while the message still holds the bytes it came from.
func TestParquetLakeReusesAttachedDecoding(t *testing.T) {
	dir := t.TempDir()
	rows := testRows("decoded", 2, 1)
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	send, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	require.NoError(t, sb.AddOutputYAML(lakeOutYAML(dir, "")))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()

	// Attached to its bytes: the attached value is what lands (marked so
	// it differs from what decoding the bytes would give).
	body0 := rows[0].AppendJSON(nil)
	attached := rows[0]
	attached.Source = "attached"
	m0 := service.NewMessage(body0)
	m0 = m0.WithContext(txn.WithDecoded(m0.Context(), body0, &attached))
	// Body replaced after attaching: the bytes are decoded again.
	stale := rows[1]
	stale.Source = "stale"
	old := []byte(`{}`)
	m1 := service.NewMessage(old)
	m1 = m1.WithContext(txn.WithDecoded(m1.Context(), old, &stale))
	m1.SetBytes(rows[1].AppendJSON(nil))

	require.NoError(t, send(ctx, service.MessageBatch{m0, m1}))
	require.NoError(t, stream.StopWithin(10*time.Second))
	require.NoError(t, <-done)

	got := map[string]string{}
	for _, r := range lakeRows(t, openLake(t, dir, S3Options{})) {
		got[r.TransactionID] = r.Source
	}
	require.Equal(t, map[string]string{rows[0].TransactionID: "attached", rows[1].TransactionID: rows[1].Source}, got)
}

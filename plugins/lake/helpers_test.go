package lake

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// testRows builds n valid transactions spread over days dates and every
// type, with deterministic ids derived from seed.
func testRows(seed string, n, days int) []txn.Transaction {
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	out := make([]txn.Transaction, n)
	for i := range out {
		id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("%s-%d", seed, i))).String()
		out[i] = txn.Transaction{
			TransactionID:  id,
			EventTime:      base.Add(time.Duration(i%days)*24*time.Hour + time.Duration(i)*time.Second + 123*time.Microsecond),
			AccountID:      fmt.Sprintf("acc-%04d", i%97),
			MerchantID:     "m-1",
			Amount:         txn.AmountFromMinor(1234+int64(i), 2),
			CounterpartyID: fmt.Sprintf("acc-%04d", (i+1)%97),
			Currency:       "EUR",
			Type:           txn.Types[i%len(txn.Types)],
			Status:         txn.StatusCompleted,
			Channel:        txn.ChannelPOS,
			Country:        "DE",
			BalanceAfter:   txn.Amount(1000000),
			Source:         "test",
		}
	}
	return out
}

func ids(rows []txn.Transaction) []string {
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = rows[i].TransactionID
	}
	return out
}

// producerStream runs a stream from a producer func through processors
// to the output set by out; send returns once its batch is acked (or
// failed), stop stops the stream and returns what its Run returned.
func producerStream(t *testing.T, processors []string, out func(*service.StreamBuilder) error) (send service.MessageBatchHandlerFunc, stop func() error) {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	send, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	for _, p := range processors {
		require.NoError(t, sb.AddProcessorYAML(p))
	}
	require.NoError(t, out(sb))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()
	return send, func() error {
		require.NoError(t, stream.StopWithin(10*time.Second))
		// Run's result before the context goes: cancelled first, a Run
		// that had not returned yet would report context.Canceled.
		err := <-done
		cancel()
		return err
	}
}

// toLake sets a parquet_lake output at dir for producerStream.
func toLake(dir string) func(*service.StreamBuilder) error {
	return func(sb *service.StreamBuilder) error { return sb.AddOutputYAML(lakeOutYAML(dir, "")) }
}

// kafkaMessage is row's wire form with the Kafka metadata the redpanda
// input sets.
func kafkaMessage(row *txn.Transaction, topic string, partition int32, offset int64) *service.Message {
	m := service.NewMessage(row.AppendJSON(nil))
	m.MetaSetMut("kafka_topic", topic)
	m.MetaSetMut("kafka_partition", partition)
	m.MetaSetMut("kafka_offset", offset)
	return m
}

// rowsBatch is rs in wire form, one message each, without Kafka metadata.
func rowsBatch(rs []txn.Transaction) service.MessageBatch {
	b := make(service.MessageBatch, len(rs))
	for i := range rs {
		b[i] = service.NewMessage(rs[i].AppendJSON(nil))
	}
	return b
}

// txBatch is rs at offsets first.. of partition 0 of topic tx.
func txBatch(rs []txn.Transaction, first int64) service.MessageBatch {
	b := make(service.MessageBatch, len(rs))
	for i := range rs {
		b[i] = kafkaMessage(&rs[i], "tx", 0, first+int64(i))
	}
	return b
}

// lagBatch is txBatch fetched when the log ended at logEnd (kafka_lag).
func lagBatch(rs []txn.Transaction, first, logEnd int64) service.MessageBatch {
	b := txBatch(rs, first)
	for i, m := range b {
		m.MetaSetMut("kafka_lag", logEnd-(first+int64(i))-1)
	}
	return b
}

// errOnly drops appendFenced's base offsets.
func errOnly(_ Offsets, err error) error { return err }

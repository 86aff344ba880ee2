package lake

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
	"github.com/trstream/trstream/plugins/validate"
)

// validated runs the bodies through transaction_validate (conf) and
// returns the messages it passed on.
func validated(t *testing.T, conf string, bodies ...[]byte) service.MessageBatch {
	t.Helper()
	wantHandoff()
	out := make(chan service.MessageBatch, 1)
	send, stop := producerStream(t, []string{"transaction_validate: " + conf}, func(sb *service.StreamBuilder) error {
		return sb.AddBatchConsumerFunc(func(_ context.Context, b service.MessageBatch) error {
			out <- b
			return nil
		})
	})
	batch := make(service.MessageBatch, len(bodies))
	for i, b := range bodies {
		batch[i] = service.NewMessage(b)
	}
	require.NoError(t, send(context.Background(), batch))
	stop()
	return <-out
}

// wantHandoff turns the handoff on, as a lake's first batch does.
func wantHandoff() {
	validate.Take(nil)
}

func testOutput(t *testing.T) *lakeOutput {
	part, err := ParsePartitioning(DefaultPartitionBy)
	require.NoError(t, err)
	return &lakeOutput{cfg: lakeConfig{part: part}}
}

// The lake takes transaction_validate's rows for the bytes it validated,
// and decodes a body replaced in between.
func TestDecodeBatchTakesValidatedRows(t *testing.T) {
	rows := testRows("handoff", 4, 2)
	bodies := make([][]byte, len(rows))
	for i := range rows {
		bodies[i] = rows[i].AppendJSON(nil)
	}
	batch := validated(t, "{}", bodies...)
	require.Len(t, batch, 4)
	replacement := testRows("handoff-replaced", 1, 1)[0]
	batch[3].SetBytes(replacement.AppendJSON(nil))

	d, berr := testOutput(t).decodeBatch(batch)
	require.Nil(t, berr)
	require.Len(t, d.items, 4)
	for i := range 3 {
		assert.Equal(t, rows[i], *d.items[i].t)
		left, _ := validate.Take(bodies[i])
		assert.Nil(t, left, "row %d was left, not taken", i)
	}
	assert.Equal(t, replacement, *d.items[3].t, "the new body is decoded")
	left, _ := validate.Take(bodies[3])
	assert.NotNil(t, left, "the replaced body's row is still there: the lake did not take it for the new body")
}

// A row validated with looser limits than the lake's is refused as the
// lake refuses it without validate.
func TestDecodeBatchValidatedWithLooserLimits(t *testing.T) {
	row := testRows("handoff-big", 1, 1)[0]
	row.Amount = txn.AmountFromMinor(2_000_000_000, 0)
	body := row.AppendJSON(nil)
	batch := validated(t, `{ max_amount: "5000000000" }`, body)
	require.NoError(t, batch[0].GetError())

	errOf := func(batch service.MessageBatch) string {
		idx := batch.Index()
		d, berr := testOutput(t).decodeBatch(batch)
		require.NotNil(t, berr)
		require.Empty(t, d.items)
		var msg string
		berr.WalkMessagesIndexedBy(idx, func(_ int, _ *service.Message, err error) bool {
			msg = fmt.Sprint(err)
			return false
		})
		return msg
	}
	want := errOf(service.MessageBatch{service.NewMessage(body)})
	assert.Contains(t, want, "amount")
	assert.Equal(t, want, errOf(batch))
}

// TestStreamValidateChangeLake: transaction_validate → a mapping that
// changes every body → parquet_lake lands the changed rows, not the rows
// validate decoded.
func TestStreamValidateChangeLake(t *testing.T) {
	wantHandoff()
	dir := t.TempDir()
	rows := testRows("handoff-stream", 300, 3)
	send, stop := producerStream(t, []string{
		"transaction_validate: {}",
		`mapping: 'root = this.assign({"transaction_id": "00000000" + this.transaction_id.slice(8)})'`,
	}, toLake(dir))
	ctx := context.Background()
	for i := 0; i < len(rows); i += 100 {
		require.NoError(t, send(ctx, rowsBatch(rows[i:i+100])))
	}
	stop()

	want := make([]string, len(rows))
	for i := range rows {
		want[i] = "00000000" + rows[i].TransactionID[8:]
		require.False(t, strings.HasPrefix(rows[i].TransactionID, "00000000"))
	}
	assert.Equal(t, sorted(want), fileIDs(t, openLake(t, dir, S3Options{})))
}

// newRow: without validate's rows a batch's own rows share one slab; with
// them, the few misses get small slabs that double. Rows never move.
func TestNewRowSlabs(t *testing.T) {
	for _, c := range []struct {
		name  string
		taken int
		caps  []int // cap of the slab behind each of the first rows
	}{
		{"no handoff", 0, []int{100, 100, 100}},
		{"misses among handed rows", 1, []int{16, 16}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &decoded{rows: 100, taken: c.taken}
			for i, want := range c.caps {
				d.newRow()
				assert.Equal(t, want, cap(d.own), "row %d", i)
			}
		})
	}

	d := &decoded{rows: 1000, taken: 1}
	first := d.newRow()
	first.TransactionID = "first"
	var caps []int
	for range 60 {
		d.newRow()
		if len(d.own) == 1 {
			caps = append(caps, cap(d.own))
		}
	}
	assert.Equal(t, []int{32, 64}, caps, "each new slab twice the last")
	assert.Equal(t, "first", first.TransactionID, "a row stays where it was made")
}

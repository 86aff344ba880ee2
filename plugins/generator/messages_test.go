package generator

import (
	"fmt"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// TestFastMessagesMatchBenthosLayout: the mirrors of Benthos' message
// structs match the Benthos this module builds with. If an upgrade changes
// them the input still works (it falls back to NewMessage), but slower:
// update the mirrors in messages.go.
func TestFastMessagesMatchBenthosLayout(t *testing.T) {
	require.Empty(t, layoutMismatch())
	require.True(t, fastMessages())
}

// TestFastMessagesEqualBenthosMessages: batches built through the mirrors
// and through NewMessage and MetaSetMut carry the same bytes and metadata,
// and behave alike when downstream changes them.
func TestFastMessagesEqualBenthosMessages(t *testing.T) {
	for _, metadata := range []string{"[]", "[kafka_key]", "[kafka_key, account_id, event_type]"} {
		t.Run(metadata, func(t *testing.T) {
			conf, err := generatorConfigSpec().ParseYAML(`
rate: 0
accounts: 30
metadata: `+metadata+`
inject: {duplicate_rate: 0.05, late_rate: 0.05, invalid_rate: 0.05}
`, nil)
			require.NoError(t, err)
			in, err := newGeneratorInput(conf, service.MockResources())
			require.NoError(t, err)
			sb := in.generate(3000)
			fast, slow := make(service.MessageBatch, 3000), make(service.MessageBatch, 3000)
			in.buildFast(fast, sb)
			in.buildSlow(slow, sb)
			require.Equal(t, snapshotBatch(t, slow), snapshotBatch(t, fast))
			// Changing a message changes only that message.
			for _, b := range []service.MessageBatch{fast, slow} {
				b[0].MetaSetMut("extra", "x")
				b[0].MetaDelete(MetaKafkaKey)
				b[1].SetBytes([]byte("changed"))
				s, _ := b[1].AsStructuredMut()
				_ = s
			}
			require.Equal(t, snapshotBatch(t, slow), snapshotBatch(t, fast))
		})
	}
}

func snapshotBatch(t *testing.T, b service.MessageBatch) []string {
	t.Helper()
	var out []string
	for _, m := range b {
		body, err := m.AsBytes()
		require.NoError(t, err)
		meta := map[string]any{}
		require.NoError(t, m.MetaWalkMut(func(k string, v any) error { meta[k] = v; return nil }))
		out = append(out, fmt.Sprint(string(body), meta, m.GetError(), m.Context() != nil))
	}
	return out
}

// TestSharedMetadataMatchesEachMessage: with more keys than the cache
// holds, slots are shared and overwritten; every message still carries its
// own account and type.
func TestSharedMetadataMatchesEachMessage(t *testing.T) {
	conf, err := generatorConfigSpec().ParseYAML("rate: 0\naccounts: 20000\n", nil)
	require.NoError(t, err)
	in, err := newGeneratorInput(conf, service.MockResources())
	require.NoError(t, err)
	require.NotZero(t, in.metas.shift, "the cache should be hashed for this test")
	for range 20 {
		sb := in.generate(4096)
		batch := make(service.MessageBatch, len(sb.ends))
		in.buildFast(batch, sb)
		for _, m := range batch {
			b, err := m.AsBytes()
			require.NoError(t, err)
			tx, err := txn.Decode(b)
			require.NoError(t, err)
			for k, want := range map[string]string{MetaKafkaKey: tx.AccountID, MetaAccountID: tx.AccountID, MetaEventType: tx.Type} {
				v, ok := m.MetaGet(k)
				require.True(t, ok, k)
				require.Equal(t, want, v, k)
			}
		}
	}
}

package generator

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, c := range [][2]string{
		{`rate: -1`, "rate"},
		{`fraud_rate: 2`, "fraud_rate"},
		{`time_mode: bogus`, "time_mode"},
		{"shard_index: 3\nshard_count: 2", "shard_index"},
		{`shard_count: 0`, "shard_count"},
		{`accounts: 0`, "accounts"},
		{`merchants: 0`, "merchants"},
		{`count: -5`, "count"},
		{`batch_size: 0`, "batch_size"},
		{`start_time: yesterday`, "start_time"},
		{`daily_transactions: 0`, "daily_transactions"},
		{`hour_weights: [1, 2]`, "hour_weights"},
		{`day_weights: [0, 0, 0, 0, 0, 0, 0]`, "day_weights"},
		{`fraud_scenarios: [phishing]`, "fraud_scenarios"},
		{`categories: [{mcc: "54x1", mean: 10}]`, "categories[0].mcc"},
		{`categories: [{mcc: "5411", mean: -3}]`, "categories[0].mean"},
		{`countries: [{code: XX, currency: EUR}]`, "countries[0].code"},
		{`countries: [{code: DE, currency: EUX}]`, "countries[0].currency"},
		{`inject: {late_rate: 0.1, late_by: 0s}`, "inject.late_by"},
		{`inject: {invalid_rate: 1.5}`, "inject.invalid_rate"},
		{`inject: {invalid_kinds: [nope]}`, "inject.invalid_kinds"},
		{`metadata: [kafka_key, partition]`, "metadata"},
	} {
		t.Run(c[0], func(t *testing.T) {
			conf, err := generatorConfigSpec().ParseYAML(c[0], nil)
			if err == nil {
				_, err = newGeneratorInput(conf, service.MockResources())
			}
			require.ErrorContains(t, err, c[1])
		})
	}
}

func TestDefaultsParseAndMatchDefaultConfig(t *testing.T) {
	conf, err := generatorConfigSpec().ParseYAML(`{}`, nil)
	require.NoError(t, err)
	c, err := ConfigFromParsed(conf)
	require.NoError(t, err)
	require.Equal(t, DefaultConfig(), c)
}

func TestLintCatchesBadValues(t *testing.T) {
	for _, c := range [][2]string{
		{`rate: -1`, "rate"},
		{`fraud_rate: 2`, "fraud_rate"},
		{`time_mode: bogus`, "bogus"},
		{"shard_index: 3\n    shard_count: 2", "shard_index"},
		{`start_time: yesterday`, "start_time"},
		{`hour_weights: [1, 2]`, "hour_weights"},
		{`fraud_scenarios: [phishing]`, "fraud_scenarios"},
		{`inject: {invalid_rate: 1.5}`, "inject.invalid_rate"},
		{`categories: [{mcc: "54x1", mean: 10}]`, "mcc"},
		{`metadata: [kafka_key, partition]`, "metadata"},
		{`day_weights: [1, 2]`, "day_weights"},
		{`countries: [{code: XX, currency: EUR}]`, "countries[0].code"},
		{`inject: {late_rate: 0.1, late_by: 0s}`, "inject.late_by"},
	} {
		t.Run(c[0], func(t *testing.T) {
			yaml := "input:\n  transaction_generator:\n    " + c[0] + "\noutput:\n  drop: {}\n"
			err := service.NewStreamBuilder().SetYAML(yaml)
			require.ErrorContains(t, err, c[1])

			lints, err := service.GlobalEnvironment().FullConfigSchema("", "").NewStreamConfigLinter().LintYAML([]byte(yaml))
			require.NoError(t, err)
			require.NotEmpty(t, lints)
			require.Contains(t, lints[0].Error(), c[1])
		})
	}
	// And a good config lints clean.
	require.NoError(t, service.NewStreamBuilder().SetYAML(`
input:
  transaction_generator:
    rate: 0
    shard_index: 1
    shard_count: 2
    inject: {late_rate: 0.1, late_by: 1m}
output:
  drop: {}
`))
}

// TestSpecIsCheapToBuild: the spec is built in every trstream process at
// start-up. Each Bloblang lint rule costs Benthos an environment and a
// parse (thousands of allocations); the spec has one short rule. The
// thirty rules it once had made 200,000 allocations and 37 ms.
func TestSpecIsCheapToBuild(t *testing.T) {
	allocs := testing.AllocsPerRun(5, func() { generatorConfigSpec() })
	require.Less(t, allocs, 20000.0)
}

func TestLintAcceptsGoodLists(t *testing.T) {
	// Benthos lints each element of a list field with the list's rule too;
	// valid lists must pass.
	yaml := `
input:
  transaction_generator:
    day_weights: [1, 1, 1, 1, 1, 1, 2]
    hour_weights: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3]
    fraud_scenarios: [card_testing]
    categories: [{mcc: "5411", mean: 10}]
    metadata: [kafka_key]
    inject: {invalid_kinds: [wrong_type]}
output:
  drop: {}
`
	lints, err := service.GlobalEnvironment().FullConfigSchema("", "").NewStreamConfigLinter().LintYAML([]byte(yaml))
	require.NoError(t, err)
	require.Empty(t, lints)
}

// TestLintAcceptsValidConfigs: lint passes what the input accepts, empty
// lists and objects included.
func TestLintAcceptsValidConfigs(t *testing.T) {
	for _, c := range []string{
		`metadata: []`,
		`inject: {}`,
		"fraud_rate: 0\n    fraud_scenarios: []",
		`start_time: 2025-01-01T00:00:00Z`,
		`start_time: "2025-01-01T00:00:00+02:00"`,
		"shard_index: 1\n    shard_count: 2",
		"inject: {invalid_rate: 0.1, invalid_kinds: [wrong_type], late_rate: 0.5, late_by: 90s}",
		`countries: [{code: JP, currency: JPY}, {code: DE, currency: EUR, weight: 2}]`,
	} {
		t.Run(c, func(t *testing.T) {
			yaml := "input:\n  transaction_generator:\n    " + c + "\noutput:\n  drop: {}\n"
			lints, err := service.GlobalEnvironment().FullConfigSchema("", "").NewStreamConfigLinter().LintYAML([]byte(yaml))
			require.NoError(t, err)
			require.Empty(t, lints)
			// And the input starts with it.
			conf, err := generatorConfigSpec().ParseYAML(strings.ReplaceAll(c, "\n    ", "\n"), nil)
			require.NoError(t, err)
			_, err = newGeneratorInput(conf, service.MockResources())
			require.NoError(t, err)
		})
	}
}

func runStream(t *testing.T, input string) service.MessageBatch {
	t.Helper()
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.AddInputYAML(input))
	var mu sync.Mutex
	var got service.MessageBatch
	require.NoError(t, sb.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		return nil
	}))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, stream.Run(ctx))
	return got
}

func TestStreamEmitsCountMessagesWithKafkaKey(t *testing.T) {
	const n = 5000
	got := runStream(t, `
transaction_generator:
  rate: 0
  count: 5000
  batch_size: 700
  accounts: 500
  seed: 3
`)
	require.Len(t, got, n)
	types := map[string]bool{}
	for _, m := range got {
		b, err := m.AsBytes()
		require.NoError(t, err)
		tx, err := txn.Decode(b)
		require.NoError(t, err)
		key, ok := m.MetaGet(MetaKafkaKey)
		require.True(t, ok)
		require.Equal(t, tx.AccountID, key)
		acc, _ := m.MetaGet(MetaAccountID)
		require.Equal(t, tx.AccountID, acc)
		et, _ := m.MetaGet(MetaEventType)
		require.Equal(t, tx.Type, et)
		_, injected := m.MetaGet(MetaInjected)
		require.False(t, injected)
		types[tx.Type] = true
	}
	require.Len(t, types, len(txn.Types))
}

func TestMetadataChoice(t *testing.T) {
	for _, c := range []struct {
		list string
		want []string
	}{
		{"[]", nil},
		{"[kafka_key]", []string{MetaKafkaKey}},
		{"[kafka_key, account_id]", []string{MetaKafkaKey, MetaAccountID}},
		{"[event_type]", []string{MetaEventType}},
		{"[kafka_key, account_id, event_type]", metaKeys},
	} {
		t.Run(c.list, func(t *testing.T) {
			got := runStream(t, `
transaction_generator:
  rate: 0
  count: 3000
  accounts: 40
  metadata: `+c.list+`
  inject: {duplicate_rate: 0.05, invalid_rate: 0.05}
`)
			require.Len(t, got, 3000)
			byAccount := map[string][]*service.Message{}
			injected := 0
			for _, m := range got {
				b, err := m.AsBytes()
				require.NoError(t, err)
				kind, ok := m.MetaGet(MetaInjected)
				if ok {
					injected++
					require.Contains(t, InjectedNames[:], kind)
					continue
				}
				tx, err := txn.Decode(b)
				require.NoError(t, err)
				want := map[string]string{MetaKafkaKey: tx.AccountID, MetaAccountID: tx.AccountID, MetaEventType: tx.Type}
				for _, k := range metaKeys {
					v, ok := m.MetaGet(k)
					require.Equal(t, slices.Contains(c.want, k), ok, k)
					if ok {
						require.Equal(t, want[k], v, k)
					}
				}
				byAccount[tx.AccountID] = append(byAccount[tx.AccountID], m)
			}
			require.Positive(t, injected)
			// A write to one message's metadata must not show in another
			// of the same account.
			for id, ms := range byAccount {
				if len(ms) < 2 {
					continue
				}
				ms[0].MetaSetMut(MetaKafkaKey, "changed")
				ms[0].MetaSetMut("extra", "x")
				v, ok := ms[1].MetaGet(MetaKafkaKey)
				require.Equal(t, slices.Contains(c.want, MetaKafkaKey), ok)
				if ok {
					require.Equal(t, id, v)
				}
				_, ok = ms[1].MetaGet("extra")
				require.False(t, ok)
			}
		})
	}
}

func TestStreamCountIncludesInjected(t *testing.T) {
	got := runStream(t, `
transaction_generator:
  rate: 0
  count: 3000
  accounts: 300
  inject:
    duplicate_rate: 0.05
    late_rate: 0.05
    invalid_rate: 0.05
`)
	require.Len(t, got, 3000)
	kinds := map[string]int{}
	for _, m := range got {
		b, _ := m.AsBytes()
		_, err := txn.Decode(b)
		kind, _ := m.MetaGet(MetaInjected)
		kinds[kind]++
		if kind == "invalid" {
			inv, _ := m.MetaGet(MetaInvalidKind)
			require.Error(t, err)
			require.Equal(t, InvalidTruth[inv].Reason, txn.ReasonOf(err))
		} else {
			require.NoError(t, err)
		}
	}
	for _, k := range []string{"", "duplicate", "late", "invalid"} {
		require.Positive(t, kinds[k], "kind %q", k)
	}
}

func TestStreamRateLimited(t *testing.T) {
	// Paced at 200/s, 20 messages arrive in small batches; never assert
	// on timings, only that all arrive and the stream ends.
	got := runStream(t, `
transaction_generator:
  rate: 200
  count: 20
  accounts: 50
  time_mode: realtime
`)
	require.Len(t, got, 20)
	for _, m := range got {
		b, _ := m.AsBytes()
		tx, err := txn.Decode(b)
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), tx.EventTime, time.Hour)
	}
}

func TestSpecDocumentsEveryField(t *testing.T) {
	// Every field has a description (the docs of `trstream list`).
	env := service.NewEmptyEnvironment()
	require.NoError(t, env.RegisterBatchInput("transaction_generator", generatorConfigSpec(),
		func(*service.ParsedConfig, *service.Resources) (service.BatchInput, error) { return nil, nil }))
	env.WalkInputs(func(name string, view *service.ConfigView) {
		data, err := view.FormatJSON()
		require.NoError(t, err)
		require.NotContains(t, string(data), `"description":""`, name)
		require.True(t, strings.Contains(string(data), "fraud_rate"))
	})
}

// TestSeedZeroIsRandom: `seed: 0` picks a fresh seed, so replicas started
// with the same config make different streams.
func TestSeedZeroIsRandom(t *testing.T) {
	seeds := map[int64]bool{}
	for i := 0; i < 3; i++ {
		conf, err := generatorConfigSpec().ParseYAML(`seed: 0`, nil)
		require.NoError(t, err)
		c, err := ConfigFromParsed(conf)
		require.NoError(t, err)
		require.NotZero(t, c.Seed)
		seeds[c.Seed] = true
	}
	require.Len(t, seeds, 3)
}

func TestNackedBatchReplaysSameBytesAndMetadata(t *testing.T) {
	for _, metadata := range []string{"[kafka_key]", "[kafka_key, account_id, event_type]"} {
		t.Run(metadata, func(t *testing.T) {
			conf, err := generatorConfigSpec().ParseYAML(`
rate: 0
count: 50
batch_size: 50
accounts: 20
metadata: `+metadata+`
inject: {duplicate_rate: 0.1, invalid_rate: 0.1}
`, nil)
			require.NoError(t, err)
			in, err := newGeneratorInput(conf, service.MockResources())
			require.NoError(t, err)
			ctx := context.Background()
			first, ack, err := in.ReadBatch(ctx)
			require.NoError(t, err)
			require.Len(t, first, 50)
			want := snapshotBatch(t, first)
			// Downstream changing a message must not change the replay.
			first[0].SetBytes([]byte("changed"))
			first[0].MetaSetMut(MetaKafkaKey, "changed")
			require.NoError(t, ack(ctx, errors.New("nope")))
			again, ack2, err := in.ReadBatch(ctx)
			require.NoError(t, err)
			require.Equal(t, want, snapshotBatch(t, again))
			require.NoError(t, ack2(ctx, nil))
			_, _, err = in.ReadBatch(ctx)
			require.ErrorIs(t, err, service.ErrEndOfInput)
		})
	}
}

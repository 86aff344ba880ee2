package generator

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/trstream/trstream/plugins/txn"
)

const (
	tgFieldRate               = "rate"
	tgFieldCount              = "count"
	tgFieldBatchSize          = "batch_size"
	tgFieldSeed               = "seed"
	tgFieldTimeMode           = "time_mode"
	tgFieldStartTime          = "start_time"
	tgFieldAccounts           = "accounts"
	tgFieldMerchants          = "merchants"
	tgFieldDailyTransactions  = "daily_transactions"
	tgFieldFraudRate          = "fraud_rate"
	tgFieldFraudScenarios     = "fraud_scenarios"
	tgFieldCategories         = "categories"
	tgFieldCatMCC             = "mcc"
	tgFieldCatName            = "name"
	tgFieldCatWeight          = "weight"
	tgFieldCatMean            = "mean"
	tgFieldCatSigma           = "sigma"
	tgFieldCatEcommerceShare  = "ecommerce_share"
	tgFieldCountries          = "countries"
	tgFieldCtryCode           = "code"
	tgFieldCtryCurrency       = "currency"
	tgFieldCtryWeight         = "weight"
	tgFieldCtryEURRate        = "eur_rate"
	tgFieldHourWeights        = "hour_weights"
	tgFieldWeekendHourWeights = "weekend_hour_weights"
	tgFieldDayWeights         = "day_weights"
	tgFieldTypeWeights        = "type_weights"
	tgFieldInject             = "inject"
	tgFieldDuplicateRate      = "duplicate_rate"
	tgFieldLateRate           = "late_rate"
	tgFieldLateBy             = "late_by"
	tgFieldInvalidRate        = "invalid_rate"
	tgFieldInvalidKinds       = "invalid_kinds"
	tgFieldShardIndex         = "shard_index"
	tgFieldShardCount         = "shard_count"
	tgFieldMetadata           = "metadata"
)

// Metadata keys set on every message.
const (
	MetaKafkaKey     = "kafka_key"
	MetaAccountID    = "account_id"
	MetaEventType    = "event_type"
	MetaInjected     = "generator_injected"
	MetaInvalidKind  = "generator_invalid_kind"
	defaultBatchSize = 1024
)

// metaKeys are the choices of the metadata field, in metaMask bit order.
var metaKeys = []string{MetaKafkaKey, MetaAccountID, MetaEventType}

// metaMask says which of metaKeys to set.
type metaMask uint8

const (
	metaKafkaKey metaMask = 1 << iota
	metaAccountID
	metaEventType
)

func parseMetaKeys(keys []string) (metaMask, error) {
	var mask metaMask
	for _, k := range keys {
		i := slices.Index(metaKeys, k)
		if i < 0 {
			return 0, fmt.Errorf("metadata: unknown key %q, want one of %v", k, metaKeys)
		}
		mask |= 1 << i
	}
	return mask, nil
}

func floatsAny(fs []float64) []any {
	out := make([]any, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}

func stringsAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func generatorConfigSpec() *service.ConfigSpec { return generatorSpec(true) }

// generatorSpec is the input's spec, with its lint rule or without.
func generatorSpec(lint bool) *service.ConfigSpec {
	d := DefaultConfig()
	var cats []any
	for _, c := range d.Categories {
		cats = append(cats, map[string]any{
			tgFieldCatMCC: c.MCC, tgFieldCatName: c.Name, tgFieldCatWeight: c.Weight, tgFieldCatMean: c.Mean,
			tgFieldCatSigma: c.Sigma, tgFieldCatEcommerceShare: c.EcommerceShare,
		})
	}
	var ctrys []any
	for _, c := range d.Countries {
		ctrys = append(ctrys, map[string]any{tgFieldCtryCode: c.Code, tgFieldCtryCurrency: c.Currency, tgFieldCtryWeight: c.Weight, tgFieldCtryEURRate: c.EURRate})
	}
	tw := d.TypeWeights
	spec := service.NewConfigSpec().
		Beta().
		Categories("Utility").
		Summary("Generates realistic, labelled financial transactions in the trstream wire format, with known-bad events injected on demand.").
		Description(`
A population of accounts and merchants is built up front from `+"`seed`"+`: each account has a home country and currency, a spend level, an activity level, a channel preference, favourite merchants, regular payees, a card fingerprint and a payday; each merchant a country, a merchant category code (MCC) and an online share.

Arrivals follow a non-homogeneous Poisson process whose intensity follows `+"`hour_weights`"+` (weekdays), `+"`weekend_hour_weights`"+` and `+"`day_weights`"+`, at `+"`daily_transactions`"+` per account per day on average. Payment amounts are lognormal per MCC (`+"`categories`"+`), scaled by the account's spend level and converted to its currency, rounded to the currency's minor unit. Every account keeps a running balance: salaries on payday, deposits, refunds and incoming transfers credit it; payments, withdrawals, transfers and fees debit it, and are declined rather than overdraw, so no balance ever goes below zero. `+"`balance_after`"+` is the balance after each event in emission order.

Fraud is injected at `+"`fraud_rate`"+` (the share of generated, non-injected events labelled `+"`is_fraud`"+`) through three scenarios: `+"`card_testing`"+` (bursts of tiny online authorisations with a list of stolen cards at one merchant), `+"`account_takeover`"+` (transfers of most of the balance to never-seen payees until it is drained) and `+"`compromised_merchant`"+` (a merchant's recent customers are charged online elsewhere within hours).

With `+"`inject`"+`, exact duplicates, late events and invalid events are mixed in, each marked with the metadata `+"`generator_injected`"+` (`+"`duplicate`"+`, `+"`late`"+` or `+"`invalid`"+`; invalid ones also carry `+"`generator_invalid_kind`"+`), so later stages can be tested against known truth.

In `+"`simulated`"+` time mode the event times come from a simulated clock starting at `+"`start_time`"+`, and the output is a pure function of the configuration: the same seed and config give a byte-identical stream. With `+"`rate: 0`"+` a month of history is produced in seconds. In `+"`realtime`"+` mode event times are the wall clock.

By default every message carries the metadata `+"`kafka_key`"+` and `+"`account_id`"+` (the account id) and `+"`event_type`"+` (the transaction type); `+"`metadata`"+` picks fewer. A nacked batch is replayed with the same bytes when `+"`auto_replay_nacks`"+` is true.

Metrics: `+"`generator_events_total`"+` labelled by `+"`type`"+` and `+"`fraud_scenario`"+`, and `+"`generator_injected_total`"+` labelled by `+"`kind`"+`.`).
		Fields(
			service.NewFloatField(tgFieldRate).
				Description("Messages per second of wall-clock time. 0 generates as fast as downstream accepts.").
				Default(100.0),
			service.NewIntField(tgFieldCount).
				Description("Number of messages after which the input ends, injected ones included (so downstream receives exactly `count` messages). 0 is unbounded.").
				Default(0),
			service.NewIntField(tgFieldBatchSize).
				Description("Maximum number of messages per batch. At a low `rate` batches are smaller: each holds the messages due so far.").
				Default(defaultBatchSize),
			service.NewIntField(tgFieldSeed).
				Description("Seed of every random choice. The same seed and configuration in `simulated` mode give a byte-identical stream. In `realtime` mode the transaction ids also mix in a value drawn at start, so that a restarted generator never repeats the ids of an earlier run (a lake deduplicating by id would drop those new events); every other choice still follows the seed. 0 picks a random seed at start (not reproducible), so that replicas started alike (`docker compose --scale`) make different transaction ids.").
				Default(1),
			service.NewStringAnnotatedEnumField(tgFieldTimeMode, map[string]string{
				TimeModeSimulated: "Event times come from a simulated clock starting at `start_time` and advancing with the Poisson arrivals, independent of `rate`.",
				TimeModeRealtime:  "Event times are the wall clock at generation; arrivals are paced by `rate` only.",
			}).
				Description("Where event times come from.").
				Default(TimeModeSimulated),
			service.NewStringField(tgFieldStartTime).
				Description("RFC 3339 start of the simulated clock. Keep it far enough in the past that the simulated clock does not run more than a day past now, or validation rejects the events as future.").
				Default(d.StartTime.Format(time.RFC3339)),
			service.NewIntField(tgFieldAccounts).
				Description("Total accounts across all shards; each shard owns those whose number modulo `shard_count` is its `shard_index`.").
				Default(d.Accounts),
			service.NewIntField(tgFieldMerchants).
				Description("Number of merchants, shared by all shards.").
				Default(d.Merchants),
			service.NewFloatField(tgFieldDailyTransactions).
				Description("Mean transactions per account per simulated day (before salary and incoming transfers).").
				Default(d.DailyTransactions),
			service.NewFloatField(tgFieldFraudRate).
				Description("Share of generated (non-injected) events that are fraud, between 0 and 0.5.").
				Default(d.FraudRate),
			service.NewStringListField(tgFieldFraudScenarios).
				Description("Fraud scenarios to inject, each getting an equal share of fraud events.").
				Default(stringsAny(d.FraudScenarios)),
			service.NewObjectListField(tgFieldCategories,
				service.NewStringField(tgFieldCatMCC).Description("ISO 18245 merchant category code, four digits."),
				service.NewStringField(tgFieldCatName).Description("A label for humans; not emitted.").Default(""),
				service.NewFloatField(tgFieldCatWeight).Description("Relative share of merchants in this category.").Default(1.0),
				service.NewFloatField(tgFieldCatMean).Description("Mean payment amount in EUR (the lognormal's arithmetic mean)."),
				service.NewFloatField(tgFieldCatSigma).Description("Log-space standard deviation: the heaviness of the tail.").Default(0.8),
				service.NewFloatField(tgFieldCatEcommerceShare).Description("Typical share of this category's payments made online.").Default(0.2),
			).
				Description("Merchant categories and their amount distributions. The default covers ten common MCCs: 5411 grocery, 5812 restaurants, 5541 fuel, 5999 retail, 4111 transport, 5732 electronics, 7011 hotels, 4814 telecom, 5912 pharmacy, 5311 department stores.").
				Default(cats),
			service.NewObjectListField(tgFieldCountries,
				service.NewStringField(tgFieldCtryCode).Description("ISO 3166-1 alpha-2 country code."),
				service.NewStringField(tgFieldCtryCurrency).Description("ISO 4217 currency of the country's accounts."),
				service.NewFloatField(tgFieldCtryWeight).Description("Relative share of accounts and merchants.").Default(1.0),
				service.NewFloatField(tgFieldCtryEURRate).Description("Units of currency per EUR; 0 uses the built-in rate (EUR, GBP, PLN, SEK, CHF, DKK, CZK, NOK, HUF, RON, BGN, USD, JPY, CAD, AUD, ISK, TRY).").Default(0.0),
			).
				Description("Home countries of accounts and merchants. The default is an EUR-centric European mix with GBP, PLN, SEK, CHF, DKK and CZK.").
				Default(ctrys),
			service.NewFloatListField(tgFieldHourWeights).
				Description("Relative arrival intensity for each of the 24 UTC hours of a weekday (Monday to Friday). The default has a night trough and lunch and evening peaks.").
				Default(floatsAny(d.HourWeights)),
			service.NewFloatListField(tgFieldWeekendHourWeights).
				Description("Relative arrival intensity for each of the 24 UTC hours of Saturday and Sunday.").
				Default(floatsAny(d.WeekendHourWeights)),
			service.NewFloatListField(tgFieldDayWeights).
				Description("Relative volume of each day of the week, Monday first.").
				Default(floatsAny(d.DayWeights)),
			service.NewObjectField(tgFieldTypeWeights,
				service.NewFloatField(txn.TypePayment).Description("Card payments at merchants.").Default(tw.Payment),
				service.NewFloatField(txn.TypeWithdrawal).Description("ATM withdrawals.").Default(tw.Withdrawal),
				service.NewFloatField(txn.TypeTransfer).Description("Transfers to regular payees (each also credits the payee).").Default(tw.Transfer),
				service.NewFloatField(txn.TypeRefund).Description("Refunds of the account's last payment.").Default(tw.Refund),
				service.NewFloatField(txn.TypeFee).Description("Bank fees.").Default(tw.Fee),
				service.NewFloatField(txn.TypeDeposit).Description("Cash and other deposits (salaries come on top, monthly).").Default(tw.Deposit),
			).
				Description("Relative odds of what an account does on each arrival."),
			service.NewObjectField(tgFieldInject,
				service.NewFloatField(tgFieldDuplicateRate).
					Description("Share of messages that are byte-identical re-emissions of a recent event.").
					Default(0.0),
				service.NewFloatField(tgFieldLateRate).
					Description("Share of events whose event_time lies in the past by up to `late_by` (they arrive late).").
					Default(0.0),
				service.NewDurationField(tgFieldLateBy).
					Description("How far in the past late events lie at most.").
					Default(d.Inject.LateBy.String()),
				service.NewFloatField(tgFieldInvalidRate).
					Description("Share of messages that fail `txn.Decode`, each of a known-bad kind.").
					Default(0.0),
				service.NewStringListField(tgFieldInvalidKinds).
					Description("Kinds of invalid messages: "+strings.Join(InvalidKinds, ", ")+".").
					Default(stringsAny(InvalidKinds)),
			).
				Description("Known-bad events to mix in, for testing later stages."),
			service.NewIntField(tgFieldShardIndex).
				Description("This producer's shard, in [0, shard_count). Shards own disjoint accounts and produce disjoint transaction ids.").
				Default(0),
			service.NewIntField(tgFieldShardCount).
				Description("Number of producers sharing the account population.").
				Default(1),
			service.NewStringListField(tgFieldMetadata).
				Description("Metadata keys set on every message, among `"+MetaKafkaKey+"`, `"+MetaAccountID+"` and `"+MetaEventType+"`. Messages with the same values share one read-only metadata map, which Benthos copies before a change, so the keys cost little; an empty list is fastest, and `event_type` multiplies the maps kept (up to 16,384, about 6.5 MB). The injection markers are set regardless.").
				Default(stringsAny(metaKeys)),
			service.NewAutoRetryNacksToggleField(),
		).
		Example("A month of history", "Backfills January 2025 for 10,000 accounts as fast as possible, then stops.", `
input:
  transaction_generator:
    time_mode: simulated
    start_time: 2025-01-01T00:00:00Z
    rate: 0
    count: 600000
    seed: 42
`).
		Example("Live traffic with known-bad events", "Produces 500 events per second with wall-clock times, 1% duplicates, 2% late by up to 5 minutes and 0.5% invalid messages, keyed by account for Kafka.", `
input:
  transaction_generator:
    time_mode: realtime
    rate: 500
    inject:
      duplicate_rate: 0.01
      late_rate: 0.02
      late_by: 5m
      invalid_rate: 0.005
output:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topic: transactions
    key: ${! meta("kafka_key") }
`).
		Example("Two scaled producers", "Each producer owns half the accounts; their accounts and ids never collide.", `
input:
  transaction_generator:
    rate: 0
    accounts: 1000000
    shard_index: ${SHARD:0}
    shard_count: 2
`)
	if lint {
		spec = spec.LintRule(lintRule)
	}
	return spec
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = `"` + s + `"`
	}
	return strings.Join(q, ", ")
}

func init() {
	registerLintMethod()
	service.MustRegisterBatchInput("transaction_generator", generatorConfigSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			return newGeneratorInput(conf, mgr)
		})
}

// ConfigFromParsed reads a Config from the parsed input configuration,
// validating it; errors name the field.
func ConfigFromParsed(conf *service.ParsedConfig) (Config, error) {
	c := DefaultConfig()
	var err error
	geti := func(f string, dst *int) {
		if err == nil {
			*dst, err = conf.FieldInt(f)
		}
	}
	getf := func(dst *float64, path ...string) {
		if err == nil {
			*dst, err = conf.FieldFloat(path...)
		}
	}
	var seed int
	geti(tgFieldSeed, &seed)
	c.Seed = int64(seed)
	if c.Seed == 0 {
		c.Seed = randomSeed()
	}
	geti(tgFieldAccounts, &c.Accounts)
	geti(tgFieldMerchants, &c.Merchants)
	geti(tgFieldShardIndex, &c.ShardIndex)
	geti(tgFieldShardCount, &c.ShardCount)
	getf(&c.DailyTransactions, tgFieldDailyTransactions)
	getf(&c.FraudRate, tgFieldFraudRate)
	if err != nil {
		return c, err
	}
	if c.TimeMode, err = conf.FieldString(tgFieldTimeMode); err != nil {
		return c, err
	}
	st, err := conf.FieldString(tgFieldStartTime)
	if err != nil {
		return c, err
	}
	if c.StartTime, err = time.Parse(time.RFC3339, st); err != nil {
		return c, fmt.Errorf("start_time must be an RFC 3339 timestamp: %w", err)
	}
	if c.FraudScenarios, err = conf.FieldStringList(tgFieldFraudScenarios); err != nil {
		return c, err
	}
	cats, err := conf.FieldObjectList(tgFieldCategories)
	if err != nil {
		return c, err
	}
	c.Categories = c.Categories[:0]
	for _, pc := range cats {
		var cat Category
		if cat.MCC, err = pc.FieldString(tgFieldCatMCC); err != nil {
			return c, err
		}
		if cat.Name, err = pc.FieldString(tgFieldCatName); err != nil {
			return c, err
		}
		for _, f := range []struct {
			name string
			dst  *float64
		}{{tgFieldCatWeight, &cat.Weight}, {tgFieldCatMean, &cat.Mean}, {tgFieldCatSigma, &cat.Sigma}, {tgFieldCatEcommerceShare, &cat.EcommerceShare}} {
			if *f.dst, err = pc.FieldFloat(f.name); err != nil {
				return c, err
			}
		}
		c.Categories = append(c.Categories, cat)
	}
	ctrys, err := conf.FieldObjectList(tgFieldCountries)
	if err != nil {
		return c, err
	}
	c.Countries = c.Countries[:0]
	for _, pc := range ctrys {
		var co Country
		if co.Code, err = pc.FieldString(tgFieldCtryCode); err != nil {
			return c, err
		}
		if co.Currency, err = pc.FieldString(tgFieldCtryCurrency); err != nil {
			return c, err
		}
		if co.Weight, err = pc.FieldFloat(tgFieldCtryWeight); err != nil {
			return c, err
		}
		if co.EURRate, err = pc.FieldFloat(tgFieldCtryEURRate); err != nil {
			return c, err
		}
		c.Countries = append(c.Countries, co)
	}
	if c.HourWeights, err = conf.FieldFloatList(tgFieldHourWeights); err != nil {
		return c, err
	}
	if c.WeekendHourWeights, err = conf.FieldFloatList(tgFieldWeekendHourWeights); err != nil {
		return c, err
	}
	if c.DayWeights, err = conf.FieldFloatList(tgFieldDayWeights); err != nil {
		return c, err
	}
	tw := &c.TypeWeights
	getf(&tw.Payment, tgFieldTypeWeights, txn.TypePayment)
	getf(&tw.Withdrawal, tgFieldTypeWeights, txn.TypeWithdrawal)
	getf(&tw.Transfer, tgFieldTypeWeights, txn.TypeTransfer)
	getf(&tw.Refund, tgFieldTypeWeights, txn.TypeRefund)
	getf(&tw.Fee, tgFieldTypeWeights, txn.TypeFee)
	getf(&tw.Deposit, tgFieldTypeWeights, txn.TypeDeposit)
	in := &c.Inject
	getf(&in.DuplicateRate, tgFieldInject, tgFieldDuplicateRate)
	getf(&in.LateRate, tgFieldInject, tgFieldLateRate)
	getf(&in.InvalidRate, tgFieldInject, tgFieldInvalidRate)
	if err != nil {
		return c, err
	}
	if in.LateBy, err = conf.FieldDuration(tgFieldInject, tgFieldLateBy); err != nil {
		return c, err
	}
	if in.InvalidKinds, err = conf.FieldStringList(tgFieldInject, tgFieldInvalidKinds); err != nil {
		return c, err
	}
	return c, c.Validate()
}

//------------------------------------------------------------------------------

type generatorInput struct {
	model      *Model
	batchSize  int
	count      int64
	rate       float64
	replayNack bool
	log        *service.Logger
	meta       metaMask
	metas      *metaCache

	// Owned by the ReadBatch goroutine.
	emitted   int64
	started   time.Time
	avgSize   int
	mEvents   *service.MetricCounter
	mInjected *service.MetricCounter
	evCounts  [numTypes][numScenarios]int64
	injCounts map[string]int64

	// Shared with ack functions.
	ackMu    sync.Mutex
	inFlight int
	retry    []*sentBatch
	notify   chan struct{}
}

// sentBatch is what is needed to rebuild a nacked batch: the immutable
// bodies and the metadata of each message, never the messages themselves,
// which downstream may have changed. Replaying without copying every
// message up front keeps the happy path allocation-light. It holds no
// pointers but the arena, so the garbage collector does not scan it.
type sentBatch struct {
	arena []byte
	ends  []uint32 // end of each body in arena
	metas []msgMeta
}

// msgMeta is what a message's metadata is built from.
type msgMeta struct {
	account  int32
	typ      uint8
	injected uint8
	invalid  uint8 // index into InvalidKinds when injected is InjInvalid
}

// setMeta sets the metadata of the message described by mm.
func setMeta(msg *service.Message, m *Model, mask metaMask, mm msgMeta) {
	if mask&(metaKafkaKey|metaAccountID) != 0 {
		key := m.AccountIDAny(mm.account)
		if mask&metaKafkaKey != 0 {
			msg.MetaSetMut(MetaKafkaKey, key)
		}
		if mask&metaAccountID != 0 {
			msg.MetaSetMut(MetaAccountID, key)
		}
	}
	if mask&metaEventType != 0 {
		msg.MetaSetMut(MetaEventType, m.TypeAny(mm.typ))
	}
	if mm.injected != InjNone {
		msg.MetaSetMut(MetaInjected, injectedAnys[mm.injected])
		if mm.injected == InjInvalid {
			msg.MetaSetMut(MetaInvalidKind, invalidKindAnys[mm.invalid])
		}
	}
}

// inputSettings are the input's fields beyond the model's Config.
type inputSettings struct {
	rate      float64
	count     int
	batchSize int
	replay    bool
	meta      metaMask
}

// parseInput reads and checks the whole configuration; errors name the
// field. It is the input's constructor and its linter (lintConfig).
func parseInput(conf *service.ParsedConfig) (s inputSettings, cfg Config, err error) {
	if s.rate, err = conf.FieldFloat(tgFieldRate); err != nil {
		return
	}
	if s.rate < 0 {
		return s, cfg, fmt.Errorf("rate must be >= 0, got %v", s.rate)
	}
	if s.count, err = conf.FieldInt(tgFieldCount); err != nil {
		return
	}
	if s.count < 0 {
		return s, cfg, fmt.Errorf("count must be >= 0, got %d", s.count)
	}
	if s.batchSize, err = conf.FieldInt(tgFieldBatchSize); err != nil {
		return
	}
	if s.batchSize < 1 {
		return s, cfg, fmt.Errorf("batch_size must be >= 1, got %d", s.batchSize)
	}
	if s.replay, err = conf.FieldBool(service.AutoRetryNacksToggleFieldName); err != nil {
		return
	}
	metaList, err := conf.FieldStringList(tgFieldMetadata)
	if err != nil {
		return
	}
	if s.meta, err = parseMetaKeys(metaList); err != nil {
		return
	}
	cfg, err = ConfigFromParsed(conf)
	return
}

func newGeneratorInput(conf *service.ParsedConfig, mgr *service.Resources) (*generatorInput, error) {
	s, cfg, err := parseInput(conf)
	if err != nil {
		return nil, err
	}
	model, err := New(cfg)
	if err != nil {
		return nil, err
	}
	keys := model.Accounts()
	if s.meta&metaEventType != 0 {
		keys *= numTypes
	}
	return &generatorInput{
		model:      model,
		metas:      newMetaCache(keys),
		batchSize:  s.batchSize,
		count:      int64(s.count),
		rate:       s.rate,
		replayNack: s.replay,
		log:        mgr.Logger(),
		meta:       s.meta,
		avgSize:    400,
		mEvents:    mgr.Metrics().NewCounter("generator_events_total", "type", "fraud_scenario"),
		mInjected:  mgr.Metrics().NewCounter("generator_injected_total", "kind"),
		injCounts:  map[string]int64{},
		notify:     make(chan struct{}, 1),
	}, nil
}

func (g *generatorInput) Connect(context.Context) error { return nil }

// due returns how many messages may be emitted now, waiting for the next
// one when none is due.
func (g *generatorInput) due(ctx context.Context) (int64, error) {
	n := int64(g.batchSize)
	if g.count > 0 {
		n = min(n, g.count-g.emitted)
	}
	if g.rate <= 0 {
		return n, nil
	}
	for {
		elapsed := time.Since(g.started).Seconds()
		due := int64(elapsed*g.rate) + 1 - g.emitted
		if due > 0 {
			return min(n, due), nil
		}
		wait := time.Duration((float64(g.emitted)/g.rate - elapsed) * float64(time.Second))
		select {
		case <-time.After(max(wait, time.Millisecond)):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// takeRetry returns a nacked batch to replay, or whether batches are still
// in flight.
func (g *generatorInput) takeRetry() (*sentBatch, int) {
	g.ackMu.Lock()
	defer g.ackMu.Unlock()
	if len(g.retry) > 0 {
		sb := g.retry[0]
		g.retry = g.retry[1:]
		return sb, g.inFlight
	}
	return nil, g.inFlight
}

func (g *generatorInput) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	if g.started.IsZero() {
		g.started = time.Now()
	}
	for {
		sb, inFlight := g.takeRetry()
		if sb != nil {
			return g.send(sb)
		}
		if g.count == 0 || g.emitted < g.count {
			break
		}
		if inFlight == 0 {
			return nil, nil, service.ErrEndOfInput
		}
		// All generated: wait for the last acks, a nack may need replay.
		select {
		case <-g.notify:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	n, err := g.due(ctx)
	if err != nil {
		return nil, nil, err
	}
	sb := g.generate(int(n))
	g.flushMetrics()
	return g.send(sb)
}

// generate makes the next n messages.
func (g *generatorInput) generate(n int) *sentBatch {
	m := g.model
	// One arena per batch: bodies are capped sub-slices of it, never
	// written again, so the messages own them safely. It is sized from the
	// last batch's mean body, with 3% to spare (a batch's total varies far
	// less): growing it would copy it, and spare bytes are garbage too.
	arena := make([]byte, 0, n*(g.avgSize+g.avgSize/32)+1024)
	sb := &sentBatch{ends: make([]uint32, n), metas: make([]msgMeta, n)}
	for i := range sb.ends {
		var ev Event
		arena, ev = m.Append(arena)
		sb.ends[i] = uint32(len(arena))
		sb.metas[i] = msgMeta{account: ev.Account, typ: ev.Type, injected: ev.Injected}
		switch ev.Injected {
		case InjNone:
			g.evCounts[ev.Type][ev.Scenario]++
		case InjLate:
			g.evCounts[ev.Type][ev.Scenario]++
			g.injCounts[InjectedNames[InjLate]]++
		case InjDuplicate:
			g.injCounts[InjectedNames[InjDuplicate]]++
		case InjInvalid:
			g.injCounts[ev.Invalid]++
			sb.metas[i].invalid = uint8(slices.Index(InvalidKinds, ev.Invalid))
		}
	}
	sb.arena = arena
	if n > 0 {
		g.avgSize = len(arena) / n
	}
	g.emitted += int64(n)
	return sb
}

// send builds fresh messages for sb and tracks its acknowledgement.
func (g *generatorInput) send(sb *sentBatch) (service.MessageBatch, service.AckFunc, error) {
	batch := make(service.MessageBatch, len(sb.ends))
	if fastMessages() {
		g.buildFast(batch, sb)
	} else {
		g.buildSlow(batch, sb)
	}
	g.ackMu.Lock()
	g.inFlight++
	g.ackMu.Unlock()
	return batch, func(_ context.Context, err error) error {
		g.ackMu.Lock()
		g.inFlight--
		if err != nil && g.replayNack {
			g.retry = append(g.retry, sb)
		}
		g.ackMu.Unlock()
		select {
		case g.notify <- struct{}{}:
		default:
		}
		return nil
	}, nil
}

// buildSlow fills batch with the messages of sb through Benthos' API only.
func (g *generatorInput) buildSlow(batch service.MessageBatch, sb *sentBatch) {
	start := uint32(0)
	for i, end := range sb.ends {
		msg := service.NewMessage(sb.arena[start:end:end])
		start = end
		setMeta(msg, g.model, g.meta, sb.metas[i])
		batch[i] = msg
	}
}

// Metadata values boxed once, so that setting them does not allocate.
var (
	injectedAnys    = stringsAny(InjectedNames[:])
	invalidKindAnys = stringsAny(InvalidKinds)
)

func (g *generatorInput) flushMetrics() {
	for t := range g.evCounts {
		for s, n := range g.evCounts[t] {
			if n > 0 {
				g.mEvents.Incr(n, txn.Types[t], ScenarioNames[s])
				g.evCounts[t][s] = 0
			}
		}
	}
	for k, n := range g.injCounts {
		if n > 0 {
			g.mInjected.Incr(n, k)
			g.injCounts[k] = 0
		}
	}
}

func (g *generatorInput) Close(context.Context) error { return nil }

// randomSeed is a non-zero seed from the operating system's entropy.
func randomSeed() int64 {
	var b [8]byte
	_, _ = crand.Read(b[:])
	if s := int64(binary.LittleEndian.Uint64(b[:]) >> 1); s != 0 {
		return s
	}
	return 1
}

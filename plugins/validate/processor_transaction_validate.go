// Package validate holds the transaction_validate processor: strict
// decoding of trstream transactions, marking the bad ones for a dead-letter
// queue without ever dropping a message.
package validate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/trstream/trstream/plugins/txn"
)

const (
	tvFieldMaxAmount = "max_amount"
	tvFieldMaxFuture = "max_future"
	tvFieldMinTime   = "min_time"
	tvFieldNormalize = "normalize"
)

// Metadata keys set on invalid messages.
const (
	MetaReason          = "dlq_reason"
	MetaField           = "dlq_field"
	MetaError           = "dlq_error"
	MetaSourceTopic     = "dlq_source_topic"
	MetaSourcePartition = "dlq_source_partition"
	MetaSourceOffset    = "dlq_source_offset"
)

// ReasonInternal labels a panic while validating: the message is marked,
// the stream goes on.
const ReasonInternal = "internal"

// sourceMeta maps the Kafka input's metadata to the DLQ copies.
var sourceMeta = [][2]string{
	{"kafka_topic", MetaSourceTopic},
	{"kafka_partition", MetaSourcePartition},
	{"kafka_offset", MetaSourceOffset},
}

func validateConfigSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Parsing").
		Summary("Decodes each message as a trstream transaction strictly; marks invalid ones with an error and dead-letter metadata, never dropping any.").
		Description(`
Each message is decoded with the shared transaction schema (exact decimal amounts, ISO 4217 currencies, ISO 3166 countries, UUID ids, plausibility limits). A valid message passes through unchanged, or re-encoded canonically with `+"`normalize`"+`.

An invalid message keeps its original bytes and is flagged with an error (so `+"`errored()`"+` is true in a `+"`switch`"+` output or a `+"`catch`"+` processor) carrying the precise message, and gets the metadata:

- `+"`dlq_reason`"+`: the stable reason (`+"`malformed_json`, `invalid_utf8`, `missing_field`, `wrong_type`, `invalid_value`"+`), fit for a metrics label;
- `+"`dlq_field`"+`: the offending field, empty when the whole message is broken;
- `+"`dlq_error`"+`: the full error message;
- `+"`dlq_source_topic`, `dlq_source_partition`, `dlq_source_offset`"+`: copies of `+"`kafka_topic`, `kafka_partition`, `kafka_offset`"+` when present, so the DLQ record points back at its origin.

A `+"`parquet_lake`"+` output in the same process does not decode a valid message again: it takes the row decoded here, as long as the message still holds the very bytes validated (the same slice). A processor in between that replaces the body makes the lake decode the new one; with `+"`normalize`"+` no row is left.

Metrics: `+"`validate_valid_total`"+` and `+"`validate_invalid_total`"+` labelled by `+"`reason`"+`.`).
		Fields(
			service.NewStringField(tvFieldMaxAmount).
				Description("Largest accepted amount of one transaction, as exact decimal text.").
				Default("1000000000").
				LintRule(`root = if this.re_match("^[0-9]+(\\.[0-9]{1,4})?$") == false { [ "max_amount must be a positive decimal with at most 4 places" ] }`),
			service.NewDurationField(tvFieldMaxFuture).
				Description("How far past now an event_time may lie (clock skew).").
				Default("24h"),
			service.NewStringField(tvFieldMinTime).
				Description("Earliest accepted event_time, RFC 3339.").
				Default("2000-01-01T00:00:00Z").
				LintRule(`root = if this.ts_parse("2006-01-02T15:04:05Z07:00").catch(null) == null { [ "min_time must be an RFC 3339 timestamp" ] }`),
			service.NewBoolField(tvFieldNormalize).
				Description("Replace the body of valid messages with the canonical encoding (exact amounts, UTC microsecond times, fixed key order).").
				Default(false),
		).
		Example("Dead-letter routing", "Valid transactions go to the lake topic, invalid ones to a DLQ topic with their reason as a header.", `
pipeline:
  processors:
    - transaction_validate: {}
output:
  switch:
    cases:
      - check: errored()
        output:
          kafka_franz:
            seed_brokers: [ localhost:9092 ]
            topic: transactions.dlq
            metadata:
              include_patterns: [ "^dlq_" ]
      - output:
          kafka_franz:
            seed_brokers: [ localhost:9092 ]
            topic: transactions.valid
`)
}

func init() {
	service.MustRegisterBatchProcessor("transaction_validate", validateConfigSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchProcessor, error) {
			return newValidateProcessor(conf, mgr)
		})
}

type validateProcessor struct {
	limits    txn.Limits
	strict    bool // limits are txn.DefaultLimits
	normalize bool
	now       func() time.Time
	mValid    *service.MetricCounter
	mInvalid  *service.MetricCounter
}

func newValidateProcessor(conf *service.ParsedConfig, mgr *service.Resources) (*validateProcessor, error) {
	maxAmountStr, err := conf.FieldString(tvFieldMaxAmount)
	if err != nil {
		return nil, err
	}
	maxAmount, err := txn.ParseAmount(maxAmountStr)
	if err != nil || maxAmount <= 0 {
		return nil, fmt.Errorf("%s: %q is not a positive decimal amount with at most %d places", tvFieldMaxAmount, maxAmountStr, txn.AmountScale)
	}
	maxFuture, err := conf.FieldDuration(tvFieldMaxFuture)
	if err != nil {
		return nil, err
	}
	if maxFuture < 0 {
		return nil, fmt.Errorf("%s must be >= 0, got %s", tvFieldMaxFuture, maxFuture)
	}
	minTimeStr, err := conf.FieldString(tvFieldMinTime)
	if err != nil {
		return nil, err
	}
	minTime, err := time.Parse(time.RFC3339, minTimeStr)
	if err != nil {
		return nil, fmt.Errorf("%s must be an RFC 3339 timestamp: %w", tvFieldMinTime, err)
	}
	normalize, err := conf.FieldBool(tvFieldNormalize)
	if err != nil {
		return nil, err
	}
	limits := txn.Limits{MaxAmount: maxAmount, MinTime: minTime.UTC(), MaxFuture: maxFuture}
	return &validateProcessor{
		limits:    limits,
		strict:    limits.Equal(txn.DefaultLimits),
		normalize: normalize,
		now:       time.Now,
		mValid:    mgr.Metrics().NewCounter("validate_valid_total"),
		mInvalid:  mgr.Metrics().NewCounter("validate_invalid_total", "reason"),
	}, nil
}

// check decodes one body into t, whose strings may point into body; a
// panic becomes an internal error, never a crash.
func (p *validateProcessor) check(body []byte, now time.Time, t *txn.Transaction) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &txn.FieldError{Reason: ReasonInternal, Detail: fmt.Sprint("panic while validating: ", r)}
		}
	}()
	return p.limits.DecodeInto(body, now, t, true)
}

func (p *validateProcessor) ProcessBatch(_ context.Context, batch service.MessageBatch) ([]service.MessageBatch, error) {
	now := p.now()
	valid := int64(0)
	var invalid map[string]int64
	var t txn.Transaction
	// Rows are left for Take (a parquet_lake downstream) in one array a
	// batch. Not when normalizing: the lake would decode the new body's
	// UTC, microsecond times, not the row as parsed.
	var hs []handoff
	if handoffWant.Load() && !p.normalize {
		hs = make([]handoff, len(batch))
	}
	for i, msg := range batch {
		// Decoded in place when it is left for the lake: no copy.
		row := &t
		if hs != nil {
			row = &hs[i].t
		}
		body, err := msg.AsBytes()
		if err == nil {
			err = p.check(body, now, row)
		}
		if err == nil {
			valid++
			if hs != nil {
				leave(&hs[i], body, p.strict)
			}
			if p.normalize {
				msg.SetBytes(row.AppendJSON(make([]byte, 0, len(body)+16)))
			}
			continue
		}
		reason := MarkInvalid(msg, err)
		if invalid == nil {
			invalid = map[string]int64{}
		}
		invalid[reason]++
	}
	if valid > 0 {
		p.mValid.Incr(valid)
	}
	for reason, n := range invalid {
		p.mInvalid.Incr(n, reason)
	}
	return []service.MessageBatch{batch}, nil
}

func (p *validateProcessor) Close(context.Context) error { return nil }

// MarkInvalid flags msg with err and sets the dead-letter metadata (reason,
// field, error and the Kafka source), as transaction_validate does for an
// invalid message; it returns the reason. parquet_lake marks the messages
// it cannot decode with it too, so that every dead letter reads alike.
func MarkInvalid(msg *service.Message, err error) string {
	reason, field := txn.ReasonOf(err), ""
	if fe := (*txn.FieldError)(nil); errors.As(err, &fe) {
		field = fe.Field
	}
	msg.SetError(err)
	msg.MetaSetMut(MetaReason, reason)
	msg.MetaSetMut(MetaField, field)
	msg.MetaSetMut(MetaError, err.Error())
	for _, kv := range sourceMeta {
		if v, ok := msg.MetaGetMut(kv[0]); ok {
			msg.MetaSetMut(kv[1], v)
		}
	}
	return reason
}

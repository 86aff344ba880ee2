package redpanda

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/trstream/trstream/internal/every"
)

const (
	riFieldTopics                 = "topics"
	riFieldRegexpTopics           = "regexp_topics"
	riFieldRegexpTopicsInclude    = "regexp_topics_include"
	riFieldRegexpTopicsExclude    = "regexp_topics_exclude"
	riFieldConsumerGroup          = "consumer_group"
	riFieldStartOffset            = "start_offset"
	riFieldCommitPeriod           = "commit_period"
	riFieldFetchMaxBytes          = "fetch_max_bytes"
	riFieldFetchMaxWait           = "fetch_max_wait"
	riFieldFetchMaxPartitionBytes = "fetch_max_partition_bytes"
	riFieldFetchMinBytes          = "fetch_min_bytes"
	riFieldIsolationLevel         = "transaction_isolation_level"
	riFieldTopicLagRefreshPeriod  = "topic_lag_refresh_period"
	riFieldRackID                 = "rack_id"
	riFieldMaxYieldBatchBytes     = "max_yield_batch_bytes"
	riFieldSessionTimeout         = "session_timeout"
	riFieldRebalanceTimeout       = "rebalance_timeout"
	riFieldHeartbeatInterval      = "heartbeat_interval"
	riFieldCheckpointLimit        = "checkpoint_limit"
	riFieldInstanceID             = "instance_id"
)

const (
	isolationReadUncommitted = "read_uncommitted"
	isolationReadCommitted   = "read_committed"
)

const (
	startOffsetEarliest  = "earliest"
	startOffsetLatest    = "latest"
	startOffsetCommitted = "committed"
)

func redpandaInputConfigSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Services").
		Summary("Consumes data from a Redpanda (Kafka API) broker, committing offsets only once messages are delivered.").
		Description(`
Records are read with the franz-go client. Each fetch is yielded downstream as batches, one or more per partition, so throughput does not depend on one record per round trip.

== Delivery guarantees

With a `+"`consumer_group`"+` offsets are committed every `+"`commit_period`"+` and when the input closes. An offset is only committed once every message at or below it in that partition has been acknowledged, so acknowledgements arriving out of order never cause a record to be skipped. Rejected (nacked) messages are replayed when `+"`auto_replay_nacks`"+` is true (the default); when it is false they are dropped and their offsets committed, as in Redpanda Connect.

When a rebalance revokes partitions from this member, it first commits what it has acknowledged for them and then stops delivering their buffered records; anything still in flight is redelivered by the new owner (at-least-once, duplicates possible).

Without a consumer group nothing is committed and every restart begins at `+"`start_offset`"+`.

== Metadata

This input adds the following metadata fields to each message:

`+"```text"+`
- kafka_key
- kafka_topic
- kafka_partition
- kafka_offset
- kafka_lag
- kafka_timestamp_ms
- kafka_timestamp_unix
- kafka_tombstone_message
- All record headers
`+"```"+`

== Metrics

The gauge `+"`redpanda_lag`"+` (labels `+"`topic`"+`, `+"`partition`"+`) reports how many records of each partition remain after the last fetched record, set after each fetch and, every `+"`topic_lag_refresh_period`"+`, from the brokers' end offsets (so it keeps up while back pressure stops fetches). When a partition is revoked or lost, or the input closes, its gauge is set to 0 (Benthos' metrics API cannot delete a series), so the lag summed over a group's members does not count a partition twice.
`).
		Fields(clientFields()...).
		// Without this a missing or empty seed_brokers passes `trstream
		// lint` and only fails when the component is built.
		LintRule(`root = if `+seedBrokersMissing+` { `+seedBrokersLintMessage+` } else if this.topics.or([]).length() == 0 && this.regexp_topics_include.or([]).length() == 0 { "field topics: a list of topics, or field regexp_topics_include, is required" }`).
		Fields(
			service.NewStringListField(riFieldTopics).
				Description("A list of topics to consume from. Multiple comma separated topics can be listed in a single element. When no `consumer_group` is set, partitions can be chosen explicitly with `topic:partition` or a range with `topic:start-end` (inclusive).").
				Example([]string{"foo", "bar"}).
				Example([]string{"things.*"}).
				Example([]string{"foo,bar"}).
				Example([]string{"foo:0", "bar:1", "bar:3"}).
				Example([]string{"foo:0,bar:1,bar:3"}).
				Example([]string{"foo:0-5"}).
				Optional(),
			service.NewBoolField(riFieldRegexpTopics).
				Description("Whether listed topics should be interpreted as regular expression patterns for matching multiple topics.").
				Default(false),
			service.NewStringListField(riFieldRegexpTopicsInclude).
				Description("Regular expressions of the topics to consume, in place of `topics` (Redpanda Connect's form of `regexp_topics`): every topic that matches one of them is consumed, and topics created later are picked up on the next metadata refresh (`metadata_max_age`).").
				Example([]string{"orders\\..*"}).
				Example([]string{"^logs-[0-9]+$", "^audit$"}).
				Optional().
				Advanced(),
			service.NewStringListField(riFieldRegexpTopicsExclude).
				Description("Regular expressions of topics not to consume, even when they match `regexp_topics_include` (or `topics` with `regexp_topics`).").
				Example([]string{"\\.dlq$", "^_"}).
				Optional().
				Advanced(),
			service.NewStringField(riFieldConsumerGroup).
				Description("An optional consumer group to consume as. When specified the partitions of specified topics are automatically distributed across consumers sharing a consumer group, and partition offsets are automatically committed and resumed under this name.").
				Optional(),
			service.NewStringAnnotatedEnumField(riFieldStartOffset, map[string]string{
				startOffsetEarliest:  "Start from the earliest offset. Corresponds to Kafka's `auto.offset.reset=earliest` option.",
				startOffsetLatest:    "Start from the latest offset. Corresponds to Kafka's `auto.offset.reset=latest` option.",
				startOffsetCommitted: "Prevents consuming a partition in a consumer group if the partition has no prior commits. Corresponds to Kafka's `auto.offset.reset=none` option. Requires `consumer_group`.",
			}).
				Description("Determines which offset to start consuming from for partitions without a committed offset (or every partition when there is no consumer group).").
				LintRule(enumLintRule(riFieldStartOffset, startOffsetEarliest, startOffsetLatest, startOffsetCommitted)).
				Default(startOffsetEarliest).
				Advanced(),
			service.NewDurationField(riFieldCommitPeriod).
				Description("The period of time between each commit of the current partition offsets. Offsets are always committed during shutdown.").
				Default("5s").
				Advanced(),
			service.NewStringField(riFieldFetchMaxBytes).
				Description("Sets the maximum amount of bytes a broker will try to send during a fetch. Note that brokers may not obey this limit if it has records larger than this limit. This is the equivalent to the Java fetch.max.bytes setting, and the default is franz-go's (and Java's). The client keeps one fetch in flight per broker (franz-go's default of no cap on concurrent fetches), buffers its response until the input has taken it, then fetches again while the records are processed.").
				Default("50MiB").
				Advanced(),
			service.NewDurationField(riFieldFetchMaxWait).
				Description("Sets the maximum amount of time a broker will wait for a fetch response to hit the minimum number of required bytes (one byte, franz-go's default: a fetch returns as soon as there is any record). This is the equivalent to the Java fetch.max.wait.ms setting; the default is franz-go's.").
				Default("5s").
				Advanced(),
			service.NewStringField(riFieldFetchMaxPartitionBytes).
				Description("Sets the maximum amount of bytes that will be consumed for a single partition in a fetch request. Note that if a single batch is larger than this number, that batch will still be returned so the client can make progress. This is the equivalent to the Java fetch.max.partition.bytes setting, and the default is franz-go's (and Java's). Larger values mean fewer, larger fetches of a partition; reading one partition from a local broker, 4MiB to 32MiB cost more CPU and time than 1MiB, as each response is one allocation the client zeroes and the collector tracks until its last record is acknowledged.").
				Default("1MiB").
				Advanced(),
			service.NewStringField(riFieldFetchMinBytes).
				Description("Sets the minimum amount of bytes a broker waits for, up to `fetch_max_wait`, before it answers a fetch. With the default of one byte (franz-go's and Java's) records are returned as soon as there are any; more trades latency for fewer, larger fetches. This is the equivalent to the Java fetch.min.bytes setting.").
				Default("1B").
				Example("64KiB").
				Advanced(),
			service.NewStringAnnotatedEnumField(riFieldIsolationLevel, map[string]string{
				isolationReadUncommitted: "Read every record, including those of open and aborted transactions.",
				isolationReadCommitted:   "Read only records that are not part of a transaction or whose transaction was committed; a partition is read up to its last stable offset, so an open transaction holds back the records after it.",
			}).
				Description("Which records of transactional producers to read. The default is franz-go's (and Kafka's, and Redpanda Connect's).").
				LintRule(enumLintRule(riFieldIsolationLevel, isolationReadUncommitted, isolationReadCommitted)).
				Default(isolationReadUncommitted).
				Advanced(),
			service.NewDurationField(riFieldTopicLagRefreshPeriod).
				Description("How often the `redpanda_lag` gauge is also refreshed from the brokers' end offsets of the partitions this input reads, besides after each fetch: while the pipeline applies back pressure the input fetches nothing, and the gauge would stay where the last fetch left it as the lag grows. 0 refreshes it after fetches only. The default is Redpanda Connect's.").
				Default("5s").
				Advanced(),
			service.NewStringField(riFieldRackID).
				Description("A rack specifies where the client is physically located and changes fetch requests to consume from the closest replica as opposed to the leader replica.").
				Default("").
				Advanced(),
			service.NewStringField(riFieldMaxYieldBatchBytes).
				Description("The maximum size of each batch yielded downstream. A fetch of a partition larger than this is split into several batches; a single record larger than this is yielded alone.").
				Default("32KB").
				Advanced(),
			service.NewDurationField(riFieldSessionTimeout).
				Description("The period of time after which a silent consumer group member is removed from the group.").
				Default("45s").
				Advanced(),
			service.NewDurationField(riFieldRebalanceTimeout).
				Description("The period of time a consumer group member has to finish revoking partitions and rejoin during a rebalance.").
				Default("45s").
				Advanced(),
			service.NewDurationField(riFieldHeartbeatInterval).
				Description("The period of time between consumer group heartbeats, which is also how quickly a member notices a rebalance.").
				Default("3s").
				Advanced(),
			service.NewIntField(riFieldCheckpointLimit).
				Description("The most messages of one partition that may be yielded and not yet acknowledged; further batches of that partition wait (back pressure). A lower limit means fewer duplicates after a crash, since commits cover only acknowledged prefixes. A batch larger than the limit is still yielded when nothing of its partition is in flight. 0 means no limit. Redpanda Connect's default is 1024; here the default is no limit, because outputs that acknowledge at their own commits, such as `parquet_lake`, hold many messages per partition unacknowledged by design.").
				Default(0).
				Advanced(),
			service.NewStringField(riFieldInstanceID).
				Description("An identifier for static consumer group membership: a member that restarts with the same id within `session_timeout` gets its partitions back without a rebalance. Each member of the group needs its own id. Requires `consumer_group`.").
				Optional().
				Advanced(),
			service.NewAutoRetryNacksToggleField(),
			service.NewForceTimelyNacksField(),
		).
		Example("Consumer group", "Consume two topics as a member of a consumer group, committing offsets every second.", `
input:
  redpanda:
    seed_brokers: [ localhost:9092 ]
    topics: [ orders, payments ]
    consumer_group: billing
    commit_period: 1s
`).
		Example("Explicit partitions", "Read partitions 0 to 3 of a topic from the start, without a consumer group.", `
input:
  redpanda:
    seed_brokers: [ localhost:9092 ]
    topics: [ "orders:0-3" ]
    start_offset: earliest
`)
}

func init() {
	service.MustRegisterBatchInput("redpanda", redpandaInputConfigSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchInput, error) {
			// Nacks are replayed by the reader itself (auto_replay_nacks),
			// not by service.AutoRetryNacksBatched: that wrapper copies
			// every message of every batch up front, in case of a nack,
			// which cost ~15% of the input's CPU; the reader instead
			// rebuilds a nacked batch from its records. It also replays the
			// whole batch on a partial nack: in benthos v4.77.0 the wrapper
			// mapped a retried subset's errors by the original indexes, so
			// the wrong message could be retried and a failed one acked
			// (TestNackRedeliveryAcrossRestart caught it). Replaying the
			// whole batch only costs duplicates.
			r, err := newRedpandaReaderFromConfig(conf, mgr)
			if err != nil {
				return nil, err
			}
			// timely_nacks_maximum_wait: a batch not acked in time is
			// nacked, and so replayed by the reader.
			return service.ForceTimelyNacksBatched(conf, r)
		})
}

//------------------------------------------------------------------------------

// topicPartition identifies one partition.
type topicPartition struct {
	topic     string
	partition int32
}

// pendingBatch is a slice of a fetch waiting to be yielded by ReadBatch, or
// a nacked one waiting to be replayed.
type pendingBatch struct {
	tp    topicPartition
	owner *checkpointer // the partition's checkpointer when fetched
	cp    *checkpoint
	batch service.MessageBatch // nil for a replay: rebuilt from recs

	// For auto_replay_nacks: the records, to rebuild pristine messages
	// on a nack (downstream may have changed the ones yielded), and how
	// many times the batch was yielded.
	pm       *partitionMeta
	recs     []*kgo.Record
	attempts int
}

// gauge is the part of *service.MetricGauge the reader uses.
type gauge interface {
	Set(value int64, labelValues ...string)
}

type redpandaReader struct {
	log        *service.Logger
	lag        gauge
	opts       []kgo.Opt
	group      string
	autoReplay bool
	period     time.Duration
	yieldBytes int
	limit      int // checkpoint_limit, 0 for none
	lagPeriod  time.Duration
	// readCommitted: the lag is counted to the last stable offset.
	readCommitted bool

	mu      sync.Mutex
	client  *kgo.Client
	parts   map[topicPartition]*checkpointer
	pending []pendingBatch
	replays []pendingBatch     // nacked batches, yielded before pending ones
	wake    context.CancelFunc // interrupts a wait: a replay, an ack under checkpoint_limit, a revocation

	closing    atomic.Bool
	stopCommit chan struct{}
	commitDone chan struct{}
	stopLag    chan struct{}
	lagDone    chan struct{}
}

func newRedpandaReaderFromConfig(conf *service.ParsedConfig, mgr *service.Resources) (*redpandaReader, error) {
	r := &redpandaReader{
		log:   mgr.Logger(),
		lag:   mgr.Metrics().NewGauge("redpanda_lag", "topic", "partition"),
		parts: map[topicPartition]*checkpointer{},
	}

	opts, err := clientOptsFromConfig(conf)
	if err != nil {
		return nil, err
	}

	if conf.Contains(riFieldConsumerGroup) {
		if r.group, err = conf.FieldString(riFieldConsumerGroup); err != nil {
			return nil, err
		}
	}

	rawTopics, err := optionalStringList(conf, riFieldTopics)
	if err != nil {
		return nil, err
	}
	regex, err := conf.FieldBool(riFieldRegexpTopics)
	if err != nil {
		return nil, err
	}
	include, err := optionalStringList(conf, riFieldRegexpTopicsInclude)
	if err != nil {
		return nil, err
	}
	exclude, err := optionalStringList(conf, riFieldRegexpTopicsExclude)
	if err != nil {
		return nil, err
	}
	if len(include) > 0 {
		if len(rawTopics) > 0 {
			return nil, fmt.Errorf("field %s cannot be used with field %s: list the patterns in one of them", riFieldRegexpTopicsInclude, riFieldTopics)
		}
		if regex {
			return nil, fmt.Errorf("field %s cannot be used with field %s, which makes field %s patterns", riFieldRegexpTopicsInclude, riFieldRegexpTopics, riFieldTopics)
		}
	}
	if len(exclude) > 0 && len(include) == 0 && !regex {
		return nil, fmt.Errorf("field %s requires field %s (or field %s)", riFieldRegexpTopicsExclude, riFieldRegexpTopicsInclude, riFieldRegexpTopics)
	}
	if err := checkPatterns(riFieldRegexpTopicsExclude, exclude); err != nil {
		return nil, err
	}

	startStr, err := conf.FieldString(riFieldStartOffset)
	if err != nil {
		return nil, err
	}
	var start kgo.Offset
	switch startStr {
	case startOffsetEarliest:
		start = kgo.NewOffset().AtStart()
		// Never silently skip data when a committed offset fell off the log.
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	case startOffsetLatest:
		start = kgo.NewOffset().AtEnd()
	case startOffsetCommitted:
		if r.group == "" {
			return nil, fmt.Errorf("field %s: %q requires field %s to be set", riFieldStartOffset, startStr, riFieldConsumerGroup)
		}
		start = kgo.NewOffset().AtCommitted()
	default:
		return nil, fmt.Errorf("field %s: unknown value %q, expected %s, %s or %s",
			riFieldStartOffset, startStr, startOffsetEarliest, startOffsetLatest, startOffsetCommitted)
	}
	opts = append(opts, kgo.ConsumeStartOffset(start))

	var topics []string
	var partitions map[string]map[int32]kgo.Offset
	if len(include) > 0 {
		topics, regex = include, true
	} else if topics, partitions, err = parseTopics(rawTopics, start); err != nil {
		return nil, err
	}
	if len(exclude) > 0 {
		opts = append(opts, kgo.ConsumeExcludeTopics(exclude...))
	}
	if len(partitions) > 0 {
		if r.group != "" {
			return nil, fmt.Errorf("field %s: explicit partitions (topic:partition) cannot be used with field %s", riFieldTopics, riFieldConsumerGroup)
		}
		if regex {
			return nil, fmt.Errorf("field %s: explicit partitions (topic:partition) cannot be used with field %s", riFieldTopics, riFieldRegexpTopics)
		}
		opts = append(opts, kgo.ConsumePartitions(partitions))
	}
	if regex {
		field := riFieldTopics
		if len(include) > 0 {
			field = riFieldRegexpTopicsInclude
		}
		if err := checkPatterns(field, topics); err != nil {
			return nil, err
		}
		opts = append(opts, kgo.ConsumeRegex())
	}
	if len(topics) > 0 {
		opts = append(opts, kgo.ConsumeTopics(topics...))
	}

	period, err := conf.FieldDuration(riFieldCommitPeriod)
	if err != nil {
		return nil, err
	}
	if period <= 0 {
		return nil, fmt.Errorf("field %s: must be greater than zero", riFieldCommitPeriod)
	}
	r.period = period

	maxBytes, err := bytesField(conf, riFieldFetchMaxBytes)
	if err != nil {
		return nil, err
	}
	maxPartBytes, err := bytesField(conf, riFieldFetchMaxPartitionBytes)
	if err != nil {
		return nil, err
	}
	maxWait, err := conf.FieldDuration(riFieldFetchMaxWait)
	if err != nil {
		return nil, err
	}
	minBytes, err := bytesField(conf, riFieldFetchMinBytes)
	if err != nil {
		return nil, err
	}
	if minBytes < 1 || minBytes > maxBytes {
		return nil, fmt.Errorf("field %s: %d is out of range, expected between 1 and %s (%d)", riFieldFetchMinBytes, minBytes, riFieldFetchMaxBytes, maxBytes)
	}
	isolation, err := conf.FieldString(riFieldIsolationLevel)
	if err != nil {
		return nil, err
	}
	switch isolation {
	case isolationReadUncommitted:
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	case isolationReadCommitted:
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		r.readCommitted = true
	default:
		return nil, fmt.Errorf("field %s: unknown value %q, expected %s or %s", riFieldIsolationLevel, isolation, isolationReadUncommitted, isolationReadCommitted)
	}
	if r.lagPeriod, err = conf.FieldDuration(riFieldTopicLagRefreshPeriod); err != nil {
		return nil, err
	}
	if r.lagPeriod < 0 {
		return nil, fmt.Errorf("field %s: must not be negative", riFieldTopicLagRefreshPeriod)
	}
	yield, err := bytesField(conf, riFieldMaxYieldBatchBytes)
	if err != nil {
		return nil, err
	}
	r.yieldBytes = int(yield)
	opts = append(opts,
		kgo.FetchMaxBytes(maxBytes),
		kgo.FetchMaxPartitionBytes(maxPartBytes),
		kgo.FetchMaxWait(maxWait),
		kgo.FetchMinBytes(minBytes),
	)

	rack, err := conf.FieldString(riFieldRackID)
	if err != nil {
		return nil, err
	}
	if rack != "" {
		opts = append(opts, kgo.Rack(rack))
	}

	if r.limit, err = conf.FieldInt(riFieldCheckpointLimit); err != nil {
		return nil, err
	}
	if r.limit < 0 {
		return nil, fmt.Errorf("field %s: must not be negative", riFieldCheckpointLimit)
	}
	if conf.Contains(riFieldInstanceID) {
		id, err := conf.FieldString(riFieldInstanceID)
		if err != nil {
			return nil, err
		}
		if id != "" {
			if r.group == "" {
				return nil, fmt.Errorf("field %s requires field %s to be set", riFieldInstanceID, riFieldConsumerGroup)
			}
			opts = append(opts, kgo.InstanceID(id))
		}
	}

	if r.group != "" {
		session, err := conf.FieldDuration(riFieldSessionTimeout)
		if err != nil {
			return nil, err
		}
		rebalance, err := conf.FieldDuration(riFieldRebalanceTimeout)
		if err != nil {
			return nil, err
		}
		heartbeat, err := conf.FieldDuration(riFieldHeartbeatInterval)
		if err != nil {
			return nil, err
		}
		opts = append(opts,
			kgo.ConsumerGroup(r.group),
			kgo.SessionTimeout(session),
			kgo.RebalanceTimeout(rebalance),
			kgo.HeartbeatInterval(heartbeat),
			// We commit marks ourselves: only fully acked prefixes.
			kgo.DisableAutoCommit(),
			// A rebalance waits until a polled fetch is registered with
			// the checkpointers, so revocation sees every offset we own.
			kgo.BlockRebalanceOnPoll(),
			kgo.OnPartitionsRevoked(r.onRevoked),
			kgo.OnPartitionsLost(r.onLost),
		)
	}

	if r.autoReplay, err = conf.FieldBool(service.AutoRetryNacksToggleFieldName); err != nil {
		return nil, err
	}
	r.opts = append(opts, kgo.WithPools(&recordPool{}))
	return r, nil
}

// checkPatterns fails on the first of a field's topic patterns that is not a
// valid regular expression.
func checkPatterns(field string, patterns []string) error {
	for _, p := range patterns {
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("field %s: invalid regular expression %q: %w", field, p, err)
		}
	}
	return nil
}

// optionalStringList reads a list field that may be absent.
func optionalStringList(conf *service.ParsedConfig, name string) ([]string, error) {
	if !conf.Contains(name) {
		return nil, nil
	}
	return conf.FieldStringList(name)
}

// bytesField parses a human readable byte size such as 50MiB or 32KB.
func bytesField(conf *service.ParsedConfig, name string) (int32, error) {
	s, err := conf.FieldString(name)
	if err != nil {
		return 0, err
	}
	n, err := parseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("field %s: %w", name, err)
	}
	return n, nil
}

// parseBytes accepts a plain integer or a number with a B/KB/KiB/MB/MiB/GB/GiB
// suffix (case insensitive).
func parseBytes(s string) (int32, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"B", 1},
	} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid byte size %q", s)
	}
	n *= mult
	if n <= 0 || n > 1<<31-1 {
		return 0, fmt.Errorf("byte size %q out of range", s)
	}
	return int32(n), nil
}

// parseTopics expands comma separated entries and splits the topic:partition
// and topic:start-end forms out of the plain topic names.
func parseTopics(raw []string, start kgo.Offset) ([]string, map[string]map[int32]kgo.Offset, error) {
	var topics []string
	var partitions map[string]map[int32]kgo.Offset
	for _, entry := range raw {
		for _, t := range strings.Split(entry, ",") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			name, spec, ok := strings.Cut(t, ":")
			if !ok {
				topics = append(topics, t)
				continue
			}
			lo, hi, isRange := strings.Cut(spec, "-")
			first, err := strconv.ParseInt(lo, 10, 32)
			if err != nil || name == "" || first < 0 {
				return nil, nil, fmt.Errorf("field %s: invalid partition in %q", riFieldTopics, t)
			}
			last := first
			if isRange {
				if last, err = strconv.ParseInt(hi, 10, 32); err != nil || last < first {
					return nil, nil, fmt.Errorf("field %s: invalid partition range in %q", riFieldTopics, t)
				}
			}
			if partitions == nil {
				partitions = map[string]map[int32]kgo.Offset{}
			}
			if partitions[name] == nil {
				partitions[name] = map[int32]kgo.Offset{}
			}
			for p := first; p <= last; p++ {
				partitions[name][int32(p)] = start
			}
		}
	}
	if len(topics) == 0 && len(partitions) == 0 {
		return nil, nil, fmt.Errorf("field %s: at least one topic is required (or field %s)", riFieldTopics, riFieldRegexpTopicsInclude)
	}
	return topics, partitions, nil
}

//------------------------------------------------------------------------------

func (r *redpandaReader) Connect(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return nil
	}
	cl, err := kgo.NewClient(r.opts...)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	// Fail Connect (and let Benthos back off) when no broker answers.
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return fmt.Errorf("pinging brokers: %w", err)
	}
	r.client = cl
	r.closing.Store(false)
	if r.group != "" {
		r.stopCommit = make(chan struct{})
		r.commitDone = make(chan struct{})
		go r.commitLoop(cl, r.stopCommit, r.commitDone)
	}
	if r.lagPeriod > 0 {
		r.stopLag = make(chan struct{})
		r.lagDone = make(chan struct{})
		go r.lagLoop(cl, r.stopLag, r.lagDone)
	}
	return nil
}

// lagLoop sets the lag gauge of every partition read so far from the
// brokers' end offsets, every topic_lag_refresh_period.
func (r *redpandaReader) lagLoop(cl *kgo.Client, stop, done chan struct{}) {
	adm := kadm.NewClient(cl)
	list := adm.ListEndOffsets
	if r.readCommitted {
		list = adm.ListCommittedOffsets
	}
	defer close(done)
	every.Run(r.lagPeriod, stop, func() {
		r.mu.Lock()
		topics := map[string]bool{}
		for tp := range r.parts {
			topics[tp.topic] = true
		}
		r.mu.Unlock()
		if len(topics) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.lagPeriod+10*time.Second)
		ends, err := list(ctx, slices.Collect(maps.Keys(topics))...)
		cancel()
		if err != nil {
			r.log.Debugf("refreshing the lag: %v", err)
			return
		}
		r.mu.Lock()
		ends.Each(func(o kadm.ListedOffset) {
			// Only partitions still read here, from where they are now.
			if cp, ok := r.parts[topicPartition{o.Topic, o.Partition}]; ok && o.Err == nil {
				r.lag.Set(max(o.Offset-cp.Tracked(), 0), o.Topic, strconv.Itoa(int(o.Partition)))
			}
		})
		r.mu.Unlock()
	})
}

func (r *redpandaReader) ReadBatch(ctx context.Context) (service.MessageBatch, service.AckFunc, error) {
	for {
		r.mu.Lock()
		cl := r.client
		if cl == nil {
			r.mu.Unlock()
			return nil, nil, service.ErrNotConnected
		}
		pb, ok := shift(&r.replays)
		blocked := false
		if !ok {
			pb, ok, blocked = r.nextPending()
		}
		if ok {
			current := r.parts[pb.tp] == pb.owner
			r.mu.Unlock()
			if !current {
				// Revoked since it was fetched: the new owner will
				// deliver it, so drop it here.
				continue
			}
			if pb.batch == nil {
				if err := replayBackoff(ctx, pb.attempts); err != nil {
					r.requeue(pb)
					return nil, nil, err
				}
				pb.batch = pb.pm.messages(pb.recs)
			}
			pb.attempts++
			pb.owner.Yield(pb.cp)
			return pb.batch, r.ackFn(pb), nil
		}
		// A nack arriving while we wait (or, under checkpoint_limit, an
		// ack or a revocation) cancels the wait.
		pollCtx, wake := context.WithCancel(ctx)
		r.wake = wake
		r.mu.Unlock()
		if blocked {
			// Every buffered batch waits for acks: fetch no more.
			<-pollCtx.Done()
			r.mu.Lock()
			r.wake = nil
			r.mu.Unlock()
			wake()
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			continue
		}

		fetches := cl.PollFetches(pollCtx)
		r.mu.Lock()
		r.wake = nil
		r.mu.Unlock()
		wake()
		if fetches.IsClientClosed() {
			return nil, nil, service.ErrNotConnected
		}
		if err := ctx.Err(); err != nil {
			cl.AllowRebalance()
			return nil, nil, err
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.log.Errorf("fetching %s/%d: %v", topic, partition, err)
			}
		})

		r.mu.Lock()
		fetches.EachPartition(r.enqueue)
		r.mu.Unlock()
		// Everything polled is now tracked; a revocation can proceed and
		// will commit and drop what it needs to.
		cl.AllowRebalance()
	}
}

// nextPending pops the first pending batch that checkpoint_limit lets
// through, keeping each partition's batches in order; blocked is true when
// there are batches but all of them wait for acks. Called with r.mu held.
func (r *redpandaReader) nextPending() (pb pendingBatch, ok, blocked bool) {
	if r.limit <= 0 {
		pb, ok = shift(&r.pending)
		return pb, ok, false
	}
	var full []*checkpointer // partitions with a batch that did not fit
	for i, p := range r.pending {
		if slices.Contains(full, p.owner) {
			continue
		}
		// A revoked partition's batch goes out to be dropped.
		if r.parts[p.tp] == p.owner && !p.owner.Fits(len(p.batch), r.limit) {
			full = append(full, p.owner)
			continue
		}
		if i == 0 {
			shift(&r.pending)
		} else {
			r.pending = slices.Delete(r.pending, i, i+1)
		}
		return p, true, false
	}
	return pendingBatch{}, false, len(r.pending) > 0
}

// wakeUp ends a ReadBatch wait. Called with r.mu held.
func (r *redpandaReader) wakeUp() {
	if r.wake != nil {
		r.wake()
	}
}

// shift pops the first batch of a queue.
func shift(q *[]pendingBatch) (pendingBatch, bool) {
	if len(*q) == 0 {
		return pendingBatch{}, false
	}
	pb := (*q)[0]
	(*q)[0] = pendingBatch{}
	*q = (*q)[1:]
	return pb, true
}

// replayBackoff waits before a batch's third and later replays, as Benthos'
// own nack retry does: twice at once, then from 1ms doubling up to 1s.
func replayBackoff(ctx context.Context, attempts int) error {
	if attempts <= 2 {
		return nil
	}
	d := min(time.Millisecond<<min(attempts-3, 10), time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// requeue puts a nacked batch back for ReadBatch to replay, waking a
// ReadBatch blocked on PollFetches.
func (r *redpandaReader) requeue(pb pendingBatch) {
	pb.batch = nil
	r.mu.Lock()
	if r.client != nil {
		r.replays = append(r.replays, pb)
		r.wakeUp()
	}
	r.mu.Unlock()
}

// enqueue turns one fetched partition into pending batches of at most
// yieldBytes each and tracks them. Called with r.mu held.
func (r *redpandaReader) enqueue(p kgo.FetchTopicPartition) {
	if len(p.Records) == 0 {
		return
	}
	tp := topicPartition{p.Topic, p.Partition}
	owner := r.parts[tp]
	if owner == nil {
		owner = newCheckpointer()
		r.parts[tp] = owner
	}

	last := p.Records[len(p.Records)-1]
	r.lag.Set(max(p.HighWatermark-last.Offset-1, 0), p.Topic, strconv.Itoa(int(p.Partition)))

	// Values shared by every record of the partition are boxed once.
	pm := &partitionMeta{topic: p.Topic, partition: int64(p.Partition), highWatermark: p.HighWatermark}
	flush := func(first, end int) {
		recs := p.Records[first:end:end]
		last := recs[len(recs)-1]
		pb := pendingBatch{
			tp:    tp,
			owner: owner,
			cp:    owner.Track(last.Offset, last.LeaderEpoch, len(recs)),
			batch: pm.messages(recs),
		}
		if r.autoReplay {
			pb.pm, pb.recs = pm, recs
		} else {
			for _, rec := range recs {
				rec.Recycle() // nothing replays it
			}
		}
		r.pending = append(r.pending, pb)
	}
	size, first := 0, 0
	for i, rec := range p.Records {
		recSize := len(rec.Key) + len(rec.Value)
		if i > first && size+recSize > r.yieldBytes {
			flush(first, i)
			size, first = 0, i
		}
		size += recSize
	}
	flush(first, len(p.Records))
}

// partitionMeta holds the metadata values every record of one fetched
// partition shares, boxed once instead of once per record.
type partitionMeta struct {
	topic         any
	partition     any
	highWatermark int64
}

// messages builds the messages of a batch of records, each a copy of its
// record with kafka_* metadata and one metadata entry per header.
//
// What every message needs on its own is allocated once for the batch: the
// service.Message structs, the kafka_offset and kafka_lag values, the bytes
// of keys and header values and their boxed strings. A batch's slabs stay
// reachable while any of its messages is, which costs a few dozen bytes a
// message at most, against three to four allocations a message fewer (a
// string or an int64 put in an interface is otherwise allocated on its own).
func (pm *partitionMeta) messages(recs []*kgo.Record) service.MessageBatch {
	n := len(recs)
	batch := make(service.MessageBatch, n)
	msgs := make([]service.Message, n)
	nums := make([]int64, 2*n)

	textLen, headers := 0, 0
	for _, rec := range recs {
		textLen += len(rec.Key)
		for _, h := range rec.Headers {
			textLen += len(h.Value)
		}
		headers += len(rec.Headers)
	}
	var text strings.Builder
	text.Grow(textLen)
	for _, rec := range recs {
		for _, h := range rec.Headers {
			text.Write(h.Value)
		}
		text.Write(rec.Key)
	}
	// Header values and keys, cut out of one string in the order written.
	all, strs := text.String(), make([]string, n+headers)
	next := func(l int) any {
		p := &strs[0]
		*p, strs, all = all[:l], strs[1:], all[l:]
		return boxedString(p)
	}

	var ts boxedTimestamp
	for i, rec := range recs {
		msgs[i] = *service.NewMessage(rec.Value)
		msg := &msgs[i]
		for _, h := range rec.Headers {
			msg.MetaSetMut(h.Key, next(len(h.Value)))
		}
		msg.MetaSetMut("kafka_key", next(len(rec.Key)))
		msg.MetaSetMut("kafka_topic", pm.topic)
		msg.MetaSetMut("kafka_partition", pm.partition)
		off, lag := &nums[2*i], &nums[2*i+1]
		*off, *lag = rec.Offset, max(pm.highWatermark-rec.Offset-1, 0)
		msg.MetaSetMut("kafka_offset", boxedInt64(off))
		msg.MetaSetMut("kafka_lag", boxedInt64(lag))
		ms, sec := ts.get(rec.Timestamp)
		msg.MetaSetMut("kafka_timestamp_ms", ms)
		msg.MetaSetMut("kafka_timestamp_unix", sec)
		msg.MetaSetMut("kafka_tombstone_message", rec.Value == nil)
		batch[i] = msg
	}
	return batch
}

// boxedInt64 returns an interface holding the int64 *p without copying it
// to an allocation of its own. An interface of a non-pointer type is a type
// word and a pointer to the value, which nothing writes through, so
// pointing it into a slab of values that are never written again is what
// boxing would have built, one allocation fewer. The result equals any(*p).
func boxedInt64(p *int64) any {
	var v any = int64(0)
	(*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1] = unsafe.Pointer(p)
	return v
}

// boxedString is boxedInt64 for a string header: the result equals any(*p).
func boxedString(p *string) any {
	var v any = ""
	(*[2]unsafe.Pointer)(unsafe.Pointer(&v))[1] = unsafe.Pointer(p)
	return v
}

// boxedTimestamp keeps the boxed kafka_timestamp_* values of the last record
// seen: records of one produce batch usually share their timestamp, so
// consecutive messages share the boxes instead of allocating two each.
type boxedTimestamp struct {
	ms         int64
	valid      bool
	boxMs, sec any
}

func (b *boxedTimestamp) get(t time.Time) (ms, sec any) {
	if m := t.UnixMilli(); !b.valid || m != b.ms {
		b.ms, b.valid = m, true
		b.boxMs, b.sec = m, t.Unix()
	}
	return b.boxMs, b.sec
}

// ackFn marks the batch done in its partition's checkpointer. A nack
// replays the whole batch when auto_replay_nacks is true; when it is false
// the messages are dropped and their offsets may be committed (Connect's
// semantics). A nack while closing leaves the batch uncommitted.
func (r *redpandaReader) ackFn(pb pendingBatch) service.AckFunc {
	var acked atomic.Bool
	return func(_ context.Context, err error) error {
		if !acked.CompareAndSwap(false, true) {
			return nil // a second ack of one delivery must not replay twice
		}
		if err != nil {
			if r.closing.Load() {
				return nil
			}
			if r.autoReplay {
				r.requeue(pb)
				return nil
			}
			r.log.Warnf("dropping rejected messages as auto_replay_nacks is false: %v", err)
		}
		pb.owner.Ack(pb.cp)
		for _, rec := range pb.recs {
			rec.Recycle()
		}
		if r.limit > 0 {
			// The partition may have room again for a waiting batch.
			r.mu.Lock()
			r.wakeUp()
			r.mu.Unlock()
		}
		return nil
	}
}

// marks collects the commit marks that advanced, optionally only for the
// given partitions. Called with r.mu held.
func (r *redpandaReader) marks(only map[string][]int32) (map[string]map[int32]kgo.EpochOffset, map[topicPartition]*checkpointer) {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	owners := map[topicPartition]*checkpointer{}
	add := func(tp topicPartition, c *checkpointer) {
		off, epoch, ok := c.Mark()
		if !ok {
			return
		}
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.topic][tp.partition] = kgo.EpochOffset{Epoch: epoch, Offset: off}
		owners[tp] = c
	}
	if only == nil {
		for tp, c := range r.parts {
			add(tp, c)
		}
		return offsets, owners
	}
	for topic, ps := range only {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			if c := r.parts[tp]; c != nil {
				add(tp, c)
			}
		}
	}
	return offsets, owners
}

// commit synchronously commits the given marks and records successes.
func (r *redpandaReader) commit(ctx context.Context, cl *kgo.Client, offsets map[string]map[int32]kgo.EpochOffset, owners map[topicPartition]*checkpointer) {
	if len(offsets) == 0 {
		return
	}
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			r.log.Warnf("committing offsets: %v", err)
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				tp := topicPartition{t.Topic, p.Partition}
				if p.ErrorCode != 0 {
					r.log.Warnf("committing offset of %s/%d: error code %d", t.Topic, p.Partition, p.ErrorCode)
					continue
				}
				if c := owners[tp]; c != nil {
					c.Committed(offsets[t.Topic][p.Partition].Offset)
				}
			}
		}
	})
}

func (r *redpandaReader) commitLoop(cl *kgo.Client, stop, done chan struct{}) {
	defer close(done)
	every.Run(r.period, stop, func() {
		r.mu.Lock()
		offsets, owners := r.marks(nil)
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), r.period*2+10*time.Second)
		r.commit(ctx, cl, offsets, owners)
		cancel()
	})
}

// onRevoked commits what was acked for the revoked partitions and forgets
// them, so their buffered batches are dropped and late acks are ignored.
func (r *redpandaReader) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	r.mu.Lock()
	offsets, owners := r.marks(revoked)
	r.forget(revoked)
	r.mu.Unlock()
	r.commit(ctx, cl, offsets, owners)
}

// onLost forgets partitions without committing: we no longer own them.
func (r *redpandaReader) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.mu.Lock()
	r.forget(lost)
	r.mu.Unlock()
}

// forget drops partition state and zeroes their lag gauges. Called with
// r.mu held.
func (r *redpandaReader) forget(tps map[string][]int32) {
	for topic, ps := range tps {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			if _, ok := r.parts[tp]; ok {
				r.lag.Set(0, topic, strconv.Itoa(int(p)))
				delete(r.parts, tp)
			}
		}
	}
	// A ReadBatch waiting under checkpoint_limit may only have batches of
	// these partitions left.
	r.wakeUp()
}

func (r *redpandaReader) Close(ctx context.Context) error {
	r.mu.Lock()
	cl := r.client
	stop, done := r.stopCommit, r.commitDone
	stopLag, lagDone := r.stopLag, r.lagDone
	r.client = nil
	r.stopCommit, r.commitDone = nil, nil
	r.stopLag, r.lagDone = nil, nil
	r.mu.Unlock()
	if cl == nil {
		return nil
	}
	r.closing.Store(true)
	if stopLag != nil {
		close(stopLag)
		<-lagDone
	}

	if stop != nil {
		close(stop)
		select {
		case <-done:
		case <-ctx.Done():
		}
		// Final commit of everything acked so far.
		r.mu.Lock()
		offsets, owners := r.marks(nil)
		r.mu.Unlock()
		r.commit(ctx, cl, offsets, owners)
	}

	closed := make(chan struct{})
	go func() {
		cl.CloseAllowingRebalance()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
		return ctx.Err()
	}

	r.mu.Lock()
	for tp := range r.parts {
		r.lag.Set(0, tp.topic, strconv.Itoa(int(tp.partition)))
	}
	r.parts = map[topicPartition]*checkpointer{}
	r.pending, r.replays = nil, nil
	r.mu.Unlock()
	return nil
}

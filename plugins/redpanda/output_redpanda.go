package redpanda

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	roFieldTopic           = "topic"
	roFieldKey             = "key"
	roFieldPartitioner     = "partitioner"
	roFieldPartition       = "partition"
	roFieldMetadata        = "metadata"
	roFieldTimestampMs     = "timestamp_ms"
	roFieldMaxInFlight     = "max_in_flight"
	roFieldBatching        = "batching"
	roFieldCompression     = "compression"
	roFieldIdempotentWrite = "idempotent_write"
	roFieldMaxMessageBytes = "max_message_bytes"
	roFieldTimeout         = "timeout"
	roFieldLinger          = "linger"
	roFieldSplitLines      = "split_lines"

	roFieldAllowAutoTopicCreation = "allow_auto_topic_creation"
	roFieldBrokerWriteMaxBytes    = "broker_write_max_bytes"
)

const (
	partitionerMurmur2     = "murmur2_hash"
	partitionerRoundRobin  = "round_robin"
	partitionerLeastBackup = "least_backup"
	partitionerManual      = "manual"
)

func redpandaOutputConfigSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Categories("Services").
		Summary("Writes a batch of messages to a Redpanda (Kafka API) broker and waits for acknowledgement before propagating it back to the input.").
		Description(`
Records are produced with the franz-go client using `+"`acks=all`"+`. Every write of a batch hands all its records to the asynchronous producer at once and waits until the broker acknowledged each of them; any failed record fails the whole write so Benthos retries it (at-least-once, duplicates possible unless `+"`idempotent_write`"+` can de-duplicate the retry of an in-flight request).

Writes from up to `+"`max_in_flight`"+` concurrent batches share the producer, which coalesces records per partition into request batches of up to `+"`max_message_bytes`"+` (see `+"`linger`"+`). The producer's buffer has no record cap of its own: what is buffered is bounded by `+"`max_in_flight`"+` times the batch size, so memory grows with both.

Message metadata matched by the `+"`metadata`"+` filter is written as record headers.

Compression defaults to `+"`none`"+`, which is fastest on local or fast networks; choose `+"`zstd`"+` or `+"`lz4`"+` to save network and disk.
`).
		Fields(clientFields()...).
		Fields(
			service.NewInterpolatedStringField(roFieldTopic).
				Description("A topic to write messages to."),
			service.NewInterpolatedStringField(roFieldKey).
				Description("An optional key to populate for each message.").
				Optional(),
			service.NewStringAnnotatedEnumField(roFieldPartitioner, map[string]string{
				partitionerMurmur2:     "Kafka's default hash algorithm that uses a 32-bit murmur2 hash of the key to compute which partition the record will be on; records without a key stick to one partition per batch.",
				partitionerRoundRobin:  "Round-robin's messages through all available partitions. This algorithm has lower throughput and causes higher CPU load on brokers, but can be useful if you want to ensure an even distribution of records to partitions.",
				partitionerLeastBackup: "Chooses the least backed up partition (the partition with the fewest amount of buffered records). Partitions are selected per batch.",
				partitionerManual:      "Manually select a partition for each message, requires the field `partition` to be specified.",
			}).
				Description("Override the default murmur2 hashing partitioner.").
				LintRule(enumLintRule(roFieldPartitioner, partitionerMurmur2, partitionerRoundRobin, partitionerLeastBackup, partitionerManual)).
				Default(partitionerMurmur2).
				Advanced(),
			service.NewInterpolatedStringField(roFieldPartition).
				Description("An optional explicit partition to set for each message. This field is only relevant when the `partitioner` is set to `manual`. The provided interpolation string must be a valid integer.").
				Example(`${! meta("partition") }`).
				Optional(),
			service.NewMetadataFilterField(roFieldMetadata).
				Description("Determine which (if any) metadata values should be added to messages as headers.").
				Optional(),
			service.NewInterpolatedStringField(roFieldTimestampMs).
				Description("An optional timestamp to set for each message expressed in milliseconds. When left empty, the current timestamp is used.").
				Example(`${! timestamp_unix_milli() }`).
				Example(`${! metadata("kafka_timestamp_ms") }`).
				Optional().
				Advanced(),
			service.NewOutputMaxInFlightField().Default(10),
			service.NewBatchPolicyField(roFieldBatching),
			service.NewStringEnumField(roFieldCompression, "none", "gzip", "snappy", "lz4", "zstd").
				Description("The compression codec of produced record batches. `none` is the default as it is the fastest on local networks; `zstd` gives the best ratio.").
				LintRule(enumLintRule(roFieldCompression, "none", "gzip", "snappy", "lz4", "zstd")).
				Default("none").
				Advanced(),
			service.NewBoolField(roFieldIdempotentWrite).
				Description("Enable the idempotent write producer option. This requires the `IDEMPOTENT_WRITE` permission on `CLUSTER` and can be disabled if this permission is not available. With it the client keeps up to 5 produce requests in flight per broker, without it 1 (franz-go's defaults), so disabling it can lower throughput to a distant broker.").
				Default(true).
				Advanced(),
			service.NewStringField(roFieldMaxMessageBytes).
				Description("The maximum space in bytes than an individual message may take, messages larger than this value will be rejected. This field corresponds to Kafka's `max.message.bytes`. It is also the size of the record batches the producer builds per partition (franz-go's `ProducerBatchMaxBytes`, whose default is Kafka's 1000012 bytes), so it must not exceed the broker's or topic's `max.message.bytes`.").
				Default("1MB").
				Example("100MB").
				Example("50mib").
				Advanced(),
			service.NewStringField(roFieldBrokerWriteMaxBytes).
				Description("The most bytes written to a broker connection in one produce request; it must be at least `max_message_bytes` and at most the broker's `socket.request.max.bytes` (Kafka's default is 100MiB). Between 1KiB and 1GiB. The default is franz-go's.").
				Default("100MiB").
				Advanced(),
			service.NewBoolField(roFieldAllowAutoTopicCreation).
				Description("Ask the broker to create a topic that does not exist when the output first looks it up; the broker must allow it too (Kafka's `auto.create.topics.enable`, Redpanda's `auto_create_topics_enabled`), and the topic gets the broker's default partitions and settings. Off by default, as in franz-go, so that a mistyped topic fails the write instead of quietly creating a topic (Redpanda Connect's default is true); create topics with their partitions and retention, as `trstream topics` does from redpanda/topics.yaml.").
				Default(false).
				Advanced(),
			service.NewDurationField(roFieldTimeout).
				Description("The maximum period of time to wait for message sends before abandoning the request and retrying.").
				Default("10s").
				Advanced(),
			service.NewBoolField(roFieldSplitLines).
				Description("Produce one record for each line of a message instead of one for the whole message. The message is split on `\\n` exactly as an `unarchive: {format: lines}` processor in front of the output would split it (an empty message, or an empty line, is an empty record), and it is acknowledged once the broker acknowledged every record of it. `topic`, `key`, `partition`, `timestamp_ms` and `metadata` are evaluated once per message and apply to each of its records, so a key taken from a line's content (`${! this.id }`) needs `unarchive` instead. This skips the work Benthos does for every message, which for a file of short lines (the `line_chunks` scanner) is most of the cost of producing it; Benthos' output metrics count messages, not records.").
				Default(false).
				Advanced(),
			service.NewDurationField(roFieldLinger).
				Description("How long a partition's records may wait for more records before a produce request is built; a full batch (`max_message_bytes`) is sent at once. Larger values build bigger requests at the cost of latency. The default is librdkafka's `linger.ms` (franz-go's own is 10ms).").
				Default("5ms").
				Advanced(),
		).
		LintRule(`root = if `+seedBrokersMissing+` {
  `+seedBrokersLintMessage+`
} else if this.partitioner == "manual" && this.partition.or("") == "" {
  "a partition must be specified when the partitioner is set to manual"
} else if this.partitioner != "manual" && this.partition.or("") != "" {
  "a partition cannot be specified unless the partitioner is set to manual"
}`).
		Example("Keyed writes", "Write each message keyed by a field of its content, forwarding every kafka_* metadata field as headers.", `
output:
  redpanda:
    seed_brokers: [ localhost:9092 ]
    topic: orders
    key: ${! this.customer_id }
    metadata:
      include_prefixes: [ "kafka_" ]
    batching:
      count: 1000
      period: 50ms
`)
}

func init() {
	service.MustRegisterBatchOutput("redpanda", redpandaOutputConfigSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			maxInFlight, err := conf.FieldMaxInFlight()
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			batchPolicy, err := conf.FieldBatchPolicy(roFieldBatching)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			w, err := newRedpandaWriterFromConfig(conf, mgr)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			return w, batchPolicy, maxInFlight, nil
		})
}

//------------------------------------------------------------------------------

type redpandaWriter struct {
	log        *service.Logger
	opts       []kgo.Opt
	topic      *interpField
	key        *interpField // nil when not set, as partition and timestamp
	partition  *interpField
	timestamp  *interpField
	meta       *service.MetadataFilter
	timeout    time.Duration
	lines      bool // split_lines: a record per line of a message
	idempotent bool

	mu     sync.RWMutex
	client *kgo.Client

	records recordPool   // see getRecords
	lastN   atomic.Int64 // records of the last batch: a new slice's size
}

func newRedpandaWriterFromConfig(conf *service.ParsedConfig, mgr *service.Resources) (*redpandaWriter, error) {
	w := &redpandaWriter{log: mgr.Logger()}

	opts, err := clientOptsFromConfig(conf)
	if err != nil {
		return nil, err
	}

	if w.topic, err = newInterpField(conf, roFieldTopic); err != nil {
		return nil, err
	}
	if w.key, err = newInterpField(conf, roFieldKey); err != nil {
		return nil, err
	}
	if w.partition, err = newInterpField(conf, roFieldPartition); err != nil {
		return nil, err
	}
	if w.timestamp, err = newInterpField(conf, roFieldTimestampMs); err != nil {
		return nil, err
	}
	if conf.Contains(roFieldMetadata) {
		if w.meta, err = conf.FieldMetadataFilter(roFieldMetadata); err != nil {
			return nil, err
		}
		if w.meta.IsEmpty() {
			w.meta = nil // matches nothing: skip walking every message's metadata
		}
	}

	partitioner, err := conf.FieldString(roFieldPartitioner)
	if err != nil {
		return nil, err
	}
	switch partitioner {
	case partitionerMurmur2:
		// Kafka compatible murmur2 for keyed records, sticky for unkeyed.
		opts = append(opts, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	case partitionerRoundRobin:
		opts = append(opts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	case partitionerLeastBackup:
		opts = append(opts, kgo.RecordPartitioner(kgo.LeastBackupPartitioner()))
	case partitionerManual:
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	default:
		return nil, fmt.Errorf("field %s: unknown partitioner %q", roFieldPartitioner, partitioner)
	}
	if (partitioner == partitionerManual) != (w.partition != nil) {
		return nil, fmt.Errorf("field %s: must be set if and only if field %s is %q", roFieldPartition, roFieldPartitioner, partitionerManual)
	}

	compression, err := conf.FieldString(roFieldCompression)
	if err != nil {
		return nil, err
	}
	var codec kgo.CompressionCodec
	switch compression {
	case "none":
		codec = kgo.NoCompression()
	case "gzip":
		codec = kgo.GzipCompression()
	case "snappy":
		codec = kgo.SnappyCompression()
	case "lz4":
		codec = kgo.Lz4Compression()
	case "zstd":
		codec = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("field %s: unknown codec %q", roFieldCompression, compression)
	}
	opts = append(opts, kgo.ProducerBatchCompression(codec))

	if w.idempotent, err = conf.FieldBool(roFieldIdempotentWrite); err != nil {
		return nil, err
	}
	if !w.idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}

	maxMessageBytes, err := bytesField(conf, roFieldMaxMessageBytes)
	if err != nil {
		return nil, err
	}
	writeMax, err := bytesField(conf, roFieldBrokerWriteMaxBytes)
	if err != nil {
		return nil, err
	}
	if writeMax < 1<<10 || writeMax > 1<<30 {
		return nil, fmt.Errorf("field %s: %d is out of range, expected between 1KiB and 1GiB", roFieldBrokerWriteMaxBytes, writeMax)
	}
	if writeMax < maxMessageBytes {
		return nil, fmt.Errorf("field %s: %d is less than field %s (%d)", roFieldBrokerWriteMaxBytes, writeMax, roFieldMaxMessageBytes, maxMessageBytes)
	}
	opts = append(opts, kgo.BrokerMaxWriteBytes(writeMax))
	autoCreate, err := conf.FieldBool(roFieldAllowAutoTopicCreation)
	if err != nil {
		return nil, err
	}
	if autoCreate {
		opts = append(opts, kgo.AllowAutoTopicCreation())
	}
	if w.timeout, err = conf.FieldDuration(roFieldTimeout); err != nil {
		return nil, err
	}
	if w.timeout <= 0 {
		return nil, fmt.Errorf("field %s: must be greater than zero", roFieldTimeout)
	}
	linger, err := conf.FieldDuration(roFieldLinger)
	if err != nil {
		return nil, err
	}
	if w.lines, err = conf.FieldBool(roFieldSplitLines); err != nil {
		return nil, err
	}

	w.opts = append(opts,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(maxMessageBytes),
		kgo.ProducerLinger(linger),
		kgo.ProduceRequestTimeout(w.timeout),
		// WriteBatch waits for its records, so Benthos already bounds
		// what is buffered to max_in_flight batches; franz-go's own
		// 10000 record cap would only make Produce block and serialize
		// concurrent batches.
		kgo.MaxBufferedRecords(math.MaxInt32),
	)
	return w, nil
}

//------------------------------------------------------------------------------

func (w *redpandaWriter) Connect(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.client != nil {
		return nil
	}
	cl, err := kgo.NewClient(w.opts...)
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return fmt.Errorf("pinging brokers: %w", err)
	}
	w.warmUp(ctx, cl)
	w.client = cl
	return nil
}

// WriteBatch hands every record to the async producer and returns once the
// broker acknowledged all of them, or with the first error.
func (w *redpandaWriter) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	w.mu.RLock()
	cl := w.client
	w.mu.RUnlock()
	if cl == nil {
		return service.ErrNotConnected
	}

	records, err := w.toRecords(batch)
	if err != nil {
		return err
	}
	// Every promise has run once Wait returns, so franz-go holds no
	// record any more and the slice can be reused.
	defer w.putRecords(records)

	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()

	// One promise for the whole batch: no closure per record.
	p := batchPromise{}
	p.wg.Add(len(records))
	promise := p.done
	for i := range records {
		cl.Produce(ctx, &records[i], promise)
	}
	p.wg.Wait()
	if p.err != nil {
		return fmt.Errorf("producing batch: %w", p.err)
	}
	return nil
}

// getRecords returns an empty slice with room for n records, from the
// pool: as large as the last batch's records at least, as with split_lines
// a batch of one message may make thousands of records.
func (w *redpandaWriter) getRecords(n int) []kgo.Record {
	return w.records.GetRecords(max(n, min(int(w.lastN.Load()), maxPooledRecords)))[:0]
}

// putRecords clears records, so they pin no message data, and pools them
// (the pool keeps no slice larger than maxPooledRecords).
func (w *redpandaWriter) putRecords(records []kgo.Record) {
	if records == nil {
		return
	}
	clear(records)
	w.records.PutRecords(records)
}

// batchPromise collects the outcome of every record of one WriteBatch.
type batchPromise struct {
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (p *batchPromise) done(_ *kgo.Record, err error) {
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
	}
	p.wg.Done()
}

// interpField is an interpolated field, and the metadata key it reads when
// it is one metadata value and nothing else (metaOnly).
type interpField struct {
	is   *service.InterpolatedString
	meta string
}

// newInterpField parses field name; nil when an optional field is not set.
func newInterpField(conf *service.ParsedConfig, name string) (*interpField, error) {
	if !conf.Contains(name) {
		return nil, nil
	}
	is, err := conf.FieldInterpolatedString(name)
	if err != nil {
		return nil, err
	}
	raw, _ := conf.FieldString(name)
	return &interpField{is: is, meta: metaOnly(raw)}, nil
}

// fieldExec resolves one interpolated field over a batch: a static string
// once, a metadata value by lookup, anything else through an executor built
// once per batch (the batch's TryInterpolatedString copies the whole batch
// on every call, which made a batch of n messages cost O(n²)).
type fieldExec struct {
	static    []byte
	staticStr string
	isStatic  bool
	meta      string
	batch     service.MessageBatch
	exec      *service.MessageBatchInterpolationExecutor
}

func newFieldExec(batch service.MessageBatch, f *interpField) fieldExec {
	if s, ok := f.is.Static(); ok {
		return fieldExec{static: []byte(s), staticStr: s, isStatic: true}
	}
	return fieldExec{meta: f.meta, batch: batch, exec: batch.InterpolationExecutor(f.is)}
}

// metaOnlyRE matches an interpolation that is one metadata value and
// nothing else, as in `${! meta("kafka_key") }` or `${! @kafka_key }`.
var metaOnlyRE = regexp.MustCompile(`^\$\{!\s*(?:meta\("([^"\\]+)"\)|@([A-Za-z0-9_]+))\s*\}$`)

// metaOnly returns the metadata key that interpolation raw consists of, or
// "". The usual key, `${! meta("kafka_key") }`, then costs a map lookup per
// record instead of a Bloblang evaluation (5% of the CPU of the end-to-end
// benchmark). Both forms give the value's string form (query.IToString),
// which is what MetaGet returns; TestKeyMetaFastPath checks it per type.
func metaOnly(raw string) string {
	m := metaOnlyRE.FindStringSubmatch(raw)
	if m == nil {
		return ""
	}
	return m[1] + m[2]
}

// metaValue is message i's value of the field's metadata key, when the
// field is one and the message has it; otherwise (a missing or empty value)
// the interpolation decides.
func (f *fieldExec) metaValue(i int) (string, bool) {
	if f.meta == "" {
		return "", false
	}
	v, ok := f.batch[i].MetaGet(f.meta)
	return v, ok && v != "" // meta() makes an empty value null
}

func (f *fieldExec) str(i int) (string, error) {
	if f.isStatic {
		return f.staticStr, nil
	}
	if v, ok := f.metaValue(i); ok {
		return v, nil
	}
	return f.exec.TryString(i)
}

func (f *fieldExec) bytes(i int) ([]byte, error) {
	if f.isStatic {
		return f.static, nil // records never modify their key
	}
	if v, ok := f.metaValue(i); ok {
		// Records never modify their key, so it may share the string's
		// bytes.
		return unsafe.Slice(unsafe.StringData(v), len(v)), nil
	}
	return f.exec.TryBytes(i)
}

// toRecords interpolates the per message fields into records, one per
// message or, with split_lines, one per line, in one pooled slice for the
// batch.
func (w *redpandaWriter) toRecords(batch service.MessageBatch) ([]kgo.Record, error) {
	records := w.getRecords(len(batch))
	topic := newFieldExec(batch, w.topic)
	var key, partition, timestamp fieldExec
	if w.key != nil {
		key = newFieldExec(batch, w.key)
	}
	if w.partition != nil {
		partition = newFieldExec(batch, w.partition)
	}
	if w.timestamp != nil {
		timestamp = newFieldExec(batch, w.timestamp)
	}
	// Without timestamp_ms every record gets the time of the write: read
	// the clock once per batch, not once per record in franz-go.
	now := time.Now()
	for i, msg := range batch {
		var rec kgo.Record // what every record of the message shares
		value, err := msg.AsBytes()
		if err != nil {
			return nil, err
		}
		if rec.Topic, err = topic.str(i); err != nil {
			return nil, fmt.Errorf("field %s interpolation: %w", roFieldTopic, err)
		}
		if w.key != nil {
			if rec.Key, err = key.bytes(i); err != nil {
				return nil, fmt.Errorf("field %s interpolation: %w", roFieldKey, err)
			}
		}
		if w.partition != nil {
			s, err := partition.str(i)
			if err != nil {
				return nil, fmt.Errorf("field %s interpolation: %w", roFieldPartition, err)
			}
			p, err := strconv.ParseInt(s, 10, 32)
			if err != nil || p < 0 {
				return nil, fmt.Errorf("field %s: invalid partition %q", roFieldPartition, s)
			}
			rec.Partition = int32(p)
		}
		if w.timestamp != nil {
			s, err := timestamp.str(i)
			if err != nil {
				return nil, fmt.Errorf("field %s interpolation: %w", roFieldTimestampMs, err)
			}
			ms, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("field %s: invalid timestamp %q", roFieldTimestampMs, s)
			}
			rec.Timestamp = time.UnixMilli(ms)
		} else {
			rec.Timestamp = now
		}
		if w.meta != nil {
			// The records of a message share its headers: franz-go only
			// reads them.
			_ = w.meta.Walk(msg, func(k, v string) error {
				rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
				return nil
			})
		}
		if !w.lines {
			rec.Value = value
			records = append(records, rec)
			continue
		}
		records = appendLines(records, &rec, value)
	}
	w.lastN.Store(int64(len(records)))
	return records, nil
}

// appendLines appends a copy of rec for each line of value, split on '\n'
// as bytes.Split splits it (unarchive's lines format): n newlines make n+1
// records, empty ones included.
func appendLines(records []kgo.Record, rec *kgo.Record, value []byte) []kgo.Record {
	for {
		j := bytes.IndexByte(value, '\n')
		if j < 0 {
			rec.Value = value
			return append(records, *rec)
		}
		rec.Value = value[:j:j]
		records = append(records, *rec)
		value = value[j+1:]
	}
}

func (w *redpandaWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	cl := w.client
	w.client = nil
	w.mu.Unlock()
	if cl == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		cl.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

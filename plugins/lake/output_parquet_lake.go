package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/trstream/trstream/plugins/txn"
	"github.com/trstream/trstream/plugins/validate"
)

const (
	plFieldPath              = "path"
	plFieldS3                = "s3"
	plFieldS3Endpoint        = "endpoint"
	plFieldS3Region          = "region"
	plFieldS3AccessKeyID     = "access_key_id"
	plFieldS3SecretAccessKey = "secret_access_key"
	plFieldS3ForcePathStyle  = "force_path_style"
	plFieldCatalogURI        = "catalog_uri"
	plFieldPartitionBy       = "partition_by"
	plFieldMaxRows           = "max_rows"
	plFieldMaxBytes          = "max_bytes"
	plFieldCommitInterval    = "commit_interval"
	plFieldMaxAge            = "max_age"
	plFieldRowGroupRows      = "row_group_rows"
	plFieldMaxOpenPartitions = "max_open_partitions"
	plFieldMaxBufferedBytes  = "max_buffered_bytes"
	plFieldCompression       = "compression"
	plFieldDedupeWindow      = "dedupe_window"
	plFieldMaxInFlight       = "max_in_flight"
	plFieldDeadLetter        = "dead_letter"
	plFieldBatching          = "batching"
)

// Metric names of the parquet_lake output.
const (
	MetricRows          = "lake_rows_total"
	MetricBytes         = "lake_bytes_total"
	MetricFiles         = "lake_files_total"
	MetricCommits       = "lake_commits_total"
	MetricCommitSeconds = "lake_commit_seconds"
	// MetricVisibleDelay is, per commit that lands rows, how long its
	// oldest row took from its Kafka timestamp (without one, from reaching
	// the output) to being visible in the table: the table's staleness
	// as readers see it.
	MetricVisibleDelay   = "lake_visible_delay_seconds"
	MetricOpenPartitions = "lake_open_partitions"
	MetricBufferedBytes  = "lake_buffered_bytes"
	MetricSkipped        = "lake_skipped_committed_total"
	MetricDuplicates     = "lake_skipped_duplicate_total"
	MetricLate           = "lake_late_landed_total"
	MetricDeadLettered   = "lake_dead_lettered_total"
	// MetricFenced counts generations not committed because another writer
	// of the consumer group already landed their partitions (a rebalance).
	MetricFenced = "lake_fenced_commits_total"
)

func parquetLakeOutputSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("Writes transactions exactly once to a Hive-partitioned Parquet lake with Iceberg metadata, on a local directory or S3.").
		Description(`
Each message must be one transaction in trstream's wire form (see the `+"`txn`"+` schema), or several, one per line (newline-delimited JSON, as the `+"`line_chunks`"+` scanner reads a file: no message per line is needed). A message that fails to decode is rejected (nacked) with the reason, as a whole: the line number names the bad line of a multi-line message. A message's Kafka offset covers all of its lines. A message that `+"`transaction_validate`"+` passed in this process, its body unchanged since, is not decoded again: the row validate decoded is taken (and checked against the lake's own limits if validate's differ).

Rows are split by partition (by default `+"`event_date=YYYY-MM-DD/type=T`"+`) and buffered per partition. A committer groups everything buffered during `+"`commit_interval`"+` (sooner when `+"`max_rows`, `max_bytes`, `max_open_partitions` or `max_buffered_bytes`"+` is reached, when half of `+"`max_in_flight`"+` batches wait on it, so that the other half keeps the input flowing during the commit, or when the input pauses: no batch for four times the recent gap between bursts of batches, at least 50ms, as when a file has been read to its end; batches less than 1ms apart are one burst, such as one fetch of several partitions), writes one zstd Parquet file per partition with rows sorted by `+"`event_time`"+` (rolling at `+"`max_rows`/`max_bytes`"+`), and commits all of them in ONE Iceberg snapshot (table `+"`trstream.transactions`"+`), together with the Kafka offsets of the messages it holds.

### File layout

The Parquet files come from trstream's own encoder for the transaction schema (data pages v2): strings that repeat within a file (type, status, currency, country...) are dictionary-encoded, the others and the dictionaries zstd-compressed; `+"`event_time`, `amount` and `balance_after`"+` are DELTA_BINARY_PACKED and not compressed further (bit-packed, sorted times and amounts are smaller than zstd makes them, and readers skip a decompression). Every row group carries min, max and null count of each column; there is no page index.

### Group commit and delivery guarantees

A batch is acknowledged only once the snapshot holding its rows is committed, so consumer offsets never advance past data that is not durable. Many batches wait for the same commit: keep `+"`max_in_flight`"+` high (default 64) so the input keeps flowing while a commit is in progress, and higher still for small batches, so that a `+"`commit_interval`"+` of them fits: the `+"`redpanda`"+` input yields one batch per partition fetched, 480 batches in 2s from a 12-partition topic at 1,000 events/s (`+"`pipelines/lake.yaml`"+` sets 1024). Buffered rows stay bounded by `+"`max_buffered_bytes`"+`; past it, arriving batches wait, so up to `+"`max_in_flight`"+` batches can be held on top.

Messages carrying `+"`kafka_topic`, `kafka_partition` and `kafka_offset`"+` metadata are deduplicated by offset: the snapshot summary records, per topic partition, the next offset to consume, and a message below the offset committed by an earlier run (or by another writer of the same table) is a replay, skipped and acknowledged (metric `+"`"+MetricSkipped+"`"+`). Benthos does not keep a partition's batches in order (processor threads, `+"`max_in_flight`"+`, replayed nacks), so a batch can also arrive after a later one committed the offset past it, never landed: below the committed offset, as far back as the id window (below) reaches, the output tells the two apart by `+"`transaction_id`"+`, skipping an id it holds and landing any other (metric `+"`"+MetricLate+"`"+`). Further back, offsets alone decide, for the log the lake read: a log that ends below the committed offset (as `+"`kafka_lag`"+` tells), or one whose records below it are newer (`+"`kafka_timestamp_ms`"+`) than any the lake committed there (the snapshot keeps the newest per partition), is another log of that name (the topic was deleted and created again, or the broker lost its log, as an in-memory broker does on restart), so its partition's records are refused with an error naming the partition, never skipped, and stay in the topic until an operator resets the topic's offsets in the lake (`+"`trstream lake reset-offsets --topic T`"+`, with the lake's writers stopped) or restores the log; within the window such a log's records simply land. Every message, with or without Kafka metadata, is also deduplicated by `+"`transaction_id`"+` within the last `+"`dedupe_window`"+` ids, since at-least-once producers write the same event at two offsets; on start the window is filled with the ids of the newest committed files, and after each commit with the ids other writers of the table appended meanwhile, so this holds across restarts and rebalances too (a commit that would land an id another writer landed since the last look, as after a rebalance, is fenced like one that overlaps its offsets: its batches are replayed, and the id skipped); compaction removes any duplicate older than the window. With `+"`dedupe_window: 0`"+` offsets alone decide, and a late batch below the committed offset is skipped.

Files that were written but never committed (a crash between the two) are invisible to the table; `+"`trstream lake`"+` tooling and `+"`CleanOrphans`"+` delete them.

### Catalog

Commits go through an Iceberg SQL catalog on a SQLite file, an atomic compare-and-swap that lets several writers and a compactor commit concurrently, also from several processes on one host. A local lake keeps it at `+"`<path>/_catalog/catalog.db`"+`; an S3 lake at `+"`catalog_uri`"+`.

### Reading the lake

`+"```sql"+`
SELECT * FROM read_parquet('<path>/data/**/*.parquet', hive_partitioning = true);
`+"```"+`
`).
		Fields(
			service.NewStringField(plFieldPath).
				Description("Where the lake lives: a directory, or `s3://bucket/prefix`. Pipelines usually set `${TRSTREAM_LAKE:./lake}`.").
				Examples("./lake", "${TRSTREAM_LAKE:./lake}", "s3://data/trstream"),
			lakeS3Field(),
			service.NewStringField(plFieldCatalogURI).
				Description("SQLite file of the Iceberg catalog. Empty: `<path>/_catalog/catalog.db` for a local lake, `"+DefaultS3CatalogURI+"` for S3. Writers and compactors of one lake must share it.").
				Default("").Example("/var/lib/trstream/catalog.db").Advanced(),
			service.NewStringListField(plFieldPartitionBy).
				Description("Partition keys, in directory order: `event_date` (day of event_time), `event_hour` (hour of event_time), or the name of a string or boolean column (identity). Fixed when the table is created.").
				Default(DefaultPartitionBy).Example([]string{"event_date", "type"}).Example([]string{"event_hour", "currency"}),
			service.NewIntField(plFieldMaxRows).
				Description("Roll to a new file after this many rows of one partition; reaching it also triggers an early commit. 0 disables.").
				Default(1_000_000),
			service.NewIntField(plFieldMaxBytes).
				Description("Roll to a new file after about this many (uncompressed) bytes of one partition; reaching it also triggers an early commit. 0 disables.").
				Default(256<<20),
			service.NewDurationField(plFieldCommitInterval).
				Description("Group-commit period: how long rows may wait in buffers before they are written and committed. Batch latency is about this long; shorter gives more, smaller files.").
				Default("2s").Example("500ms").Example("10s"),
			service.NewDurationField(plFieldMaxAge).
				Description("Alias of `commit_interval` (the age at which an open file is closed and committed); when both are set the shorter wins.").
				Optional().Advanced(),
			service.NewIntField(plFieldRowGroupRows).
				Description("Maximum rows per Parquet row group.").
				Default(128<<10).Advanced(),
			service.NewIntField(plFieldMaxOpenPartitions).
				Description("Commit early when this many partitions have buffered rows, bounding open files.").
				Default(1000).Advanced(),
			service.NewIntField(plFieldMaxBufferedBytes).
				Description("Memory bound of buffered rows (estimated). When reached, buffers are committed early and new batches wait; nothing is dropped.").
				Default(256<<20).Advanced(),
			service.NewStringEnumField(plFieldCompression, Compressions...).
				Description("Parquet compression codec.").
				Default("zstd"),
			service.NewIntField(plFieldDedupeWindow).
				Description("Skip a transaction_id seen among the last this many committed or pending ids (whole commits, and one commit more), so an event produced twice (at two offsets, or with no Kafka metadata) lands once. 0 disables.").
				Default(100_000).Advanced(),
			service.NewOutputField(plFieldDeadLetter).
				Description("Where the messages that must not land go, as Kafka Connect's sinks send bad records to a dead-letter topic: those an earlier processor flagged with an error (as `transaction_validate` flags an invalid transaction, with its reason in `dlq_*` metadata) and those that are not transactions, which get the same `dlq_reason`, `dlq_field`, `dlq_error` and `dlq_source_*` metadata here. A batch is acknowledged once its rows are committed and its dead letters written; if this output fails, the batch is nacked, and when it comes again its committed rows are skipped. It does in the output what a `fallback` over `reject_errored` does in the config, without the per-message copies those brokers make (`pipelines/lake.yaml`). Without it, a message that is not a transaction fails its batch, and a flagged one is written like any other (wrap the output in `reject_errored` to refuse those).").
				Optional(),
			service.NewOutputMaxInFlightField().Default(64),
			service.NewBatchPolicyField(plFieldBatching),
		).
		Example("Local lake", "Consume validated transactions into a local lake.", `
output:
  parquet_lake:
    path: ${TRSTREAM_LAKE:./lake}
    commit_interval: 2s
`).
		Example("Dead-letter topic", "Validate, land the valid transactions, and send the invalid ones to a topic with their reason in its headers.", `
pipeline:
  processors:
    - transaction_validate: {}
output:
  parquet_lake:
    path: ${TRSTREAM_LAKE:./lake}
    dead_letter:
      redpanda:
        seed_brokers: [ localhost:9092 ]
        topic: transactions.dlq
        key: ${! meta("kafka_key") }
        metadata:
          include_prefixes: [ "dlq_" ]
`).
		Example("S3 lake", "A lake on MinIO with the catalog on local disk.", `
output:
  parquet_lake:
    path: s3://lake/trstream
    s3:
      endpoint: http://localhost:9000
      force_path_style: true
    catalog_uri: ./.trstream/catalog.db
`)
}

func init() {
	service.MustRegisterBatchOutput("parquet_lake", parquetLakeOutputSpec(),
		func(conf *service.ParsedConfig, mgr *service.Resources) (service.BatchOutput, service.BatchPolicy, int, error) {
			o, err := newParquetLakeOutput(conf, mgr)
			if err != nil {
				return nil, service.BatchPolicy{}, 0, err
			}
			pol, err := conf.FieldBatchPolicy(plFieldBatching)
			if err != nil {
				return nil, pol, 0, err
			}
			mif, err := conf.FieldMaxInFlight()
			if err != nil {
				return nil, pol, 0, err
			}
			return o, pol, mif, nil
		})
}

// lakeConfig is the parsed, validated output configuration.
type lakeConfig struct {
	loc               Location
	catalogURI        string
	partitionBy       []string
	part              Partitioning
	write             WriteOptions
	commitInterval    time.Duration
	maxOpenPartitions int
	maxBufferedBytes  int64
	dedupeWindow      int
	maxInFlight       int // batches the pipeline may have waiting on us (0: unknown)
}

func fieldErr(field string, err error) error { return fmt.Errorf("field %s: %w", field, err) }

func parseLakeConfig(conf *service.ParsedConfig) (c lakeConfig, err error) {
	path, err := conf.FieldString(plFieldPath)
	if err != nil {
		return c, err
	}
	s3, err := parseLakeS3(conf)
	if err != nil {
		return c, err
	}
	if c.loc, err = ParseLocation(path, s3); err != nil {
		return c, fieldErr(plFieldPath, err)
	}
	if c.catalogURI, err = conf.FieldString(plFieldCatalogURI); err != nil {
		return c, err
	}
	if c.partitionBy, err = conf.FieldStringList(plFieldPartitionBy); err != nil {
		return c, err
	}
	if len(c.partitionBy) == 0 {
		c.partitionBy = DefaultPartitionBy
	}
	if c.part, err = ParsePartitioning(c.partitionBy); err != nil {
		return c, fieldErr(plFieldPartitionBy, err)
	}
	positive := func(field string, allowZero bool) (int, error) {
		v, err := conf.FieldInt(field)
		if err != nil {
			return 0, err
		}
		if v < 0 || (v == 0 && !allowZero) {
			return 0, fieldErr(field, fmt.Errorf("must be positive, got %d", v))
		}
		return v, nil
	}
	if c.write.MaxRows, err = positive(plFieldMaxRows, true); err != nil {
		return c, err
	}
	mb, err := positive(plFieldMaxBytes, true)
	if err != nil {
		return c, err
	}
	c.write.MaxBytes = int64(mb)
	if c.write.RowGroupRows, err = positive(plFieldRowGroupRows, false); err != nil {
		return c, err
	}
	if c.maxOpenPartitions, err = positive(plFieldMaxOpenPartitions, false); err != nil {
		return c, err
	}
	mbb, err := positive(plFieldMaxBufferedBytes, false)
	if err != nil {
		return c, err
	}
	c.maxBufferedBytes = int64(mbb)
	if c.dedupeWindow, err = positive(plFieldDedupeWindow, true); err != nil {
		return c, err
	}
	if c.write.Compression, err = conf.FieldString(plFieldCompression); err != nil {
		return c, err
	}
	if _, err := Codec(c.write.Compression); err != nil {
		return c, fieldErr(plFieldCompression, err)
	}
	if c.commitInterval, err = conf.FieldDuration(plFieldCommitInterval); err != nil {
		return c, err
	}
	if c.commitInterval <= 0 {
		return c, fieldErr(plFieldCommitInterval, errors.New("must be positive"))
	}
	if conf.Contains(plFieldMaxAge) {
		age, err := conf.FieldDuration(plFieldMaxAge)
		if err != nil {
			return c, err
		}
		if age <= 0 {
			return c, fieldErr(plFieldMaxAge, errors.New("must be positive"))
		}
		c.commitInterval = min(c.commitInterval, age)
	}
	if mif, err := conf.FieldMaxInFlight(); err == nil {
		if mif < 1 {
			return c, fieldErr(plFieldMaxInFlight, errors.New("must be at least 1"))
		}
		c.maxInFlight = mif
	}
	return c, nil
}

type lakeMetrics struct {
	rows, bytes, files, commits, skipped, dups, late, fenced, dead *service.MetricCounter
	commitTime, visibleDelay                                       *service.MetricTimer
	openParts, buffered                                            *service.MetricGauge
}

// lakeOutput is the parquet_lake output. See committer.go for the group
// commit.
type lakeOutput struct {
	cfg lakeConfig
	log *service.Logger
	m   lakeMetrics
	dlq *service.OwnedOutput // dead_letter, if set

	mu       sync.Mutex
	cond     *sync.Cond // signalled when buffered bytes drop
	tbl      *Table
	open     *gen                     // the generation batches join
	inflight *gen                     // the generation being committed, if any
	kicked   bool                     // commit the open generation now
	lastAdd  time.Time                // when a batch last joined a generation
	gap      time.Duration            // moving average of the time between batches
	failed   error                    // set at shutdown: every later batch fails
	skip     Offsets                  // skip offsets below these (committed by others or earlier runs)
	maxTS    Offsets                  // the newest record timestamp committed below each skip offset (PropMaxTimestamps)
	foreign  map[topicPartition]error // partitions whose log is not the one committed (checkReplays)
	ids      *idSet                   // committed and pending transaction ids
	genSeq   uint32                   // the last generation's number
	holes    holes                    // offsets of fenced rows not landed yet
	floors   idFloors                 // how far back the id window reaches (late.go)
	lateFrom Offsets                  // below skip, ids decide from these offsets up; nil: nowhere

	wake     chan struct{}
	closing  chan struct{}
	loopDone chan struct{}
	ctx      context.Context // cancelled by Close after its deadline
	cancel   context.CancelFunc
}

func newParquetLakeOutput(conf *service.ParsedConfig, mgr *service.Resources) (*lakeOutput, error) {
	cfg, err := parseLakeConfig(conf)
	if err != nil {
		return nil, err
	}
	m := mgr.Metrics()
	o := &lakeOutput{
		cfg: cfg,
		log: mgr.Logger(),
		m: lakeMetrics{
			rows:         m.NewCounter(MetricRows),
			bytes:        m.NewCounter(MetricBytes),
			files:        m.NewCounter(MetricFiles),
			commits:      m.NewCounter(MetricCommits),
			skipped:      m.NewCounter(MetricSkipped),
			dups:         m.NewCounter(MetricDuplicates),
			late:         m.NewCounter(MetricLate),
			fenced:       m.NewCounter(MetricFenced),
			dead:         m.NewCounter(MetricDeadLettered),
			commitTime:   m.NewTimer(MetricCommitSeconds),
			visibleDelay: m.NewTimer(MetricVisibleDelay),
			openParts:    m.NewGauge(MetricOpenPartitions),
			buffered:     m.NewGauge(MetricBufferedBytes),
		},
	}
	// Counters that may stay at zero are still exported from the start, so
	// dashboards and alerts see 0 rather than no series.
	for _, c := range []*service.MetricCounter{o.m.rows, o.m.bytes, o.m.files, o.m.commits, o.m.skipped, o.m.dups, o.m.late, o.m.fenced, o.m.dead} {
		c.Incr(0)
	}
	if conf.Contains(plFieldDeadLetter) {
		if o.dlq, err = conf.FieldOutput(plFieldDeadLetter); err != nil {
			return nil, fieldErr(plFieldDeadLetter, err)
		}
		// Started now: an owned output never started would not finish
		// closing.
		if err := o.dlq.Prime(); err != nil {
			return nil, fieldErr(plFieldDeadLetter, err)
		}
	}
	o.cond = sync.NewCond(&o.mu)
	return o, nil
}

// Connect opens (or creates) the table, loads the committed offsets and
// starts the committer.
func (o *lakeOutput) Connect(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tbl != nil {
		return nil
	}
	tbl, err := Open(ctx, o.cfg.loc, WithCatalogURI(o.cfg.catalogURI), WithPartitionBy(o.cfg.partitionBy))
	if errors.Is(err, ErrPartitioning) {
		return fieldErr(plFieldPartitionBy, fmt.Errorf("%w; a table's partitioning cannot change: use its keys, or another path", err))
	}
	if err != nil {
		return err
	}
	offs, maxTS, err := tbl.positions(ctx)
	if err != nil {
		tbl.Close()
		return err
	}
	o.tbl = tbl
	o.skip, o.maxTS = offs, maxTS
	o.holes = holes{}
	o.ids = newIDSet(o.cfg.dedupeWindow)
	o.genSeq = firstGenSeq
	// Warm the id window from the newest committed rows, so an event
	// produced again across this restart (or a rebalance) still lands once.
	recent, floor, err := tbl.RecentIDs(ctx, o.cfg.dedupeWindow)
	if err != nil {
		o.log.Warnf("parquet_lake: id window starts empty: %v", err)
		floor = offs
	}
	for _, k := range recent {
		o.ids.addCommitted(k)
	}
	if o.cfg.dedupeWindow > 0 {
		// RecentIDs may have loaded a newer table than offs.
		loaded, _ := tbl.lastPositions()
		o.floors = newIDFloors(floor, offs.Merge(loaded))
		o.lateFrom = o.floors.floor(o.ids.reach)
	}
	o.open = o.newGenLocked(nil)
	o.wake = make(chan struct{}, 1)
	o.closing = make(chan struct{})
	o.loopDone = make(chan struct{})
	o.ctx, o.cancel = context.WithCancel(context.Background())
	go o.loop()
	o.log.Infof("parquet_lake: writing to %s (%d committed topic partitions, %d recent ids)", o.cfg.loc, len(offs.Sorted()), o.ids.size())
	return nil
}

// item is one decoded message, with what add needs precomputed outside
// the output's lock.
type item struct {
	t         *txn.Transaction // validate's row (Take) or one of decoded.own
	key       idKey
	bytes     int64 // RowBytes(&t)
	dir       int   // index into decoded.dirs
	topic     string
	partition int32
	offset    int64
	ts        int64 // kafka_timestamp_ms; -1: none
	kafka     bool
}

// decoded is a batch's valid rows and the partition directories they fall
// in.
type decoded struct {
	items  []item
	ends   []logEnd          // where each run of one topic partition's log ended
	own    []txn.Transaction // rows decoded here (newRow)
	taken  int               // rows validate handed over
	rows   int               // the batch's rows, as counted before decoding
	dirs   []string
	bytes  int64
	dirIdx map[string]int // index in dirs
	dirBuf []byte
	dirCache
	dead service.MessageBatch // with dead_letter: the messages that go there
}

func metaInt(m *service.Message, key string) (int64, bool) {
	v, ok := m.MetaGetMut(key)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		return int64(x), true
	case float64:
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	case []byte:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// kafkaMeta is a message's Kafka position, if it has one.
type kafkaMeta struct {
	topic     string
	partition int32
	offset    int64
	ts        int64 // the record's timestamp in ms; -1: none
	ok        bool
}

func kafkaOf(m *service.Message) (k kafkaMeta) {
	if topic, ok := m.MetaGet("kafka_topic"); ok && topic != "" {
		p, okp := metaInt(m, "kafka_partition")
		off, oko := metaInt(m, "kafka_offset")
		if okp && oko {
			k = kafkaMeta{topic, int32(p), off, -1, true}
			if ts, ok := metaInt(m, "kafka_timestamp_ms"); ok && ts >= 0 {
				k.ts = ts
			}
		}
	}
	return k
}

// logEnd is where a topic partition's log ended (its high watermark) when
// a run of the batch's messages was fetched from it.
type logEnd struct {
	topic     string
	partition int32
	first     int64 // the run's first offset
	end       int64
}

// noteLogEnd records, at the first message of each run of one topic
// partition, where its log ends: offset + kafka_lag + 1. Messages without
// kafka_lag record none.
func (d *decoded) noteLogEnd(m *service.Message, k kafkaMeta) {
	if !k.ok {
		return
	}
	if n := len(d.ends); n > 0 && d.ends[n-1].topic == k.topic && d.ends[n-1].partition == k.partition {
		return
	}
	if lag, ok := metaInt(m, "kafka_lag"); ok && lag >= 0 {
		d.ends = append(d.ends, logEnd{k.topic, k.partition, k.offset, k.offset + lag + 1})
	}
}

// ndjson reports whether b holds newline-delimited transactions: its
// first line is a whole JSON object (a pretty-printed one starts with a
// line of its own, "{").
func ndjson(b []byte) bool {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false
	}
	line := bytes.TrimSpace(b[:i])
	return len(line) >= 2 && line[0] == '{' && line[len(line)-1] == '}'
}

// decodeBatch decodes a batch and derives each row's partition, size and
// id key; it runs concurrently for every batch in flight. A message holds
// one transaction, or several, one per line (NDJSON: a file read in chunks
// of lines needs no message per line). The rows' strings point into the
// messages' bytes (no copy): the batch holds them, unchanged, until the
// commit that releases it.
func (o *lakeOutput) decodeBatch(batch service.MessageBatch) (*decoded, *service.BatchError) {
	rows := 0
	for _, m := range batch {
		if b, err := m.AsBytes(); err == nil && ndjson(b) {
			rows += bytes.Count(b, []byte{'\n'}) + 1
		} else {
			rows++
		}
	}
	d := &decoded{items: make([]item, 0, rows), rows: rows, dirIdx: map[string]int{}}
	var berr *service.BatchError
	fail := func(i int, err error) {
		if o.dlq != nil {
			validate.MarkInvalid(batch[i], fmt.Errorf("parquet_lake: %w", err))
			d.dead = append(d.dead, batch[i])
			return
		}
		if berr == nil {
			berr = service.NewBatchError(batch, errors.New("parquet_lake: messages are not valid transactions"))
		}
		berr.Failed(i, fmt.Errorf("parquet_lake: %w", err))
	}
	now := time.Now()
	for i, m := range batch {
		if o.dlq != nil && m.GetError() != nil {
			d.dead = append(d.dead, m)
			continue
		}
		b, err := m.AsBytes()
		if err != nil {
			fail(i, err)
			continue
		}
		k := kafkaOf(m)
		d.noteLogEnd(m, k)
		if o.takeValidated(d, b, k, now) {
			continue
		}
		first := len(d.items)
		if ndjson(b) {
			line := 0
			for rest := b; len(rest) > 0 && err == nil; {
				l := rest
				if j := bytes.IndexByte(rest, '\n'); j >= 0 {
					l, rest = rest[:j], rest[j+1:]
				} else {
					rest = nil
				}
				line++
				if len(bytes.TrimSpace(l)) == 0 {
					continue
				}
				if err = o.decodeRow(d, l, k, now); err != nil {
					err = fmt.Errorf("line %d: %w", line, err)
				}
			}
			if err == nil {
				continue
			}
			// Not NDJSON after all? The message as one transaction.
			d.items = d.items[:first]
			if o.decodeRow(d, b, k, now) == nil {
				continue
			}
			fail(i, err)
			continue
		}
		if err := o.decodeRow(d, b, k, now); err != nil {
			fail(i, err)
		}
	}
	return d, berr
}

// decodeRow decodes one transaction into a new item of d, validating
// against now; on error it adds none.
func (o *lakeOutput) decodeRow(d *decoded, b []byte, k kafkaMeta, now time.Time) error {
	t := d.newRow()
	if err := txn.DefaultLimits.DecodeInto(b, now, t, true); err != nil {
		d.own = d.own[:len(d.own)-1]
		return err
	}
	o.addRow(d, t, k)
	return nil
}

// newRow returns room for a row the lake decodes itself. The rows of a
// batch share slabs, made when needed. Without validate upstream, the
// first slab holds the rest of the batch. Once validate has handed rows
// over, only the few it misses (a full bucket of its table) come here, so a
// slab holds 16 and each next one twice the last: a batch should not
// allocate room for all its rows for one miss. Rows are never moved: items
// point at them.
func (d *decoded) newRow() *txn.Transaction {
	if len(d.own) == cap(d.own) {
		n := d.rows - len(d.items)
		if d.taken > 0 {
			n = min(n, max(2*cap(d.own), 16))
		}
		d.own = make([]txn.Transaction, 0, max(n, 1))
	}
	d.own = d.own[:len(d.own)+1]
	return &d.own[len(d.own)-1]
}

// addRow adds a row decoded elsewhere to d; the item points at it, so it
// must not change afterwards.
func (o *lakeOutput) addRow(d *decoded, t *txn.Transaction, k kafkaMeta) {
	d.items = append(d.items, item{t: t})
	o.derive(d, &d.items[len(d.items)-1], k)
}

// takeValidated adds the row transaction_validate decoded from these very
// bytes in this process, if it left one (see validate.Take), instead of
// decoding them again; the lake's own limits apply to it unless they were
// validate's too.
func (o *lakeOutput) takeValidated(d *decoded, b []byte, k kafkaMeta, now time.Time) bool {
	if t, strict := validate.Take(b); t != nil && (strict || txn.DefaultLimits.Validate(t, now) == nil) {
		d.taken++
		o.addRow(d, t, k)
		return true
	}
	return false
}

// derive fills in what add needs of an item: its Kafka position, id key,
// size and partition directory.
func (o *lakeOutput) derive(d *decoded, it *item, k kafkaMeta) {
	it.ts = -1
	if k.ok {
		it.topic, it.partition, it.offset, it.ts, it.kafka = k.topic, k.partition, k.offset, k.ts, true
	}
	it.key = keyOf(it.t.TransactionID)
	it.bytes = RowBytes(it.t)
	d.bytes += it.bytes
	idx, slot := d.dirCache.lookup(&o.cfg.part, it.t)
	if idx < 0 {
		d.dirBuf = o.cfg.part.AppendDir(d.dirBuf[:0], it.t)
		var ok bool
		if idx, ok = d.dirIdx[string(d.dirBuf)]; !ok {
			idx = len(d.dirs)
			d.dirs = append(d.dirs, string(d.dirBuf))
			d.dirIdx[d.dirs[idx]] = idx
		}
		d.dirCache.store(&o.cfg.part, it.t, slot, idx)
	}
	it.dir = idx
}

// WriteBatch hands the batch's rows to the partition buffers and blocks
// until the snapshot holding them is committed.
func (o *lakeOutput) WriteBatch(ctx context.Context, batch service.MessageBatch) error {
	d, berr := o.decodeBatch(batch)
	g, err := o.add(ctx, d)
	if err != nil {
		return err
	}
	// Dead letters are written while the rows wait for their commit; the
	// batch is acked only when both are done.
	var dlqErr error
	if len(d.dead) > 0 {
		dlqErr = o.deadLetter(ctx, d.dead)
	}
	if g != nil {
		select {
		case <-g.done:
			if g.err != nil {
				return g.err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if dlqErr != nil {
		return dlqErr
	}
	if berr != nil {
		return berr
	}
	return nil
}

// deadLetter writes dead to the dead_letter output and waits for its
// acknowledgement.
func (o *lakeOutput) deadLetter(ctx context.Context, dead service.MessageBatch) error {
	if err := o.dlq.WriteBatch(ctx, dead); err != nil {
		return fmt.Errorf("parquet_lake: %s: %w", plFieldDeadLetter, err)
	}
	o.m.dead.Incr(int64(len(dead)))
	return nil
}

// Close commits what is buffered and stops. If ctx ends first, pending
// batches fail (they are nacked and redelivered).
func (o *lakeOutput) Close(ctx context.Context) error {
	err := o.closeTable(ctx)
	// After the table, when no batch is left to write a dead letter. Each
	// write waited for its ack, so only one whose batch was cancelled can
	// be left: its retries are not worth holding the shutdown for long.
	if o.dlq != nil {
		dctx, cancel := context.WithTimeout(ctx, dlqCloseWait)
		defer cancel()
		if derr := o.dlq.Close(dctx); err == nil && derr != nil {
			err = fmt.Errorf("parquet_lake: closing %s: %w", plFieldDeadLetter, derr)
		}
	}
	return err
}

// dlqCloseWait bounds the dead_letter output's shutdown.
const dlqCloseWait = 10 * time.Second

func (o *lakeOutput) closeTable(ctx context.Context) error {
	o.mu.Lock()
	tbl := o.tbl
	if tbl == nil {
		o.mu.Unlock()
		return nil
	}
	select {
	case <-o.closing:
	default:
		close(o.closing)
	}
	o.mu.Unlock()
	select {
	case <-o.loopDone:
	case <-ctx.Done():
		o.cancel()
		<-o.loopDone
	}
	o.cancel()
	o.mu.Lock()
	o.tbl = nil
	o.mu.Unlock()
	return tbl.Close()
}

// Package lake is trstream's Parquet lake: Hive-partitioned Parquet files
// with Iceberg metadata, on a local directory or S3, written exactly once by
// the parquet_lake Benthos output and maintained by other tools through the
// Table API.
//
// # Layout
//
//	<lake>/data/event_date=YYYY-MM-DD/type=T/part-<uuidv7>.parquet  data (Hive layout)
//	<lake>/metadata/…                                               Iceberg metadata
//	<lake>/_catalog/catalog.db                                      SQLite catalog (local lakes)
//
// Plain readers use read_parquet('<lake>/data/**/*.parquet',
// hive_partitioning = true); Iceberg readers use the table
// trstream.transactions, which references the same files. A file is part
// of the lake only once a snapshot references it: use Table.Files, not a
// directory listing, when exactness matters (a crash can leave uncommitted
// files behind until CleanOrphans removes them).
//
// # Catalog
//
// Commits go through iceberg-go's sql catalog on SQLite (bun's sqliteshim:
// pure-Go modernc.org/sqlite on linux/amd64), whose
// "UPDATE … WHERE metadata_location = <old>" is an atomic compare-and-swap,
// so several writers and a compactor may commit at once, also from several
// processes on one host. A local lake keeps the file at
// <lake>/_catalog/catalog.db; an S3 lake at WithCatalogURI (default
// ./.trstream/catalog.db, rows keyed by the lake URI).
//
// # API for other packages
//
//	ParseLocation(path string, s3 S3Options) (Location, error)
//	Open(ctx, loc Location, opts ...Option) (*Table, error)  // WithCatalogURI, WithPartitionBy (else the table's own keys)
//	(*Table) Files(ctx) ([]DataFile, error)                 // current snapshot, sorted by path
//	(*Table) Snapshots(ctx) ([]Snapshot, error)             // oldest first
//	(*Table) Offsets(ctx) (Offsets, error)                  // topic → partition → next offset
//	(*Table) WriteFiles(ctx, rows, WriteOptions) ([]DataFile, error) // partition, sort, write; not committed
//	(*Table) Append(ctx, files []DataFile, offsets Offsets) error   // one snapshot; offsets merged; conflict-retrying
//	(*Table) Replace(ctx, remove, add []DataFile) error             // compaction; conflict-retrying; keeps appends and offsets
//	(*Table) ResetOffsets(ctx, topic) (map[int32]int64, error)      // drops a recreated topic's offsets; writers stopped
//	(*Table) CleanOrphans(ctx, olderThan) ([]string, error)
//	(*Table) Storage() Storage   // Create (atomic publish) / Open (ReaderAt) / List / Delete / URI
//	(*Table) Iceberg(ctx) (*table.Table, error)
//	ReadFile(ctx, Storage, relPath) ([]txn.Transaction, error)
//	PartitionOf(path) map[string]string, NewFilePath(dir), WriteParquet, Codec, SortByEventTime
//
// DataFile.Path is the full URI (s3://…) or absolute local path, exactly as
// the table references it; Location.Rel turns it into a Storage path.
//
// # Exactly once
//
// The output acknowledges a batch only after the snapshot holding its rows
// is committed, and each snapshot's summary carries the Kafka offsets
// (trstream.kafka-offsets, merged with the previous snapshot's so writers
// of one consumer group keep each other's partitions). On Connect and after
// every commit the output loads them and skips messages below the offsets
// committed by an earlier run or another writer. This is exact as long as
// messages of one Kafka partition reach the output in offset order up to
// the group-commit granularity (true for one consumer per partition with
// ordinary pipelines); messages without Kafka metadata are deduplicated by
// transaction_id within dedupe_window.
package lake

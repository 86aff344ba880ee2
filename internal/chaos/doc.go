// Package chaos is trstream's system-level truth and chaos suite. It has no
// code of its own outside its tests: they build the real trstream binary
// once, run the real pipelines (pipelines/ingest.yaml, lake.yaml) as child
// processes against a kfake broker and, for S3, a gofakes3 server on
// loopback, kill and restart them, break the broker, the object store and
// the local disk, and then compare what the generator produced (read back
// from the transactions topic) with the lake's current snapshot and the
// transactions.dlq topic.
//
//	go test -count=1 -v ./internal/chaos/ 2>&1 | grep -E 'scenario=|--- '
//
// Each scenario logs one line
//
//	scenario=<name> produced=… valid=… invalid=… in_lake=… lost=… duplicated=… dlq=…
//
// and fails unless lost is 0 and no record of the topic landed twice (and,
// where no crash can duplicate a dead letter, dlq equals invalid). An event
// the topic holds twice (injected duplicates, a re-run producer) may land
// twice when a restart or rebalance falls between its copies, outside the
// writer's id window; such a run then compacts the lake and requires 0
// duplicates after it (the after_compaction line).
//
// Environment:
//
//	TRSTREAM_CHAOS_ITERATIONS  scales the kill counts (default: 20 lake kills)
//	TRSTREAM_CHAOS_BIN         use this trstream binary instead of building one
//	TRSTREAM_CHAOS_VERBOSE     log every child process's output, not only on failure
package chaos

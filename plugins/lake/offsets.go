package lake

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strconv"
)

// Offsets are committed Kafka positions: topic → partition → next offset to
// consume (the highest committed offset + 1). They ride in the Iceberg
// snapshot summary, so data and offsets commit atomically together.
type Offsets map[string]map[int32]int64

// Summary property keys the lake writes on every snapshot.
const (
	// PropOffsets holds the JSON of the merged Offsets.
	PropOffsets = "trstream.kafka-offsets"
	// PropMaxTimestamps holds, in the form of Offsets, the highest Kafka
	// record timestamp (ms) of each topic partition among the records the
	// lake committed: every record below a committed offset that came from
	// the same log is no newer (see lakeOutput.checkReplays).
	PropMaxTimestamps = "trstream.kafka-max-timestamps"
	// PropCommitID is unique per logical commit; it lets a writer whose
	// commit outcome was unknown find out whether it landed.
	PropCommitID = "trstream.commit-id"
	// PropWriterID names the Table (one per open) that made a snapshot, so
	// a writer can tell the appends of others from its own.
	PropWriterID = "trstream.writer-id"
)

// Next returns the next offset of a topic partition and whether one is
// committed.
func (o Offsets) Next(topic string, partition int32) (int64, bool) {
	n, ok := o[topic][partition]
	return n, ok
}

// Set records next as the next offset of topic/partition if it is higher
// than what o holds.
func (o Offsets) Set(topic string, partition int32, next int64) {
	m := o.topic(topic)
	if cur, ok := m[partition]; !ok || next > cur {
		m[partition] = next
	}
}

// checkLogEnds refuses a batch whose messages come from a partition log
// that ends below the offset committed for it. The record before a
// committed offset was read from that partition, so a broker whose log ends
// below it lost the log, or the topic was deleted and created again, and
// its offsets count from 0 once more: skipping what lies below the
// committed offset, as a replay is skipped, would drop new records.
// Refused, they stay in the topic, unacknowledged, until an operator
// decides. A run that starts at or above lateFrom is not checked: there
// ids, not offsets, tell a replay from a record never landed (late.go),
// and a late batch's log end, read when it was fetched, may well lie below
// an offset committed since. A nil lateFrom checks every run (a run that
// starts at or above next ends there too).
func (o Offsets) checkLogEnds(ends []logEnd, lateFrom Offsets) error {
	for _, e := range ends {
		next, ok := o.Next(e.topic, e.partition)
		if !ok || e.end >= next || e.first >= lateFrom.start(e.topic, e.partition, next) {
			continue
		}
		return fmt.Errorf("parquet_lake: %s/%d: the broker's log ends at offset %d, below the lake's committed offset %d: the topic was recreated or the broker lost its log, so its offsets no longer match the lake's; refusing these records rather than skipping them as already landed (to land this log from its start, stop the lake's writers and run: trstream lake reset-offsets --topic %s)",
			e.topic, e.partition, e.end, next, e.topic)
	}
	return nil
}

// put sets topic/partition to v, higher or lower.
func (o Offsets) put(topic string, partition int32, v int64) {
	o.topic(topic)[partition] = v
}

// topic returns topic's partitions, adding an empty map if it has none.
func (o Offsets) topic(topic string) map[int32]int64 {
	m := o[topic]
	if m == nil {
		m = map[int32]int64{}
		o[topic] = m
	}
	return m
}

// remove drops topic/partition.
func (o Offsets) remove(topic string, partition int32) {
	delete(o[topic], partition)
}

// lower records offset for the partition if it is the lowest seen.
func (o Offsets) lower(topic string, partition int32, offset int64) {
	m := o.topic(topic)
	if cur, ok := m[partition]; !ok || offset < cur {
		m[partition] = offset
	}
}

// Merge overlays other onto a copy of o, partition by partition, keeping
// the higher offset: two writers of one consumer group keep each other's
// partitions, and an offset never moves backwards (only
// Table.ResetOffsets drops a topic's).
func (o Offsets) Merge(other Offsets) Offsets {
	out := o.Clone()
	for topic, parts := range other {
		for p, n := range parts {
			out.Set(topic, p, n)
		}
	}
	return out
}

// Clone deep-copies o.
func (o Offsets) Clone() Offsets {
	out := make(Offsets, len(o))
	for t, parts := range o {
		out[t] = maps.Clone(parts)
	}
	return out
}

// Entry is one topic partition's committed position.
type Entry struct {
	Topic      string
	Partition  int32
	NextOffset int64
}

// Sorted lists o by topic then partition.
func (o Offsets) Sorted() []Entry {
	var out []Entry
	for t, parts := range o {
		for p, n := range parts {
			out = append(out, Entry{t, p, n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// MarshalJSON writes {"topic":{"0":12,"1":40}}.
func (o Offsets) MarshalJSON() ([]byte, error) {
	m := make(map[string]map[string]int64, len(o))
	for t, parts := range o {
		mm := make(map[string]int64, len(parts))
		for p, n := range parts {
			mm[strconv.Itoa(int(p))] = n
		}
		m[t] = mm
	}
	return json.Marshal(m)
}

// ParseOffsets reads the JSON form written by MarshalJSON; empty input is
// no offsets.
func ParseOffsets(s string) (Offsets, error) {
	out := Offsets{}
	if s == "" {
		return out, nil
	}
	var m map[string]map[string]int64
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("offsets: %w", err)
	}
	for t, parts := range m {
		for ps, n := range parts {
			p, err := strconv.ParseInt(ps, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("offsets: partition %q of topic %q: %w", ps, t, err)
			}
			out.Set(t, int32(p), n)
		}
	}
	return out, nil
}

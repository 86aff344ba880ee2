package redpanda

import (
	"math/bits"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordPool keeps []kgo.Record slabs, about 160-180 bytes a record, for
// reuse instead of allocating and zeroing them per batch. The input lends
// it to franz-go (kgo.WithPools) for the records each fetched batch is
// decoded into; the output builds each batch's records in one.
//
// On the input side a record is recycled once its message is built, or
// with auto_replay_nacks once its batch is acked; a slab goes back to the
// pool when all its records are. Messages keep no reference into a record:
// values point into the fetch response, which is not pooled (no
// PoolDecompressBytes), and keys and headers are copied.
//
// Slabs come in power-of-two sizes, a pool for each, so that a slab handed
// back serves any later batch of its size class and a new one is at most
// twice its batch. With one pool and a floor of 4,096 records a slab, a
// lake pipeline (records held until the commit acks them, so the pool is
// mostly empty) allocated four times the records of 1,024-record batches,
// and the collector scanned them all.
type recordPool struct{ classes [recordClasses]sync.Pool }

const (
	minRecordShift = 6  // the smallest slab: 64 records
	recordClasses  = 11 // the largest: maxPooledRecords; larger batches get an exact slab, not pooled
)

// maxPooledRecords is the largest slab kept (about 10 MiB), so that one
// huge batch (a huge message with split_lines) pins no slab as large.
const maxPooledRecords = 1 << (minRecordShift + recordClasses - 1)

// recordClass is the class of the smallest slab that holds n records.
func recordClass(n int) int {
	return max(bits.Len(uint(max(n, 1)-1))-minRecordShift, 0)
}

func (rp *recordPool) GetRecords(n int) []kgo.Record {
	c := recordClass(n)
	if c >= recordClasses {
		return make([]kgo.Record, n)
	}
	if s, ok := rp.classes[c].Get().(*[]kgo.Record); ok {
		return (*s)[:n]
	}
	return make([]kgo.Record, n, 1<<(c+minRecordShift))
}

func (rp *recordPool) PutRecords(s []kgo.Record) {
	c := recordClass(cap(s))
	if c >= recordClasses || cap(s) != 1<<(c+minRecordShift) {
		return // not a slab of ours: too large, or grown by append
	}
	rp.classes[c].Put(&s)
}

package validate

import (
	"sync/atomic"
	"unsafe"

	"github.com/trstream/trstream/plugins/txn"
)

// The handoff: transaction_validate decodes every message, and a
// parquet_lake output downstream would decode the same bytes again. The
// row cannot travel with the message: Benthos restores each message's
// context after a processor, and one more metadata key on a Kafka input's
// message (eight keys: a full small map) costs a map growth, 744 B and
// about 1 µs, more than the decode it would save. So valid messages' rows
// wait in a process-wide table keyed by the body's memory, and Take gives
// a row back only for the very bytes it was decoded from: the same slice,
// data pointer and length. A body a processor replaced (SetBytes, a
// mapping), an entry overwritten by a colliding one, or bytes validate
// never saw: Take misses and the caller decodes as usual. The contents are
// not compared: Benthos forbids changing a body in place (AsBytes: "NOT
// safe to mutate"), the row's strings alias those bytes anyway, and the
// entry keeps them alive, so no other body can take their address.
//
// Rows are only left once some consumer has called Take in this process,
// so a pipeline without parquet_lake pays nothing and pins nothing.

// handoffSlots bounds the table: 1 MiB of pointers, room for the rows
// between validate and the lake (an input batch of up to 4 MiB, about 11k
// events, and the output batcher's 4,096): a tenth of the slots in use.
// A row goes in the first free slot of its bucket of four (one cache line
// half), and is overwritten only when all four hold rows: with one slot a
// row, the lake of an e2e run re-decoded about an eighth of its rows (by
// CPU time), lost to collisions; now too few to show in a profile.
const (
	handoffBits   = 17
	handoffSlots  = 1 << handoffBits
	handoffBucket = 4
)

// handoff is one validated body and its row.
type handoff struct {
	body []byte
	// strict: validated with txn.DefaultLimits (the lake's own), so a
	// taker that would apply them need not.
	strict bool
	t      txn.Transaction
}

var (
	handoffTable [handoffSlots]atomic.Pointer[handoff]
	handoffWant  atomic.Bool
)

// handoffBucketOf picks b's bucket from its data pointer (Fibonacci
// hashing: bodies cut from one fetch buffer lie a few hundred bytes apart).
func handoffBucketOf(b []byte) []atomic.Pointer[handoff] {
	p := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
	i := (p * 0x9E3779B97F4A7C15) >> (64 - handoffBits) &^ (handoffBucket - 1)
	return handoffTable[i : i+handoffBucket : i+handoffBucket]
}

// leave publishes h, its t decoded from body, for Take: in a free slot of
// body's bucket, else over the one the body's address picks.
func leave(h *handoff, body []byte, strict bool) {
	h.body, h.strict = body, strict
	bucket := handoffBucketOf(body)
	for i := range bucket {
		if bucket[i].Load() == nil && bucket[i].CompareAndSwap(nil, h) {
			return
		}
	}
	bucket[uintptr(unsafe.Pointer(unsafe.SliceData(body)))>>4%handoffBucket].Store(h)
}

// Take returns the row transaction_validate decoded from body in this
// process, if body is still exactly those bytes, and nil otherwise; strict
// reports that the row passed txn.DefaultLimits (else only the processor's
// own, possibly looser, limits). The row is the taker's from then on, not
// a copy: validate never writes it again, and the taker must not either
// (its strings alias body). The first call turns the handoff on. Safe for
// concurrent use; each row is given out once.
func Take(body []byte) (t *txn.Transaction, strict bool) {
	if !handoffWant.Load() {
		handoffWant.Store(true)
	}
	if len(body) == 0 {
		return nil, false
	}
	bucket := handoffBucketOf(body)
	for i := range bucket {
		h := bucket[i].Load()
		if h == nil || unsafe.SliceData(h.body) != unsafe.SliceData(body) || len(h.body) != len(body) {
			continue
		}
		// Cleared once taken: the table pins no body the lake holds
		// already. Only the caller that clears it gets the row.
		if !bucket[i].CompareAndSwap(h, nil) {
			return nil, false
		}
		return &h.t, h.strict
	}
	return nil, false
}

package redpanda

import "sync"

// checkpointer tracks the batches of one partition that have been handed
// downstream and computes the highest offset that is safe to commit.
//
// Acks arrive out of order (max_in_flight, parallel pipelines), but a Kafka
// commit means "everything below this offset is done". So the commit mark
// only advances over a prefix of batches that are all acked: one slow or
// nacked batch holds the mark back for every later batch of the partition.
type checkpointer struct {
	mu sync.Mutex

	// pending holds tracked batches in offset order; head is the oldest
	// batch that has not been popped yet.
	pending []*checkpoint
	head    int

	// mark is the next offset to consume (last acked offset + 1) and
	// epoch the leader epoch of that record; mark is -1 until the first
	// prefix is acked.
	mark  int64
	epoch int32

	// committed is the last mark successfully committed to the broker.
	committed int64

	// tracked is the offset after the last tracked batch: where the
	// partition's next fetch starts.
	tracked int64

	// inFlight counts the messages of yielded batches not acked yet (a
	// nacked batch waiting to be replayed still counts), for
	// checkpoint_limit.
	inFlight int
}

// checkpoint is one tracked batch: its last offset, its size in messages,
// and whether it was yielded and acked.
type checkpoint struct {
	last    int64
	epoch   int32
	n       int
	yielded bool
	acked   bool
}

func newCheckpointer() *checkpointer {
	return &checkpointer{mark: -1, epoch: -1, committed: -1}
}

// Track registers a batch of n messages whose last offset is last. Batches
// must be tracked in increasing offset order, which fetch order guarantees.
func (c *checkpointer) Track(last int64, epoch int32, n int) *checkpoint {
	cp := &checkpoint{last: last, epoch: epoch, n: n}
	c.mu.Lock()
	c.pending = append(c.pending, cp)
	c.tracked = last + 1
	c.mu.Unlock()
	return cp
}

// Tracked returns the offset after the last tracked batch.
func (c *checkpointer) Tracked() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tracked
}

// Ack marks a tracked batch done and advances the mark over every leading
// acked batch. Acking twice is harmless.
func (c *checkpointer) Ack(cp *checkpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp.yielded && !cp.acked {
		c.inFlight -= cp.n
	}
	cp.acked = true
	for c.head < len(c.pending) && c.pending[c.head].acked {
		done := c.pending[c.head]
		c.pending[c.head] = nil
		c.head++
		c.mark = done.last + 1
		c.epoch = done.epoch
	}
	// Compact once the popped prefix dominates so the slice does not grow
	// forever on a long-lived partition.
	if c.head > 64 && c.head*2 >= len(c.pending) {
		n := copy(c.pending, c.pending[c.head:])
		clear(c.pending[n:])
		c.pending = c.pending[:n]
		c.head = 0
	}
}

// Yield records that a batch was handed downstream; yielding it again (a
// replay) changes nothing.
func (c *checkpointer) Yield(cp *checkpoint) {
	c.mu.Lock()
	if !cp.yielded && !cp.acked {
		cp.yielded = true
		c.inFlight += cp.n
	}
	c.mu.Unlock()
}

// Fits reports whether a batch of n more messages keeps the partition within
// limit unacked messages (0: no limit). A partition with nothing in flight
// always fits, so a batch larger than the limit still goes, alone.
func (c *checkpointer) Fits(n, limit int) bool {
	if limit <= 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inFlight == 0 || c.inFlight+n <= limit
}

// Mark returns the offset to commit (next offset to consume) and its leader
// epoch; ok is false when nothing new was acked since the last commit.
func (c *checkpointer) Mark() (offset int64, epoch int32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mark, c.epoch, c.mark > c.committed
}

// Committed records that offset was committed to the broker.
func (c *checkpointer) Committed(offset int64) {
	c.mu.Lock()
	if offset > c.committed {
		c.committed = offset
	}
	c.mu.Unlock()
}

// Pending returns how many tracked batches are not yet behind the mark.
func (c *checkpointer) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) - c.head
}

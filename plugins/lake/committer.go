package lake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/trstream/trstream/plugins/txn"
)

// gen is one group commit: the rows of every batch that joined it, by Hive
// partition directory, and the Kafka offsets they carry. Its batches wait
// on done; err is set before done closes.
type gen struct {
	parts   map[string]*partBuf
	offsets Offsets
	// floor is the lowest Kafka offset per partition among the rows, for
	// fencing against another writer of the same partitions.
	floor Offsets
	// maxTS is the newest Kafka record timestamp per partition among the
	// records whose offsets it commits (PropMaxTimestamps).
	maxTS Offsets
	seq   uint32 // the generation's number in the output's idSet
	// ds are the decoded batches waiting on the generation, for the
	// Kafka offsets of its records should it be fenced (see holes).
	ds      []*decoded
	keys    []idKey        // the ids it claimed there
	sizes   map[string]int // rows per partition of the previous generation
	rows    int
	bytes   int64
	batches int // batches waiting on this generation
	first   time.Time
	// oldestTS is the earliest Kafka timestamp (ms) of its rows; -1: none.
	oldestTS int64
	done     chan struct{}
	err      error
}

// newGen starts a generation sized like prev (nil: none), so that its id
// list and partition buffers do not grow through copies while batches wait
// on the lock: the input's rate and spread over partitions change slowly
// from one commit to the next.
func newGen(prev *gen, seq uint32) *gen {
	g := &gen{
		parts:    map[string]*partBuf{},
		offsets:  Offsets{},
		floor:    Offsets{},
		maxTS:    Offsets{},
		done:     make(chan struct{}),
		seq:      seq,
		oldestTS: -1,
	}
	if prev == nil {
		return g
	}
	g.keys = make([]idKey, 0, len(prev.keys))
	g.sizes = make(map[string]int, len(prev.parts))
	for dir, p := range prev.parts {
		g.sizes[dir] = len(p.rows)
	}
	return g
}

// newGenLocked starts the next generation after prev (nil: none).
func (o *lakeOutput) newGenLocked(prev *gen) *gen {
	o.genSeq++
	return newGen(prev, o.genSeq)
}

// partBuf is the buffered rows of one partition directory. It points into
// the decoded batches (which stay alive until the commit): appending under
// the output's lock moves 8 bytes a row, not a ~300-byte row, and the
// committer sorts the pointers and encodes the columns straight from the
// rows, which are never copied.
type partBuf struct {
	rows  []*txn.Transaction
	bytes int64
}

// visibleDelay is how long g's oldest row waited, at now, to be visible:
// from its Kafka timestamp, or from when g's first batch reached the
// output if that was earlier (rows without a timestamp, or a producer
// whose clock runs ahead). Never negative.
func (g *gen) visibleDelay(now time.Time) time.Duration {
	from := g.first
	if g.oldestTS >= 0 {
		if t := time.UnixMilli(g.oldestTS); t.Before(from) {
			from = t
		}
	}
	return max(now.Sub(from), 0)
}

func (g *gen) pending() bool { return g.rows > 0 || len(g.offsets) > 0 }

var errClosed = errors.New("parquet_lake: output closed")

func (o *lakeOutput) bufferedLocked() int64 {
	b := o.open.bytes
	if o.inflight != nil {
		b += o.inflight.bytes
	}
	return b
}

func (o *lakeOutput) wakeLoop() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// add puts a decoded batch into the open generation and returns it, or nil
// when nothing needs to wait (every item was already committed). It holds
// the output's lock: per row it does only the dedupe lookups, everything
// else was derived by decodeBatch.
func (o *lakeOutput) add(_ context.Context, d *decoded) (*gen, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.tbl == nil {
		return nil, service.ErrNotConnected
	}
	est := d.bytes
	// Back pressure: wait for commits to free memory, but never block a
	// batch when nothing is buffered (a single batch may exceed the bound).
	for o.failed == nil && o.bufferedLocked() > 0 && o.bufferedLocked()+est > o.cfg.maxBufferedBytes {
		o.kicked = true
		o.wakeLoop()
		o.cond.Wait()
	}
	if o.failed != nil {
		return nil, o.failed
	}
	if err := o.skip.checkLogEnds(d.ends, o.lateFrom); err != nil {
		return nil, err // Benthos logs it with each retry
	}
	if err := o.checkReplays(d); err != nil {
		return nil, err
	}
	g := o.open
	wait := false
	parts := make([]*partBuf, len(d.dirs))
	// A Kafka batch holds runs of one topic partition with rising offsets:
	// look its committed offset up once per run, and record the run's
	// highest and lowest offsets once at its end.
	var run struct {
		topic     string
		partition int32
		skip      int64
		skipping  bool
		lateFrom  int64 // below skip, ids decide from here up (late.go)
		lo, hi    int64
		maxTS     int64
		any       bool
	}
	endRun := func() {
		if run.any {
			g.offsets.Set(run.topic, run.partition, run.hi+1)
			g.floor.lower(run.topic, run.partition, run.lo)
			if run.maxTS >= 0 {
				g.maxTS.Set(run.topic, run.partition, run.maxTS)
			}
		}
		run.any = false
	}
	for i := range d.items {
		it := &d.items[i]
		late := false
		if it.kafka {
			if it.topic != run.topic || it.partition != run.partition {
				endRun()
				run.topic, run.partition = it.topic, it.partition
				run.skip, run.skipping = o.skip.Next(it.topic, it.partition)
				run.lateFrom = o.lateFrom.start(it.topic, it.partition, run.skip)
			}
			// claim is what the row holds the partition's offset to for
			// fencing: its own offset, or for a late row the committed
			// offset its id was checked at.
			claim := it.offset
			if run.skipping && it.offset < run.skip {
				// A replay, unless its id is unknown within the window.
				if it.offset < run.lateFrom || o.ids.state(it.key) == idCommitted {
					o.m.skipped.Incr(1)
					continue
				}
				late, claim = true, run.skip
			}
			if !run.any {
				run.lo, run.hi, run.maxTS, run.any = claim, it.offset, it.ts, true
			} else {
				run.lo, run.hi, run.maxTS = min(run.lo, claim), max(run.hi, it.offset), max(run.maxTS, it.ts)
			}
			// The offset only counts once this generation commits.
			wait = true
		}
		// Ids are deduplicated whatever the source: an at-least-once
		// producer (or the generator's injected duplicates) can put the
		// same event at two offsets.
		if o.cfg.dedupeWindow > 0 {
			switch o.ids.claim(it.key, g.seq) {
			case idNew:
				g.keys = append(g.keys, it.key)
				if late {
					o.m.late.Incr(1)
				}
			case idCommitted:
				o.m.dups.Incr(1)
				continue
			default:
				// Pending: ack once it is committed, which is no later
				// than the open generation.
				o.m.dups.Incr(1)
				wait = true
				continue
			}
		}
		p := parts[it.dir]
		if p == nil {
			dir := d.dirs[it.dir]
			if p = g.parts[dir]; p == nil {
				p = &partBuf{rows: make([]*txn.Transaction, 0, g.sizes[dir])}
				g.parts[dir] = p
			}
			parts[it.dir] = p
		}
		p.rows = append(p.rows, it.t)
		p.bytes += it.bytes
		if it.ts >= 0 && (it.ts < g.oldestTS || g.oldestTS < 0) {
			g.oldestTS = it.ts
		}
		g.rows++
		g.bytes += it.bytes
		wait = true
		if (o.cfg.write.MaxRows > 0 && len(p.rows) >= o.cfg.write.MaxRows) ||
			(o.cfg.write.MaxBytes > 0 && p.bytes >= o.cfg.write.MaxBytes) {
			o.kicked = true
		}
	}
	endRun()
	if !wait {
		return nil, nil
	}
	g.batches++
	g.ds = append(g.ds, d)
	if len(g.parts) >= o.cfg.maxOpenPartitions || o.bufferedLocked() >= o.cfg.maxBufferedBytes {
		o.kicked = true
	}
	// Half of the in-flight slots wait on this generation: commit it, so
	// that the other half keeps the input flowing while it is written.
	// (Waiting until every slot waits would stall the input for every
	// commit.)
	if o.cfg.maxInFlight > 0 && 2*g.batches >= o.cfg.maxInFlight {
		o.kicked = true
	}
	now := time.Now()
	if since := now.Sub(o.lastAdd); !o.lastAdd.IsZero() && since >= burstGap {
		o.gap += (since - o.gap) / 8
	}
	o.lastAdd = now
	if g.first.IsZero() {
		g.first = now
		o.wakeLoop()
	}
	if o.kicked {
		o.wakeLoop()
	}
	o.m.openParts.Set(int64(len(g.parts)))
	o.m.buffered.Set(o.bufferedLocked())
	return g, nil
}

// Idle commits: the input is taken to have paused (or ended) when no batch
// joined for idleGaps times the recent gap between batches, and at least
// minIdle; the open generation is then committed without waiting out
// commit_interval, as nothing more would join it soon. A file read to its
// end is the common case: its last batches wait on the commit, and the
// input only finishes once they are acknowledged.
//
// The gap is measured between bursts: batches that arrive within burstGap
// of each other came together (one fetch of several partitions, or one
// flush of a producer's batching period), and counting the gaps inside a
// burst would make a steady input that arrives in bursts look paused after
// each one.
const (
	idleGaps = 4
	minIdle  = 50 * time.Millisecond
	burstGap = time.Millisecond
)

func (o *lakeOutput) idleLimitLocked() time.Duration {
	return min(o.cfg.commitInterval, max(minIdle, idleGaps*o.gap))
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// loop is the committer: it commits the open generation when it is
// commit_interval old, when kicked by a limit, or when closing, one
// generation at a time, while the next one fills.
func (o *lakeOutput) loop() {
	defer close(o.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		o.mu.Lock()
		g := o.open
		closing := isClosed(o.closing)
		ready, wait := false, time.Hour
		if g.pending() {
			age, idle, limit := time.Since(g.first), time.Since(o.lastAdd), o.idleLimitLocked()
			if o.kicked || closing || o.failed != nil || age >= o.cfg.commitInterval || idle >= limit {
				ready = true
			} else {
				wait = min(o.cfg.commitInterval-age, limit-idle)
			}
		}
		if ready {
			o.open = o.newGenLocked(g)
			o.inflight = g
			o.kicked = false
		} else if closing {
			if o.failed == nil {
				o.failed = errClosed
			}
			o.cond.Broadcast()
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		if ready {
			o.commit(g)
			continue
		}
		timer.Reset(wait)
		select {
		case <-o.wake:
		case <-timer.C:
		case <-o.closing:
		}
	}
}

// commit writes g's files and appends them with g's offsets, retrying with
// backoff until it succeeds or the output is shut down, then releases g's
// batches.
func (o *lakeOutput) commit(g *gen) {
	o.mu.Lock()
	err := o.failed
	barrier := o.holes.barrier(g)
	o.mu.Unlock()
	start := time.Now()
	var wrote time.Duration
	var files []DataFile
	var base Offsets // the table's offsets under g's snapshot
	backoff := 100 * time.Millisecond
	var holds func([]idKey) (idKey, bool)
	if o.cfg.dedupeWindow > 0 && g.rows > 0 {
		holds = func(foreign []idKey) (idKey, bool) {
			o.mu.Lock()
			defer o.mu.Unlock()
			if k, ok := o.ids.takenFrom(g.seq); ok {
				return k, true
			}
			for _, k := range foreign {
				if o.ids.claimedBy(k, g.seq) {
					return k, true
				}
			}
			return idKey{}, false
		}
	}
	for err == nil {
		if files == nil && g.rows > 0 {
			files, err = o.tbl.writeGroups(o.ctx, g.parts, o.cfg.write)
		}
		wrote = time.Since(start)
		if err == nil {
			base, err = o.tbl.appendFenced(o.ctx, files, g.offsets, g.maxTS, g.floor, barrier, holds)
		}
		if err == nil || o.ctx.Err() != nil || errors.As(err, new(*FencedError)) {
			break
		}
		o.log.Errorf("parquet_lake: commit of %d rows failed, retrying in %s: %v", g.rows, backoff, err)
		select {
		case <-time.After(backoff):
		case <-o.ctx.Done():
		}
		backoff = min(backoff*2, 30*time.Second)
		err = nil
		if o.ctx.Err() != nil {
			err = o.ctx.Err()
		}
	}
	var tableOffs, tableTS Offsets
	var fenced *FencedError
	if errors.As(err, &fenced) {
		// A rebalance gave these partitions to another writer, which
		// already landed some of these rows. Nack the generation: the
		// batches are replayed and rows below the new offsets skipped.
		o.log.Warnf("parquet_lake: not committing %d rows: %v; they will be redelivered", g.rows, err)
		o.m.fenced.Incr(1)
		o.tbl.deleteUncommitted(o.ctx, files)
		tableOffs, tableTS = fenced.Current, fenced.CurrentMaxTS
	} else if err == nil {
		o.log.Debugf("parquet_lake: committed %d rows of %d batches in %d files in %s (written in %s, %s after the first batch)", g.rows, g.batches, len(files), time.Since(start).Round(time.Millisecond), wrote.Round(time.Millisecond), start.Sub(g.first).Round(time.Millisecond))
		o.m.commitTime.Timing(time.Since(start).Nanoseconds())
		if g.rows > 0 {
			o.m.visibleDelay.Timing(g.visibleDelay(time.Now()).Nanoseconds())
		}
		o.m.commits.Incr(1)
		o.m.rows.Incr(int64(g.rows))
		o.m.files.Incr(int64(len(files)))
		var n int64
		for _, f := range files {
			n += f.Bytes
		}
		o.m.bytes.Incr(n)
		tableOffs, tableTS = o.tbl.lastPositions()
	} else {
		o.log.Errorf("parquet_lake: giving up commit of %d rows: %v", g.rows, err)
	}

	// The ids other writers of the group landed meanwhile: an event of a
	// partition that a rebalance moves here may come again.
	var foreign []idKey
	var ferr error
	if err == nil || fenced != nil {
		if foreign, ferr = o.tbl.ForeignIDs(o.ctx); ferr != nil {
			o.log.Warnf("parquet_lake: ids of other writers not read, so replays below offsets %v are skipped by offset alone: %v", tableOffs, ferr)
		}
	}

	o.mu.Lock()
	if err == nil || fenced != nil {
		// Whatever is committed, by this writer or another one of the
		// group, is skipped when it comes again (a rebalance or a broker
		// outage makes the input replay from older consumer offsets).
		o.raiseSkip(tableOffs, tableTS)
		if err != nil {
			// Fenced: nothing of g landed; its ids were never committed,
			// and its offsets are holes until somebody lands them.
			for _, k := range g.keys {
				o.ids.drop(k, g.seq)
			}
			g.keys = g.keys[:0]
			o.holes.add(g, tableOffs)
		}
		o.holes.prune(tableOffs)
		o.ids.complete(g.seq, len(g.keys))
		for _, k := range foreign {
			o.ids.addCommitted(k)
		}
		if o.cfg.dedupeWindow > 0 {
			if err == nil {
				o.open.floor.keepClaims(base, tableOffs)
			}
			o.floors.completed(g.seq, tableOffs)
			if ferr != nil {
				o.floors.distrust(tableOffs)
			}
			o.lateFrom = o.floors.floor(o.ids.reach)
		}
	} else if o.failed == nil {
		o.failed = err
	}
	o.inflight = nil
	o.cond.Broadcast()
	o.m.buffered.Set(o.bufferedLocked())
	o.m.openParts.Set(int64(len(o.open.parts)))
	o.mu.Unlock()

	g.err = err
	close(g.done)
}

// raiseSkip moves the skip offsets up to the table's (offsets committed by
// this writer or another of the group), each raised partition taking its max
// timestamp from the same snapshot, or none, so that checkReplays never
// compares a replay with a max timestamp of fewer records than it skips.
func (o *lakeOutput) raiseSkip(offs, maxTS Offsets) {
	for _, e := range offs.Sorted() {
		cur, ok := o.skip.Next(e.Topic, e.Partition)
		if ok && cur > e.NextOffset {
			continue
		}
		ts, hasTS := maxTS.Next(e.Topic, e.Partition)
		if ok && cur == e.NextOffset {
			if hasTS {
				o.maxTS.Set(e.Topic, e.Partition, ts)
			}
			continue
		}
		o.skip.Set(e.Topic, e.Partition, e.NextOffset)
		if hasTS {
			o.maxTS.put(e.Topic, e.Partition, ts)
		} else {
			o.maxTS.remove(e.Topic, e.Partition)
		}
	}
}

// checkReplays refuses a batch that replays, below a partition's committed
// offset, a record newer than every record the lake committed below it. In
// the log the lake committed from, each such record is one of those, so no
// newer: this one comes from another log of the same name. The topic was
// deleted and created again (or a broker lost its log) and refilled past
// the committed offset, so checkLogEnds saw nothing wrong; Kafka drops a
// deleted topic's group offsets, so the group reads the new log from its
// start, and skipping it as replays would lose it. Refused, it stays in the
// topic, unacknowledged, until an operator resets the lake's offsets.
// Partitions without a max timestamp (a lake from before they were kept,
// records without timestamps) are not checked, nor records from lateFrom
// up, where ids tell a replay from a record never landed (late.go).
//
// A partition found so stays refused, every record of it, until the
// process ends: the records of that log above the committed offset would
// otherwise land (they may come in later batches, or in one handled first),
// and raise the max timestamp past the replays', which would then be
// skipped. After a restart the group reads the log from its start again
// (nothing of it was acknowledged), and its first records are refused anew.
func (o *lakeOutput) checkReplays(d *decoded) error {
	topic, partition := "", int32(-1)
	var next, maxTS, lateFrom int64
	checked := false
	for i := range d.items {
		it := &d.items[i]
		if !it.kafka {
			continue
		}
		if it.topic != topic || it.partition != partition {
			topic, partition = it.topic, it.partition
			if err := o.foreign[topicPartition{topic, partition}]; err != nil {
				return err
			}
			var okN, okT bool
			next, okN = o.skip.Next(topic, partition)
			maxTS, okT = o.maxTS.Next(topic, partition)
			checked = okN && okT
			lateFrom = o.lateFrom.start(topic, partition, next)
		}
		if checked && it.ts >= 0 && it.offset < min(next, lateFrom) && it.ts > maxTS {
			err := fmt.Errorf("parquet_lake: %s/%d: the record at offset %d, below the lake's committed offset %d, has timestamp %s, newer than every record the lake committed from that partition (up to %s): it comes from another log of that name, so the topic was recreated or the broker lost its log; refusing this partition's records rather than skipping them as already landed (to land this log from its start, stop the lake's writers and run: trstream lake reset-offsets --topic %s)",
				topic, partition, it.offset, next, time.UnixMilli(it.ts).UTC().Format(time.RFC3339Nano), time.UnixMilli(maxTS).UTC().Format(time.RFC3339Nano), topic)
			if o.foreign == nil {
				o.foreign = map[topicPartition]error{}
			}
			o.foreign[topicPartition{topic, partition}] = err
			return err
		}
	}
	return nil
}

// topicPartition names one partition of a topic.
type topicPartition struct {
	topic     string
	partition int32
}

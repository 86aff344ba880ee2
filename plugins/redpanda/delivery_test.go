package redpanda

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deliveryLog records what a consumer func acked, per partition offset and
// by seq header, so tests can check at-least-once and commit safety.
type deliveryLog struct {
	mu    sync.Mutex
	acked map[int32]map[int64]bool // partition -> offset -> acked
	seqs  map[int]int              // seq -> times acked
	nacks int
}

func newDeliveryLog() *deliveryLog {
	return &deliveryLog{acked: map[int32]map[int64]bool{}, seqs: map[int]int{}}
}

func (d *deliveryLog) record(b service.MessageBatch) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range b {
		p, _ := m.MetaGetMut("kafka_partition")
		o, _ := m.MetaGetMut("kafka_offset")
		part, off := int32(p.(int64)), o.(int64)
		if d.acked[part] == nil {
			d.acked[part] = map[int64]bool{}
		}
		d.acked[part][off] = true
		s, _ := m.MetaGet("seq")
		seq, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		d.seqs[seq]++
	}
	return nil
}

func (d *deliveryLog) unique() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seqs)
}

// commitViolation returns an error when a committed offset covers a record
// that was not acked: committed offset C of a partition means offsets < C
// are done.
func (d *deliveryLog) commitViolation(tc *testCluster, group, topic string) error {
	committed, err := tc.fetchCommitted(group, topic) // read commits first ...
	if err != nil {
		return err
	}
	d.mu.Lock() // ... then what was acked before them
	defer d.mu.Unlock()
	for part, c := range committed {
		for off := int64(0); off < c; off++ {
			if !d.acked[part][off] {
				return fmt.Errorf("partition %d committed %d but offset %d was never acked", part, c, off)
			}
		}
	}
	return nil
}

func (d *deliveryLog) checkCommits(t testing.TB, tc *testCluster, group, topic string) {
	t.Helper()
	require.NoError(t, d.commitViolation(tc, group, topic))
}

func groupInput(tc *testCluster, topic, group string, extra string) string {
	return fmt.Sprintf(`
redpanda:
  seed_brokers: [ %s ]
  topics: [ %s ]
  consumer_group: %s
  commit_period: 100ms
  fetch_max_wait: 100ms
  fetch_max_partition_bytes: 2KiB
  max_yield_batch_bytes: 200B
  heartbeat_interval: 100ms
  session_timeout: 3s
  rebalance_timeout: 5s
%s`, tc.addr, topic, group, extra)
}

// TestNackRedeliveryAcrossRestart fails messages at random with a bloblang
// throw, rejects errored batches (nack) and restarts the stream midway:
// every record is delivered at least once and the committed offset never
// passes a record that was not acked.
func TestNackRedeliveryAcrossRestart(t *testing.T) {
	const n = 600
	tc := newTestCluster(t)
	tc.createTopic(t, "nack", 3)
	tc.produce(t, "nack", n, 7)

	log := newDeliveryLog()
	// Failed messages are nacked individually (batch error); the rest of
	// the batch is acked downstream but the input only acks the batch once
	// the retried messages also succeeded.
	consume := func(_ context.Context, b service.MessageBatch) error {
		time.Sleep(3 * time.Millisecond) // so the restart happens midway
		var berr *service.BatchError
		var ok service.MessageBatch
		for i, m := range b {
			if err := m.GetError(); err != nil {
				if berr == nil {
					berr = service.NewBatchError(b, errors.New("rejecting failed messages"))
				}
				berr.Failed(i, err)
				continue
			}
			ok = append(ok, m)
		}
		if err := log.record(ok); err != nil {
			return err
		}
		if berr != nil {
			log.mu.Lock()
			log.nacks++
			log.mu.Unlock()
			return berr
		}
		return nil
	}
	// catch: [] clears the error flag a previous attempt left on a replayed
	// message, so every attempt is a fresh coin toss.
	throw := []string{"catch: []\n", `mutation: |
  if random_int(max: 99) < 2 { root = throw("random failure") }
`}

	// Check the commit invariant continuously while the streams run.
	stopCheck := make(chan struct{})
	checkErr := make(chan error, 1)
	go func() {
		defer close(checkErr)
		for {
			select {
			case <-stopCheck:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if err := log.commitViolation(tc, "nackers", "nack"); err != nil {
				checkErr <- err
				return
			}
		}
	}()

	s1 := startStream(t, groupInput(tc, "nack", "nackers", ""), throw, "", consume)
	waitFor(t, 30*time.Second, func() bool { return log.unique() >= n/3 }, "first run progress")
	s1.stop(t)
	log.checkCommits(t, tc, "nackers", "nack")

	s2 := startStream(t, groupInput(tc, "nack", "nackers", ""), throw, "", consume)
	waitFor(t, 30*time.Second, func() bool { return log.unique() == n }, "all records delivered")
	// Once replays settle every partition is committed to its end.
	waitFor(t, 30*time.Second, func() bool {
		var sum int64
		for _, c := range tc.committed(t, "nackers", "nack") {
			sum += c
		}
		return sum == n
	}, "everything committed")
	s2.stop(t)
	close(stopCheck)
	require.NoError(t, <-checkErr)
	log.checkCommits(t, tc, "nackers", "nack")

	log.mu.Lock()
	defer log.mu.Unlock()
	require.Len(t, log.seqs, n)
	require.Positive(t, log.nacks, "the processor should have failed some messages")
}

// TestConsumerGroupTakeover runs two streams in one group and stops one
// midway: the survivor takes over its partitions and nothing is lost.
func TestConsumerGroupTakeover(t *testing.T) {
	const n = 3000
	tc := newTestCluster(t)
	tc.createTopic(t, "cg", 6)
	tc.produce(t, "cg", n, 50)

	log := newDeliveryLog()
	var byA, byB atomic.Int64
	slow := func(counter *atomic.Int64) service.MessageBatchHandlerFunc {
		return func(_ context.Context, b service.MessageBatch) error {
			counter.Add(int64(len(b)))
			time.Sleep(2 * time.Millisecond) // keep the run long enough to stop midway
			return log.record(b)
		}
	}
	a := startStream(t, groupInput(tc, "cg", "takeover", ""), nil, "", slow(&byA))
	b := startStream(t, groupInput(tc, "cg", "takeover", ""), nil, "", slow(&byB))

	waitFor(t, 30*time.Second, func() bool { return log.unique() >= n/4 }, "progress before stop")
	a.stop(t)
	log.checkCommits(t, tc, "takeover", "cg")
	waitFor(t, 60*time.Second, func() bool { return log.unique() == n }, "survivor finishes")
	b.stop(t)
	log.checkCommits(t, tc, "takeover", "cg")
	require.Positive(t, byB.Load())
	t.Logf("delivered by A: %d, by B: %d (duplicates: %d)", byA.Load(), byB.Load(), byA.Load()+byB.Load()-n)
}

// TestOutputSurvivesBrokerFailures fails produce requests for a while, both
// by dropping connections and by answering with a non-retryable error: the
// output retries and every message arrives.
func TestOutputSurvivesBrokerFailures(t *testing.T) {
	const n = 500
	tc := newTestCluster(t)
	tc.createTopic(t, "flaky", 2)

	var failures atomic.Int64
	tc.c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k := failures.Add(1)
		switch {
		case k <= 1:
			tc.c.KeepControl()
			return nil, errors.New("injected connection drop"), true
		case k <= 4:
			tc.c.KeepControl()
			preq := req.(*kmsg.ProduceRequest)
			resp := preq.ResponseKind().(*kmsg.ProduceResponse)
			for _, rt := range preq.Topics {
				st := kmsg.NewProduceResponseTopic()
				st.Topic = rt.Topic
				st.TopicID = rt.TopicID
				for _, rp := range rt.Partitions {
					sp := kmsg.NewProduceResponseTopicPartition()
					sp.Partition = rp.Partition
					sp.ErrorCode = kerr.PolicyViolation.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		default:
			return nil, nil, false // healthy again: broker handles it
		}
	})

	startStream(t, fmt.Sprintf(`
generate:
  count: %d
  interval: ""
  batch_size: 50
  mapping: |
    root = "payload-" + counter().string()
    meta seq = (counter() - 1).string()
`, n), nil, fmt.Sprintf(`
redpanda:
  seed_brokers: [ %s ]
  topic: flaky
  timeout: 2s
  metadata:
    include_patterns: [ "^seq$" ]
`, tc.addr), nil)

	recs := tc.consumeAll(t, "flaky", n)
	seen := map[string]bool{}
	for _, r := range recs {
		for _, h := range r.Headers {
			if h.Key == "seq" {
				seen[string(h.Value)] = true
			}
		}
	}
	// Wait until all distinct seqs arrived; duplicates are allowed.
	waitFor(t, 30*time.Second, func() bool {
		if len(seen) == n {
			return true
		}
		for _, r := range tc.consumeAll(t, "flaky", len(recs)+1) {
			for _, h := range r.Headers {
				if h.Key == "seq" {
					seen[string(h.Value)] = true
				}
			}
		}
		return len(seen) == n
	})
	require.Len(t, seen, n)
	require.Greater(t, failures.Load(), int64(4), "failures were injected")
}

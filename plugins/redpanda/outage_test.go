package redpanda

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// outage fails chosen request kinds of a kfake cluster, closing the client's
// connection as a dead broker would, while its flag is up.
type outage struct {
	down  map[int16]*atomic.Bool
	fails map[int16]*atomic.Int64
}

func newOutage(tc *testCluster, keys ...kmsg.Key) *outage {
	o := &outage{down: map[int16]*atomic.Bool{}, fails: map[int16]*atomic.Int64{}}
	for _, k := range keys {
		key := int16(k)
		down, fails := &atomic.Bool{}, &atomic.Int64{}
		o.down[key], o.fails[key] = down, fails
		tc.c.ControlKey(key, func(req kmsg.Request) (kmsg.Response, error, bool) {
			if !down.Load() {
				return nil, nil, false // healthy: the broker handles it
			}
			tc.c.KeepControl()
			if fails.Add(1)%2 == 0 {
				if resp := errorResponse(req); resp != nil {
					return resp, nil, true
				}
			}
			return nil, errors.New("injected outage"), true
		})
	}
	return o
}

// errorResponse answers an offset commit with UNKNOWN_SERVER_ERROR for every
// partition; nil for other requests.
func errorResponse(req kmsg.Request) kmsg.Response {
	creq, ok := req.(*kmsg.OffsetCommitRequest)
	if !ok {
		return nil
	}
	resp := creq.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, rt := range creq.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = kerr.UnknownServerError.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (o *outage) set(k kmsg.Key, down bool) { o.down[int16(k)].Store(down) }
func (o *outage) failures(k kmsg.Key) int64 { return o.fails[int16(k)].Load() }

// TestInputSurvivesBrokerOutage takes the broker away from the input and
// brings it back:
//
//   - fetches and heartbeats fail: nothing new is delivered and nothing is
//     committed, though records arrive meanwhile;
//   - fetches work but offset commits fail: records are delivered and acked,
//     the committed offsets stay where they were;
//   - healthy again: the acked offsets are committed (the failed commits are
//     retried, not forgotten) and every record was delivered.
func TestInputSurvivesBrokerOutage(t *testing.T) {
	const n = 300
	tc := newTestCluster(t)
	tc.createTopic(t, "outage", 2)
	out := newOutage(tc, kmsg.Fetch, kmsg.OffsetCommit, kmsg.Heartbeat)
	tc.produce(t, "outage", n, 5)

	log := newDeliveryLog()
	delivered := func() int {
		log.mu.Lock()
		defer log.mu.Unlock()
		total := 0
		for _, offs := range log.acked {
			total += len(offs)
		}
		return total
	}
	committedSum := func() int64 {
		var sum int64
		for _, c := range tc.committed(t, "outagers", "outage") {
			sum += c
		}
		return sum
	}
	consume := func(_ context.Context, b service.MessageBatch) error { return log.record(b) }
	s := startStream(t, groupInput(tc, "outage", "outagers", ""), nil, "", consume)

	waitFor(t, 30*time.Second, func() bool { return delivered() == n && committedSum() == n }, "first records delivered and committed")

	// Broker gone for the consumer: fetches (and heartbeats) fail. Wait for
	// two failed fetches so no long poll from before the outage is pending,
	// then produce more.
	out.set(kmsg.Fetch, true)
	out.set(kmsg.Heartbeat, true)
	out.set(kmsg.OffsetCommit, true)
	waitFor(t, 30*time.Second, func() bool { return out.failures(kmsg.Fetch) >= 2 }, "fetches fail")
	tc.produce(t, "outage", n, 5)
	seen := out.failures(kmsg.Fetch)
	waitFor(t, 30*time.Second, func() bool { return out.failures(kmsg.Fetch) >= seen+2 }, "the input keeps trying to fetch")
	require.Equal(t, n, delivered(), "nothing can be delivered while fetches fail")
	require.Equal(t, int64(n), committedSum(), "nothing new to commit")
	log.checkCommits(t, tc, "outagers", "outage")

	// Fetches (and heartbeats) work again, commits still fail: the new
	// records are delivered and acked but stay uncommitted.
	out.set(kmsg.Heartbeat, false)
	out.set(kmsg.Fetch, false)
	waitFor(t, 30*time.Second, func() bool { return delivered() == 2*n }, "records delivered while commits fail")
	seen = out.failures(kmsg.OffsetCommit)
	waitFor(t, 30*time.Second, func() bool { return out.failures(kmsg.OffsetCommit) >= seen+3 }, "the input keeps trying to commit")
	require.Equal(t, int64(n), committedSum(), "no commit can land while the broker refuses them")
	log.checkCommits(t, tc, "outagers", "outage")

	// Healthy: the acked offsets get committed without new deliveries.
	out.set(kmsg.OffsetCommit, false)
	waitFor(t, 30*time.Second, func() bool { return committedSum() == 2*n }, "commits resume after the outage")
	s.stop(t)
	log.checkCommits(t, tc, "outagers", "outage")
	log.mu.Lock()
	defer log.mu.Unlock()
	for p, offs := range log.acked {
		for o := int64(0); o < int64(len(offs)); o++ {
			require.True(t, offs[o], "partition %d offset %d never delivered", p, o)
		}
	}
	require.Equal(t, n, len(log.seqs), "seq headers 0..n-1, twice each")
	for seq, times := range log.seqs {
		require.GreaterOrEqual(t, times, 2, fmt.Sprintf("seq %d", seq))
	}
}

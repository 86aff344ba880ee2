package redpanda

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service/integration"
)

// TestIntegrationRedpandaConformance runs Benthos' generic stream suite
// against an in-process kfake cluster. StreamTests.Run does not call
// integration.CheckSkip, so a plain `go test` runs it.
func TestIntegrationRedpandaConformance(t *testing.T) {
	tc := newTestCluster(t)

	// round_robin with 8 partitions puts each of the few messages of the
	// at-least-once test on its own partition, so after a restart only the
	// nacked ones are redelivered (a commit covers a partition prefix).
	template := `
output:
  redpanda:
    seed_brokers: [ 127.0.0.1:$PORT ]
    topic: topic-$ID
    partitioner: round_robin
    max_in_flight: $MAX_IN_FLIGHT
    metadata:
      include_patterns: [ ".*" ]
    batching:
      count: $OUTPUT_BATCH_COUNT

input:
  redpanda:
    seed_brokers: [ 127.0.0.1:$PORT ]
    topics: [ topic-$ID ]
    consumer_group: group-$ID
    commit_period: 500ms
    fetch_max_wait: 250ms
    heartbeat_interval: 200ms
    session_timeout: 6s
`
	integration.StreamTests(
		integration.StreamTestOpenClose(),
		integration.StreamTestMetadata(),
		integration.StreamTestSendBatch(10),
		integration.StreamTestStreamSequential(1000),
		integration.StreamTestStreamParallel(1000),
		integration.StreamTestAtLeastOnceDelivery(),
		integration.StreamTestStreamParallelLossyThroughReconnect(1000),
	).Run(t, template,
		integration.StreamTestOptPort(strconv.Itoa(tc.port)),
		integration.StreamTestOptTimeout(60*time.Second),
		integration.StreamTestOptPreTest(func(t testing.TB, _ context.Context, vars *integration.StreamTestConfigVars) {
			tc.createTopic(t, "topic-"+vars.ID, 8)
		}),
	)
}

package chaos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTruthIngestToLake: ingest N events with 1% duplicates, 1% late and 1%
// invalid ones as fast as possible → kfake → the lake pipeline. Every valid
// transaction id is in the lake exactly once (an injected duplicate counts
// once), every invalid record is in transactions.dlq once with a reason,
// and the topic holds exactly the generator's count.
func TestTruthIngestToLake(t *testing.T) {
	const n = 20_000
	s := newStack(t, stackOpts{})
	lk := s.startLake()
	in := s.startIngest(ingestOpts{count: n, rate: 0, seed: 11, inject: true})
	require.NoError(t, in.wait(2*time.Minute), "ingest")
	f := s.finish("truth_ingest_to_lake", finishOpts{strictDLQ: true, expectProduced: n}, lk)
	// The injections took effect: some ids were produced twice, some
	// records are invalid, and the two kinds of bad records add up.
	assert.Greater(t, f.validRecords, f.valid, "no injected duplicates seen")
	assert.Positive(t, f.invalid, "no invalid records seen")
	assert.Equal(t, f.produced, f.validRecords+f.invalid)
	assert.Equal(t, f.valid, f.inLake)
}

package lake

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckReplays: below the committed offset a record no newer than the
// max timestamp committed is a replay; a newer one refuses its partition,
// from then on even its records above the committed offset. Partitions
// without a max timestamp, and records without a timestamp, are not
// checked.
func TestCheckReplays(t *testing.T) {
	items := func(topic string, partition int32, ts int64, offsets ...int64) *decoded {
		d := &decoded{}
		for _, off := range offsets {
			d.items = append(d.items, item{topic: topic, partition: partition, offset: off, ts: ts, kafka: true})
		}
		return d
	}
	o := &lakeOutput{
		skip:  Offsets{"tx": {0: 100, 1: 50}, "old": {0: 10}},
		maxTS: Offsets{"tx": {0: 5_000, 1: 7_000}},
	}
	steps := []struct {
		name    string
		d       *decoded
		refused string // substring of the error; empty: accepted
	}{
		{"replay no newer than the max", items("tx", 0, 5_000, 98, 99), ""},
		{"new records after the committed offset", items("tx", 0, 9_000, 100, 101), ""},
		{"a partition without a max timestamp", items("old", 0, 99_000, 3), ""},
		{"a record without a timestamp", items("tx", 1, -1, 10), ""},
		{"replay newer than the max", items("tx", 0, 5_001, 99, 100), "tx/0: the record at offset 99, below the lake's committed offset 100"},
		{"the partition stays refused", items("tx", 0, 9_000, 150), "tx/0: the record at offset 99"},
		{"other partitions are not", items("tx", 1, 6_000, 49, 50), ""},
	}
	for _, s := range steps {
		err := o.checkReplays(s.d)
		if s.refused == "" {
			require.NoError(t, err, s.name)
			continue
		}
		require.ErrorContains(t, err, s.refused, s.name)
		require.ErrorContains(t, err, "trstream lake reset-offsets --topic tx", s.name)
	}
}

// TestRaiseSkip: the skip offsets rise to the table's, each raised
// partition taking the table's max timestamp of the same snapshot, or none.
func TestRaiseSkip(t *testing.T) {
	o := &lakeOutput{
		skip:  Offsets{"tx": {0: 100, 1: 50, 2: 70}},
		maxTS: Offsets{"tx": {0: 5_000, 1: 7_000, 2: 8_000}},
	}
	o.raiseSkip(
		Offsets{"tx": {0: 120, 1: 60, 2: 70, 3: 9}},
		Offsets{"tx": {0: 6_000, 2: 8_500, 3: 100}},
	)
	require.Equal(t, Offsets{"tx": {0: 120, 1: 60, 2: 70, 3: 9}}, o.skip)
	// 1 rose past what its max timestamp covered, and the table has none
	// for it: unchecked rather than checked against too old a maximum.
	require.Equal(t, Offsets{"tx": {0: 6_000, 2: 8_500, 3: 100}}, o.maxTS)
}

// TestMaxTimestampsCommitted: each append stores the max timestamps beside
// the offsets, merged; a partition raised without one loses its old one;
// an offset reset drops both.
func TestMaxTimestampsCommitted(t *testing.T) {
	ctx := context.Background()
	tbl := openLake(t, t.TempDir(), S3Options{})
	positions := func() (Offsets, Offsets) {
		offs, ts, err := tbl.positions(ctx)
		require.NoError(t, err)
		return offs, ts
	}
	require.NoError(t, errOnly(tbl.appendFenced(ctx, nil, Offsets{"tx": {0: 10, 1: 20}}, Offsets{"tx": {0: 1_000, 1: 2_000}}, nil, nil, nil)))
	require.NoError(t, errOnly(tbl.appendFenced(ctx, nil, Offsets{"tx": {0: 30}}, Offsets{"tx": {0: 3_000}}, nil, nil, nil)))
	offs, ts := positions()
	require.Equal(t, Offsets{"tx": {0: 30, 1: 20}}, offs)
	require.Equal(t, Offsets{"tx": {0: 3_000, 1: 2_000}}, ts)

	require.NoError(t, tbl.Append(ctx, nil, Offsets{"tx": {1: 40}}))
	offs, ts = positions()
	require.Equal(t, Offsets{"tx": {0: 30, 1: 40}}, offs)
	require.Equal(t, Offsets{"tx": {0: 3_000}}, ts, "1 rose without a timestamp")

	_, err := tbl.ResetOffsets(ctx, "tx")
	require.NoError(t, err)
	offs, ts = positions()
	require.Empty(t, offs["tx"])
	require.Empty(t, ts["tx"])
}

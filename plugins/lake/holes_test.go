package lake

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// genOf is a generation holding records of topic "tx" at the given
// partition and offsets, with its next offsets set as add sets them.
func genOf(recs map[int32][]int64) *gen {
	g := newGen(nil, 1)
	d := &decoded{}
	for p, offs := range recs {
		for _, off := range offs {
			d.items = append(d.items, item{topic: "tx", partition: p, offset: off, kafka: true})
			g.offsets.Set("tx", p, off+1)
		}
	}
	g.ds = append(g.ds, d)
	return g
}

func TestHoles(t *testing.T) {
	tests := []struct {
		name    string
		fenced  map[int32][]int64 // a fenced generation's records
		table   Offsets           // the table's offsets when it was fenced
		later   map[int32][]int64 // a later generation's records
		landed  Offsets           // the table's offsets when it commits
		barrier Offsets
	}{
		{
			name:    "later records past the hole wait for it",
			fenced:  map[int32][]int64{0: {10, 11, 12}},
			table:   Offsets{"tx": {0: 10}},
			later:   map[int32][]int64{0: {13, 14}},
			landed:  Offsets{"tx": {0: 10}},
			barrier: Offsets{"tx": {0: 12}},
		},
		{
			name:    "rows another writer landed are no hole",
			fenced:  map[int32][]int64{0: {10, 11, 12}},
			table:   Offsets{"tx": {0: 13}},
			later:   map[int32][]int64{0: {13, 14}},
			landed:  Offsets{"tx": {0: 13}},
			barrier: nil,
		},
		{
			name:    "a commit since then passed part of the hole",
			fenced:  map[int32][]int64{0: {10, 11, 12}},
			table:   Offsets{"tx": {0: 10}},
			later:   map[int32][]int64{0: {13, 14}},
			landed:  Offsets{"tx": {0: 12}},
			barrier: Offsets{"tx": {0: 12}},
		},
		{
			name:    "the replay itself fills the hole",
			fenced:  map[int32][]int64{0: {10, 11, 12}},
			table:   Offsets{"tx": {0: 10}},
			later:   map[int32][]int64{0: {10, 11, 12, 13}},
			landed:  Offsets{"tx": {0: 10}},
			barrier: nil,
		},
		{
			name:    "a gap of offsets it never saw (routed to a DLQ) blocks nothing",
			fenced:  map[int32][]int64{0: {10, 12}},
			table:   Offsets{"tx": {0: 10}},
			later:   map[int32][]int64{0: {10, 12, 14}},
			landed:  Offsets{"tx": {0: 10}},
			barrier: nil,
		},
		{
			name:    "records below the hole commit",
			fenced:  map[int32][]int64{0: {20, 21}},
			table:   Offsets{"tx": {0: 10}},
			later:   map[int32][]int64{0: {10, 11}},
			landed:  Offsets{"tx": {0: 10}},
			barrier: nil,
		},
		{
			name:    "other partitions are not held back",
			fenced:  map[int32][]int64{0: {10, 11}},
			table:   Offsets{"tx": {0: 10, 1: 5}},
			later:   map[int32][]int64{1: {5, 6}},
			landed:  Offsets{"tx": {0: 10, 1: 5}},
			barrier: nil,
		},
		{
			name:    "a partition the table never had",
			fenced:  map[int32][]int64{2: {0, 1}},
			table:   Offsets{},
			later:   map[int32][]int64{2: {2}},
			landed:  Offsets{},
			barrier: Offsets{"tx": {2: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := holes{}
			h.add(genOf(tt.fenced), tt.table)
			h.prune(tt.landed)
			assert.Equal(t, tt.barrier, h.barrier(genOf(tt.later)))
		})
	}
}

// TestHolesPrune: holes the table has passed are forgotten, and an empty
// partition or topic leaves no entry behind.
func TestHolesPrune(t *testing.T) {
	h := holes{}
	h.add(genOf(map[int32][]int64{0: {5, 7, 9}, 1: {3}}), Offsets{})
	h.prune(Offsets{"tx": {0: 8, 1: 4}})
	assert.Equal(t, holes{"tx": {0: {9}}}, h)
	h.prune(Offsets{"tx": {0: 10}})
	assert.Empty(t, h)
}

package redpanda

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckpointer(t *testing.T) {
	tests := []struct {
		name  string
		lasts []int64 // tracked batches, by last offset
		acks  []int   // indexes into lasts, in ack order
		marks []int64 // expected mark after each ack (-1: none yet)
	}{
		{
			name:  "in order",
			lasts: []int64{0, 1, 2},
			acks:  []int{0, 1, 2},
			marks: []int64{1, 2, 3},
		},
		{
			name:  "reverse order holds mark until head acked",
			lasts: []int64{4, 9, 14},
			acks:  []int{2, 1, 0},
			marks: []int64{-1, -1, 15},
		},
		{
			name:  "gap in the middle",
			lasts: []int64{0, 1, 2, 3, 4},
			acks:  []int{0, 2, 3, 1, 4},
			marks: []int64{1, 1, 1, 4, 5},
		},
		{
			name:  "sparse offsets (compaction or txn markers)",
			lasts: []int64{10, 25, 40},
			acks:  []int{1, 0, 2},
			marks: []int64{-1, 26, 41},
		},
		{
			name:  "duplicate ack is harmless",
			lasts: []int64{0, 1},
			acks:  []int{1, 1, 0},
			marks: []int64{-1, -1, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCheckpointer()
			cps := make([]*checkpoint, len(tt.lasts))
			for i, l := range tt.lasts {
				cps[i] = c.Track(l, 3, 1)
			}
			for i, a := range tt.acks {
				c.Ack(cps[a])
				off, epoch, ok := c.Mark()
				require.Equal(t, tt.marks[i], off, "after ack #%d", i)
				require.Equal(t, tt.marks[i] >= 0, ok)
				if ok {
					require.Equal(t, int32(3), epoch)
				}
			}
			require.Equal(t, 0, c.Pending())
			c.Committed(tt.marks[len(tt.marks)-1])
			_, _, ok := c.Mark()
			require.False(t, ok, "nothing new to commit")
		})
	}
}

// TestCheckpointerRandom acks a long run of batches in random order and
// checks after every ack that the mark never passes an unacked offset.
func TestCheckpointerRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 5000
	c := newCheckpointer()
	cps := make([]*checkpoint, n)
	for i := range cps {
		cps[i] = c.Track(int64(i*2+1), 0, 2) // batches of two offsets
	}
	acked := make([]bool, n)
	for _, i := range rng.Perm(n) {
		c.Ack(cps[i])
		acked[i] = true
		off, _, ok := c.Mark()
		firstUnacked := n
		for j, a := range acked {
			if !a {
				firstUnacked = j
				break
			}
		}
		if firstUnacked == 0 {
			require.False(t, ok)
			continue
		}
		// Everything below the mark is acked; the batch holding the
		// mark offset is the first unacked one.
		require.Equal(t, int64(firstUnacked*2), off)
	}
	require.Equal(t, 0, c.Pending())
}

package lake

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// SortByEventTime gives exactly a stable sort by (event_time, id).
func TestSortByEventTimeIsStable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{0, 1, 2, 17, 1000} {
		rows := make([]txn.Transaction, n)
		for i := range rows {
			rows[i] = txn.Transaction{
				// Few distinct instants and ids: many ties, some on both.
				EventTime:     base.Add(time.Duration(rng.IntN(5))*time.Second + time.Duration(rng.IntN(3))),
				TransactionID: string(rune('a' + rng.IntN(3))),
				AccountID:     string(rune('A' + i%26)),
				Amount:        txn.Amount(i),
			}
		}
		if n > 2 {
			rows[1].EventTime = rows[1].EventTime.In(time.FixedZone("x", 3600)) // the same instant elsewhere
		}
		want := slices.Clone(rows)
		slices.SortStableFunc(want, func(a, b txn.Transaction) int {
			if c := a.EventTime.Compare(b.EventTime); c != 0 {
				return c
			}
			return strings.Compare(a.TransactionID, b.TransactionID)
		})
		SortByEventTime(rows)
		require.Equal(t, want, rows, "n=%d", n)
		SortByEventTime(rows) // already sorted: unchanged
		require.Equal(t, want, rows, "n=%d", n)
	}
}

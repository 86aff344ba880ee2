package lake

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// AppendDir must give exactly Dir's directory for every kind of key.
func TestAppendDirMatchesDir(t *testing.T) {
	rows := testRows("appenddir", 200, 5)
	rows[3].MerchantID = ""
	rows[4].MerchantID = "a/b=c%"
	rows[5].IsFraud = true
	// Dates outside the fast path's four-digit years, and before the epoch.
	rows[6].EventTime = time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC)
	rows[7].EventTime = time.Date(12000, 1, 2, 3, 4, 5, 0, time.UTC)
	rows[8].EventTime = time.Date(-5, 1, 2, 3, 4, 5, 0, time.UTC)
	rows[9].EventTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 5*3600))
	for _, keys := range [][]string{
		DefaultPartitionBy,
		{KeyEventHour, "currency"},
		{KeyEventDate, "merchant_id", "is_fraud"},
		{"account_id"},
		nil,
	} {
		p, err := ParsePartitioning(keys)
		require.NoError(t, err)
		var buf []byte
		for i := range rows {
			want, _ := p.Dir(&rows[i])
			buf = p.AppendDir(buf[:0], &rows[i])
			require.Equal(t, want, string(buf), "keys %v", keys)
		}
	}
}

// The per-batch directory cache gives every row AppendDir's directory.
func TestDirCacheMatchesAppendDir(t *testing.T) {
	rows := testRows("dircache", 3000, 7)
	for i := range rows {
		if i%5 == 0 {
			rows[i].EventTime = rows[i].EventTime.Add(-time.Duration(i) * time.Hour)
		}
		if i%7 == 0 {
			rows[i].MerchantID = ""
		}
	}
	rows[6].EventTime = time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC)
	rows[7].EventTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, keys := range [][]string{
		DefaultPartitionBy,
		{KeyEventHour, "currency"},
		{"type", KeyEventDate},
		{KeyEventDate, "merchant_id"},
		{KeyEventDate, "merchant_id", "is_fraud"},
		{"account_id"},
		{KeyEventHour},
		nil,
	} {
		p, err := ParsePartitioning(keys)
		require.NoError(t, err)
		o := &lakeOutput{cfg: lakeConfig{part: p}}
		d := &decoded{dirIdx: map[string]int{}}
		for i := range rows {
			o.addRow(d, &rows[i], kafkaMeta{})
		}
		for i := range d.items {
			want := string(p.AppendDir(nil, &rows[i]))
			require.Equal(t, want, d.dirs[d.items[i].dir], "keys %v row %d", keys, i)
		}
	}
}

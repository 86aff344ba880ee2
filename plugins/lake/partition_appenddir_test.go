package lake

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// AppendDir must give exactly Dir's directory for every kind of key.
func TestAppendDirMatchesDir(t *testing.T) {
	rows := testRows("appenddir", 200, 5)
	rows[3].MerchantID = ""
	rows[4].MerchantID = "a/b=c%"
	rows[5].IsFraud = true
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

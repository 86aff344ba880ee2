package lake

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/trstream/trstream/plugins/txn"
)

// testRows builds n valid transactions spread over days dates and every
// type, with deterministic ids derived from seed.
func testRows(seed string, n, days int) []txn.Transaction {
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	out := make([]txn.Transaction, n)
	for i := range out {
		id := uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("%s-%d", seed, i))).String()
		out[i] = txn.Transaction{
			TransactionID:  id,
			EventTime:      base.Add(time.Duration(i%days)*24*time.Hour + time.Duration(i)*time.Second + 123*time.Microsecond),
			AccountID:      fmt.Sprintf("acc-%04d", i%97),
			MerchantID:     "m-1",
			Amount:         txn.AmountFromMinor(1234+int64(i), 2),
			CounterpartyID: fmt.Sprintf("acc-%04d", (i+1)%97),
			Currency:       "EUR",
			Type:           txn.Types[i%len(txn.Types)],
			Status:         txn.StatusCompleted,
			Channel:        txn.ChannelPOS,
			Country:        "DE",
			BalanceAfter:   txn.Amount(1000000),
			Source:         "test",
		}
	}
	return out
}

func ids(rows []txn.Transaction) []string {
	out := make([]string, len(rows))
	for i := range rows {
		out[i] = rows[i].TransactionID
	}
	return out
}

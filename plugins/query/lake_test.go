package query

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// testDates and testTypes lay out the test lake: every date × type is one
// partition with filesPerPartition files.
var (
	testDates         = []string{"2024-03-01", "2024-03-02", "2024-03-03"}
	testTypes         = []string{txn.TypePayment, txn.TypeRefund, txn.TypeTransfer}
	filesPerPartition = 2
	rowsPerFile       = 50
)

// buildLake writes a small hive-laid-out lake under dir and returns its files.
func buildLake(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	n := 0
	for _, d := range testDates {
		day, err := time.Parse(time.DateOnly, d)
		require.NoError(t, err)
		for ti, ty := range testTypes {
			for f := 0; f < filesPerPartition; f++ {
				rows := make([]txn.Transaction, rowsPerFile)
				for i := range rows {
					n++
					rows[i] = testTxn(n, day.Add(time.Duration(i*7+ti)*time.Minute), ty)
				}
				p := filepath.Join(dir, "data", "event_date="+d, "type="+ty, fmt.Sprintf("part-%d.parquet", f))
				writeParquet(t, p, rows)
				files = append(files, p)
			}
		}
	}
	return files
}

func testTxn(n int, at time.Time, typ string) txn.Transaction {
	tx := txn.Transaction{
		TransactionID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		EventTime:     at.UTC(),
		AccountID:     fmt.Sprintf("acc-%03d", n%17),
		Amount:        txn.Amount(int64(n)*12345 + 1),
		Currency:      []string{"EUR", "USD", "GBP"}[n%3],
		Type:          typ,
		Status:        txn.Statuses[n%len(txn.Statuses)],
		Channel:       txn.Channels[n%len(txn.Channels)],
		Country:       []string{"DE", "FR", "GB", "US"}[n%4],
		BalanceAfter:  txn.Amount(int64(n) * 99990000),
		Source:        "generator",
	}
	if n%5 == 0 {
		tx.MerchantID = fmt.Sprintf("m-%d", n%7)
		tx.MerchantCategory = "5411"
	}
	if n%31 == 0 {
		tx.IsFraud = true
		tx.FraudScenario = txn.FraudCardTesting
	}
	return tx
}

func writeParquet(t testing.TB, p string, rows []txn.Transaction) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	f, err := os.Create(p + ".tmp")
	require.NoError(t, err)
	w := parquet.NewGenericWriter[txn.Transaction](f)
	_, err = w.Write(rows)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.NoError(t, f.Close())
	require.NoError(t, os.Rename(p+".tmp", p))
}

// openTestEngine builds a lake in a temp dir and opens an engine on it.
func openTestEngine(t testing.TB, mod func(*Options)) (*Engine, string) {
	t.Helper()
	dir := t.TempDir()
	buildLake(t, dir)
	opts := Options{Source: GlobSource(dir), LakeDir: dir, PoolSize: 4, Timeout: 20 * time.Second}
	if mod != nil {
		mod(&opts)
	}
	e, err := Open(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e, dir
}

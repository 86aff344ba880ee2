package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// The Arrow peer must write what the lake writes: every row, exact
// decimals, microsecond timestamps, in event_date/type directories.
func TestArrowWriteDataset(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ndjson")
	lines := `{"transaction_id":"0003737e-07f2-4067-9f25-0509999db11f","event_time":"2026-09-01T00:00:02.306962Z","account_id":"acc-1","merchant_id":"mer-1","merchant_category":"5812","amount":24.34,"currency":"EUR","type":"payment","status":"completed","channel":"pos","country":"DE","card_fingerprint":"c2","balance_after":10129.66,"is_fraud":false,"source":"generator"}
{"transaction_id":"37aa8ac7-7ad2-4bd0-80e5-4a8292c8a60a","event_time":"2026-09-02T23:59:59.999999Z","account_id":"acc-2","counterparty_id":"acc-3","amount":153.0101,"currency":"EUR","type":"transfer","status":"completed","channel":"bank_transfer","is_fraud":true,"fraud_scenario":"account_takeover","source":"generator"}
{"transaction_id":"47aa8ac7-7ad2-4bd0-80e5-4a8292c8a60a","event_time":"2026-09-01T12:00:00Z","account_id":"acc-2","amount":1,"currency":"EUR","type":"payment","status":"completed","channel":"pos","is_fraud":false,"source":"generator"}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	n, err := arrowWriteDataset(context.Background(), in, out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("wrote %d rows, want 3", n)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	var last int64
	var sum, parts string
	q := `SELECT count(*), sum(amount)::VARCHAR, epoch_us(max(event_time)), string_agg(DISTINCT event_date || '/' || type, ',' ORDER BY event_date || '/' || type)
	      FROM read_parquet('` + out + `/**/*.parquet', hive_partitioning = true)`
	if err := db.QueryRow(q).Scan(&rows, &sum, &last, &parts); err != nil {
		t.Fatal(err)
	}
	if rows != 3 || sum != "178.3501" || last != 1788393599999999 || parts != "2026-09-01/payment,2026-09-02/transfer" {
		t.Fatalf("read back rows=%d sum=%s last=%d partitions=%s", rows, sum, last, parts)
	}
}

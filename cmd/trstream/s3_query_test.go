package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/trstream/trstream/plugins/lake"
	"github.com/trstream/trstream/plugins/txn"
)

// TestSQLOverS3Lake: `trstream sql` reads an S3 lake (an S3 server on
// loopback) with no httpfs: the snapshot's files come through the lake's
// storage into a local read-through cache, and the answer is the snapshot's.
func TestSQLOverS3Lake(t *testing.T) {
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("bucket"))
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0)).Server())
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	catalog := filepath.Join(t.TempDir(), "catalog.db")
	s3 := lake.S3Options{Endpoint: srv.URL, Region: "us-east-1", AccessKeyID: "test", SecretAccessKey: "test", ForcePathStyle: true}

	ctx := context.Background()
	loc, err := lake.ParseLocation("s3://bucket/lake", s3)
	require.NoError(t, err)
	tbl, err := lake.Open(ctx, loc, lake.WithCatalogURI(catalog))
	require.NoError(t, err)
	var rows []txn.Transaction
	for i := 0; i < 300; i++ {
		rows = append(rows, txn.Transaction{
			TransactionID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			EventTime:     time.Date(2026, 11, 20+i%3, 10, 0, i%60, 0, time.UTC),
			AccountID:     "acc-1", MerchantID: "m-1", Amount: txn.Amount(10000 * (i + 1)), Currency: "EUR",
			Type: txn.TypePayment, Status: txn.StatusCompleted, Channel: txn.ChannelPOS, Country: "DE", Source: "test",
		})
	}
	files, err := tbl.WriteFiles(ctx, rows, lake.WriteOptions{})
	require.NoError(t, err)
	require.NoError(t, tbl.Append(ctx, files, nil))
	require.NoError(t, tbl.Close())

	var out bytes.Buffer
	app := &cli.App{Name: "trstream", Writer: &out, Commands: []*cli.Command{sqlCommand()}}
	require.NoError(t, app.RunContext(ctx, []string{"trstream", "sql",
		"--lake", "s3://bucket/lake", "--catalog-uri", catalog, "--state", t.TempDir(),
		"--s3-endpoint", srv.URL, "--s3-region", "us-east-1", "--s3-force-path-style",
		"--format", "json", "select count(*) as n, sum(amount) as total, count(distinct event_date) as days from transactions"}))
	var res []map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), out.String())
	require.Len(t, res, 1)
	require.EqualValues(t, 300, res[0]["n"])
	require.EqualValues(t, 3, res[0]["days"])
	require.EqualValues(t, 45150, res[0]["total"]) // 1+2+…+300
}

package lake

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/internal/peakrss"
	"github.com/trstream/trstream/plugins/txn"
)

// TestRSSOpenPartitions measures the peak RSS of parquet_lake with 1,000
// partitions open at once (partition_by [event_date, account_id], 1,000
// accounts, one day), default memory settings, in a child process whose
// VmHWM is sampled until it exits. The bound is 512 MiB.
//
//	TRSTREAM_BENCH_RSS=1 [TRSTREAM_BENCH_RSS_ROWS=2000000] \
//	  go test ./plugins/lake -run TestRSSOpenPartitions -v
func TestRSSOpenPartitions(t *testing.T) {
	if os.Getenv("TRSTREAM_BENCH_RSS") == "" {
		t.Skip("set TRSTREAM_BENCH_RSS=1 to measure peak RSS with 1,000 open partitions")
	}
	rows := "2000000"
	if s := os.Getenv("TRSTREAM_BENCH_RSS_ROWS"); s != "" {
		rows = s
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestRSSChild$", "-test.v")
	cmd.Env = append(os.Environ(), "TRSTREAM_RSS_CHILD="+dir, "TRSTREAM_RSS_CHILD_ROWS="+rows,
		"TRSTREAM_RSS_CHILD_EXTRA="+os.Getenv("TRSTREAM_BENCH_RSS_LAKE"))
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	peak, err := peakrss.Run(cmd) // not ru_maxrss, which counts this process
	out := buf.String()
	require.NoError(t, err, out)
	t.Log(out)
	mib := peak >> 20
	t.Logf("rss: peak %d MiB with 1000 open partitions (%s rows)", mib, rows)

	tbl := openLake(t, dir, S3Options{}, WithPartitionBy([]string{KeyEventDate, "account_id"}))
	files, err := tbl.Files(context.Background())
	require.NoError(t, err)
	var n int64
	parts := map[string]bool{}
	for _, f := range files {
		n += f.Rows
		parts[f.Partition["account_id"]] = true
	}
	want, _ := strconv.ParseInt(rows, 10, 64)
	require.Equal(t, want, n)
	require.Len(t, parts, 1000)
	require.LessOrEqual(t, mib, int64(512), "peak RSS above 512 MiB")
}

// TestRSSChild is the child of TestRSSOpenPartitions.
func TestRSSChild(t *testing.T) {
	dir := os.Getenv("TRSTREAM_RSS_CHILD")
	if dir == "" {
		t.Skip("child of TestRSSOpenPartitions")
	}
	rows, err := strconv.Atoi(os.Getenv("TRSTREAM_RSS_CHILD_ROWS"))
	require.NoError(t, err)
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: warn"))
	send, err := sb.AddBatchProducerFunc()
	require.NoError(t, err)
	require.NoError(t, sb.AddOutputYAML(fmt.Sprintf(`
parquet_lake:
  path: %q
  partition_by: [ event_date, account_id ]
%s`, dir, os.Getenv("TRSTREAM_RSS_CHILD_EXTRA"))))
	stream, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stream.Run(ctx) }()

	base := time.Now().UTC().Add(-48 * time.Hour).Truncate(24 * time.Hour)
	const batch = 1000
	sem := make(chan struct{}, 64)
	errs := make(chan error, rows/batch+1)
	start := time.Now()
	for i := 0; i < rows; i += batch {
		msgs := make(service.MessageBatch, 0, batch)
		for j := i; j < min(i+batch, rows); j++ {
			tx := txn.Transaction{
				TransactionID:  uuid.NewSHA1(uuid.NameSpaceOID, []byte("rss-"+strconv.Itoa(j))).String(),
				EventTime:      base.Add(time.Duration(j) * 40 * time.Millisecond),
				AccountID:      fmt.Sprintf("acc-%08d", j%1000),
				CounterpartyID: fmt.Sprintf("acc-%08d", (j+1)%1000),
				Amount:         txn.AmountFromMinor(100+int64(j%100000), 2),
				Currency:       "EUR",
				Type:           txn.TypeTransfer,
				Status:         txn.StatusCompleted,
				Channel:        txn.ChannelMobile,
				Country:        "DE",
				BalanceAfter:   txn.Amount(j),
				Source:         "rss",
			}
			msgs = append(msgs, service.NewMessage(tx.AppendJSON(nil)))
		}
		sem <- struct{}{}
		go func() {
			errs <- send(ctx, msgs)
			<-sem
		}()
	}
	for i := 0; i < rows; i += batch {
		require.NoError(t, <-errs)
	}
	t.Logf("rss child: %d rows in %s", rows, time.Since(start).Round(time.Millisecond))
	require.NoError(t, stream.StopWithin(time.Minute))
	cancel()
	<-done
}

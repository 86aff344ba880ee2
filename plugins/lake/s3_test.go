package lake

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

type s3Stats struct {
	requests, injected, multipart atomic.Int64
}

// startS3 serves an in-memory gofakes3 with bucket "bucket" on 127.0.0.1.
// With failEvery > 0, every failEvery-th request gets a 500 before it
// reaches the store, and every request is delayed by latency.
func startS3(t testing.TB, failEvery int64, latency time.Duration) (string, *s3Stats) {
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("bucket"))
	faker := gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0))
	inner := faker.Server()
	st := &s3Stats{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := st.requests.Add(1)
		if r.URL.Query().Has("uploadId") {
			st.multipart.Add(1)
		}
		if latency > 0 {
			time.Sleep(latency)
		}
		if failEvery > 0 && n%failEvery == 0 {
			st.injected.Add(1)
			http.Error(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`, http.StatusInternalServerError)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, st
}

func s3Opts(endpoint string) S3Options {
	return S3Options{Endpoint: endpoint, Region: "us-east-1", AccessKeyID: "test", SecretAccessKey: "test", ForcePathStyle: true}
}

func s3OutYAML(endpoint, catalog string) string {
	return lakeOutYAML("s3://bucket/prefix", fmt.Sprintf(`  catalog_uri: %q
  s3:
    endpoint: %q
    region: us-east-1
    access_key_id: test
    secret_access_key: test
    force_path_style: true
`, catalog, endpoint))
}

func TestParquetLakeS3(t *testing.T) {
	endpoint, st := startS3(t, 0, 0)
	catalog := filepath.Join(t.TempDir(), "catalog.db")
	rows := testRows("s3", 300, 3)
	runStream(t, rows, "tx", 0, s3OutYAML(endpoint, catalog))

	tbl := openLake(t, "s3://bucket/prefix", s3Opts(endpoint), WithCatalogURI(catalog))
	files, err := tbl.Files(context.Background())
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		assert.Regexp(t, `^s3://bucket/prefix/data/event_date=2024-05-0[1-3]/type=[a-z]+/part-[0-9a-f-]+\.parquet$`, f.Path)
	}
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl))
	offs, err := tbl.Offsets(context.Background())
	require.NoError(t, err)
	assert.Equal(t, expectedOffsets("tx", 300, 0), offs)

	// The Iceberg metadata lives in the bucket too.
	objs, err := tbl.Storage().List(context.Background(), "metadata")
	require.NoError(t, err)
	assert.NotEmpty(t, objs)

	// A file above the 5 MiB part size goes up as a multipart upload.
	big := testRows("big", 160_000, 1)
	for i := range big {
		big[i].Type = txn.TypeDeposit
		big[i].EventTime = big[0].EventTime.Add(time.Duration(i) * time.Millisecond) // one day
	}
	before := st.multipart.Load()
	bf, err := tbl.WriteFiles(context.Background(), big, WriteOptions{Compression: "none"})
	require.NoError(t, err)
	require.Len(t, bf, 1)
	assert.Greater(t, bf[0].Bytes, int64(5<<20))
	assert.Greater(t, st.multipart.Load(), before, "no multipart upload seen")
	require.NoError(t, tbl.Append(context.Background(), bf, nil))
	rel, _ := tbl.Location().Rel(bf[0].Path)
	back, err := ReadFile(context.Background(), tbl.Storage(), rel)
	require.NoError(t, err)
	assert.Len(t, back, len(big))
}

func TestParquetLakeS3Faults(t *testing.T) {
	endpoint, st := startS3(t, 5, time.Millisecond)
	catalog := filepath.Join(t.TempDir(), "catalog.db")
	rows := testRows("faults", 300, 3)
	runStream(t, rows[:200], "tx", 0, s3OutYAML(endpoint, catalog))
	runStream(t, rows, "tx", 0, s3OutYAML(endpoint, catalog))
	assert.Greater(t, st.injected.Load(), int64(0))

	tbl := openLake(t, "s3://bucket/prefix", s3Opts(endpoint), WithCatalogURI(catalog))
	assert.Equal(t, sorted(ids(rows)), fileIDs(t, tbl))
	t.Logf("%d requests, %d injected 500s", st.requests.Load(), st.injected.Load())
}

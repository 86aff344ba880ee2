package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/lake"
)

// s3Server is an in-memory gofakes3 with bucket "bucket", served twice on
// 127.0.0.1: faulty (for the pipelines) and clean (for the test's reads).
type s3Server struct {
	faulty, clean      string
	requests, injected atomic.Int64
}

// startS3 serves the store; the faulty endpoint answers failRate of the
// requests with a 500 before they reach the store and delays each by up
// to maxLatency.
func startS3(t testing.TB, failRate float64, maxLatency time.Duration) *s3Server {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("bucket"))
	inner := gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0)).Server()
	s := &s3Server{}
	faulty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if maxLatency > 0 {
			time.Sleep(time.Duration(rand.Int64N(int64(maxLatency))))
		}
		if rand.Float64() < failRate {
			s.injected.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected by the chaos suite</Message></Error>`)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(faulty.Close)
	clean := httptest.NewServer(inner)
	t.Cleanup(clean.Close)
	s.faulty, s.clean = faulty.URL, clean.URL
	return s
}

// TestChaosS3Faults: the lake on s3://bucket/prefix of a gofakes3 that
// fails about 10% of requests with a 500 and adds latency; the catalog is
// a SQLite file. Nothing may be lost or land twice.
func TestChaosS3Faults(t *testing.T) {
	srv := startS3(t, 0.10, 5*time.Millisecond)
	catalog := filepath.Join(t.TempDir(), "catalog.db")
	const n = 20_000
	s := newStack(t, stackOpts{
		lakePath: "s3://bucket/prefix",
		catalog:  catalog,
		env: map[string]string{
			"AWS_ENDPOINT_URL_S3":     srv.faulty,
			"AWS_ACCESS_KEY_ID":       "test",
			"AWS_SECRET_ACCESS_KEY":   "test",
			"AWS_REGION":              "us-east-1",
			"AWS_S3_FORCE_PATH_STYLE": "true",
		},
		reader: &lakeReader{path: "s3://bucket/prefix", catalog: catalog, s3: lake.S3Options{
			Endpoint: srv.clean, Region: "us-east-1", AccessKeyID: "test", SecretAccessKey: "test", ForcePathStyle: true,
		}},
	})
	lk := s.startLake()
	s.waitLakeReady(60 * time.Second)
	in := s.startIngest(ingestOpts{count: n, rate: chaosRate, seed: 61, inject: true})
	require.NoError(t, in.wait(2*time.Minute+time.Duration(n/chaosRate)*time.Second), "ingest")
	s.finish("chaos_s3_faults", finishOpts{
		extra: fmt.Sprintf("s3_requests=%d s3_injected_500s=%d", srv.requests.Load(), srv.injected.Load()),
	}, lk)
	assert.Positive(t, srv.injected.Load(), "no fault was injected")
}

// TestChaosLocalDiskError: the local lake lives on a 64 MiB tmpfs; while
// both pipelines run, a ballast file fills it (disk full: data files,
// Iceberg metadata and the SQLite catalog all fail to write). The lake
// pipeline must stop committing without exiting, then resume once the
// ballast is removed, with nothing lost or duplicated.
func TestChaosLocalDiskError(t *testing.T) {
	lakeDir := filepath.Join(t.TempDir(), "lake")
	require.NoError(t, os.Mkdir(lakeDir, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", lakeDir).CombinedOutput(); err != nil {
		t.Skipf("disk full needs a small filesystem: mount -t tmpfs failed (%v: %s); not root or no CAP_SYS_ADMIN", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", lakeDir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v: %s", lakeDir, err, out)
			_ = exec.Command("umount", "-l", lakeDir).Run()
		}
	})
	outages := scaled(1)
	n := max(20_000, outages*10*chaosRate)
	s := newStack(t, stackOpts{lakePath: lakeDir})
	lk := s.startLake()
	s.waitLakeReady(30 * time.Second)
	in := s.startIngest(ingestOpts{count: n, rate: chaosRate, seed: 71, inject: true})
	snaps := s.waitCommit(0, 30*time.Second)
	var held []string
	for i := 0; i < outages; i++ {
		snaps = s.waitCommit(snaps, 30*time.Second)
		ballast := filepath.Join(lakeDir, "ballast")
		filled, err := fillDisk(ballast)
		require.NoError(t, err)
		// A commit already past its writes may still land; after that,
		// nothing may be committed while the disk is full.
		time.Sleep(3 * time.Second)
		ctx := t.Context()
		base, err := s.reader.read(ctx)
		require.NoError(t, err)
		hold := jitter(s.rng, 5*time.Second, 8*time.Second)
		deadline := time.Now().Add(hold)
		for time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
			require.False(t, lk.exited(), "the lake pipeline exited on a full disk: %s", lk.state())
			c, err := s.reader.snapshots(ctx)
			require.NoError(t, err)
			assert.Equal(t, base.snapshots, c, "a snapshot was committed while the disk was full")
		}
		lag := groupLag(ctx, s.broker.addr, "trstream-lake")
		require.NoError(t, os.Remove(ballast))
		held = append(held, fmt.Sprintf("%s(ballast %d MiB, group lag %d)", hold.Round(100*time.Millisecond), filled>>20, lag))
		t.Logf("disk full %d: %s held, lake at %d rows in %d snapshots, group lag %d", i+1, hold.Round(100*time.Millisecond), base.rows, base.snapshots, lag)
	}
	require.NoError(t, in.wait(2*time.Minute+time.Duration(n/chaosRate)*time.Second), "ingest")
	s.finish("chaos_local_disk_full", finishOpts{extra: fmt.Sprintf("outages=%v", held)}, lk)
}

// fillDisk writes path until the filesystem is full and returns its size.
func fillDisk(path string) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var size int64
	for _, chunk := range []int{1 << 20, 4 << 10, 512} {
		buf := make([]byte, chunk)
		for {
			n, err := f.Write(buf)
			size += int64(n)
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			if err != nil {
				return size, err
			}
		}
	}
	return size, nil
}

// groupLag is the consumer group's total lag (-1 if unknown).
func groupLag(ctx context.Context, addr, group string) int64 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	lags, err := adminLag(ctx, addr, group)
	if err != nil {
		return -1
	}
	return lags
}

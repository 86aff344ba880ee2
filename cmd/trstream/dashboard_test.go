package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/internal/devstack"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// TestMain removes the binary trstreamBinary built (about 190 MB a run,
// which piled up in the temp directory).
func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// trstreamBinary builds this command once per test run.
func trstreamBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "trstream-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "trstream")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return builtBin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// dashboardMetrics lists the metric names the Grafana dashboard queries.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../deployments/grafana/dashboards/trstream.json")
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(b, &d))
	byClause := regexp.MustCompile(`by \([^)]*\)|\{[^}]*\}|\[[^\]]*\]`)
	ident := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promql := map[string]bool{"sum": true, "rate": true, "increase": true, "histogram_quantile": true, "avg": true, "max": true, "min": true, "le": true}
	set := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, id := range ident.FindAllString(byClause.ReplaceAllString(tg.Expr, ""), -1) {
				if !promql[id] {
					set[id] = true
				}
			}
		}
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// scrape returns the metric family names (and their _bucket/_sum/_count and
// _total forms) served at url.
func scrape(url string) (map[string]bool, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for name, f := range fams {
		if len(f.GetMetric()) == 0 {
			continue
		}
		names[name] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			names[name+suffix] = true
		}
	}
	return names, nil
}

// TestDashboardMetricsExist runs the whole flow as `trstream dev` does (the
// embedded broker, every pipeline as a process, the query server), then
// checks that every metric the Grafana dashboard queries is on some
// /metrics endpoint, and that events reached the lake.
func TestDashboardMetricsExist(t *testing.T) {
	bin := trstreamBinary(t)
	lakeDir := filepath.Join(t.TempDir(), "lake")
	pipelines, err := filepath.Glob("../../pipelines/*.yaml")
	require.NoError(t, err)
	firstHTTP := freePort(t)
	serveAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var out syncBuffer
	stack, err := devstack.Start(t.Context(), devstack.Config{
		BrokerPort:    freePort(t),
		TopicsFile:    "../../redpanda/topics.yaml",
		Pipelines:     pipelines,
		FirstHTTPPort: firstHTTP,
		Extra:         []devstack.Process{{Name: "serve", Args: []string{"serve", "--lake", lakeDir, "--addr", serveAddr}}},
		Binary:        bin,
		Env: []string{
			"TRSTREAM_LAKE=" + lakeDir, "TRSTREAM_RATE=2000", "TRSTREAM_INJECT_INVALID=0.02",
			"TRSTREAM_COMPACT_INTERVAL=2s",
		},
		Out: &out,
	})
	require.NoError(t, err)
	defer func() {
		stack.Stop()
		if t.Failed() {
			t.Log(out.String())
		}
	}()

	var urls []string
	for i := range pipelines {
		urls = append(urls, fmt.Sprintf("http://127.0.0.1:%d/metrics", firstHTTP+i))
	}
	urls = append(urls, "http://"+serveAddr+"/metrics")
	// The query metrics' histogram fills once a query ran.
	want := dashboardMetrics(t)
	require.Contains(t, want, "lake_rows_total")
	var missing []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, _ = http.Post("http://"+serveAddr+"/v1/query", "application/json", strings.NewReader(`{"sql":"select count(*) from transactions"}`))
		have := map[string]bool{}
		for _, u := range urls {
			names, err := scrape(u)
			if err == nil {
				for n := range names {
					have[n] = true
				}
			}
		}
		missing = missing[:0]
		for _, n := range want {
			if !have[n] {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-stack.Failed():
			require.NoError(t, err)
		case <-time.After(2 * time.Second):
		}
	}
	require.Empty(t, missing, "dashboard metrics not served by any pipeline")

	// And the flow works: rows are queryable from the lake.
	resp, err := http.Post("http://"+serveAddr+"/v1/query", "application/json", strings.NewReader(`{"sql":"select count(*) as n from transactions"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	var res struct{ Rows [][]any }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
	require.Len(t, res.Rows, 1)
	require.NotEqual(t, float64(0), res.Rows[0][0])
}

// syncBuffer is a bytes.Buffer safe for the stack's log goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

package prometheus

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

func TestSanitiseName(t *testing.T) {
	tests := []struct {
		in, metric, label string
	}{
		{in: "input_received", metric: "input_received", label: "input_received"},
		{in: "output_latency_ns", metric: "output_latency_ns", label: "output_latency_ns"},
		{in: "foo.bar-baz", metric: "foo_bar_baz", label: "foo_bar_baz"},
		{in: "ns:sub_total", metric: "ns:sub_total", label: "ns_sub_total"},
		{in: "9lives", metric: "_lives", label: "_lives"},
		{in: "a9", metric: "a9", label: "a9"},
		{in: "héllo wörld", metric: "h_llo_w_rld", label: "h_llo_w_rld"},
		{in: "with/slash", metric: "with_slash", label: "with_slash"},
		{in: "", metric: "_", label: "_"},
		{in: "_ok", metric: "_ok", label: "_ok"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.metric, SanitiseName(tt.in))
			require.Equal(t, tt.label, SanitiseLabelName(tt.in))
			require.True(t, model.LegacyValidation.IsValidMetricName(SanitiseName(tt.in)))
			require.True(t, model.LegacyValidation.IsValidLabelName(SanitiseLabelName(tt.in)))
		})
	}
}

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))

	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{name: "defaults", yaml: `{}`},
		{name: "custom buckets", yaml: `histogram_buckets: [0.1, 1, 10]`},
		{name: "empty buckets", yaml: `histogram_buckets: []`, wantErr: "at least one bucket"},
		{name: "empty buckets ok for summaries", yaml: "use_histogram_timing: false\nhistogram_buckets: []"},
		{name: "unsorted buckets", yaml: `histogram_buckets: [1, 0.5]`, wantErr: "strictly increasing"},
		{name: "duplicate buckets", yaml: `histogram_buckets: [1, 1]`, wantErr: "strictly increasing"},
		{name: "file in existing dir", yaml: fmt.Sprintf("file_output_path: %q", filepath.Join(dir, "m.prom"))},
		{name: "file in missing dir", yaml: fmt.Sprintf("file_output_path: %q", filepath.Join(dir, "nope", "m.prom")), wantErr: "parent directory"},
		{name: "file under a file", yaml: fmt.Sprintf("file_output_path: %q", filepath.Join(notDir, "m.prom")), wantErr: "file_output_path"},
		{name: "custom objectives", yaml: "summary_quantiles_objectives: [ { quantile: 0.999, error: 0.0001 } ]"},
		{name: "objective out of range", yaml: "summary_quantiles_objectives: [ { quantile: 1.5, error: 0.01 } ]", wantErr: "field summary_quantiles_objectives[0]"},
		{name: "push", yaml: "push_url: http://127.0.0.1:9091\npush_interval: 10s\npush_basic_auth: { username: u, password: p }"},
		{name: "push url not http", yaml: "push_url: ftp://127.0.0.1:9091", wantErr: "field push_url"},
		{name: "push interval zero", yaml: "push_url: http://127.0.0.1:9091\npush_interval: 0s", wantErr: "field push_interval"},
		{name: "push job empty", yaml: "push_url: http://127.0.0.1:9091\npush_job_name: ''", wantErr: "field push_job_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pConf, err := ConfigSpec().ParseYAML(tt.yaml, nil)
			require.NoError(t, err)
			_, err = newFromParsed(pConf, nil)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func newTestExporter(t *testing.T, yaml string) *Exporter {
	t.Helper()
	pConf, err := ConfigSpec().ParseYAML(yaml, nil)
	require.NoError(t, err)
	e, err := newFromParsed(pConf, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

// scrape calls the exporter's handler and parses the text exposition.
func scrape(t *testing.T, h http.HandlerFunc) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return parseText(t, rec.Body)
}

func parseText(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	require.NoError(t, err)
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// findMetric returns the series of fam whose labels include want.
func findMetric(t *testing.T, fam *dto.MetricFamily, want map[string]string) *dto.Metric {
	t.Helper()
	for _, m := range fam.GetMetric() {
		got := labelsOf(m)
		match := true
		for k, v := range want {
			if got[k] != v {
				match = false
				break
			}
		}
		if match {
			return m
		}
	}
	require.Failf(t, "series not found", "family %s has no series with labels %v", fam.GetName(), want)
	return nil
}

func TestExporterMetricTypes(t *testing.T) {
	tests := []struct {
		name          string
		yaml          string
		wantTimerType dto.MetricType
	}{
		{name: "histogram timing", yaml: `{}`, wantTimerType: dto.MetricType_HISTOGRAM},
		{name: "summary timing", yaml: `use_histogram_timing: false`, wantTimerType: dto.MetricType_SUMMARY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestExporter(t, tt.yaml)

			ctr := e.NewCounterCtor("my.counter", "topic")
			ctr("a").Incr(3)
			ctr("a").Incr(-5) // ignored: counters cannot go down
			ctr("b").Incr(1)
			// A name that sanitises to the same metric with identical label
			// keys shares the same vec.
			e.NewCounterCtor("my_counter", "topic")("a").Incr(1)

			g := e.NewGaugeCtor("my_gauge")()
			g.Set(7)
			g.(interface{ SetFloat64(float64) }).SetFloat64(2.5)

			tm := e.NewTimerCtor("my_latency_ns", "path")
			tm("root.output").Timing(int64(2 * time.Second))
			tm("root.output").Timing(int64(500 * time.Millisecond))

			fams := scrape(t, e.HandlerFunc())

			cf := fams["my_counter"]
			require.NotNil(t, cf, "sanitised counter name")
			require.Equal(t, dto.MetricType_COUNTER, cf.GetType())
			require.Equal(t, 4.0, findMetric(t, cf, map[string]string{"topic": "a"}).GetCounter().GetValue())
			require.Equal(t, 1.0, findMetric(t, cf, map[string]string{"topic": "b"}).GetCounter().GetValue())

			gf := fams["my_gauge"]
			require.NotNil(t, gf)
			require.Equal(t, dto.MetricType_GAUGE, gf.GetType())
			require.Equal(t, 2.5, gf.GetMetric()[0].GetGauge().GetValue())

			tf := fams["my_latency_ns"]
			require.NotNil(t, tf)
			require.Equal(t, tt.wantTimerType, tf.GetType())
			m := findMetric(t, tf, map[string]string{"path": "root.output"})
			// Synthetic deltas (not measured time): 2s + 0.5s, exported in seconds.
			switch tt.wantTimerType {
			case dto.MetricType_HISTOGRAM:
				require.Equal(t, uint64(2), m.GetHistogram().GetSampleCount())
				require.InDelta(t, 2.5, m.GetHistogram().GetSampleSum(), 1e-9)
				require.Equal(t, prometheus.DefBuckets, finiteBounds(m.GetHistogram()))
			case dto.MetricType_SUMMARY:
				require.Equal(t, uint64(2), m.GetSummary().GetSampleCount())
				require.InDelta(t, 2.5, m.GetSummary().GetSampleSum(), 1e-9)
			}
		})
	}
}

func TestExporterConflictingRegistrationsDoNotPanic(t *testing.T) {
	tests := []struct {
		name     string
		register func(e *Exporter)
	}{
		{name: "counter different label keys", register: func(e *Exporter) {
			e.NewCounterCtor("dup", "b")("x").Incr(100)
		}},
		{name: "counter fewer label keys", register: func(e *Exporter) {
			e.NewCounterCtor("dup")().Incr(100)
		}},
		{name: "gauge same name", register: func(e *Exporter) {
			e.NewGaugeCtor("dup", "a")("x").Set(100)
		}},
		{name: "timer same name", register: func(e *Exporter) {
			e.NewTimerCtor("dup", "a")("x").Timing(100)
		}},
		{name: "wrong label value count", register: func(e *Exporter) {
			e.NewCounterCtor("dup", "a")("x", "y").Incr(100)
		}},
		{name: "clash with go collector", register: func(e *Exporter) {
			e.NewGaugeCtor("go_goroutines")().Set(-1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestExporter(t, `add_go_metrics: true`)
			e.NewCounterCtor("dup", "a")("x").Incr(1)

			require.NotPanics(t, func() { tt.register(e) })

			fams := scrape(t, e.HandlerFunc())
			require.Equal(t, dto.MetricType_COUNTER, fams["dup"].GetType())
			require.Equal(t, 1.0, findMetric(t, fams["dup"], map[string]string{"a": "x"}).GetCounter().GetValue())
			require.NotEqual(t, -1.0, fams["go_goroutines"].GetMetric()[0].GetGauge().GetValue())
		})
	}
}

func TestExporterRuntimeCollectors(t *testing.T) {
	tests := []struct {
		name        string
		yaml        string
		wantGo      bool
		wantProcess bool
	}{
		{name: "defaults", yaml: `{}`},
		{name: "go", yaml: `add_go_metrics: true`, wantGo: true},
		{name: "process", yaml: `add_process_metrics: true`, wantProcess: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fams := scrape(t, newTestExporter(t, tt.yaml).HandlerFunc())
			_, hasGo := fams["go_goroutines"]
			require.Equal(t, tt.wantGo, hasGo)
			_, hasProc := fams["process_start_time_seconds"]
			if tt.wantProcess {
				// The process collector only works where procfs is available.
				if _, err := os.Stat("/proc/self/stat"); err != nil {
					t.Skip("no procfs")
				}
			}
			require.Equal(t, tt.wantProcess, hasProc)
		})
	}
}

func TestExporterFileOutputOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.prom")
	pConf, err := ConfigSpec().ParseYAML(fmt.Sprintf("file_output_path: %q", path), nil)
	require.NoError(t, err)
	e, err := newFromParsed(pConf, nil)
	require.NoError(t, err)

	e.NewCounterCtor("input_received", "label", "path")("", "root.input").Incr(5)

	_, err = os.Stat(path)
	require.True(t, os.IsNotExist(err), "nothing written before Close")

	require.NoError(t, e.Close(context.Background()))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	fams := parseText(t, f)
	require.Equal(t, 5.0, findMetric(t, fams["input_received"], map[string]string{"path": "root.input"}).GetCounter().GetValue())
}

//------------------------------------------------------------------------------

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestStreamServesMetrics(t *testing.T) {
	const (
		n            = 25
		generatePath = "root.input.broker.inputs.0"
	)
	tests := []struct {
		name    string
		metrics string
		wantGo  bool
	}{
		{name: "defaults", metrics: `prometheus: {}`},
		{name: "with go metrics", metrics: `prometheus: { add_go_metrics: true }`, wantGo: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := freeAddr(t)
			// The broker keeps the stream (and its HTTP server) alive after
			// generate has finished: nothing is ever POSTed to http_server. The
			// broker itself is not instrumented, so generate's series has the
			// path root.input.broker.inputs.0.
			yaml := fmt.Sprintf(`
http:
  enabled: true
  address: %s
metrics:
  %s
input:
  broker:
    inputs:
      - generate:
          count: %d
          interval: ""
          mapping: 'root = {"id": counter()}'
      - http_server: {}
output:
  drop: {}
logger:
  level: warn
`, addr, tt.metrics, n)

			sb := service.NewStreamBuilder()
			require.NoError(t, sb.SetYAML(yaml))
			strm, err := sb.Build()
			require.NoError(t, err)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runErr := make(chan error, 1)
			go func() { runErr <- strm.Run(ctx) }()
			defer func() {
				require.NoError(t, strm.StopWithin(10*time.Second))
				<-runErr
			}()

			var fams map[string]*dto.MetricFamily
			require.Eventually(t, func() bool {
				resp, err := http.Get("http://" + addr + "/metrics")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return false
				}
				fams, err = expfmtParse(resp.Body)
				if err != nil {
					return false
				}
				return counterValue(fams["input_received"], generatePath) == n &&
					counterValue(fams["output_sent"], "root.output") == n
			}, 20*time.Second, 50*time.Millisecond, "input_received/output_sent never reached %d", n)

			require.Equal(t, dto.MetricType_COUNTER, fams["input_received"].GetType())
			require.Equal(t, dto.MetricType_COUNTER, fams["output_sent"].GetType())

			// Timers are histograms whose buckets are the default seconds-scale
			// bounds (0.005s .. 10s); no assertion on observed durations.
			lat := fams["output_latency_ns"]
			require.NotNil(t, lat, "output_latency_ns timer exported")
			require.Equal(t, dto.MetricType_HISTOGRAM, lat.GetType())
			h := findMetric(t, lat, map[string]string{"path": "root.output"}).GetHistogram()
			require.NotZero(t, h.GetSampleCount())
			require.Equal(t, prometheus.DefBuckets, finiteBounds(h))
			require.Contains(t, lat.GetHelp(), "seconds")

			_, hasGo := fams["go_goroutines"]
			require.Equal(t, tt.wantGo, hasGo)
		})
	}
}

// finiteBounds returns the bucket upper bounds of h without the implicit +Inf
// bucket that the text format carries.
func finiteBounds(h *dto.Histogram) []float64 {
	var out []float64
	for _, b := range h.GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			out = append(out, b.GetUpperBound())
		}
	}
	return out
}

func expfmtParse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	return p.TextToMetricFamilies(r)
}

// counterValue returns the value of the series of fam whose path label is
// path, or -1.
func counterValue(fam *dto.MetricFamily, path string) float64 {
	for _, m := range fam.GetMetric() {
		if labelsOf(m)["path"] == path {
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

// Guard against accidental global registration.
func TestExporterUsesPrivateRegistry(t *testing.T) {
	e := newTestExporter(t, `{}`)
	e.NewCounterCtor("private_registry_probe")().Incr(1)
	fams, err := prometheus.DefaultGatherer.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		require.False(t, strings.HasPrefix(f.GetName(), "private_registry_probe"))
	}
}

// The spec's example must be a config Benthos accepts (SetYAML lints it).
func TestSpecExamplesLint(t *testing.T) {
	view, ok := service.GlobalEnvironment().GetMetricsConfig(Name)
	require.True(t, ok, "registered in init")
	data, err := view.TemplateData()
	require.NoError(t, err)
	require.NotEmpty(t, data.Examples)
	for _, ex := range data.Examples {
		t.Run(ex.Title, func(t *testing.T) {
			require.NoError(t, service.NewStreamBuilder().SetYAML(ex.Config))
		})
	}
}

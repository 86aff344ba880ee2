package redpanda

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	_ "github.com/trstream/trstream/plugins/prometheus"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// scrape fetches and parses /metrics; any parse error fails the test.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err, "/metrics does not parse:\n%s", body)
	return fams
}

// sumFamily adds up a counter or gauge family, optionally only the series
// whose label has the given value.
func sumFamily(f *dto.MetricFamily, label, value string) (float64, int) {
	if f == nil {
		return 0, 0
	}
	var sum float64
	n := 0
	for _, m := range f.GetMetric() {
		if label != "" {
			match := false
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
		}
		n++
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, n
}

// TestMetricsEndpoint runs redpanda input -> redpanda output with the
// prometheus exporter on the HTTP server: /metrics parses as the Prometheus
// text format and carries input_received, output_sent and redpanda_lag (one
// series per partition, back to 0 once everything is read).
func TestMetricsEndpoint(t *testing.T) {
	const n = 1500
	tc := newTestCluster(t)
	tc.createTopic(t, "m-in", 3)
	tc.createTopic(t, "m-out", 2)
	tc.produce(t, "m-in", n, 11)

	port := freePort(t)
	sb := service.NewStreamBuilder()
	require.NoError(t, sb.SetYAML(fmt.Sprintf(`
http:
  enabled: true
  address: 127.0.0.1:%d
metrics:
  prometheus: {}
logger:
  level: none
input:
  redpanda:
    seed_brokers: [ %s ]
    topics: [ m-in ]
    consumer_group: metrics
    fetch_max_wait: 100ms
    fetch_max_partition_bytes: 4KiB
output:
  redpanda:
    seed_brokers: [ %s ]
    topic: m-out
`, port, tc.addr, tc.addr)))
	s, err := sb.Build()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	rs := &runningStream{s: s, done: done}
	t.Cleanup(func() { rs.stop(t) })

	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	var fams map[string]*dto.MetricFamily
	waitFor(t, 60*time.Second, func() bool {
		if _, err := http.Get(url); err != nil {
			return false // server not up yet
		}
		fams = scrape(t, url)
		received, _ := sumFamily(fams["input_received"], "", "")
		sent, _ := sumFamily(fams["output_sent"], "", "")
		lag, series := sumFamily(fams["redpanda_lag"], "topic", "m-in")
		return received >= n && sent >= n && series == 3 && lag == 0
	}, "metrics reach the record count and lag drains to 0")

	require.Equal(t, dto.MetricType_GAUGE, fams["redpanda_lag"].GetType())
	parts := map[string]bool{}
	for _, m := range fams["redpanda_lag"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "partition" {
				parts[l.GetValue()] = true
			}
		}
	}
	require.Equal(t, map[string]bool{"0": true, "1": true, "2": true}, parts)
	require.Len(t, tc.consumeAll(t, "m-out", n), n)
}

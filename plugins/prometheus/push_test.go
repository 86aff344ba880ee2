package prometheus

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/trstream/trstream/internal/testenv"
)

// TestSummaryObjectives: with use_histogram_timing false, a timer exports
// exactly the configured quantiles.
func TestSummaryObjectives(t *testing.T) {
	e := newTestExporter(t, "use_histogram_timing: false\nsummary_quantiles_objectives: [ { quantile: 0.5, error: 0.05 }, { quantile: 0.999, error: 0.0001 } ]")
	e.NewTimerCtor("output_latency_ns")().Timing(int64(2 * time.Millisecond))
	fam := scrape(t, e.HandlerFunc())["output_latency_ns"]
	require.Equal(t, dto.MetricType_SUMMARY, fam.GetType())
	var got []float64
	for _, q := range fam.GetMetric()[0].GetSummary().GetQuantile() {
		got = append(got, q.GetQuantile())
		require.InDelta(t, 0.002, q.GetValue(), 1e-9, "one observation of 2ms, in seconds")
	}
	require.Equal(t, []float64{0.5, 0.999}, got)
}

// pushgateway runs Debian's Prometheus Pushgateway on a free loopback port,
// with the web config file given (empty: none), and returns its address.
func pushgateway(t *testing.T, webConfig string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		testenv.Missing(t, "prometheus-pushgateway not installed (apt-get install prometheus-pushgateway)")
	}
	addr := freeAddr(t)
	args := []string{"--web.listen-address=" + addr, "--persistence.file="}
	if webConfig != "" {
		f := filepath.Join(t.TempDir(), "web.yml")
		require.NoError(t, os.WriteFile(f, []byte(webConfig), 0o600))
		args = append(args, "--web.config.file="+f)
	}
	cmd := exec.Command(bin, args...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized
	}, 10*time.Second, 20*time.Millisecond, "pushgateway did not start")
	return addr
}

// gateway reads what the Pushgateway exposes for job (nil when it has
// nothing of it), with basic auth when user is set.
func gateway(t *testing.T, addr, job, user, pass string) *dto.Metric {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	fam := parseText(t, resp.Body)["input_received"]
	for _, m := range fam.GetMetric() {
		if labelsOf(m)["job"] == job {
			return m
		}
	}
	return nil
}

// TestPushToPushgateway: with push_interval the metrics reach a real
// Pushgateway while the pipeline runs; without it, only when it stops, with
// the final values.
func TestPushToPushgateway(t *testing.T) {
	addr := pushgateway(t, "")

	live := newTestExporter(t, fmt.Sprintf("push_url: http://%s\npush_interval: 50ms\npush_job_name: live", addr))
	live.NewCounterCtor("input_received", "path")("root.input").Incr(3)
	require.Eventually(t, func() bool {
		m := gateway(t, addr, "live", "", "")
		return m != nil && m.GetCounter().GetValue() == 3
	}, 10*time.Second, 20*time.Millisecond, "periodic push")

	pConf, err := ConfigSpec().ParseYAML(fmt.Sprintf("push_url: http://%s\npush_job_name: final", addr), nil)
	require.NoError(t, err)
	final, err := newFromParsed(pConf, nil)
	require.NoError(t, err)
	c := final.NewCounterCtor("input_received", "path")("root.input")
	c.Incr(5)
	time.Sleep(200 * time.Millisecond)
	require.Nil(t, gateway(t, addr, "final", "", ""), "nothing is pushed before Close without push_interval")
	c.Incr(2)
	require.NoError(t, final.Close(context.Background()))
	m := gateway(t, addr, "final", "", "")
	require.NotNil(t, m)
	require.Equal(t, 7.0, m.GetCounter().GetValue())
	require.Equal(t, "root.input", labelsOf(m)["path"])
}

// TestPushBasicAuth: a Pushgateway that requires basic auth takes pushes
// with push_basic_auth's credentials, and Close reports the rejection of
// wrong ones.
func TestPushBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	require.NoError(t, err)
	addr := pushgateway(t, fmt.Sprintf("basic_auth_users:\n  ops: %s\n", hash))

	push := func(pass string) error {
		pConf, err := ConfigSpec().ParseYAML(fmt.Sprintf("push_url: http://%s\npush_job_name: auth\npush_basic_auth: { username: ops, password: %q }", addr, pass), nil)
		require.NoError(t, err)
		e, err := newFromParsed(pConf, nil)
		require.NoError(t, err)
		e.NewCounterCtor("input_received")().Incr(1)
		return e.Close(context.Background())
	}
	require.ErrorContains(t, push("wrong"), "401")
	require.NoError(t, push("s3cret"))
	m := gateway(t, addr, "auth", "ops", "s3cret")
	require.NotNil(t, m)
	require.Equal(t, 1.0, m.GetCounter().GetValue())
}

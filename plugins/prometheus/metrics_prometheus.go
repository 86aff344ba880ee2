// Package prometheus provides the `prometheus` Benthos metrics exporter. It
// keeps a private Prometheus registry per exporter instance and exposes it via
// the Benthos HTTP server at `/metrics` (and `/stats`).
package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/trstream/trstream/internal/every"
)

// Name is the name the exporter is registered under.
const Name = "prometheus"

// Field names of the exporter config.
const (
	fieldUseHistogramTiming = "use_histogram_timing"
	fieldHistogramBuckets   = "histogram_buckets"
	fieldAddProcessMetrics  = "add_process_metrics"
	fieldAddGoMetrics       = "add_go_metrics"
	fieldFileOutputPath     = "file_output_path"
	fieldSummaryObjectives  = "summary_quantiles_objectives"
	fieldQuantile           = "quantile"
	fieldError              = "error"
	fieldPushURL            = "push_url"
	fieldPushInterval       = "push_interval"
	fieldPushJobName        = "push_job_name"
	fieldPushBasicAuth      = "push_basic_auth"
	fieldUsername           = "username"
	fieldPassword           = "password"
)

// nsPerSecond converts Benthos timer deltas (nanoseconds) into seconds.
const nsPerSecond = float64(1e9)

// defaultObjectives are the quantiles, and their allowed errors, exported
// when timers are summaries (Redpanda Connect's defaults).
func defaultObjectives() []any {
	return []any{
		map[string]any{fieldQuantile: 0.5, fieldError: 0.05},
		map[string]any{fieldQuantile: 0.9, fieldError: 0.01},
		map[string]any{fieldQuantile: 0.99, fieldError: 0.001},
	}
}

func defaultBuckets() []any {
	out := make([]any, len(prometheus.DefBuckets))
	for i, b := range prometheus.DefBuckets {
		out[i] = b
	}
	return out
}

// ConfigSpec returns the config spec of the prometheus metrics exporter.
func ConfigSpec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Stable().
		Summary("Host endpoints (`/metrics` and `/stats`) for Prometheus scraping.").
		Description(`
Metrics are kept in a registry private to this exporter and served in the Prometheus text exposition format by the Benthos HTTP server (the `+"`http`"+` section of the config) at `+"`/metrics`"+` and `+"`/stats`"+`.

Metric and label names are sanitised to the Prometheus rules: any rune that is not in `+"`[a-zA-Z0-9_:]`"+` (or a leading digit) is replaced by `+"`_`"+`. Names are otherwise kept exactly as Benthos emits them (for example `+"`input_received`"+`, `+"`output_sent`"+`, `+"`output_latency_ns`"+`), matching Redpanda Connect dashboards.

Timer values arrive in nanoseconds and are exported in **seconds** (as histograms by default, or as summaries), even though Benthos timer names keep their `+"`_ns`"+` suffix.

If the same metric name is registered twice with a different type or different label keys, the second registration is ignored (a no-op metric is returned) and a warning is logged.`).
		Fields(
			service.NewBoolField(fieldUseHistogramTiming).
				Description("Export timing metrics as histograms (values in seconds, bucketed by `"+fieldHistogramBuckets+"`). When `false`, timings are exported as summaries with the quantiles of `"+fieldSummaryObjectives+"` (also in seconds).").
				Advanced().
				Default(true),
			service.NewFloatListField(fieldHistogramBuckets).
				Description("Upper bounds (in seconds) of the histogram buckets used for timing metrics when `"+fieldUseHistogramTiming+"` is `true`. Must be non-empty, finite and strictly increasing. The default is the Prometheus client default bucket set.").
				Advanced().
				Example([]any{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5}).
				Default(defaultBuckets()),
			service.NewBoolField(fieldAddProcessMetrics).
				Description("Also export the standard process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`, open file descriptors, ...) of the running process.").
				Advanced().
				Default(false),
			service.NewBoolField(fieldAddGoMetrics).
				Description("Also export the standard Go runtime metrics (`go_goroutines`, `go_memstats_*`, GC statistics, ...).").
				Advanced().
				Default(false),
			service.NewObjectListField(fieldSummaryObjectives,
				service.NewFloatField(fieldQuantile).Description("A quantile to export, between 0 and 1."),
				service.NewFloatField(fieldError).Description("The absolute error allowed in its rank, between 0 and 1."),
			).
				Description("The quantiles a timer exports, with the error each is allowed, when `"+fieldUseHistogramTiming+"` is `false`.").
				Advanced().
				Example([]any{map[string]any{fieldQuantile: 0.5, fieldError: 0.05}, map[string]any{fieldQuantile: 0.999, fieldError: 0.0001}}).
				Default(defaultObjectives()),
			service.NewURLField(fieldPushURL).
				Description("The address of a Prometheus Pushgateway to push the metrics to, for pipelines that cannot be scraped or that end before they would be (the `lake_compact` schedule, a bounded backfill). Pushes go every `"+fieldPushInterval+"` and once more when the pipeline stops, replacing the job's earlier metrics (HTTP PUT). `/metrics` is served as well.").
				Advanced().
				Example("http://pushgateway:9091").
				Optional(),
			service.NewDurationField(fieldPushInterval).
				Description("How often to push to `"+fieldPushURL+"`. Without it the metrics are pushed once, when the pipeline stops.").
				Advanced().
				Example("15s").
				Optional(),
			service.NewStringField(fieldPushJobName).
				Description("The `job` label of the pushed metrics, which the Pushgateway groups them under.").
				Advanced().
				Default("trstream_push"),
			service.NewObjectField(fieldPushBasicAuth,
				service.NewStringField(fieldUsername).Description("The username.").Default(""),
				service.NewStringField(fieldPassword).Description("The password.").Default("").Secret(),
			).
				Description("HTTP basic authentication for the Pushgateway; used when the username is set.").
				Advanced().
				Optional(),
			service.NewStringField(fieldFileOutputPath).
				Description("When non-empty, the full metrics registry is written to this file in the Prometheus text format when the exporter is closed (i.e. on shutdown). Useful for batch jobs that exit before they can be scraped. The parent directory must already exist.").
				Advanced().
				Example("/tmp/trstream_metrics.prom").
				Default(""),
		).
		Example(
			"Scraped pipeline with runtime metrics",
			"Serve Prometheus metrics at `http://<host>:4195/metrics`, with Go runtime and process metrics, and finer latency buckets.",
			`
http:
  address: 0.0.0.0:4195

metrics:
  prometheus:
    use_histogram_timing: true
    histogram_buckets: [ 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5 ]
    add_process_metrics: true
    add_go_metrics: true
`)
}

func init() {
	service.MustRegisterMetricsExporter(Name, ConfigSpec(),
		func(conf *service.ParsedConfig, log *service.Logger) (service.MetricsExporter, error) {
			return newFromParsed(conf, log)
		})
}

//------------------------------------------------------------------------------

type exporterConfig struct {
	useHistogram   bool
	buckets        []float64
	objectives     map[float64]float64
	processMetrics bool
	goMetrics      bool
	fileOutputPath string
	push           pushConfig
}

// pushConfig says where and how often to push; a zero url pushes nothing.
type pushConfig struct {
	url, job, username, password string
	interval                     time.Duration
}

func parseConfig(conf *service.ParsedConfig) (c exporterConfig, err error) {
	if c.useHistogram, err = conf.FieldBool(fieldUseHistogramTiming); err != nil {
		return c, err
	}
	if c.buckets, err = conf.FieldFloatList(fieldHistogramBuckets); err != nil {
		return c, err
	}
	if c.processMetrics, err = conf.FieldBool(fieldAddProcessMetrics); err != nil {
		return c, err
	}
	if c.goMetrics, err = conf.FieldBool(fieldAddGoMetrics); err != nil {
		return c, err
	}
	if c.fileOutputPath, err = conf.FieldString(fieldFileOutputPath); err != nil {
		return c, err
	}
	if c.objectives, err = parseObjectives(conf); err != nil {
		return c, err
	}
	if c.push, err = parsePush(conf); err != nil {
		return c, err
	}
	return c, c.validate()
}

func parseObjectives(conf *service.ParsedConfig) (map[float64]float64, error) {
	list, err := conf.FieldObjectList(fieldSummaryObjectives)
	if err != nil {
		return nil, err
	}
	out := make(map[float64]float64, len(list))
	for i, o := range list {
		q, err := o.FieldFloat(fieldQuantile)
		if err != nil {
			return nil, err
		}
		e, err := o.FieldFloat(fieldError)
		if err != nil {
			return nil, err
		}
		if !(q > 0 && q < 1) || !(e > 0 && e < 1) {
			return nil, fmt.Errorf("field %s[%d]: quantile %v and error %v must each be between 0 and 1", fieldSummaryObjectives, i, q, e)
		}
		out[q] = e
	}
	return out, nil
}

func parsePush(conf *service.ParsedConfig) (p pushConfig, err error) {
	if p.job, err = conf.FieldString(fieldPushJobName); err != nil {
		return p, err
	}
	if !conf.Contains(fieldPushURL) {
		return p, nil
	}
	u, err := conf.FieldURL(fieldPushURL)
	if err != nil {
		return p, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return p, fmt.Errorf("field %s: %q is not an http(s) address", fieldPushURL, u)
	}
	p.url = u.String()
	if p.job == "" {
		return p, fmt.Errorf("field %s: must not be empty when field %s is set", fieldPushJobName, fieldPushURL)
	}
	if conf.Contains(fieldPushInterval) {
		if p.interval, err = conf.FieldDuration(fieldPushInterval); err != nil {
			return p, err
		}
		if p.interval <= 0 {
			return p, fmt.Errorf("field %s: must be greater than zero", fieldPushInterval)
		}
	}
	if conf.Contains(fieldPushBasicAuth) {
		auth := conf.Namespace(fieldPushBasicAuth)
		if p.username, err = auth.FieldString(fieldUsername); err != nil {
			return p, err
		}
		if p.password, err = auth.FieldString(fieldPassword); err != nil {
			return p, err
		}
	}
	return p, nil
}

func (c exporterConfig) validate() error {
	if c.useHistogram {
		if len(c.buckets) == 0 {
			return fmt.Errorf("field %s: must contain at least one bucket", fieldHistogramBuckets)
		}
		for i, b := range c.buckets {
			if math.IsNaN(b) || math.IsInf(b, 0) {
				return fmt.Errorf("field %s: bucket %d (%v) must be finite", fieldHistogramBuckets, i, b)
			}
			if i > 0 && b <= c.buckets[i-1] {
				return fmt.Errorf("field %s: buckets must be strictly increasing, got %v after %v", fieldHistogramBuckets, b, c.buckets[i-1])
			}
		}
	}
	if c.fileOutputPath != "" {
		dir := filepath.Dir(c.fileOutputPath)
		st, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("field %s: parent directory of %q: %w", fieldFileOutputPath, c.fileOutputPath, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("field %s: parent %q of %q is not a directory", fieldFileOutputPath, dir, c.fileOutputPath)
		}
	}
	return nil
}

//------------------------------------------------------------------------------

type metricKind string

const (
	kindCounter metricKind = "counter"
	kindGauge   metricKind = "gauge"
	kindTimer   metricKind = "timer"
)

type registered struct {
	kind      metricKind
	labelKeys []string
	collector prometheus.Collector
}

// Exporter is the prometheus metrics exporter. It implements
// service.MetricsExporter and exposes HandlerFunc so that Benthos serves the
// registry on its HTTP server.
type Exporter struct {
	log  *service.Logger
	conf exporterConfig
	reg  *prometheus.Registry

	mu      sync.Mutex
	metrics map[string]registered
	closed  bool

	pusher     *push.Pusher  // nil without push_url
	stopPush   chan struct{} // closed by Close to end the push loop
	pushLoopWG sync.WaitGroup
}

var (
	_ service.MetricsExporter                     = (*Exporter)(nil)
	_ interface{ HandlerFunc() http.HandlerFunc } = (*Exporter)(nil)
)

func newFromParsed(conf *service.ParsedConfig, log *service.Logger) (*Exporter, error) {
	c, err := parseConfig(conf)
	if err != nil {
		return nil, err
	}
	return newExporter(c, log)
}

func newExporter(c exporterConfig, log *service.Logger) (*Exporter, error) {
	e := &Exporter{
		log:     log,
		conf:    c,
		reg:     prometheus.NewRegistry(),
		metrics: map[string]registered{},
	}
	if c.goMetrics {
		if err := e.reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, fmt.Errorf("registering go collector: %w", err)
		}
	}
	if c.processMetrics {
		if err := e.reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, fmt.Errorf("registering process collector: %w", err)
		}
	}
	if c.push.url != "" {
		e.pusher = push.New(c.push.url, c.push.job).Gatherer(e.reg)
		if c.push.username != "" {
			e.pusher = e.pusher.BasicAuth(c.push.username, c.push.password)
		}
		if c.push.interval > 0 {
			e.stopPush = make(chan struct{})
			e.pushLoopWG.Add(1)
			go e.pushLoop()
		}
	}
	return e, nil
}

// pushLoop pushes every push_interval until Close. A failed push is logged
// and the next one tried: the Pushgateway being away must not stop the
// pipeline.
func (e *Exporter) pushLoop() {
	defer e.pushLoopWG.Done()
	every.Run(e.conf.push.interval, e.stopPush, func() {
		if err := e.pusher.Push(); err != nil {
			e.warnf("pushing metrics to %s: %v", e.conf.push.url, err)
		}
	})
}

// Registry returns the private registry of the exporter (useful in tests and
// for embedding).
func (e *Exporter) Registry() *prometheus.Registry {
	return e.reg
}

// HandlerFunc returns an HTTP handler serving the registry in the Prometheus
// exposition format. Benthos mounts it at /metrics and /stats.
func (e *Exporter) HandlerFunc() http.HandlerFunc {
	return promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP
}

// register returns the collector registered under name, creating it with
// mk if needed. ok is false if the name is taken by a metric with a different
// kind or label keys, or if the registry rejected it.
func (e *Exporter) register(kind metricKind, name string, labelKeys []string, mk func(name string, labels []string) prometheus.Collector) (prometheus.Collector, bool) {
	name = SanitiseName(name)
	keys := make([]string, len(labelKeys))
	for i, k := range labelKeys {
		keys[i] = SanitiseLabelName(k)
	}

	e.mu.Lock()
	defer e.mu.Unlock()

	if existing, exists := e.metrics[name]; exists {
		if existing.kind == kind && slices.Equal(existing.labelKeys, keys) {
			return existing.collector, true
		}
		e.warnf("metric %q already registered as %s with labels %v, ignoring registration as %s with labels %v", name, existing.kind, existing.labelKeys, kind, keys)
		return nil, false
	}

	col := mk(name, keys)
	if err := e.reg.Register(col); err != nil {
		e.warnf("unable to register metric %q (%s, labels %v): %v", name, kind, keys, err)
		return nil, false
	}
	e.metrics[name] = registered{kind: kind, labelKeys: keys, collector: col}
	return col, true
}

func (e *Exporter) warnf(format string, args ...any) {
	if e.log != nil {
		e.log.Warnf(format, args...)
	}
}

// NewCounterCtor implements service.MetricsExporter.
func (e *Exporter) NewCounterCtor(name string, labelKeys ...string) service.MetricsExporterCounterCtor {
	col, ok := e.register(kindCounter, name, labelKeys, func(n string, l []string) prometheus.Collector {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: n, Help: "Benthos Counter metric"}, l)
	})
	if !ok {
		return func(...string) service.MetricsExporterCounter { return noop{} }
	}
	vec := col.(*prometheus.CounterVec)
	return func(labelValues ...string) service.MetricsExporterCounter {
		c, err := vec.GetMetricWithLabelValues(labelValues...)
		if err != nil {
			e.warnf("counter %q: %v", name, err)
			return noop{}
		}
		return counter{c}
	}
}

// NewTimerCtor implements service.MetricsExporter.
func (e *Exporter) NewTimerCtor(name string, labelKeys ...string) service.MetricsExporterTimerCtor {
	col, ok := e.register(kindTimer, name, labelKeys, func(n string, l []string) prometheus.Collector {
		if e.conf.useHistogram {
			return prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name:    n,
				Help:    "Benthos Timing metric (seconds)",
				Buckets: e.conf.buckets,
			}, l)
		}
		return prometheus.NewSummaryVec(prometheus.SummaryOpts{
			Name:       n,
			Help:       "Benthos Timing metric (seconds)",
			Objectives: e.conf.objectives,
		}, l)
	})
	if !ok {
		return func(...string) service.MetricsExporterTimer { return noop{} }
	}
	vec, isVec := col.(interface {
		GetMetricWithLabelValues(lvs ...string) (prometheus.Observer, error)
	})
	if !isVec {
		// Unreachable: both HistogramVec and SummaryVec satisfy this.
		return func(...string) service.MetricsExporterTimer { return noop{} }
	}
	return func(labelValues ...string) service.MetricsExporterTimer {
		o, err := vec.GetMetricWithLabelValues(labelValues...)
		if err != nil {
			e.warnf("timer %q: %v", name, err)
			return noop{}
		}
		return timer{o}
	}
}

// NewGaugeCtor implements service.MetricsExporter.
func (e *Exporter) NewGaugeCtor(name string, labelKeys ...string) service.MetricsExporterGaugeCtor {
	col, ok := e.register(kindGauge, name, labelKeys, func(n string, l []string) prometheus.Collector {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n, Help: "Benthos Gauge metric"}, l)
	})
	if !ok {
		return func(...string) service.MetricsExporterGauge { return noop{} }
	}
	vec := col.(*prometheus.GaugeVec)
	return func(labelValues ...string) service.MetricsExporterGauge {
		g, err := vec.GetMetricWithLabelValues(labelValues...)
		if err != nil {
			e.warnf("gauge %q: %v", name, err)
			return noop{}
		}
		return gauge{g}
	}
}

// Close implements service.MetricsExporter. When file_output_path is set the
// registry is written there (atomically, via a temp file) in text format.
func (e *Exporter) Close(context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()

	var errs []error
	if e.pusher != nil {
		if e.stopPush != nil {
			close(e.stopPush)
			e.pushLoopWG.Wait()
		}
		// The final values, so that a pipeline that ends is not left
		// showing what it had at its last interval.
		if err := e.pusher.Push(); err != nil {
			errs = append(errs, fmt.Errorf("pushing metrics to %s: %w", e.conf.push.url, err))
		}
	}
	if e.conf.fileOutputPath != "" {
		if err := prometheus.WriteToTextfile(e.conf.fileOutputPath, e.reg); err != nil {
			errs = append(errs, fmt.Errorf("writing metrics to %s: %w", e.conf.fileOutputPath, err))
		}
	}
	return errors.Join(errs...)
}

//------------------------------------------------------------------------------

type counter struct{ c prometheus.Counter }

// Incr ignores negative values: Prometheus counters cannot decrease (Add
// would panic).
func (c counter) Incr(n int64) {
	if n > 0 {
		c.c.Add(float64(n))
	}
}

func (c counter) IncrFloat64(n float64) {
	if n > 0 {
		c.c.Add(n)
	}
}

type gauge struct{ g prometheus.Gauge }

func (g gauge) Set(v int64)          { g.g.Set(float64(v)) }
func (g gauge) SetFloat64(v float64) { g.g.Set(v) }

type timer struct{ o prometheus.Observer }

// Timing receives a delta in nanoseconds and observes it in seconds.
func (t timer) Timing(deltaNs int64) { t.o.Observe(float64(deltaNs) / nsPerSecond) }

// noop is returned for metrics that could not be registered.
type noop struct{}

func (noop) Incr(int64)          {}
func (noop) IncrFloat64(float64) {}
func (noop) Set(int64)           {}
func (noop) SetFloat64(float64)  {}
func (noop) Timing(int64)        {}

//------------------------------------------------------------------------------

// SanitiseName maps a Benthos metric name onto the Prometheus metric name rules
// ([a-zA-Z_:][a-zA-Z0-9_:]*): every other rune, and a leading digit, becomes
// '_'. An empty name becomes "_".
func SanitiseName(name string) string {
	return sanitise(name, true)
}

// SanitiseLabelName maps a label key onto the Prometheus label name rules
// ([a-zA-Z_][a-zA-Z0-9_]*); colons are not allowed in label names.
func SanitiseLabelName(name string) string {
	return sanitise(name, false)
}

func sanitise(name string, allowColon bool) string {
	if name == "" {
		return "_"
	}
	var b strings.Builder
	b.Grow(len(name))
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
			b.WriteRune(r)
		case r == ':' && allowColon:
			b.WriteRune(r)
		case r >= '0' && r <= '9' && i > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

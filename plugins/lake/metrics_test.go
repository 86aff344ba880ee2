package lake

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	_ "github.com/trstream/trstream/plugins/prometheus"
	"github.com/trstream/trstream/plugins/txn"
)

// TestParquetLakeVisibleDelay: lake_visible_delay_seconds observes, per
// commit, the age of its oldest row when it became visible: from its
// Kafka timestamp when it has one, else from when it reached the output.
func TestParquetLakeVisibleDelay(t *testing.T) {
	const age = time.Minute
	tests := []struct {
		name     string
		batch    func([]txn.Transaction) service.MessageBatch
		min, max time.Duration
	}{
		{
			name: "from the oldest Kafka timestamp",
			batch: func(rs []txn.Transaction) service.MessageBatch {
				b := txBatch(rs, 0)
				now := time.Now()
				for i, m := range b {
					// The first row is the oldest; later ones are newer.
					m.MetaSetMut("kafka_timestamp_ms", now.Add(-age+time.Duration(i)*time.Second).UnixMilli())
				}
				return b
			},
			min: age, max: age + 30*time.Second,
		},
		{
			name:  "without Kafka, from reaching the output",
			batch: rowsBatch,
			min:   0, max: 30 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			send, stop := producerStream(t, nil, func(sb *service.StreamBuilder) error {
				sb.SetHTTPMux(mux)
				if err := sb.SetMetricsYAML("prometheus: {}"); err != nil {
					return err
				}
				return sb.AddOutputYAML(lakeOutYAML(t.TempDir(), ""))
			})
			require.NoError(t, send(context.Background(), tt.batch(testRows(tt.name, 10, 1))))
			require.NoError(t, stop())

			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			parser := expfmt.NewTextParser(model.LegacyValidation)
			fams, err := parser.TextToMetricFamilies(rec.Body)
			require.NoError(t, err)
			f := fams[MetricVisibleDelay]
			require.NotNil(t, f, "%s not served", MetricVisibleDelay)
			require.Equal(t, dto.MetricType_HISTOGRAM, f.GetType())
			h := f.GetMetric()[0].GetHistogram()
			require.EqualValues(t, 1, h.GetSampleCount(), "one commit")
			got := time.Duration(h.GetSampleSum() * float64(time.Second))
			require.GreaterOrEqual(t, got, tt.min)
			require.Less(t, got, tt.max)
		})
	}
}

package generator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/internal/cputime"
)

// BenchmarkGenerator measures the model alone: one op is one event.
func BenchmarkGenerator(b *testing.B) {
	m, err := New(DefaultConfig())
	require.NoError(b, err)
	buf := make([]byte, 0, 1<<20)
	total := 0
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cputime.Process().Seconds()
	for i := 0; i < b.N; i++ {
		if len(buf) > 1<<20-1024 {
			total += len(buf)
			buf = buf[:0]
		}
		buf, _ = m.Append(buf)
	}
	total += len(buf)
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(b.N)/secs, "events/s")
	b.ReportMetric(float64(b.N)/(cputime.Process().Seconds()-cpu), "events/cpu-s")
	b.ReportMetric(float64(total)/secs/1e6, "MB/s")
}

// streamBench runs input → drop through a real stream for b.N messages and
// reports events/s, stream start-up included.
func streamBench(b *testing.B, input string) {
	streamBenchEnv(b, service.GlobalEnvironment(), input)
}

// streamBenchEnv is streamBench with the components of env.
func streamBenchEnv(b *testing.B, env *service.Environment, input string) {
	sb := env.NewStreamBuilder()
	require.NoError(b, sb.SetYAML(fmt.Sprintf(input, b.N)+"\noutput:\n  drop: {}\n"))
	require.NoError(b, sb.SetLoggerYAML("level: none"))
	stream, err := sb.Build()
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cputime.Process().Seconds()
	require.NoError(b, stream.Run(context.Background()))
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/(cputime.Process().Seconds()-cpu), "events/cpu-s")
}

// BenchmarkGeneratorStream runs the input → drop, by metadata choice.
func BenchmarkGeneratorStream(b *testing.B) {
	for _, c := range []struct{ name, metadata string }{
		{"default", "[kafka_key, account_id, event_type]"},
		{"kafka_key", "[kafka_key]"},
		{"none", "[]"},
	} {
		b.Run(c.name, func(b *testing.B) {
			streamBench(b, `
input:
  transaction_generator:
    rate: 0
    count: %d
    metadata: `+c.metadata+`
`)
		})
	}
}

// stockMapping makes the same fields as the generator, the way a Benthos
// user would with the stock generate input.
const stockMapping = `
let amount = random_int(min: 1, max: 50000)
root.transaction_id = uuid_v4()
root.event_time = now()
root.account_id = "acc-%%08d".format(random_int(max: 9999))
root.merchant_id = "mer-%%06d".format(random_int(max: 999))
root.merchant_category = ["5411","5812","5541","5999","4111","5732","7011","4814","5912","5311"].index(random_int(max: 9))
root.amount = $amount / 100
root.currency = "EUR"
root.type = "payment"
root.status = "completed"
root.channel = ["pos","ecommerce"].index(random_int(max: 1))
root.country = ["DE","FR","IT","ES","NL"].index(random_int(max: 4))
root.card_fingerprint = uuid_v4().replace_all("-", "")
root.balance_after = random_int(max: 1000000) / 100
root.is_fraud = false
root.source = "generator"
meta kafka_key = root.account_id
meta account_id = root.account_id
meta event_type = root.type
`

func BenchmarkStockGenerate(b *testing.B) {
	streamBench(b, `
input:
  generate:
    interval: ""
    batch_size: 1024
    count: %d
    mapping: |`+indent(stockMapping, "      ")+`
`)
}

func indent(s, pre string) string {
	out := ""
	for _, line := range splitLines(s) {
		out += "\n" + pre + line
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i > start {
				lines = append(lines, s[start:i])
			}
			start = i + 1
		}
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

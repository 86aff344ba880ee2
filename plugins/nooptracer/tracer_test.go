package nooptracer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestStartKeepsContext: Start hands back the context and its span.
func TestStartKeepsContext(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, Remote: true,
	})
	parent := trace.ContextWithRemoteSpanContext(context.Background(), sc)
	ctx, span := Provider{}.Tracer("x").Start(parent, "op")
	require.Equal(t, parent, ctx)
	require.Equal(t, sc, span.SpanContext())
	require.False(t, span.IsRecording())

	ctx, span = Provider{}.Tracer("x").Start(context.Background(), "op")
	require.Equal(t, context.Background(), ctx)
	require.False(t, span.SpanContext().IsValid())
	span.End() // a no-op
}

// TestDefaultTracer: a stream without a tracer section runs with this one,
// so no span is put in a message's context at the input or the processor,
// where the stock noop tracer puts its noop.Span.
func TestDefaultTracer(t *testing.T) {
	env := service.NewEnvironment() // a copy of the global one, with our `none`
	var wrapped, seen atomic.Int64
	require.NoError(t, env.RegisterProcessor("ctx_probe", service.NewConfigSpec(),
		func(*service.ParsedConfig, *service.Resources) (service.Processor, error) {
			return probe(func(m *service.Message) {
				seen.Add(1)
				// The stock tracer puts a noop.Span in the context.
				if _, ok := trace.SpanFromContext(m.Context()).(noop.Span); ok {
					wrapped.Add(1)
				}
			}), nil
		}))
	sb := env.NewStreamBuilder()
	require.NoError(t, sb.SetLoggerYAML("level: none"))
	require.NoError(t, sb.AddInputYAML(`generate: { mapping: 'root = "x"', count: 10, interval: "" }`))
	require.NoError(t, sb.AddProcessorYAML(`ctx_probe: {}`))
	require.NoError(t, sb.AddOutputYAML(`drop: {}`))
	s, err := sb.Build()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Run(ctx))
	require.EqualValues(t, 10, seen.Load())
	require.Zero(t, wrapped.Load(), "messages whose context a span start wrapped")
}

type probe func(*service.Message)

func (p probe) Process(_ context.Context, m *service.Message) (service.MessageBatch, error) {
	p(m)
	return service.MessageBatch{m}, nil
}

func (probe) Close(context.Context) error { return nil }

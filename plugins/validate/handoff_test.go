package validate

import (
	"context"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/generator"
	"github.com/trstream/trstream/plugins/txn"
)

// bodies returns n valid generator events cut from one buffer, as a
// Kafka fetch's records are.
func bodies(tb testing.TB, n int) [][]byte {
	m, err := generator.New(generator.DefaultConfig())
	require.NoError(tb, err)
	var buf []byte
	var ends []int
	for len(ends) < n {
		start := len(buf)
		buf, _ = m.Append(buf)
		if _, err := txn.Decode(buf[start:]); err != nil {
			buf = buf[:start] // an injected invalid event
			continue
		}
		ends = append(ends, len(buf))
	}
	out := make([][]byte, n)
	for i, start := 0, 0; i < n; i++ {
		out[i] = buf[start:ends[i]:ends[i]]
		start = ends[i]
	}
	return out
}

func batchOf(bs ...[]byte) service.MessageBatch {
	batch := make(service.MessageBatch, len(bs))
	for i, b := range bs {
		batch[i] = service.NewMessage(b)
	}
	return batch
}

func process(t *testing.T, p *validateProcessor, batch service.MessageBatch) {
	t.Helper()
	handoffWant.Store(true)
	_, err := p.ProcessBatch(context.Background(), batch)
	require.NoError(t, err)
}

func TestHandoffGivesTheRowOfTheSameBytesOnce(t *testing.T) {
	bs := bodies(t, 4)
	batch := batchOf(bs...)
	process(t, newProc(t, `{}`), batch)
	for i, m := range batch {
		b, _ := m.AsBytes()
		want, err := txn.Decode(b)
		require.NoError(t, err)
		got, strict := Take(b)
		require.NotNil(t, got, "message %d", i)
		assert.True(t, strict, "default limits are the lake's")
		assert.Equal(t, want, *got)
		again, _ := Take(b)
		assert.Nil(t, again, "message %d given out twice", i)
	}
}

func TestHandoffMisses(t *testing.T) {
	bs := bodies(t, 3)
	other := bodies(t, 4)[3]
	valid := good()
	for _, c := range []struct {
		name string
		conf string
		body []byte
		// change runs between validate and Take, on the message.
		change func(m *service.Message)
		take   func(m *service.Message) []byte
	}{
		{name: "body replaced", body: bs[0], change: func(m *service.Message) { m.SetBytes(other) }},
		{name: "same bytes, another slice", body: bs[1], change: func(m *service.Message) {
			b, _ := m.AsBytes()
			m.SetBytes(append([]byte(nil), b...))
		}},
		{name: "a prefix of the bytes", body: bs[2], take: func(m *service.Message) []byte {
			b, _ := m.AsBytes()
			return b[:len(b)-1]
		}},
		{name: "invalid", body: []byte(`{"transaction_id":`)},
		{name: "normalized", conf: `normalize: true`, body: valid.AppendJSON(nil)},
		{name: "never validated", body: bodies(t, 5)[4], change: func(*service.Message) {}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := service.NewMessage(c.body)
			if c.name != "never validated" {
				conf := c.conf
				if conf == "" {
					conf = `{}`
				}
				process(t, newProc(t, conf), service.MessageBatch{m})
			}
			if c.change != nil {
				c.change(m)
			}
			b, _ := m.AsBytes()
			if c.take != nil {
				b = c.take(m)
			}
			got, _ := Take(b)
			assert.Nil(t, got)
		})
	}
}

// Looser limits than the lake's: the row is handed over, marked, so the
// lake applies its own.
func TestHandoffNotStrictWithOtherLimits(t *testing.T) {
	big := []byte(with("amount", `2000000000`))
	p := newProc(t, `max_amount: "5000000000"`)
	batch := batchOf(big)
	process(t, p, batch)
	require.NoError(t, batch[0].GetError())
	got, strict := Take(big)
	require.NotNil(t, got)
	assert.False(t, strict)
	assert.Error(t, txn.DefaultLimits.Validate(got, time.Now()), "the lake's limits refuse it")
}

// BenchmarkHandoff: what the lake saves (a decode, against a take) and
// what validate pays (leaving the rows) on 1024 generator events.
func BenchmarkHandoff(b *testing.B) {
	bs := bodies(b, 1024)
	conf, err := validateConfigSpec().ParseYAML(`{}`, nil)
	require.NoError(b, err)
	p, err := newValidateProcessor(conf, service.MockResources())
	require.NoError(b, err)
	for _, want := range []bool{false, true} {
		name := map[bool]string{false: "validate", true: "validate+leave"}[want]
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				handoffWant.Store(want)
				if _, err := p.ProcessBatch(context.Background(), batchOf(bs...)); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				for _, body := range bs {
					Take(body) // empty the table
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bs)), "ns/row")
		})
	}
	var t txn.Transaction
	b.Run("lake-decode", func(b *testing.B) {
		now := time.Now()
		for b.Loop() {
			for _, body := range bs {
				if err := txn.DefaultLimits.DecodeInto(body, now, &t, true); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bs)), "ns/row")
	})
	b.Run("lake-take", func(b *testing.B) {
		handoffWant.Store(true)
		for b.Loop() {
			b.StopTimer()
			if _, err := p.ProcessBatch(context.Background(), batchOf(bs...)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for _, body := range bs {
				if got, _ := Take(body); got == nil {
					// A row lost to a full bucket (rare).
					if err := txn.DefaultLimits.DecodeInto(body, time.Now(), &t, true); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bs)), "ns/row")
	})
}

// With 16,384 rows in flight, as between a Kafka input's 4 MiB batch and
// the lake's batcher, nearly every row is still there to take: a row is
// overwritten only when its whole bucket is taken.
func TestHandoffKeepsRowsInFlight(t *testing.T) {
	const n = 16384
	handoffWant.Store(true)
	bs := bodies(t, n)
	hs := make([]handoff, n)
	for i, b := range bs {
		leave(&hs[i], b, true)
	}
	hits := 0
	for i, b := range bs {
		if got, _ := Take(b); got != nil {
			require.Same(t, &hs[i].t, got, "row %d", i)
			hits++
		}
	}
	// One slot a row lost 6% of them here.
	assert.GreaterOrEqual(t, hits, n*99/100, "rows taken of %d", n)
	for _, b := range bs {
		got, _ := Take(b)
		require.Nil(t, got, "a row given out twice")
	}
}

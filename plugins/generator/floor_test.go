package generator

import (
	"context"
	"testing"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
)

// floorInput is the cheapest possible batch input: one fixed body, no
// model, no encoding. What it costs per message is Benthos' own share.
type floorInput struct {
	body  []byte
	left  int
	batch int
	meta  string // "none", "key", "three" or "template"
	tmpl  *service.Message
}

func (f *floorInput) Connect(context.Context) error { return nil }
func (f *floorInput) Close(context.Context) error   { return nil }

func (f *floorInput) ReadBatch(context.Context) (service.MessageBatch, service.AckFunc, error) {
	if f.left <= 0 {
		return nil, nil, service.ErrEndOfInput
	}
	n := min(f.batch, f.left)
	f.left -= n
	b := make(service.MessageBatch, n)
	for i := range b {
		var m *service.Message
		switch f.meta {
		case "template":
			m = f.tmpl.Copy()
			m.SetBytes(f.body)
		default:
			m = service.NewMessage(f.body)
		}
		switch f.meta {
		case "key":
			m.MetaSetMut(MetaKafkaKey, "acc-00000001")
		case "three":
			m.MetaSetMut(MetaKafkaKey, "acc-00000001")
			m.MetaSetMut(MetaAccountID, "acc-00000001")
			m.MetaSetMut(MetaEventType, "payment")
		}
		b[i] = m
	}
	return b, func(context.Context, error) error { return nil }, nil
}

// BenchmarkBenthosFloor measures prebuilt messages → drop: the per-message
// cost no input can avoid, by metadata variant.
func BenchmarkBenthosFloor(b *testing.B) {
	body, _ := mustModel(b).Append(nil)
	for _, meta := range []string{"none", "key", "three", "template"} {
		b.Run(meta, func(b *testing.B) {
			env := service.NewEnvironment()
			spec := service.NewConfigSpec().Field(service.NewIntField("count"))
			require.NoError(b, env.RegisterBatchInput("floor", spec, func(c *service.ParsedConfig, _ *service.Resources) (service.BatchInput, error) {
				n, err := c.FieldInt("count")
				tmpl := service.NewMessage(nil)
				tmpl.MetaSetMut(MetaKafkaKey, "acc-00000001")
				tmpl.MetaSetMut(MetaAccountID, "acc-00000001")
				tmpl.MetaSetMut(MetaEventType, "payment")
				return &floorInput{body: body, left: n, batch: defaultBatchSize, meta: meta, tmpl: tmpl}, err
			}))
			streamBenchEnv(b, env, "input:\n  floor:\n    count: %d\n")
		})
	}
}

func mustModel(b *testing.B) *Model {
	m, err := New(DefaultConfig())
	require.NoError(b, err)
	return m
}

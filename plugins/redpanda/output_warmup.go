package redpanda

import (
	"context"

	"github.com/twmb/franz-go/pkg/kgo"
)

// warmUp loads the producer ID (idempotent writes) and opens the produce
// connections during Connect, while the input starts, instead of after the
// first batch is buffered: the first produce request then waits for the
// topic's metadata only. Best effort, bounded by timeout: a failure here is
// the first write's to report.
func (w *redpandaWriter) warmUp(ctx context.Context, cl *kgo.Client) {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	if w.idempotent {
		if _, _, err := cl.ProducerID(ctx); err != nil {
			w.log.Debugf("loading the producer ID: %v", err)
		}
	}
	if err := cl.EnsureProduceConnectionIsOpen(ctx); err != nil {
		w.log.Debugf("opening produce connections: %v", err)
	}
}

package redpanda

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConnectWarmUp: Connect loads the producer ID when writes are
// idempotent (and only then), and opens a produce connection, before any
// write.
func TestConnectWarmUp(t *testing.T) {
	for _, idempotent := range []bool{true, false} {
		t.Run(fmt.Sprint("idempotent=", idempotent), func(t *testing.T) {
			tc := newTestCluster(t)
			var initPID, conns atomic.Int32
			tc.c.ControlKey(int16(kmsg.InitProducerID), func(kmsg.Request) (kmsg.Response, error, bool) {
				tc.c.KeepControl()
				initPID.Add(1)
				return nil, nil, false
			})
			// Every connection starts with ApiVersions.
			tc.c.ControlKey(int16(kmsg.ApiVersions), func(kmsg.Request) (kmsg.Response, error, bool) {
				tc.c.KeepControl()
				conns.Add(1)
				return nil, nil, false
			})
			w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %s ]\ntopic: t\nidempotent_write: %v\n", tc.addr, idempotent))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, w.Connect(ctx))
			defer w.Close(ctx)
			want := int32(0)
			if idempotent {
				want = 1
			}
			require.Equal(t, want, initPID.Load(), "InitProducerID requests")
			// The ping's (to the seed broker) and, opened by the
			// warm-up, the broker's produce connection.
			require.GreaterOrEqual(t, conns.Load(), int32(2), "connections opened")
		})
	}
}

package redpanda

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

// TestTCPSettingsReachTheSocket dials a loopback listener with the dialer a
// redpanda component gives franz-go, plain and over TLS, and reads the
// socket options back from the kernel.
func TestTCPSettingsReachTheSocket(t *testing.T) {
	const tcp = `
tcp:
  connect_timeout: 2s
  keep_alive: { idle: 7s, interval: 3s, count: 4 }
  tcp_user_timeout: 1500ms
`
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer plain.Close()
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	secure := httptest.NewTLSServer(http.NotFoundHandler())
	defer secure.Close()

	for _, tt := range []struct {
		name, yaml, addr string
	}{
		{"input", "seed_brokers: [ localhost:9092 ]\ntopics: [ foo ]\n" + tcp, plain.Addr().String()},
		{"output", "seed_brokers: [ localhost:9092 ]\ntopic: foo\n" + tcp, plain.Addr().String()},
		{"output over tls", "seed_brokers: [ localhost:9092 ]\ntopic: foo\ntls: { enabled: true, skip_cert_verify: true }\n" + tcp, strings.TrimPrefix(secure.URL, "https://")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var opts []kgo.Opt
			if strings.HasPrefix(tt.name, "input") {
				opts = newTestReader(t, tt.yaml).opts
			} else {
				opts = newTestWriter(t, tt.yaml).opts
			}
			cl, err := kgo.NewClient(opts...)
			require.NoError(t, err)
			defer cl.Close()
			dial := cl.OptValue(kgo.Dialer).(func(context.Context, string, string) (net.Conn, error))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, err := dial(ctx, "tcp", tt.addr)
			require.NoError(t, err)
			defer conn.Close()
			if tc, ok := conn.(*tls.Conn); ok {
				require.True(t, tc.ConnectionState().HandshakeComplete)
				conn = tc.NetConn()
			}
			raw, err := conn.(*net.TCPConn).SyscallConn()
			require.NoError(t, err)
			got := map[string]int{}
			require.NoError(t, raw.Control(func(fd uintptr) {
				for name, opt := range map[string][2]int{
					"SO_KEEPALIVE":     {unix.SOL_SOCKET, unix.SO_KEEPALIVE},
					"TCP_KEEPIDLE":     {unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
					"TCP_KEEPINTVL":    {unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
					"TCP_KEEPCNT":      {unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
					"TCP_USER_TIMEOUT": {unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT},
				} {
					v, err := unix.GetsockoptInt(int(fd), opt[0], opt[1])
					require.NoError(t, err, name)
					got[name] = v
				}
			}))
			require.Equal(t, map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 7, "TCP_KEEPINTVL": 3, "TCP_KEEPCNT": 4, "TCP_USER_TIMEOUT": 1500}, got)
		})
	}
}

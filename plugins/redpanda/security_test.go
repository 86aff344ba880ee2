package redpanda

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// selfSigned makes a certificate for 127.0.0.1 and writes it, PEM encoded,
// to a file, for root_cas_file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

// TestTLSAndSASL: against a broker that requires TLS and SASL, the output
// writes and the input reads back over TLS (verified against the broker's
// CA) with each SASL mechanism; a wrong password or a plaintext connection
// fails Connect, as does a broker certificate the configured CAs (here the
// system's) did not sign.
func TestTLSAndSASL(t *testing.T) {
	cert, caFile := selfSigned(t)
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "alice", "s3cret"),
		kfake.Superuser("SCRAM-SHA-256", "carol", "s3cret256"),
		kfake.Superuser("PLAIN", "bob", "plainpw"),
	)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	addr := c.ListenAddrs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pool := x509.NewCertPool()
	pool.AddCert(mustParse(t, cert.Certificate[0]))
	admin, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableClientMetrics(),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: "alice", Pass: "s3cret"}.AsSha512Mechanism()))
	require.NoError(t, err)
	t.Cleanup(admin.Close)

	conn := func(mech, user, pass string) string {
		return fmt.Sprintf("seed_brokers: [ %s ]\ntls: { enabled: true, root_cas_file: %q }\nsasl: [ { mechanism: %s, username: %s, password: %q } ]\n",
			addr, caFile, mech, user, pass)
	}
	for _, tt := range []struct{ mech, user, pass string }{
		{"SCRAM-SHA-512", "alice", "s3cret"},
		{"SCRAM-SHA-256", "carol", "s3cret256"},
		{"PLAIN", "bob", "plainpw"},
	} {
		t.Run(tt.mech, func(t *testing.T) {
			topic := "secure-" + tt.mech
			resp, err := kadm.NewClient(admin).CreateTopics(ctx, 1, 1, nil, topic)
			require.NoError(t, err)
			require.NoError(t, resp.Error())

			w := newTestWriter(t, conn(tt.mech, tt.user, tt.pass)+"topic: "+topic+"\n")
			require.NoError(t, w.Connect(ctx))
			defer func() { _ = w.Close(context.Background()) }()
			require.NoError(t, w.WriteBatch(ctx, service.MessageBatch{
				service.NewMessage([]byte("a")), service.NewMessage([]byte("b")), service.NewMessage([]byte("c")),
			}))

			r, rctx := connectedReader(t, conn(tt.mech, tt.user, tt.pass)+"topics: [ "+topic+" ]\nfetch_max_wait: 100ms\n")
			var got []string
			for len(got) < 3 {
				batch, ack, err := r.ReadBatch(rctx)
				require.NoError(t, err)
				for _, m := range batch {
					b, err := m.AsBytes()
					require.NoError(t, err)
					got = append(got, string(b))
				}
				require.NoError(t, ack(rctx, nil))
			}
			require.Equal(t, []string{"a", "b", "c"}, got)
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		w := newTestWriter(t, conn("SCRAM-SHA-512", "alice", "nope")+"topic: x\n")
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		require.Error(t, w.Connect(cctx))
	})
	t.Run("a CA that did not sign the broker's certificate", func(t *testing.T) {
		w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %s ]\ntls: { enabled: true }\nsasl: [ { mechanism: PLAIN, username: bob, password: plainpw } ]\ntopic: x\n", addr))
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		require.ErrorContains(t, w.Connect(cctx), "certificate")
	})
	t.Run("plaintext to a TLS broker", func(t *testing.T) {
		w := newTestWriter(t, fmt.Sprintf("seed_brokers: [ %s ]\nsasl: [ { mechanism: PLAIN, username: bob, password: plainpw } ]\ntopic: x\ntcp: { connect_timeout: 2s }\nrequest_timeout_overhead: 2s\n", addr))
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		require.Error(t, w.Connect(cctx))
	})
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return c
}

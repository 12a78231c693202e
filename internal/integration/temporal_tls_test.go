package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/rpc/encryption"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/config"
)

// testPKI is a throw-away CA with a server and a client certificate.
type testPKI struct {
	dir                        string
	caFile, certFile, keyFile  string
	serverTLS, serverClientTLS *tls.Config
}

const tlsServerName = "temporal-frontend.herald.test"

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)

	issue := func(serial int64, name string, usage x509.ExtKeyUsage, dns []string) (tls.Certificate, []byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name}, DNSNames: dns,
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		require.NoError(t, err)
		return pair, certPEM, keyPEM
	}
	// The server certificate names only a DNS name, so dialling 127.0.0.1
	// verifies only with the server name set.
	serverPair, _, _ := issue(2, tlsServerName, x509.ExtKeyUsageServerAuth, []string{tlsServerName})
	clientPair, clientPEM, clientKeyPEM := issue(3, "herald", x509.ExtKeyUsageClientAuth, nil)

	p := testPKI{dir: dir, caFile: filepath.Join(dir, "ca.crt"), certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	require.NoError(t, os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600))
	require.NoError(t, os.WriteFile(p.certFile, clientPEM, 0o600))
	require.NoError(t, os.WriteFile(p.keyFile, clientKeyPEM, 0o600))
	p.serverTLS = &tls.Config{
		MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{serverPair},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	}
	// The server's own system workers reach the frontend over the same mTLS.
	p.serverClientTLS = &tls.Config{
		MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: tlsServerName, Certificates: []tls.Certificate{clientPair},
	}
	return p
}

// TestDialTemporalOverTLS runs a Temporal server whose frontend requires
// mTLS and checks that Dial connects exactly when the configured CA, client
// certificate and server name allow it, and sends the API key as a bearer
// token.
func TestDialTemporalOverTLS(t *testing.T) {
	pki := newTestPKI(t)
	var (
		mu   sync.Mutex
		auth []string
	)
	recordAuth := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok && strings.HasSuffix(info.FullMethod, "/DescribeNamespace") {
			mu.Lock()
			auth = append(auth, md.Get("authorization")...)
			mu.Unlock()
		}
		return handler(ctx, req)
	}
	srv := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseServerOptions(
		temporal.WithTLSConfigFactory(&encryption.FixedTLSConfigProvider{
			FrontendServerConfig: pki.serverTLS, FrontendClientConfig: pki.serverClientTLS,
		}),
		temporal.WithChainedFrontendGrpcInterceptors(recordAuth),
	))
	addr := srv.GetFrontendHostPort()
	full := config.TemporalTLS{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile, ServerName: tlsServerName}

	tests := []struct {
		name    string
		tls     config.TemporalTLS
		apiKey  string
		wantErr string // a regular expression
	}{
		{name: "CA, client certificate and server name", tls: full},
		{name: "with an API key", tls: full, apiKey: "herald-test-api-key"},
		{name: "without the CA", tls: config.TemporalTLS{CertFile: pki.certFile, KeyFile: pki.keyFile, ServerName: tlsServerName},
			wantErr: "certificate signed by unknown authority"},
		{name: "without the server name", tls: config.TemporalTLS{CAFile: pki.caFile, CertFile: pki.certFile, KeyFile: pki.keyFile},
			wantErr: "certificate"},
		{name: "without a client certificate", tls: config.TemporalTLS{CAFile: pki.caFile, ServerName: tlsServerName},
			// TLS 1.3 reports the server's refusal after the handshake: the
			// client sees the alert or the closed connection.
			wantErr: "certificate required|broken pipe|connection reset|EOF"},
		{name: "plain gRPC", wantErr: "connection"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Config{TemporalAddress: addr, TemporalNamespace: srv.GetDefaultNamespace(), TemporalTLS: tc.tls, TemporalAPIKey: tc.apiKey}
			c, closeClient, err := app.Dial(cfg, addr, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err, "the client is lazy")
			defer closeClient()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.GetDefaultNamespace()})
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Regexp(t, tc.wantErr, err.Error())
				return
			}
			require.NoError(t, err)
		})
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, auth, "Bearer herald-test-api-key", "the API key reaches the server as a bearer token")
	for _, a := range auth {
		assert.Equal(t, "Bearer herald-test-api-key", a, "only the API-key client sends an authorization header")
	}
}

func TestDialRejectsBadTLSFiles(t *testing.T) {
	pki := newTestPKI(t)
	bogus := filepath.Join(pki.dir, "bogus.pem")
	require.NoError(t, os.WriteFile(bogus, []byte("not a certificate"), 0o600))
	tests := []struct {
		name    string
		tls     config.TemporalTLS
		wantErr string
	}{
		{"missing CA file", config.TemporalTLS{CAFile: filepath.Join(pki.dir, "nope.crt")}, "temporal TLS CA"},
		{"CA file without PEM", config.TemporalTLS{CAFile: bogus}, "no PEM certificate"},
		{"unreadable key pair", config.TemporalTLS{CertFile: bogus, KeyFile: pki.keyFile}, "client certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Config{TemporalAddress: "127.0.0.1:1", TemporalNamespace: "default", TemporalTLS: tc.tls}
			_, _, err := app.Dial(cfg, cfg.TemporalAddress, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
)

// testPKI is a CA with a server and a client certificate, as PEM files.
type testPKI struct {
	dir                               string
	caFile, certFile, keyFile, notPEM string
	serverCert                        tls.Certificate
	caPool                            *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(cn string, usage x509.ExtKeyUsage, names ...string) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: names}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	p := testPKI{dir: dir, caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"),
		keyFile: filepath.Join(dir, "client.key"), notPEM: filepath.Join(dir, "junk.pem")}
	write := func(path string, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	cc, ck := issue("herald-worker", x509.ExtKeyUsageClientAuth)
	write(p.certFile, cc)
	write(p.keyFile, ck)
	write(p.notPEM, []byte("not a certificate"))
	sc, sk := issue("temporal", x509.ExtKeyUsageServerAuth, "temporal.test")
	p.serverCert, err = tls.X509KeyPair(sc, sk)
	if err != nil {
		t.Fatal(err)
	}
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(ca)
	return p
}

func TestTemporalTLSSettings(t *testing.T) {
	pki := newTestPKI(t)
	base := map[string]string{"HERALD_DATABASE_URL": "postgres://u@h/db", "HERALD_TEMPORAL_ADDRESS": "h:7233"}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr []string
		check   func(TemporalConn) bool
	}{
		{"none", nil, nil, func(c TemporalConn) bool { return c.TLS == nil && !c.TLSDisabled && c.APIKey == "" }},
		{"mtls", map[string]string{"HERALD_TEMPORAL_TLS_CERT": pki.certFile, "HERALD_TEMPORAL_TLS_KEY": pki.keyFile,
			"HERALD_TEMPORAL_TLS_CA": pki.caFile, "HERALD_TEMPORAL_TLS_SERVER_NAME": "temporal.test"}, nil,
			func(c TemporalConn) bool {
				return c.TLS != nil && len(c.TLS.Certificates) == 1 && c.TLS.RootCAs != nil && c.TLS.ServerName == "temporal.test"
			}},
		{"api key alone leaves TLS to the SDK", map[string]string{"HERALD_TEMPORAL_API_KEY": "k"}, nil,
			func(c TemporalConn) bool { return c.TLS == nil && !c.TLSDisabled && c.APIKey == "k" }},
		{"explicit true uses system roots", map[string]string{"HERALD_TEMPORAL_TLS": "true"}, nil,
			func(c TemporalConn) bool { return c.TLS != nil && c.TLS.RootCAs == nil }},
		{"explicit false", map[string]string{"HERALD_TEMPORAL_TLS": "false", "HERALD_TEMPORAL_API_KEY": "k"}, nil,
			func(c TemporalConn) bool { return c.TLS == nil && c.TLSDisabled }},
		{"register", map[string]string{"HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES": "true"}, nil,
			func(c TemporalConn) bool { return c.RegisterSearchAttributes }},
		{"cert without key", map[string]string{"HERALD_TEMPORAL_TLS_CERT": pki.certFile}, []string{"HERALD_TEMPORAL_TLS_CERT", "HERALD_TEMPORAL_TLS_KEY"}, nil},
		{"missing files", map[string]string{"HERALD_TEMPORAL_TLS_CERT": "/nonexistent.pem", "HERALD_TEMPORAL_TLS_KEY": pki.keyFile,
			"HERALD_TEMPORAL_TLS_CA": "/nonexistent-ca.pem"}, []string{"HERALD_TEMPORAL_TLS_CERT", "HERALD_TEMPORAL_TLS_CA"}, nil},
		{"CA not PEM", map[string]string{"HERALD_TEMPORAL_TLS_CA": pki.notPEM}, []string{"HERALD_TEMPORAL_TLS_CA", "no PEM"}, nil},
		{"false with files", map[string]string{"HERALD_TEMPORAL_TLS": "false", "HERALD_TEMPORAL_TLS_CA": pki.caFile}, []string{"HERALD_TEMPORAL_TLS"}, nil},
		{"bad mode", map[string]string{"HERALD_TEMPORAL_TLS": "yes"}, []string{"HERALD_TEMPORAL_TLS", "auto, true or false"}, nil},
		{"bad register", map[string]string{"HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES": "sure"}, []string{"HERALD_TEMPORAL_REGISTER_SEARCH_ATTRIBUTES"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range c.env {
				env[k] = v
			}
			cfg, err := loadConfig(func(k string) string { return env[k] }, modeWorker)
			if c.wantErr != nil {
				wantOneLine(t, err, c.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg.Temporal) {
				t.Fatalf("connection settings = %+v", cfg.Temporal)
			}
		})
	}
}

// A server that requires a client certificate from the test CA answers
// Herald's dial only with the configured certificate, CA and server name,
// and sees the API key as a bearer token.
func TestTemporalTLSAndAPIKeyReachTheServer(t *testing.T) {
	pki := newTestPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS := &tls.Config{Certificates: []tls.Certificate{pki.serverCert}, ClientCAs: pki.caPool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	fake := &systemInfoServer{}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(srvTLS)))
	workflowservice.RegisterWorkflowServiceServer(gs, fake)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)

	env := map[string]string{"HERALD_DATABASE_URL": "postgres://u@h/db", "HERALD_TEMPORAL_ADDRESS": ln.Addr().String(),
		"HERALD_TEMPORAL_TLS_CERT": pki.certFile, "HERALD_TEMPORAL_TLS_KEY": pki.keyFile, "HERALD_TEMPORAL_TLS_CA": pki.caFile,
		"HERALD_TEMPORAL_TLS_SERVER_NAME": "temporal.test", "HERALD_TEMPORAL_API_KEY": "secret-key"}
	cfg, err := loadConfig(func(k string) string { return env[k] }, modeWorker)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	c, err := dialTemporal(context.Background(), cfg.TemporalAddress, "default", cfg.Temporal, logger, nil)
	if err != nil {
		t.Fatalf("dial with mTLS: %v", err)
	}
	c.Close()
	if auth := fake.auth(); auth != "Bearer secret-key" {
		t.Fatalf("authorization = %q", auth)
	}

	// Without the client certificate the server refuses the connection.
	noCert := cfg.Temporal
	noCert.TLS = noCert.TLS.Clone()
	noCert.TLS.Certificates = nil
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if c, err := dialTemporal(ctx, cfg.TemporalAddress, "default", noCert, logger, nil); err == nil {
		c.Close()
		t.Fatal("dial without a client certificate succeeded")
	} else {
		wantOneLine(t, err, "HERALD_TEMPORAL_ADDRESS")
	}
}

type systemInfoServer struct {
	workflowservice.UnimplementedWorkflowServiceServer
	mu      sync.Mutex
	lastKey string
}

func (s *systemInfoServer) GetSystemInfo(ctx context.Context, _ *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.lastKey = strings.Join(md.Get("authorization"), ",")
	s.mu.Unlock()
	return &workflowservice.GetSystemInfoResponse{}, nil
}

func (s *systemInfoServer) auth() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastKey
}

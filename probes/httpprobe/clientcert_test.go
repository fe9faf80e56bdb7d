package httpprobe_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/probes"
)

// writeClientCert writes a self-signed client certificate and its key as
// PEM files and returns their paths and the certificate.
func writeClientCert(t *testing.T) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "lookout-probe"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestClientCertificate: a server that requires a client certificate
// refuses a probe without one and accepts the configured one.
func TestClientCertificate(t *testing.T) {
	pki := newTestPKI(t, 72*time.Hour)
	certFile, keyFile, clientCert := writeClientCert(t)
	srv := startTLSServer(t, pki, 0, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	pool := x509.NewCertPool()
	pool.AddCert(clientCert)
	srv.TLS.ClientCAs, srv.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert

	tests := []struct {
		name  string
		tls   string
		state probes.State
	}{
		{"without a client certificate", fmt.Sprintf("tls: {ca_file: %s}", pki.CAFile), probes.Down},
		{"with cert_file and key_file", fmt.Sprintf("tls: {ca_file: %s, cert_file: %s, key_file: %s}", pki.CAFile, certFile, keyFile), probes.Up},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProber(t, fmt.Sprintf("url: %s/\nexpect: {body_regex: '^lookout-probe$'}\n%s", srv.URL, tt.tls))
			res := runProbe(t, p)
			if res.State != tt.state {
				t.Errorf("state %s (reason %q), want %s", res.State, res.Reason, tt.state)
			}
		})
	}
}

// TestAssertCostLimit: an expression too costly for the body it meets
// fails the probe with a cost error instead of stalling it.
func TestAssertCostLimit(t *testing.T) {
	items := make([]int, 3000)
	body, _ := json.Marshal(map[string]any{"items": items})
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	p := newProber(t, fmt.Sprintf("url: %s/\nassert: ['body.items.all(i, body.items.all(j, i == j || true))']", srv.URL))
	res := runProbe(t, p)
	if res.State != probes.Down || !strings.Contains(res.Reason, "cost limit exceeded") {
		t.Errorf("state %s, reason %q; want down with a cost limit error", res.State, res.Reason)
	}
}

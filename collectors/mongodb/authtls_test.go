package mongodb

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
)

// passText runs one pass of a collector for uri and returns its metrics
// and what it logged.
func passText(t *testing.T, uri string) (metrics, logs string) {
	t.Helper()
	buf := &syncBuffer{}
	c := newTestCollector(t, uri, buf)
	client := connect(t, c)
	c.collectOnce(t.Context(), client)
	return metricsText(t, c), buf.String()
}

// TestAuthentication: against FerretDB requiring SCRAM, the right
// password reaches the server, a wrong one is reported as mongodb_up 0
// with the failure logged, and the password shows in neither.
func TestAuthentication(t *testing.T) {
	const user, password = "lookout", "s3cr3t-p@ss/word"
	srv := ferretdbtest.StartWith(t, ferretdbtest.Options{Username: user, Password: password})
	uri := func(pw string) string {
		return "mongodb://" + user + ":" + url.QueryEscape(pw) + "@" + srv.Addr + "/?authSource=admin"
	}
	tests := []struct {
		name, password, wantUp string
	}{
		{"right password", password, `mongodb_up{target="main"} 1`},
		{"wrong password", "not-" + password, `mongodb_up{target="main"} 0`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			metrics, logs := passText(t, uri(tc.password))
			if !strings.Contains(metrics, tc.wantUp+"\n") {
				t.Errorf("metrics lack %s:\n%s", tc.wantUp, metrics)
			}
			if tc.wantUp[len(tc.wantUp)-1] == '0' && !strings.Contains(logs, "auth") {
				t.Errorf("the log does not say authentication failed:\n%s", logs)
			}
			for _, secret := range []string{tc.password, url.QueryEscape(tc.password)} {
				if strings.Contains(metrics+logs, secret) {
					t.Errorf("the password %q shows in the metrics or the log:\n%s", secret, logs)
				}
			}
		})
	}
}

// TestTLS: against FerretDB listening for TLS with a certificate of a
// test CA, the collector connects when given the CA (tlsCAFile), and
// reports the server down, with the certificate error logged, when not.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestCerts(t, dir)
	srv := ferretdbtest.StartWith(t, ferretdbtest.Options{CertFile: certFile, KeyFile: keyFile})
	base := "mongodb://" + srv.TLSAddr + "/?tls=true&serverSelectionTimeoutMS=1500"
	tests := []struct {
		name, uri, wantUp, wantLog string
	}{
		{"with the CA", base + "&tlsCAFile=" + url.QueryEscape(caFile), `mongodb_up{target="main"} 1`, ""},
		{"without the CA", base, `mongodb_up{target="main"} 0`, "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			metrics, logs := passText(t, tc.uri)
			if !strings.Contains(metrics, tc.wantUp+"\n") {
				t.Errorf("metrics lack %s:\n%s", tc.wantUp, metrics)
			}
			if !strings.Contains(logs, tc.wantLog) {
				t.Errorf("the log does not mention %q:\n%s", tc.wantLog, logs)
			}
		})
	}
}

// writeTestCerts writes a CA and a server certificate for 127.0.0.1 that
// it signed, as PEM files.
func writeTestCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := newKey(), newKey()
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Lookout test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", leafDER), write("server-key.pem", "EC PRIVATE KEY", keyDER)
}

// Package probetest is what the probe kinds' tests share: a probe loaded
// from a YAML section and its runner, the gauges its families put on
// /metrics, the check of a run's state and reason, loopback servers and a
// self-signed certificate for those that speak TLS. Only _test.go files
// import it.
package probetest

import (
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
	"testing"
	"time"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
)

// Config loads one probe named t of kind k from YAML, as the daemon
// does: section is the kind's fields (a flow mapping, "{address: …}"),
// timeout the probe's ("" for the default).
func Config(t testing.TB, k *probes.Kind, timeout, section string) config.Probe {
	t.Helper()
	yml := "probes:\n  - name: t\n"
	if timeout != "" {
		yml += "    timeout: " + timeout + "\n"
	}
	yml += "    " + k.Name + ": " + section + "\n"
	cfg, err := config.Parse("t.yml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Probes[0]
}

// Runner builds the runner of the probe Config loads.
func Runner(t testing.TB, k *probes.Kind, timeout, section string) *probes.Runner {
	t.Helper()
	r, err := probes.Kinds{k}.NewRunner(Config(t, k, timeout, section), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Gauges gathers r's families as /metrics has them with kinds, and
// returns each gauge sample by its family's name, the values of the
// labels named in braces after it: "probe_dns_duration_seconds{connect}"
// with labels "phase". A family of several samples needs its label named.
func Gauges(t testing.TB, kinds probes.Kinds, r *probes.Runner, labels ...string) map[string]float64 {
	t.Helper()
	mfs, err := probes.NewCollector(func() []*probes.Runner { return []*probes.Runner{r} }, kinds).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetGauge() == nil {
				continue
			}
			name := mf.GetName()
			for _, lp := range m.GetLabel() {
				for _, l := range labels {
					if lp.GetName() == l {
						name += "{" + lp.GetValue() + "}"
					}
				}
			}
			got[name] = m.GetGauge().GetValue()
		}
	}
	return got
}

// Want fails t unless res ended in state with a reason that contains
// reason.
func Want(t testing.TB, res probes.Result, state probes.State, reason string) {
	t.Helper()
	if res.State != state || !strings.Contains(res.Reason, reason) {
		t.Errorf("state %s, reason %q; want %s, reason containing %q", res.State, res.Reason, state, reason)
	}
}

// Cert is a self-signed certificate, its own CA.
type Cert struct {
	// File and KeyFile are the certificate and its key as PEM files: File
	// is a ca_file that verifies it.
	File, KeyFile string
	// TLS is the certificate and key for a server.
	TLS tls.Certificate
}

// SelfSigned writes a self-signed certificate for 127.0.0.1 and dnsNames,
// valid a day, into the test's temporary directory.
func SelfSigned(t testing.TB, dnsNames ...string) Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lookout probe test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: dnsNames, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := Cert{File: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
	if err := os.WriteFile(c.File, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.KeyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.TLS, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return c
}

// Listen listens on a loopback TCP port until the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Serve accepts connections on ln until the test ends, hands each to
// handle on a goroutine of its own and closes it after; it returns ln's
// address.
func Serve(t testing.TB, ln net.Listener, handle func(net.Conn)) string {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// ClosedPort is a loopback TCP address nothing listens on.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

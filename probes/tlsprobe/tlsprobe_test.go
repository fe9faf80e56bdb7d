package tlsprobe_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
	"github.com/lookout-dev/lookout/probes/tlsprobe"
)

// probe loads one tls probe from YAML (the section's fields) and runs it.
func probe(t *testing.T, section string) probes.Result {
	t.Helper()
	return probetest.Runner(t, tlsprobe.Kind(), "2s", section).Probe(t.Context())
}

// TestTLS: a real TLS server (httptest's certificate, for example.com and
// 127.0.0.1, valid until 2084) checked for its chain, version and expiry.
func TestTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{MaxVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	closed := probetest.ClosedPort(t)
	tests := []struct {
		name, section string
		state         probes.State
		reason        string
	}{
		{"far from expiry", "{address: " + addr + ", insecure_skip_verify: true, expires_within: 336h}", probes.Up, ""},
		{"expires within the window", "{address: " + addr + ", insecure_skip_verify: true, expires_within: 1000000h}", probes.Down,
			"certificate expiry: expected more than 1000000h0m0s left, got the earliest certificate of the chain expires 2084-"},
		{"unknown CA", "{address: " + addr + "}", probes.Down, "TLS handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"version below min_version", "{address: " + addr + ", insecure_skip_verify: true, min_version: '1.3'}", probes.Down, "TLS handshake: "},
		{"refused", "{address: " + closed + "}", probes.Down, "connection refused"},
		{"assert on names", "{address: " + addr + ", insecure_skip_verify: true, assert: ['\"example.com\" in dns_names', 'version == \"TLS 1.2\"', 'expires_in > duration(\"720h\")']}", probes.Up, ""},
		{"degraded when not verified", "{address: " + addr + ", insecure_skip_verify: true, degraded_if: ['!verified']}", probes.Degraded, "degraded_if: expected not !verified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probetest.Want(t, probe(t, tt.section), tt.state, tt.reason)
		})
	}
	res := probe(t, "{address: "+addr+"}")
	f := res.Facts.(*tlsprobe.Facts)
	if f.TLS == nil || f.TLS.EarliestExpiry.Year() != 2084 {
		t.Errorf("a chain that failed verification keeps its expiry: %+v", f.TLS)
	}
}

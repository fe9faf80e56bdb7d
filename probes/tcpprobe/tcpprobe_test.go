package tcpprobe_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

// serve accepts connections on a loopback port and hands each to handle.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	return probetest.Serve(t, probetest.Listen(t), handle)
}

// probe loads one tcp probe from YAML (the section's fields) and runs it.
func probe(t *testing.T, section string) probes.Result {
	t.Helper()
	return probetest.Runner(t, tcpprobe.Kind(), "2s", section).Probe(t.Context())
}

func TestTCP(t *testing.T) {
	banner := serve(t, func(c net.Conn) { c.Write([]byte("220 mail.example ESMTP ready\r\n")) })
	echo := serve(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("you said " + line))
	})
	silent := serve(t, func(c net.Conn) { time.Sleep(5 * time.Second) })
	closed := probetest.ClosedPort(t)
	tests := []struct {
		name, section string
		state         probes.State
		reason        string // in the reason
	}{
		{"connect only", "{address: " + banner + "}", probes.Up, ""},
		{"banner matches", "{address: " + banner + ", expect: '^220 '}", probes.Up, ""},
		{"banner does not match", "{address: " + banner + ", expect: '^\\+OK'}", probes.Down, `expect: expected first bytes match ^\+OK, got "220 mail.example ESMTP ready\r\n"`},
		{"send then expect", "{address: " + echo + ", send: \"PING\\n\", expect: 'you said PING'}", probes.Up, ""},
		{"refused", "{address: " + closed + "}", probes.Down, "connect: connect: connection refused"},
		{"silent target", "{address: " + silent + ", expect: 'hello'}", probes.Down, "timeout: no answer within the probe's timeout"},
		{"assert on the response", "{address: " + banner + ", expect: '220', assert: ['response.contains(\"ESMTP\")', 'connect < duration(\"1s\")']}", probes.Up, ""},
		{"degraded_if", "{address: " + banner + ", expect: '220', degraded_if: ['response.contains(\"ready\")']}", probes.Degraded, "degraded_if: expected not response.contains(\"ready\")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probetest.Want(t, probe(t, tt.section), tt.state, tt.reason)
		})
	}
}

// TestTCPWithTLS: tls: true speaks TLS after connecting and reports the
// chain; an unknown CA fails the handshake with the reason, and still
// tells the certificate's expiry.
func TestTCPWithTLS(t *testing.T) {
	cert := httptest.NewTLSServer(nil)
	defer cert.Close()
	tlsCfg := &tls.Config{Certificates: cert.TLS.Certificates}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := probetest.Serve(t, ln, func(c net.Conn) {
		c.Write([]byte("hello over TLS\n"))
		_ = c.(*tls.Conn).HandshakeContext(context.Background())
	})
	res := probe(t, "{address: "+addr+", tls: {insecure_skip_verify: true}, expect: '^hello'}")
	f := res.Facts.(*tcpprobe.Facts)
	if res.State != probes.Up || f.TLS == nil || f.TLS.Version == "" || f.TLS.Verified || f.TLS.EarliestExpiry.IsZero() {
		t.Errorf("insecure_skip_verify: %s %q, TLS facts %+v; want up, a version, an expiry, and the chain not verified", res.State, res.Reason, f.TLS)
	}
	res = probe(t, "{address: "+addr+", tls: true}")
	f = res.Facts.(*tcpprobe.Facts)
	if res.State != probes.Down || !strings.Contains(res.Reason, "TLS handshake: ") || !strings.Contains(res.Reason, "certificate") || f.TLS == nil || f.TLS.EarliestExpiry.IsZero() {
		t.Errorf("unknown CA: %s %q, TLS facts %+v; want down naming the certificate, with its expiry", res.State, res.Reason, f.TLS)
	}
}

// TestTCPMetrics: a TCP probe's families reach /metrics beside the
// core's, under blackbox_exporter's name where it has one.
func TestTCPMetrics(t *testing.T) {
	addr := serve(t, func(c net.Conn) { c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n")) })
	r := probetest.Runner(t, tcpprobe.Kind(), "", "{address: "+addr+", expect: '^SSH-2.0-'}")
	r.Probe(t.Context())
	got := probetest.Gauges(t, probes.Kinds{tcpprobe.Kind()}, r)
	if got["probe_success"] != 1 || got["probe_failed_due_to_regex"] != 0 || got["lookout_probe_tcp_connect_seconds"] <= 0 {
		t.Errorf("gauges %v; want probe_success 1, probe_failed_due_to_regex 0, a connect time", got)
	}
	if _, ok := got["probe_failed_due_to_regex"]; !ok {
		t.Error("probe_failed_due_to_regex missing")
	}
	if _, ok := got["probe_http_status_code"]; ok {
		t.Error("an HTTP family for a TCP probe")
	}
}

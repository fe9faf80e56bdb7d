package tcpprobe_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/tcpprobe"
)

// serve accepts connections on a loopback port and hands each to handle.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
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

// probe loads one tcp probe from YAML (the section's fields) and runs it.
func probe(t *testing.T, section string) probes.Result {
	t.Helper()
	yml := "probes:\n  - name: t\n    timeout: 2s\n    tcp: " + section + "\n"
	cfg, err := config.Parse("t.yml", []byte(yml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	r, err := probes.Kinds{tcpprobe.Kind()}.NewRunner(cfg.Probes[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return r.Probe(t.Context())
}

func TestTCP(t *testing.T) {
	banner := serve(t, func(c net.Conn) { c.Write([]byte("220 mail.example ESMTP ready\r\n")) })
	echo := serve(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("you said " + line))
	})
	silent := serve(t, func(c net.Conn) { time.Sleep(5 * time.Second) })
	closed := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
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
			res := probe(t, tt.section)
			if res.State != tt.state || !strings.Contains(res.Reason, tt.reason) {
				t.Errorf("state %s, reason %q; want %s, reason containing %q", res.State, res.Reason, tt.state, tt.reason)
			}
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
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("hello over TLS\n"))
				_ = c.(*tls.Conn).HandshakeContext(context.Background())
			}()
		}
	}()
	addr := ln.Addr().String()
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
	cfg, err := config.Parse("t.yml", []byte("probes:\n  - name: ssh\n    tcp: {address: "+addr+", expect: '^SSH-2.0-'}\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	kinds := probes.Kinds{tcpprobe.Kind()}
	r, err := kinds.NewRunner(cfg.Probes[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r.Probe(t.Context())
	mfs, err := probes.NewCollector(func() []*probes.Runner { return []*probes.Runner{r} }, kinds).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if m := mf.GetMetric(); len(m) == 1 && m[0].GetGauge() != nil {
			got[mf.GetName()] = m[0].GetGauge().GetValue()
		}
	}
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

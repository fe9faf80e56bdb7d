package config

import (
	"crypto/tls"
	"testing"
	"time"
)

// TestProbeKinds: the probe kinds' config loads as written in the README,
// each probe has exactly its kind, and the defaults are filled in.
func TestProbeKinds(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/kinds.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"mongo-port": "tcp", "api-cert": "tls", "api-dns": "dns", "gateway-ping": "icmp",
		"orders-grpc": "grpc", "live-updates": "websocket", "nightly-dump": "heartbeat",
		"login-and-profile": "flow",
	}
	for _, p := range cfg.Probes {
		if got := p.Kind(); got != want[p.Name] {
			t.Errorf("%s: kind %q, want %q", p.Name, got, want[p.Name])
		}
	}
	byName := map[string]Probe{}
	for _, p := range cfg.Probes {
		byName[p.Name] = p
	}
	if tcp := byName["mongo-port"].TCP; tcp.TLS.Enabled || tcp.Address != "db.internal:27017" || tcp.IPProtocol != IPAny {
		t.Errorf("tcp = %+v", tcp)
	}
	if c := byName["api-cert"].TLS; c.MinVersion != TLSVersion(tls.VersionTLS12) || c.ExpiresWithin.Std() != 336*time.Hour {
		t.Errorf("tls = %+v", c)
	}
	if q := byName["api-dns"].DNS; q.Type != "A" || q.Transport != "udp" || q.Expect.RCode != "NOERROR" || len(q.Expect.Answers) != 1 || !*q.Recursion {
		t.Errorf("dns = %+v", q)
	}
	if i := byName["gateway-ping"].ICMP; i.Count != 3 || i.IPProtocol != IP4 {
		t.Errorf("icmp = %+v", i)
	}
	h := byName["nightly-dump"].Heartbeat
	if h.Location.String() != "Europe/Berlin" || h.Grace.Std() != time.Hour || h.Token != "d3adb33f-nightly-dump-token" {
		t.Errorf("heartbeat = %+v", h)
	}
	// 03:00 in Berlin is 02:00 UTC in winter.
	if next := h.Schedule.Next(time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)); !next.Equal(time.Date(2026, 1, 10, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("next run %v, want 02:00 UTC (03:00 in Berlin)", next)
	}
}

// TestClientTLSForms: tls: of tcp and grpc is false, true, or settings
// that turn it on.
func TestClientTLSForms(t *testing.T) {
	tests := []struct {
		name, tls  string
		enabled    bool
		serverName string
	}{
		{"absent", "", false, ""},
		{"false", "tls: false", false, ""},
		{"true", "tls: true", true, ""},
		{"settings", "tls: {server_name: db.example.com, insecure_skip_verify: true}", true, "db.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yml := "probes:\n  - name: p\n    tcp: {address: 127.0.0.1:1" + map[bool]string{true: ", " + tt.tls, false: ""}[tt.tls != ""] + "}\n"
			cfg, err := Parse("t.yml", []byte(yml), testEnv)
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Probes[0].TCP.TLS
			if got.Enabled != tt.enabled || got.ServerName != tt.serverName {
				t.Errorf("tls = %+v, want enabled %v, server_name %q", got, tt.enabled, tt.serverName)
			}
		})
	}
}

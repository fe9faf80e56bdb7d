package config

import (
	"crypto/sha256"
	"net/netip"
	"strings"
	"testing"
)

// TestServerExampleLoads: the server section of issue 11 loads as written,
// with its files beside it.
func TestServerExampleLoads(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/valid-server.yml")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Server
	if s.Public == nil {
		t.Fatal("server.public not loaded")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", s.Listen, "127.0.0.1:9477"},
		{"web config beside the config file", s.WebConfigFile, "testdata/web.yml"},
		{"tokens file beside the config file", s.APITokensFile, "testdata/tokens.yml"},
		{"metrics auth default", *s.MetricsAuth, true},
		{"max connections default", s.MaxConnections, DefaultMaxConnections},
		{"public listen", s.Public.Listen, "0.0.0.0:9478"},
		{"public web config", s.Public.WebConfigFile, "testdata/public-web.yml"},
		{"public max connections default", s.Public.MaxConnections, DefaultPublicMaxConnections},
		{"trusted proxies", len(s.Public.TrustedProxies), 1},
		{"trusted proxy", s.Public.TrustedProxies[0].Prefix, netip.MustParsePrefix("10.0.0.0/8")},
		{"no warnings", strings.Join(s.Warnings(), "\n"), ""},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestLoadAPITokens(t *testing.T) {
	tokens, err := LoadAPITokens("testdata/tokens.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, token string
		role        Role
	}{{"ci", "ci-token", RoleAdmin}, {"grafana", "grafana-token", RoleRead}}
	if len(tokens) != len(want) {
		t.Fatalf("got %d tokens, want %d", len(tokens), len(want))
	}
	for i, w := range want {
		t.Run(w.name, func(t *testing.T) {
			got := tokens[i]
			if got.Name != w.name || got.Role != w.role || got.SHA256 != sha256.Sum256([]byte(w.token)) {
				t.Errorf("got %s %s %x", got.Name, got.Role, got.SHA256)
			}
		})
	}
}

func TestLoadWebConfig(t *testing.T) {
	wc, err := LoadWebConfig("testdata/web.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(wc.Users) != 2 || wc.TLSConfig.TLSCertPath != "testdata/server.crt" || !wc.HTTPConfig.HTTP2 || VerifiesClientCerts(&wc.TLSConfig) {
		t.Errorf("web config: %+v", wc)
	}
}

// TestServerWarnings: lookout check and the start-up log warn about an
// admin API without credentials beyond loopback, and louder when the
// public routes share its listener.
func TestServerWarnings(t *testing.T) {
	const vitals = "webvitals: {enabled: true, allowed_origins: [\"https://www.example.com\"]}\n"
	const heartbeat = vitals + "probes: [{name: dump, heartbeat: {every: 24h, token: 0123456789abcdef}}]\n"
	tests := []struct {
		name string
		yml  string
		want []string
	}{
		{"loopback without credentials", "server: {listen: 127.0.0.1:9477}\n" + vitals, nil},
		{"localhost without credentials", "server: {listen: \"localhost:9477\"}\n", nil},
		{"every interface without credentials", "server: {listen: \":9477\"}\n", []string{
			`testdata/f.yml:1:18: server.listen: warning: :9477 is not a loopback address and the admin API takes no credentials (no basic_auth_users in server.web_config_file, no server.api_tokens_file): anyone who reaches it can silence alerts and reload`,
		}},
		{"public routes beside it", "server: {listen: 0.0.0.0:9477}\n" + vitals, []string{
			`testdata/f.yml:1:18: server.listen: warning: 0.0.0.0:9477 is not a loopback address and the admin API takes no credentials (no basic_auth_users in server.web_config_file, no server.api_tokens_file): anyone who reaches it can silence alerts and reload`,
			`testdata/f.yml:1:18: server.listen: warning: 0.0.0.0:9477 also serves the public routes (/v1/vitals) without server.public: whoever must reach them reaches the unauthenticated admin API too; set server.public or credentials`,
		}},
		{"heartbeat routes beside it", "server: {listen: 0.0.0.0:9477}\n" + heartbeat, []string{
			`testdata/f.yml:1:18: server.listen: warning: 0.0.0.0:9477 is not a loopback address and the admin API takes no credentials (no basic_auth_users in server.web_config_file, no server.api_tokens_file): anyone who reaches it can silence alerts and reload`,
			`testdata/f.yml:1:18: server.listen: warning: 0.0.0.0:9477 also serves the public routes (/v1/vitals, /v1/heartbeat/) without server.public: whoever must reach them reaches the unauthenticated admin API too; set server.public or credentials`,
		}},
		{"public listener set", "server: {listen: 0.0.0.0:9477, public: {listen: 0.0.0.0:9478}}\n" + vitals, []string{
			`testdata/f.yml:1:18: server.listen: warning: 0.0.0.0:9477 is not a loopback address and the admin API takes no credentials (no basic_auth_users in server.web_config_file, no server.api_tokens_file): anyone who reaches it can silence alerts and reload`,
		}},
		{"tokens without TLS", "server: {listen: 0.0.0.0:9477, api_tokens_file: tokens.yml}\n" + vitals, []string{
			`testdata/f.yml:1:18: server.listen: warning: 0.0.0.0:9477 is not a loopback address and has no TLS (no tls_server_config in server.web_config_file): passwords and tokens cross the network in the clear`,
		}},
		{"tokens without TLS on loopback", "server: {listen: 127.0.0.1:9477, api_tokens_file: tokens.yml}\n" + vitals, nil},
		{"basic auth and TLS", "server: {listen: 0.0.0.0:9477, web_config_file: web.yml}\n" + vitals, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("testdata/f.yml", []byte(tt.yml), testEnv)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(cfg.Server.Warnings(), "\n"), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

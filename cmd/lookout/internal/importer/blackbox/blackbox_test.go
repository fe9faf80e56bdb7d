package blackbox

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer/importertest"
	"github.com/lookout-dev/lookout/config"
)

// converted is a testdata pair converted and loaded as Lookout loads it.
type converted struct {
	importertest.Loaded
	left []importer.Left
}

// convertDir converts dir's blackbox.yml and prometheus.yml and loads the
// result with config.Parse, as `lookout check` does, with no environment:
// the output must not read a variable.
func convertDir(t *testing.T, dir string) converted {
	t.Helper()
	bb := readFile(t, filepath.Join(dir, "blackbox.yml"))
	prom := readFile(t, filepath.Join(dir, "prometheus.yml"))
	return convertAndLoad(t, bb, prom, dir)
}

// convertAndLoad converts and loads; promDir is where the file_sd files
// are.
func convertAndLoad(t *testing.T, bb, prom []byte, promDir string) converted {
	t.Helper()
	out, left, err := Convert(bb, prom, promDir)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return converted{importertest.Load(t, out, func(string) (string, bool) { return "", false }), left}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// staticTargets counts the static targets of the scrape jobs of
// prometheus.yml that scrape /probe: with one module a target, the probes
// expected.
func staticTargets(t *testing.T, dir string) int {
	t.Helper()
	var prom struct {
		ScrapeConfigs []struct {
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(dir, "prometheus.yml")), &prom); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sc := range prom.ScrapeConfigs {
		if sc.MetricsPath == "/probe" {
			for _, g := range sc.StaticConfigs {
				n += len(g.Targets)
			}
		}
	}
	return n
}

// leftWhere are the places of what was left behind.
func leftWhere(left []importer.Left) []string {
	var out []string
	for _, l := range left {
		out = append(out, l.Where)
	}
	slices.Sort(out)
	return out
}

func wantLeft(t *testing.T, left []importer.Left, want []string) {
	t.Helper()
	slices.Sort(want)
	if got := leftWhere(left); !slices.Equal(got, want) {
		t.Errorf("left behind at\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func wantEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func statuses(rs []config.StatusRange) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.String())
	}
	return strings.Join(s, ",")
}

func regexpText(r *config.Regexp) string {
	if r == nil || r.Regexp == nil {
		return ""
	}
	return r.String()
}

func asserts(xs []config.Expr) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.Source)
	}
	return out
}

// TestReadmeShape converts the Prometheus config of blackbox_exporter's
// README: a job probing static targets with the usual relabelling, the
// exporter's own job, and a job finding its targets in DNS.
func TestReadmeShape(t *testing.T) {
	c := convertDir(t, "testdata/readme")
	if got, want := len(c.Cfg.Probes), staticTargets(t, "testdata/readme"); got != want {
		t.Fatalf("%d probes, want %d, one per target of the probing job:\n%s", got, want, c.Out)
	}
	for _, tc := range []struct{ name, url string }{
		{"websites/status.example.org", "http://status.example.org"},
		{"websites/shop.example.org", "https://shop.example.org"},
		{"websites/intranet.example.org:8080", "http://intranet.example.org:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := c.Probe(t, tc.name)
			if p.HTTP == nil {
				t.Fatalf("kind %s, want http", p.Kind())
			}
			wantEqual(t, "url", p.HTTP.URL.String(), tc.url)
			wantEqual(t, "expect.status", statuses(p.HTTP.Expect.Status), "2xx")
			wantEqual(t, "follow_redirects", *p.HTTP.FollowRedirects, true)
			// Prometheus' default interval; its default scrape timeout less
			// blackbox_exporter's offset.
			wantEqual(t, "interval", p.Interval.Std(), time.Minute)
			wantEqual(t, "timeout", p.Timeout.Std(), 9500*time.Millisecond)
			if len(p.Labels) != 0 {
				t.Errorf("labels %v, want none: job and instance are Lookout's own", p.Labels)
			}
		})
	}
	wantLeft(t, c.left, []string{"scrape_configs[2].dns_sd_configs"})
	if !strings.Contains(c.Out, "#   scrape_configs[2].dns_sd_configs: job websites_by_address: ") {
		t.Errorf("no comment on the job left behind:\n%s", c.Out)
	}
}

// TestBlackboxYMLShape converts modules in the shapes of
// blackbox_exporter's blackbox.yml, probed by jobs of one module each, by
// a job choosing each target's module by a label, and with global
// interval and timeout.
func TestBlackboxYMLShape(t *testing.T) {
	c := convertDir(t, "testdata/default")
	if got, want := len(c.Cfg.Probes), staticTargets(t, "testdata/default"); got != want {
		t.Fatalf("%d probes, want %d:\n%s", got, want, c.Out)
	}
	tests := []struct {
		name              string
		interval, timeout time.Duration
		check             func(t *testing.T, p config.Probe)
	}{
		{"web/www.example.org", 30 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "url", p.HTTP.URL.String(), "https://www.example.org")
			wantEqual(t, "ip_protocol", p.HTTP.IPProtocol, config.IP4)
			wantEqual(t, "ip_protocol_fallback", *p.HTTP.IPFallback, true)
			wantEqual(t, "labels.team", p.Labels["team"], "web")
		}},
		{"web/api.example.org/health", 30 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "labels.team", p.Labels["team"], "api")
		}},
		{"web_post/api.example.org/v1/ping", 2 * time.Minute, 19500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "method", p.HTTP.Method, "POST")
		}},
		{"web_h3/cdn.example.org", 30 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "url", p.HTTP.URL.String(), "https://cdn.example.org")
		}},
		{"services/tcp_open/db.example.org:5432", 15 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "address", p.TCP.Address, "db.example.org:5432")
			wantEqual(t, "tls", p.TCP.TLS.Enabled, false)
			wantEqual(t, "expect", regexpText(p.TCP.Expect), "")
			wantEqual(t, "labels.module", p.Labels["module"], "tcp_open")
		}},
		{"services/pop3s_banner/mail.example.org:995", 15 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "tls", p.TCP.TLS.Enabled, true)
			wantEqual(t, "expect", regexpText(p.TCP.Expect), "(?m)^+OK")
		}},
		{"services/ssh_banner/bastion.example.org:22", 15 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "expect", regexpText(p.TCP.Expect), "(?m)^SSH-2.0-")
			wantEqual(t, "send", p.TCP.Send, "")
		}},
		{"services/ssh_version/git.example.org:22", 15 * time.Second, 4 * time.Second, func(t *testing.T, p config.Probe) {
			if !p.TCP.Expect.MatchString("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n") {
				t.Errorf("expect %s does not match an SSH banner ending in \\r\\n", p.TCP.Expect)
			}
		}},
		{"services/irc_welcome/irc.example.org:6667", 15 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "send", p.TCP.Send, "NICK lookout\nUSER lookout lookout lookout :lookout\n")
			wantEqual(t, "expect", regexpText(p.TCP.Expect), "PING :([^ ]+)")
		}},
		{"grpc/payments.example.org", 30 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "address", p.GRPC.Address, "payments.example.org:443")
			wantEqual(t, "tls", p.GRPC.TLS.Enabled, true)
			wantEqual(t, "ip_protocol", p.GRPC.IPProtocol, config.IP4)
		}},
		{"grpc/ledger.example.org:8443", 30 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "address", p.GRPC.Address, "ledger.example.org:8443")
		}},
		{"grpc_plain/orders.internal:9090", 30 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "address", p.GRPC.Address, "orders.internal:9090")
			wantEqual(t, "service", p.GRPC.Service, "orders.v1.Orders")
			wantEqual(t, "tls", p.GRPC.TLS.Enabled, false)
		}},
		{"ping/gw.example.org", 30 * time.Second, 7500 * time.Millisecond, func(t *testing.T, p config.Probe) {
			wantEqual(t, "host", p.ICMP.Host, "gw.example.org")
			wantEqual(t, "ip_protocol", p.ICMP.IPProtocol, config.IPAny)
		}},
		{"ping_ttl3/10.9.9.9", 30 * time.Second, 3 * time.Second, func(t *testing.T, p config.Probe) {
			wantEqual(t, "host", p.ICMP.Host, "10.9.9.9")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := c.Probe(t, tc.name)
			wantEqual(t, "interval", p.Interval.Std(), tc.interval)
			wantEqual(t, "timeout", p.Timeout.Std(), tc.timeout)
			tc.check(t, p)
		})
	}
	wantLeft(t, c.left, []string{
		"modules.web_h3.http.enable_http3",
		"modules.web_h3.http.enable_http2",
		"modules.web_h3.http.valid_http_versions",
		"modules.ssh_banner.tcp.query_response[1]",
		"modules.ssh_version.tcp.query_response[0].labels",
		"modules.irc_welcome.tcp.query_response[2].send",
		"modules.grpc_tls.grpc.preferred_ip_protocol",
		"modules.ping_ttl3.icmp.ttl",
	})
	// Each is a comment in each probe that lost it: two probe with ssh_banner.
	if n := strings.Count(c.Out, "#   modules.ssh_banner.tcp.query_response[1]: send: "); n != 2 {
		t.Errorf("the send ssh_banner leaves behind is commented %d times, want once in each of its 2 probes:\n%s", n, c.Out)
	}
}

// TestExampleYMLShape converts modules in the shapes of
// blackbox_exporter's example.yml: every setting it shows.
func TestExampleYMLShape(t *testing.T) {
	c := convertDir(t, "testdata/example")
	if got, want := len(c.Cfg.Probes), staticTargets(t, "testdata/example"); got != want {
		t.Fatalf("%d probes, want %d:\n%s", got, want, c.Out)
	}
	tests := []struct {
		name  string
		check func(t *testing.T, p config.Probe)
	}{
		{"http/www.example.net", func(t *testing.T, p config.Probe) {
			h := p.HTTP
			wantEqual(t, "timeout", p.Timeout.Std(), 4*time.Second)
			wantEqual(t, "headers.Host", h.Headers["Host"], "www.example.net")
			wantEqual(t, "headers.Accept-Language", h.Headers["Accept-Language"], "de-DE")
			wantEqual(t, "expect.status", statuses(h.Expect.Status), "2xx")
			wantEqual(t, "follow_redirects", *h.FollowRedirects, true)
			wantEqual(t, "expect.headers.Access-Control-Allow-Origin", h.Expect.Headers["Access-Control-Allow-Origin"].String(), `(\*|example\.net)`)
			wantEqual(t, "expect.body_regex", regexpText(h.Expect.BodyRegex), "Welcome")
			for _, body := range []string{"Internal Server Error", "now in MAINTENANCE MODE"} {
				if !h.Expect.BodyNotRegex.MatchString(body) {
					t.Errorf("body_not_regex %s lets %q pass", h.Expect.BodyNotRegex, body)
				}
			}
			if h.Expect.BodyNotRegex.MatchString("Welcome</html>") {
				t.Errorf("body_not_regex %s fails a good body", h.Expect.BodyNotRegex)
			}
			for _, want := range []string{"tls != null", `text.matches(r"</html>")`} {
				if !slices.Contains(asserts(h.Assert), want) {
					t.Errorf("assert %q missing from %q", want, asserts(h.Assert))
				}
			}
			// blackbox_exporter names the Host header's host in the handshake.
			wantEqual(t, "tls.server_name", h.TLS.ServerName, "www.example.net")
			wantEqual(t, "tls.insecure_skip_verify", h.TLS.InsecureSkipVerify, false)
			wantEqual(t, "ip_protocol", h.IPProtocol, config.IP4)
			wantEqual(t, "ip_protocol_fallback", *h.IPFallback, false)
		}},
		{"modules/http_post_json/api.example.net/v1/echo", func(t *testing.T, p config.Probe) {
			wantEqual(t, "method", p.HTTP.Method, "POST")
			wantEqual(t, "body", p.HTTP.Body, `{"ping": true}`)
			wantEqual(t, "headers.Content-Type", p.HTTP.Headers["Content-Type"], "application/json")
		}},
		{"modules/http_any_status/any.example.net", func(t *testing.T, p config.Probe) {
			wantEqual(t, "expect.status", statuses(p.HTTP.Expect.Status), "100-599")
		}},
		{"modules/http_post_file/api.example.net/v1/upload", func(t *testing.T, p config.Probe) {
			wantEqual(t, "body", p.HTTP.Body, "")
		}},
		{"modules/http_login/10.0.0.5/login", func(t *testing.T, p config.Probe) {
			wantEqual(t, "basic_auth.username", p.HTTP.BasicAuth.Username, "prober")
			wantEqual(t, "basic_auth.password", p.HTTP.BasicAuth.Password, "basic-secret-value")
			wantEqual(t, "tls.server_name", p.HTTP.TLS.ServerName, "login.example.net")
		}},
		{"modules/http_bearer/api.example.net/private", func(t *testing.T, p config.Probe) {
			wantEqual(t, "bearer_token", p.HTTP.BearerToken, "bearer-secret-value")
			wantEqual(t, "follow_redirects", *p.HTTP.FollowRedirects, false)
			wantEqual(t, "expect.status", statuses(p.HTTP.Expect.Status), "200,204")
		}},
		{"modules/http_json/api.example.net/status", func(t *testing.T, p config.Probe) {
			wantEqual(t, "assert", strings.Join(asserts(p.HTTP.Assert), "; "), "body.status == 'up' && body.version.startsWith('v2')")
		}},
		{"modules/http_oauth/api.example.net/oauth", func(t *testing.T, p config.Probe) {
			wantEqual(t, "expect.status", statuses(p.HTTP.Expect.Status), "200,202")
			wantEqual(t, "bearer_token", p.HTTP.BearerToken, "")
		}},
		{"modules/http_private_ca/internal.example.net:8443", func(t *testing.T, p config.Probe) {
			wantEqual(t, "tls.ca_file", p.HTTP.TLS.CAFile, "testdata/ca.pem")
			wantEqual(t, "tls.server_name", p.HTTP.TLS.ServerName, "internal.example.net")
			wantEqual(t, "body_size_limit", p.HTTP.BodySizeLimit, config.ByteSize(2<<20)) // blackbox_exporter's MB is 1024²
		}},
		{"modules/http_gzip_accept/www.example.net/big2", func(t *testing.T, p config.Probe) {
			if _, ok := p.HTTP.Headers["Accept-Encoding"]; ok {
				t.Error("Accept-Encoding is sent: Lookout would check the compressed body")
			}
		}},
		{"modules/tls_only/www.example.net:443", func(t *testing.T, p config.Probe) {
			wantEqual(t, "tls", p.TCP.TLS.Enabled, true)
			wantEqual(t, "timeout", p.Timeout.Std(), 4*time.Second)
		}},
		{"modules/smtp_starttls/mail.example.net:25", func(t *testing.T, p config.Probe) {
			wantEqual(t, "send", p.TCP.Send, "")
			for banner, want := range map[string]bool{"220 mx.example.net ESMTP Postfix\r\n": true, "554 no\r\n": false} {
				if p.TCP.Expect.MatchString(banner) != want {
					t.Errorf("expect %s matches %q: %v, want %v", p.TCP.Expect, banner, !want, want)
				}
			}
		}},
		{"modules/amqp_tls/mq.example.net:5671", func(t *testing.T, p config.Probe) {
			wantEqual(t, "send", p.TCP.Send, "HELO\r\n\r\n")
			wantEqual(t, "expect", regexpText(p.TCP.Expect), "AMQP")
			wantEqual(t, "tls.ca_file", p.TCP.TLS.CAFile, "testdata/ca.pem")
			wantEqual(t, "timeout", p.Timeout.Std(), 9500*time.Millisecond) // the scrape's, shorter than the module's 20s
		}},
		{"modules/amqp_tls_insecure/mq-test.example.net:5671", func(t *testing.T, p config.Probe) {
			wantEqual(t, "tls.insecure_skip_verify", p.TCP.TLS.InsecureSkipVerify, true)
		}},
		{"modules/icmp_v4/192.0.2.1", func(t *testing.T, p config.Probe) {
			wantEqual(t, "host", p.ICMP.Host, "192.0.2.1")
			wantEqual(t, "ip_protocol", p.ICMP.IPProtocol, config.IP4)
		}},
		{"modules/dns_udp/192.0.2.53", func(t *testing.T, p config.Probe) {
			d := p.DNS
			wantEqual(t, "name", d.Name, "www.example.net")
			wantEqual(t, "type", d.Type, "A")
			wantEqual(t, "server", d.Server, "192.0.2.53:53")
			wantEqual(t, "expect.rcode", d.Expect.RCode, "NOERROR")
			if len(d.Expect.Answers) != 1 || d.Expect.Answers[0].String() != "192.0.2.1$" {
				t.Errorf("expect.answers %v, want [192.0.2.1$]", d.Expect.Answers)
			}
			wantEqual(t, "assertions", len(d.Assert), 5)
		}},
		{"modules/dns_soa/ns1.example.net", func(t *testing.T, p config.Probe) {
			wantEqual(t, "type", p.DNS.Type, "SOA")
			wantEqual(t, "server", p.DNS.Server, "ns1.example.net:53")
		}},
		{"modules/dns_tcp/[2001:db8::53]:5353", func(t *testing.T, p config.Probe) {
			wantEqual(t, "transport", p.DNS.Transport, "tcp")
			wantEqual(t, "server", p.DNS.Server, "[2001:db8::53]:5353")
			wantEqual(t, "ip_protocol", p.DNS.IPProtocol, config.IP4)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, c.Probe(t, tc.name))
		})
	}
	wantLeft(t, c.left, []string{
		"modules.http_full.http.valid_http_versions",
		"modules.http_proxied.http.proxy_url",
		"modules.http_proxied.http.skip_resolve_phase_with_proxy",
		"modules.http_proxied_auth.http.proxy_url",
		"modules.http_proxied_auth.http.proxy_connect_header",
		"modules.http_post_file.http.body_file",
		"modules.http_oauth.http.valid_http_versions",
		"modules.http_oauth.http.oauth2",
		"modules.http_gzip.http.compression",
		"modules.http_gzip_accept.http.compression",
		"modules.http_gzip_accept.http.headers.Accept-Encoding",
		"modules.imap_starttls.tcp.query_response[1]",
		"modules.smtp_starttls.tcp.query_response[1]",
		"modules.icmp_v4.icmp.source_ip_address",
		"modules.icmp_v4.icmp.preferred_ip_protocol",
		"modules.dns_tcp.dns.query_type",
		"modules.dns_tcp.dns.preferred_ip_protocol",
	})
	for _, l := range c.left {
		for _, secret := range []string{"basic-secret-value", "bearer-secret-value", "oauth-secret-value", "proxy-secret-value"} {
			if strings.Contains(l.String(), secret) {
				t.Errorf("left behind item shows a secret: %s", l)
			}
		}
	}
}

// TestFileSD converts a job whose targets are in file_sd files beside
// prometheus.yml (YAML and JSON, by glob): one probe per target, with the
// file's labels and the module a label chose; a pattern that matches no
// file here is left behind, naming it.
func TestFileSD(t *testing.T) {
	c := convertDir(t, "testdata/filesd")
	if len(c.Cfg.Probes) != 3 {
		t.Fatalf("%d probes, want one per target of the files:\n%s", len(c.Cfg.Probes), c.Out)
	}
	var web, db int
	for _, p := range c.Cfg.Probes {
		switch {
		case p.HTTP != nil && p.Labels["team"] == "web":
			web++
		case p.TCP != nil && p.TCP.Address == "db.example.org:5432" && p.Labels["team"] == "data":
			db++
		default:
			t.Errorf("probe %s: %+v", p.Name, p)
		}
	}
	if web != 2 || db != 1 {
		t.Errorf("%d web probes from web.yml, %d tcp probes from db.json; want 2 and 1", web, db)
	}
	wantLeft(t, c.left, []string{"scrape_configs[0].file_sd_configs[1]"})
	if !strings.Contains(c.left[0].Why, "/etc/prometheus/elsewhere/*.yml") || !strings.Contains(c.left[0].Why, "matches no file here") {
		t.Errorf("the left pattern: %s", c.left[0])
	}
}

// TestLeftBehind converts what Lookout cannot take: targets found by
// service discovery, modules it has no prober for, settings without an
// equivalent, jobs and targets blackbox_exporter itself refuses.
func TestLeftBehind(t *testing.T) {
	c := convertDir(t, "testdata/left")
	wantLeft(t, c.left, []string{
		"scrape_configs[0].file_sd_configs[0]",
		"scrape_configs[0].kubernetes_sd_configs",
		"scrape_configs[1].params.module",
		"scrape_configs[1].static_configs[0].targets[0]", // label version
		"scrape_configs[2]",                              // relabelling that does not compile
		"scrape_configs[3]",                              // no target parameter
		"scrape_configs[4].static_configs[4].targets[0]", // tcp target without a port
		"scrape_configs[4].static_configs[5].targets[0]", // no such module
		"modules.http_2xx.http.bearer_token_file",
		"modules.http_2xx.http.headers.X-Template",
		"modules.http_2xx.http.fail_if_body_json_matches_cel",
		"modules.http_2xx.http.body_size_limit",
		"modules.login.http.basic_auth.password_file",
		"modules.login.http.tls_config.cert",
		"modules.login.http.tls_config.key",
		"modules.login.http.tls_config.min_version",
		"modules.socket.prober",
		"modules.dnskey.dns.query_type",
		"modules.dns_rcodes.dns.valid_rcodes",
	})
	for _, l := range c.left {
		if l.Why == "" {
			t.Errorf("%s: no reason", l.Where)
		}
		for _, secret := range []string{"header-secret-value", "key-secret-value"} {
			if strings.Contains(l.String(), secret) {
				t.Errorf("left behind item shows a secret: %s", l)
			}
		}
		if !strings.Contains(c.Out, l.String()) {
			t.Errorf("%s is not a comment of the output", l)
		}
	}
	// The job's first module only; the target relabelling drops, none;
	// the snmp_exporter job, none.
	for _, name := range slices.Sorted(maps.Keys(c.Probes)) {
		if !slices.Contains([]string{"two_modules/two.example.org", "misc/login/login.example.org", "misc/dns_rcodes/ns.example.org"}, name) {
			t.Errorf("unexpected probe %q", name)
		}
	}
	p := c.Probe(t, "two_modules/two.example.org")
	if _, ok := p.Labels["version"]; ok {
		t.Error("label version, which Lookout sets, is carried over")
	}
	wantEqual(t, "labels.env", p.Labels["env"], "prod")
	wantEqual(t, "kind", p.Kind(), "http")
	// Written so that Lookout reads "$" as blackbox_exporter did.
	wantEqual(t, "headers.X-Literal", p.HTTP.Headers["X-Literal"], "price: $${amount} or ${amount}")
	wantEqual(t, "body", p.HTTP.Body, "total: ${AMOUNT} $$")
	wantEqual(t, "headers.X-Api-Key", p.HTTP.Headers["X-Api-Key"], "header-secret-value")
	if _, ok := p.HTTP.Headers["X-Template"]; ok {
		t.Error(`a header with "{{" is carried over`)
	}
	// Lookout's one response code: NOERROR, of the two valid ones.
	wantEqual(t, "expect.rcode", c.Probe(t, "misc/dns_rcodes/ns.example.org").DNS.Expect.RCode, "NOERROR")
	if !strings.Contains(c.Out, "# Modules no job probes with: unused") {
		t.Errorf("the unused module is not named:\n%s", c.Out)
	}
}

// TestUnreadable: a file that is not YAML, or not a config at all, is an
// error naming the file and the line.
func TestUnreadable(t *testing.T) {
	good := readFile(t, "testdata/readme/blackbox.yml")
	goodProm := readFile(t, "testdata/readme/prometheus.yml")
	for _, tc := range []struct {
		name       string
		bb, prom   string
		wantSubstr []string
	}{
		{"blackbox syntax", "modules:\n  http_2xx:\n    prober: [http\n", string(goodProm), []string{"blackbox_exporter config", "line"}},
		{"blackbox not a mapping", "- http_2xx\n", string(goodProm), []string{"blackbox_exporter config", "line 1"}},
		{"modules not a mapping", "modules: [http_2xx]\n", string(goodProm), []string{"blackbox_exporter config", "line 1", "modules"}},
		{"prometheus syntax", string(good), "scrape_configs:\n  - job_name: x\n   metrics_path: /probe\n", []string{"Prometheus config", "line"}},
		{"scrape_configs not a list", string(good), "scrape_configs: {job_name: x}\n", []string{"Prometheus config", "line 1", "scrape_configs"}},
		{"global interval", string(good), "global:\n  scrape_interval: soon\n", []string{"Prometheus config", "line 2", "scrape_interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Convert([]byte(tc.bb), []byte(tc.prom), "")
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.wantSubstr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
	// Empty files are read: nothing to convert.
	c := convertAndLoad(t, nil, nil, "")
	if len(c.Cfg.Probes) != 0 || len(c.left) != 0 {
		t.Errorf("empty files: %d probes, left %v", len(c.Cfg.Probes), c.left)
	}
}

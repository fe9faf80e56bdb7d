package gatus

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer/importertest"
	"github.com/lookout-dev/lookout/config"
)

// converted is a Gatus config converted and loaded as `lookout check`
// loads it.
type converted struct {
	importertest.Loaded
	left []importer.Left
}

// convertFile converts testdata/name.
func convertFile(t *testing.T, name string) converted {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return convertAndLoad(t, src)
}

// convertAndLoad converts src and loads the output as `lookout check`
// does, with the environment.
func convertAndLoad(t *testing.T, src []byte) converted {
	t.Helper()
	out, left, err := Convert(src)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	return converted{importertest.Load(t, out, os.LookupEnv), left}
}

// places are the places of the items left behind.
func (c converted) places() []string {
	var out []string
	for _, l := range c.left {
		out = append(out, l.Where)
	}
	return out
}

// wantLeft checks the places of the items left behind, in order.
func (c converted) wantLeft(t *testing.T, want ...string) {
	t.Helper()
	if got := c.places(); !slices.Equal(got, want) {
		t.Errorf("left behind:\n%s\nwant the places %q", joinLeft(c.left), want)
	}
}

func joinLeft(left []importer.Left) string {
	var b strings.Builder
	for _, l := range left {
		b.WriteString("  " + l.String() + "\n")
	}
	return b.String()
}

func sources(es []config.Expr) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Source)
	}
	return out
}

func statuses(rs []config.StatusRange) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

func TestReadme(t *testing.T) {
	c := convertFile(t, "readme.yaml")

	t.Run("http", func(t *testing.T) {
		p := c.Probe(t, "front-end")
		if p.Interval.Std() != 5*time.Minute || p.Labels["group"] != "core" {
			t.Errorf("interval %s, labels %v; want 5m and group core", p.Interval.Std(), p.Labels)
		}
		if got := statuses(p.HTTP.Expect.Status); !slices.Equal(got, []string{"200"}) {
			t.Errorf("expect.status %v; want [200]", got)
		}
		want := []string{`string(body.status) == "UP"`, `duration < duration("150ms")`}
		if got := sources(p.HTTP.Assert); !slices.Equal(got, want) {
			t.Errorf("assert %q; want %q", got, want)
		}
		if p.FailureThreshold != (config.FailureThreshold{Failures: 1, Of: 1}) {
			t.Errorf("failure_threshold %+v; want none without alerts", p.FailureThreshold)
		}
	})
	t.Run("certificate", func(t *testing.T) {
		p := c.Probe(t, "back-end-certificate")
		if p.TLS == nil || p.TLS.Address != "example.org:443" || p.TLS.ExpiresWithin.Std() != 48*time.Hour {
			t.Fatalf("back-end-certificate: %+v; want a tls probe of example.org:443 with expires_within 48h", p.TLS)
		}
		if p.Interval.Std() != 5*time.Minute || p.Labels["group"] != "core" {
			t.Errorf("interval %s, labels %v; want the endpoint's", p.Interval.Std(), p.Labels)
		}
	})
	t.Run("body pattern", func(t *testing.T) {
		p := c.Probe(t, "make-sure-header-is-rendered")
		re := p.HTTP.Expect.BodyRegex
		if re == nil || !re.MatchString("<html><h1>Example Domain</h1></html>") || re.MatchString("<h1>Other</h1>") {
			t.Errorf("body_regex %v; want one matching a body holding <h1>Example Domain</h1>", re)
		}
	})
	t.Run("conditions table", func(t *testing.T) {
		p := c.Probe(t, "conditions")
		if got := statuses(p.HTTP.Expect.Status); !slices.Equal(got, []string{"200", "429"}) {
			t.Errorf("expect.status %v; want [200 429]", got)
		}
		if n := len(p.HTTP.Assert); n != 9 {
			t.Errorf("%d assertions; want 9 (the body conditions):\n%q", n, sources(p.HTTP.Assert))
		}
	})
	t.Run("dns", func(t *testing.T) {
		p := c.Probe(t, "example-dns-query")
		d := p.DNS
		if d.Name != "example.com" || d.Server != "8.8.8.8:53" || d.Type != "A" || d.Expect.RCode != "NOERROR" {
			t.Errorf("dns %+v; want example.com A at 8.8.8.8:53, rcode NOERROR", d)
		}
		if len(d.Expect.Answers) != 1 || !d.Expect.Answers[0].MatchString("example.com.\t300\tIN\tA\t93.184.216.34") ||
			d.Expect.Answers[0].MatchString("example.com.\t300\tIN\tA\t193.184.216.34") {
			t.Errorf("answers %v; want one matching the record of 93.184.216.34 only", d.Expect.Answers)
		}
	})
	t.Run("other kinds", func(t *testing.T) {
		if p := c.Probe(t, "icmp-ping"); p.ICMP == nil || p.ICMP.Host != "example.org" {
			t.Errorf("icmp-ping: %+v", p.ICMP)
		}
		if p := c.Probe(t, "my-grpc"); p.GRPC == nil || p.GRPC.Address != "localhost:50051" || p.Timeout.Std() != 5*time.Second || p.GRPC.TLS.Enabled {
			t.Errorf("my-grpc: %+v, timeout %s", p.GRPC, p.Timeout.Std())
		}
		if p := c.Probe(t, "website"); *p.HTTP.FollowRedirects {
			t.Error("website follows redirects; Gatus's ignore-redirect says not to")
		}
	})
	c.wantLeft(t, "storage", "web", "ui",
		"endpoints[3].conditions[10]", "endpoints[3].conditions[11]",
		"endpoints[7].ui", "endpoints[7].client.dns-resolver")
	if !strings.Contains(c.Out, "# not carried over: conditions[10]: [IP] == 127.0.0.1") {
		t.Errorf("no comment where [IP] stood:\n%s", c.Out)
	}
}

func TestKinds(t *testing.T) {
	t.Setenv("API_TOKEN", "api-token-value")
	t.Setenv("BACKUP_PUSH_TOKEN", "0123456789abcdef0123")
	c := convertFile(t, "kinds.yaml")
	if c.Cfg.Scheduler.MaxConcurrent != 10 {
		t.Errorf("max_concurrent %d; want Gatus's concurrency 10", c.Cfg.Scheduler.MaxConcurrent)
	}
	t.Run("tcp", func(t *testing.T) {
		p := c.Probe(t, "redis")
		if p.TCP == nil || p.TCP.Address != "127.0.0.1:6379" || p.TCP.Expect != nil || p.Interval.Std() != 30*time.Second {
			t.Errorf("redis: %+v", p.TCP)
		}
		p = c.Probe(t, "redis-ping")
		if p.TCP.Send != "PING\r\n" || p.TCP.Expect == nil || !p.TCP.Expect.MatchString("+PONG\r\n") || p.TCP.Expect.MatchString("-ERR") {
			t.Errorf("redis-ping: send %q, expect %v; want PING and a pattern matching PONG", p.TCP.Send, p.TCP.Expect)
		}
	})
	t.Run("websocket", func(t *testing.T) {
		p := c.Probe(t, "websocket")
		if p.WebSocket == nil || p.WebSocket.URL != "wss://echo.websocket.org/" || p.WebSocket.Send != "status" || !p.WebSocket.Expect.MatchString("Request served by abc") {
			t.Errorf("websocket: %+v", p.WebSocket)
		}
	})
	t.Run("grpcs", func(t *testing.T) {
		p := c.Probe(t, "my-grpcs")
		if !p.GRPC.TLS.Enabled || !p.GRPC.TLS.InsecureSkipVerify {
			t.Errorf("my-grpcs tls %+v; want TLS without verification", p.GRPC.TLS)
		}
	})
	t.Run("icmp", func(t *testing.T) {
		p := c.Probe(t, "ping-example")
		if p.ICMP.IPProtocol != "ip4" || !slices.Equal(sources(p.ICMP.Assert), []string{`rtt.avg < duration("100ms")`}) {
			t.Errorf("ping-example: %+v", p.ICMP)
		}
	})
	t.Run("dns mx", func(t *testing.T) {
		p := c.Probe(t, "example-dns-query")
		if p.DNS.Type != "MX" || !p.DNS.Expect.Answers[0].MatchString("example.com.\t300\tIN\tMX\t10 mail.example.com.") {
			t.Errorf("dns: %+v", p.DNS)
		}
	})
	t.Run("ssh and starttls", func(t *testing.T) {
		if p := c.Probe(t, "ssh-example-password"); p.TCP.Address != "example.com:22" || !p.TCP.Expect.MatchString("SSH-2.0-OpenSSH") {
			t.Errorf("ssh: %+v", p.TCP)
		}
		if p := c.Probe(t, "starttls-smtp-example"); p.TCP.Address != "smtp.gmail.com:587" || !p.TCP.Expect.MatchString("220 smtp.gmail.com ESMTP") {
			t.Errorf("starttls: %+v", p.TCP)
		}
	})
	t.Run("tls", func(t *testing.T) {
		p := c.Probe(t, "tls-ldaps-example")
		if p.TLS.Address != "ldap.example.com:636" || p.TLS.ExpiresWithin.Std() != 48*time.Hour || p.Timeout.Std() != 5*time.Second {
			t.Errorf("tls: %+v", p.TLS)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		if _, ok := c.Probes["disabled-one"]; ok {
			t.Error("disabled-one runs; Gatus does not run it")
		}
		if !strings.Contains(c.Out, "# - name: disabled-one") {
			t.Errorf("disabled-one is not written as a comment:\n%s", c.Out)
		}
	})
	t.Run("graphql", func(t *testing.T) {
		p := c.Probe(t, "graphql")
		if p.HTTP.Method != "POST" || !strings.HasPrefix(p.HTTP.Body, `{"query":"{\n  users(gender: \"female\")`) ||
			p.HTTP.Headers["Content-Type"] != "application/json" || p.HTTP.Headers["Authorization"] != "Bearer api-token-value" {
			t.Errorf("graphql: method %s, body %q, headers %v", p.HTTP.Method, p.HTTP.Body, p.HTTP.Headers)
		}
	})
	t.Run("external endpoints", func(t *testing.T) {
		p := c.Probe(t, "ext-ep-test")
		h := p.Heartbeat
		if h.Every.Std() != 30*time.Minute || h.Grace != 0 || len(h.Token) < 16 || h.Token == "potato" || p.Labels["group"] != "core" {
			t.Errorf("ext-ep-test: %+v, labels %v", h, p.Labels)
		}
		p = c.Probe(t, "nightly-backup")
		if p.Heartbeat.Token != "0123456789abcdef0123" {
			t.Errorf("nightly-backup token %q; want ${BACKUP_PUSH_TOKEN}", p.Heartbeat.Token)
		}
		for _, l := range c.left {
			if strings.Contains(l.String(), "potato") || strings.Contains(l.String(), h.Token) {
				t.Errorf("a token is in %q", l)
			}
		}
	})
	c.wantLeft(t, "endpoints[2]", "endpoints[3]", "endpoints[6].conditions[2]",
		"endpoints[8].ssh", "endpoints[8].conditions[1]", "endpoints[9].url", "endpoints[9].conditions[1]",
		"external-endpoints[0].token", "external-endpoints[0]", "external-endpoints[1]")
}

func TestAlerting(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-secret")
	c := convertFile(t, "alerting.yaml")
	damping := map[string]config.FailureThreshold{
		"website":              {Failures: 5, Of: 9},   // slack's default-alert: 5 and 5
		"back-end":             {Failures: 3, Of: 4},   // 3 and 2
		"back-end-certificate": {Failures: 3, Of: 4},   // as its endpoint
		"api":                  {Failures: 10, Of: 12}, // the first alert's 10 and 3
	}
	for name, want := range damping {
		if got := c.Probe(t, name).FailureThreshold; got != want {
			t.Errorf("%s: failure_threshold %+v; want %+v", name, got, want)
		}
	}
	a := c.Cfg.Alerting
	receivers := map[string]config.Receiver{}
	for _, r := range a.Receivers {
		receivers[r.Name] = r
	}
	for name, webhook := range map[string]string{
		"slack":      "https://hooks.slack.com/services/T00000000/B00000000/your-webhook-token-here",
		"slack-core": "https://hooks.slack.com/services/T00000000/B00000000/core-token",
		"slack-api":  "https://hooks.slack.com/services/T00000000/B00000000/api-token",
	} {
		if r := receivers[name]; r.Slack == nil || r.Slack.WebhookURL != webhook {
			t.Errorf("receiver %s: %+v; want Slack's webhook %s", name, r.Slack, webhook)
		}
	}
	if r := receivers["custom"]; r.Webhook == nil || r.Webhook.URL.String() != "https://hooks.example.com/gatus?token=hook-secret" || r.Webhook.Headers["X-Team"] != "ops" {
		t.Errorf("receiver custom: %+v", r.Webhook)
	}
	if r := receivers["log"]; r.Log == nil || a.Route.Receiver != "log" {
		t.Errorf("root route to %q; want a log receiver, as alerts without a Gatus alert page nobody", a.Route.Receiver)
	}
	type routeWant struct{ matcher, receiver string }
	var got []routeWant
	for _, r := range a.Route.Routes {
		if len(r.Matchers) != 1 || !r.Continue {
			t.Errorf("route %+v; want one matcher and continue", r)
			continue
		}
		got = append(got, routeWant{r.Matchers[0].String(), r.Receiver})
	}
	want := []routeWant{
		{`probe="website"`, "slack"},
		{`probe=~"back-end|back-end-certificate"`, "slack-core"},
		{`probe="api"`, "custom"},
		{`probe="api"`, "slack-api"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("routes %v; want %v", got, want)
	}
	if r := a.Route.Routes[1]; r.RepeatInterval == nil || r.RepeatInterval.Std() != 30*time.Minute {
		t.Errorf("back-end's route repeats every %v; want minimum-reminder-interval 30m", r.RepeatInterval)
	}
	c.wantLeft(t, "alerting.slack.title", "alerting.custom.body", "alerting.custom.placeholders",
		"alerting.custom.headers.Content-Type", "alerting.discord",
		"endpoints[0].alerts[0].description",
		"endpoints[0].alerts[1].failure-threshold", "endpoints[0].alerts[1]",
		"endpoints[1].alerts[0].send-on-resolved", "endpoints[1].alerts[0].description",
		"endpoints[2].alerts[1].failure-threshold", "endpoints[2].alerts[1].description",
		"endpoints[2].alerts[2]", "endpoints[2].alerts[3]")
	for _, l := range c.left {
		for _, secret := range []string{"your-webhook-token-here", "core-token", "api-token", "hooks.slack.com/services", "HOOK_TOKEN", "discord.com/api"} {
			if strings.Contains(l.String(), secret) {
				t.Errorf("a secret (%s) is in %q", secret, l)
			}
		}
	}
}

func TestMaintenance(t *testing.T) {
	c := convertFile(t, "maintenance.yaml")
	windows := map[string]*config.Maintenance{}
	for i := range c.Cfg.Maintenance {
		windows[c.Cfg.Maintenance[i].Name] = &c.Cfg.Maintenance[i]
	}
	at := func(zone, s string) time.Time {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		window, zone, at string
		on               bool
	}{
		{"gatus-maintenance", "Europe/Amsterdam", "2026-03-02 23:30", true},  // a Monday
		{"gatus-maintenance", "Europe/Amsterdam", "2026-03-05 23:59", true},  // a Thursday
		{"gatus-maintenance", "Europe/Amsterdam", "2026-03-03 23:30", false}, // a Tuesday
		{"gatus-maintenance", "Europe/Amsterdam", "2026-03-03 00:01", false}, // after Monday's hour
		{"anchor-example-1-maintenance-1", "Europe/Berlin", "2026-03-03 07:45", true},
		{"anchor-example-1-maintenance-1", "Europe/Berlin", "2026-03-03 08:15", false},
		{"anchor-example-1-maintenance-2", "Europe/Berlin", "2026-03-03 15:29", true},
	}
	for _, tt := range tests {
		t.Run(tt.window+" "+tt.at, func(t *testing.T) {
			m := windows[tt.window]
			if m == nil {
				t.Fatalf("no maintenance %q:\n%s", tt.window, c.Out)
			}
			if _, _, on := m.ActiveAt(at(tt.zone, tt.at)); on != tt.on {
				t.Errorf("on at %s %s: %v; want %v", tt.at, tt.zone, on, tt.on)
			}
		})
	}
	if m := windows["gatus-maintenance"]; !m.Matchers[0].Matches("any-probe") || m.Matchers[0].Matches("") {
		t.Errorf("Gatus's maintenance matches %s; want every probe", m.Matchers[0])
	}
	if m := windows["anchor-example-1-maintenance-1"]; !m.Matchers[0].Matches("anchor-example-1") || m.Matchers[0].Matches("anchor-example-2") {
		t.Errorf("the endpoint's window matches %s; want its probe only", m.Matchers[0])
	}
	// The anchored defaults are merged into both endpoints.
	for _, name := range []string{"anchor-example-1", "anchor-example-2"} {
		p := c.Probe(t, name)
		if p.Interval.Std() != 5*time.Minute || p.Timeout.Std() != 30*time.Second || !p.HTTP.TLS.InsecureSkipVerify || len(p.HTTP.Expect.Status) != 1 {
			t.Errorf("%s: interval %s, timeout %s, tls %+v; want the anchored defaults", name, p.Interval.Std(), p.Timeout.Std(), p.HTTP.TLS)
		}
	}
	if g := c.Probe(t, "anchor-example-2").Labels["group"]; g != "example" {
		t.Errorf("anchor-example-2's group %q; want its own, example", g)
	}
	c.wantLeft(t, "endpoints[1].maintenance-windows[0].start")
}

// TestCertificateProbeNameTaken: an endpoint already named like the
// certificate probe of another keeps its name, the certificate probe
// takes the next free one, and the alert's route selects it.
func TestCertificateProbeNameTaken(t *testing.T) {
	c := convertAndLoad(t, []byte(`alerting:
  custom: {url: "https://hooks.example.com/gatus"}
endpoints:
  - name: shop-certificate
    url: "https://shop.example.com/cert-report"
    conditions: ["[STATUS] == 200"]
  - name: shop
    url: "https://shop.example.com/"
    conditions: ["[STATUS] == 200", "[CERTIFICATE_EXPIRATION] > 48h"]
    alerts: [{type: custom}]
`))
	if p := c.Probe(t, "shop-certificate"); p.HTTP == nil {
		t.Errorf("shop-certificate is not the HTTP endpoint of that name: %+v", p)
	}
	if p := c.Probe(t, "shop-certificate-2"); p.TLS == nil || p.TLS.Address != "shop.example.com:443" {
		t.Errorf("shop's certificate probe: %+v", p.TLS)
	}
	if !strings.Contains(c.Out, "shop|shop-certificate-2") {
		t.Errorf("the route of shop's alert does not select its certificate probe:\n%s", c.Out)
	}
}

// TestConfigFolder: a folder is read as Gatus reads GATUS_CONFIG_PATH:
// its YAML files, in subfolders too, merged (the endpoints of each file
// in one list); a plain setting made in two files is an error naming
// both.
func TestConfigFolder(t *testing.T) {
	src, err := ReadPath("testdata/folder")
	if err != nil {
		t.Fatal(err)
	}
	c := convertAndLoad(t, src)
	for _, name := range []string{"front-end", "api", "db"} {
		c.Probe(t, name)
	}
	if p := c.Probe(t, "db"); p.TCP == nil || p.TCP.Address != "db.example.org:5432" {
		t.Errorf("db, from endpoints/api.yml: %+v", p.TCP)
	}
	if len(c.Cfg.Alerting.Receivers) < 2 {
		t.Errorf("the Slack provider of config.yaml did not become a receiver: %+v", c.Cfg.Alerting.Receivers)
	}

	dir := t.TempDir()
	for name, text := range map[string]string{
		"a.yaml": "storage: {type: sqlite, path: /data/a.db}\nendpoints: [{name: a, url: 'https://a.example', conditions: ['[STATUS] == 200']}]\n",
		"b.yml":  "storage: {type: sqlite, path: /data/b.db}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err = ReadPath(dir)
	if err == nil || !strings.Contains(err.Error(), "storage.type: set in "+filepath.Join(dir, "a.yaml")+" and again in "+filepath.Join(dir, "b.yml")) {
		t.Errorf("a setting made in two files: %v; want an error naming the setting and both files", err)
	}
	if _, err := ReadPath(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.yaml or *.yml file") {
		t.Errorf("an empty folder: %v", err)
	}
	if src, err := ReadPath("testdata/readme.yaml"); err != nil || !strings.Contains(string(src), "endpoints:") {
		t.Errorf("a file is read as it is: %v", err)
	}
}

func TestNotAGatusConfig(t *testing.T) {
	for name, src := range map[string]string{
		"empty":        "",
		"a list":       "- name: x\n",
		"no endpoints": "web:\n  port: 8080\n",
		"not yaml":     "endpoints: [\n",
		"endpoints":    "endpoints: {name: x}\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Convert([]byte(src)); err == nil {
				t.Error("converted; want an error")
			}
		})
	}
}

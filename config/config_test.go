package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	sentrygo "github.com/getsentry/sentry-go"
)

var update = flag.Bool("update", false, "rewrite the .err golden files from the current errors")

// testEnv is the environment the testdata files are loaded with.
func testEnv(name string) (string, bool) {
	env := map[string]string{"API_TOKEN": "tok-123", "LOOKOUT_TEST_SECRET": "hunter2", "MONGODB_URI": "mongodb://lookout:hunter2@127.0.0.1:27017/admin", "NIGHTLY_DUMP_TOKEN": "d3adb33f-nightly-dump-token", "PROBE_PASSWORD": "pr0be-pa55word",
		"ATLAS_CLIENT_ID": "mdb_sa_id_test", "ATLAS_CLIENT_SECRET": "mdb_sa_sk_hunter3", "S3_KEY_ID": "AKIATEST", "S3_SECRET": "s3-hunter4"}
	v, ok := env[name]
	return v, ok
}

func loadTestdata(t *testing.T, file string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(file, data, testEnv)
}

// TestInvalidFiles pins the exact errors of every testdata/invalid-*.yml:
// all problems of a file at once, each with file:line:col, field path and
// what would be valid.
func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid testdata files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := loadTestdata(t, file)
			if err == nil {
				t.Fatal("loaded without error; want errors")
			}
			golden := strings.TrimSuffix(file, ".yml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("read golden (run go test ./config -update to create it): %v", rerr)
			}
			if got := err.Error() + "\n"; got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
			for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
				if !strings.HasPrefix(line, file+":") {
					t.Errorf("error does not start with %s:line:col: %s", file, line)
				}
			}
		})
	}
}

func TestSecretsStayOutOfErrors(t *testing.T) {
	_, err := loadTestdata(t, "testdata/invalid-secret.yml")
	if err == nil {
		t.Fatal("want errors")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the value of LOOKOUT_TEST_SECRET:\n%v", err)
	}
	if !strings.Contains(err.Error(), "${LOOKOUT_TEST_SECRET}") {
		t.Errorf("error should show the reference as written:\n%v", err)
	}
}

// TestReceiverErrorsHideSecrets: tokens, webhook URLs and DSNs are never
// quoted by an error, whatever is wrong with them.
func TestReceiverErrorsHideSecrets(t *testing.T) {
	_, err := loadTestdata(t, "testdata/invalid-receivers.yml")
	if err == nil {
		t.Fatal("want errors")
	}
	if strings.Contains(err.Error(), "S3CRET") {
		t.Errorf("an error shows a secret:\n%v", err)
	}
}

// TestSentryDSNAsSentryGo: the config takes exactly the DSNs sentry-go
// takes, so the Sentry integration never meets one it cannot use.
func TestSentryDSNAsSentryGo(t *testing.T) {
	for _, dsn := range []string{
		"https://key@o1.ingest.sentry.io/42",
		"http://key:secret@127.0.0.1:9000/sub/path/7",
		"https://key@sentry.example/1/",
		"https://key@sentry.example/",
		"https://key@sentry.example",
		"https://key@/1",
		"https://key@:9000/1",
		"https://sentry.example/1",
		"https://:secret@sentry.example/1",
		"ftp://key@sentry.example/1",
		"sentry.example/1",
		"https://key@sentry.example:port/1",
		"https://key@[::1",
		"https:key@sentry.example/1",
	} {
		t.Run(dsn, func(t *testing.T) {
			problem := dsnProblem(dsn)
			_, err := sentrygo.NewDsn(dsn)
			if problem == "" && err != nil {
				t.Errorf("config accepts it, sentry-go says %v", err)
			}
			if problem != "" && err == nil {
				t.Errorf("config refuses it (%s), sentry-go takes it", problem)
			}
		})
	}
}

func TestReceiverDefaults(t *testing.T) {
	yml := "alerting:\n  route: {receiver: r}\n  receivers:\n    - name: r\n      slack: {token: xoxb-1, channel: \"#c\"}\n      webhook: {url: http://127.0.0.1/}\n" +
		"    - name: s\n      slack: {token: xoxb-1, channel: \"#c\", api_url: http://127.0.0.1:8080/api}\n      webhook: {url: http://127.0.0.1/, timeout: 3s}\n"
	cfg, err := Parse("f.yml", []byte(yml), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	rs := cfg.Alerting.Receivers
	checks := []struct {
		name      string
		got, want any
	}{
		{"slack api_url default", rs[0].Slack.APIURL.String(), DefaultSlackAPIURL},
		{"slack api_url set", rs[1].Slack.APIURL.String(), "http://127.0.0.1:8080/api"},
		{"webhook timeout default", rs[0].Webhook.Timeout, DefaultWebhookTimeout},
		{"webhook timeout set", rs[1].Webhook.Timeout.Std(), 3 * time.Second},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestIssueExampleLoads(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/valid-issue-example.yml")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Probes[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Server.Listen, "127.0.0.1:9477"},
		{"interval", p.Interval.Std(), 30 * time.Second},
		{"timeout", p.Timeout.Std(), 10 * time.Second},
		{"retries", p.Retries, 1},
		{"threshold", p.FailureThreshold, FailureThreshold{Failures: 3, Of: 5}},
		{"label team", p.Labels["team"], "api"},
		{"url", p.HTTP.URL.String(), "https://api.example.com/health"},
		{"expanded header", p.HTTP.Headers["Authorization"], "Bearer tok-123"},
		{"status ranges", len(p.HTTP.Expect.Status), 2},
		{"3xx accepts 301", p.HTTP.Expect.Status[1].Contains(301), true},
		{"asserts compiled", p.HTTP.Assert[1].Program != nil, true},
		{"comparison explained", p.HTTP.Assert[0].Explain != nil && p.HTTP.Assert[0].Explain.LeftSource == "body.status", true},
		{"security headers", p.HTTP.SecurityHeaders, SecurityHeadersStrict},
		{"default body limit", p.HTTP.BodySizeLimit, DefaultBodyLimit},
		{"default follow redirects", *p.HTTP.FollowRedirects, true},
		{"default max concurrent", cfg.Scheduler.MaxConcurrent, DefaultMaxConcurrent},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestAlertingExampleLoads(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/valid-alerting.yml")
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Alerting
	checks := []struct {
		name      string
		got, want any
	}{
		{"evaluation interval default", a.EvaluationInterval.Std(), 15 * time.Second},
		{"builtin rules on", *a.BuiltinRules, true},
		{"send resolved when muted", *a.SendResolvedWhenMuted, true},
		{"group_by", strings.Join(a.Route.GroupBy, ","), "alertname,probe"},
		{"repeat", a.Route.RepeatInterval.Std(), 4 * time.Hour},
		{"child matcher", a.Route.Routes[0].Matchers[0].String(), `severity="page"`},
		{"child continue", a.Route.Routes[0].Continue, true},
		{"inhibit source", a.InhibitRules[0].SourceMatchers[0].String(), `alertname="ProbeDown"`},
		{"webhook url", a.Receivers[0].Webhook.URL.String(), "http://127.0.0.1:9099/hook"},
		{"webhook timeout default", a.Receivers[0].Webhook.Timeout.Std(), 10 * time.Second},
		{"log receiver", a.Receivers[1].Log != nil, true},
		{"storage", cfg.Storage.Path, "/var/lib/lookout"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestWebVitalsExampleLoads(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/valid-webvitals.yml")
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.WebVitals
	if !w.Enabled || w.AllowedOrigins[0] != "https://www.example.com" || w.Routes[1] != "/blog/*" || w.MaxRoutes != 200 ||
		w.RateLimit.PerIP != 20 || w.RateLimit.Burst != 40 || w.SoftNavigations != "separate" {
		t.Errorf("webvitals: %+v", w)
	}
}

func TestMongoDBExampleLoads(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/valid-mongodb.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.MongoDB[0]
	if m.Name != "main" || m.URI != "mongodb://lookout:hunter2@127.0.0.1:27017/admin" || m.Timeout.Std() != 20*time.Second ||
		m.Databases.Exclude[2] != "config" || m.SlowQueries.Source != "profile" || m.UnusedIndexAfter.Std() != 168*time.Hour {
		t.Errorf("mongodb: %+v", m)
	}
}

func TestAlertingDefaultsToLog(t *testing.T) {
	cfg, err := Parse("f.yml", []byte("probes: []\n"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Alerting.Route; r == nil || r.Receiver != "log" || cfg.Alerting.Receivers[0].Log == nil {
		t.Errorf("without an alerting section, alerts should route to a log receiver: %+v", cfg.Alerting)
	}
}

func TestMissingVariableNamedNotValued(t *testing.T) {
	data, err := os.ReadFile("testdata/valid-issue-example.yml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("lookout.yml", data, func(string) (string, bool) { return "", false })
	want := "lookout.yml:13:58: probes[0].http.headers.Authorization: environment variable API_TOKEN is not set and has no default; set it or write ${API_TOKEN:-default}"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestExpandEnv(t *testing.T) {
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"A": "x", "EMPTY": ""}[name]
		return v, ok
	}
	tests := []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "x"},
		{in: "pre-${A}-post", want: "pre-x-post"},
		{in: "${MISSING:-def}", want: "def"},
		{in: "${EMPTY:-def}", want: "def"},
		{in: "${EMPTY}", want: ""},
		{in: "cost $$5 and $HOME", want: "cost $5 and $HOME"},
		{in: "${MISSING}", err: "environment variable MISSING is not set and has no default; set it or write ${MISSING:-default}"},
		{in: "${A", err: `unclosed ${ in "${A"; write ${NAME}, ${NAME:-default}, or $$ for a literal $`},
		{in: "${1X}", err: "${1X} is not a valid variable reference; want ${NAME} or ${NAME:-default} with NAME made of letters, digits and _"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := expandEnv(tt.in, env)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("got error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFingerprintTellsChangedProbes(t *testing.T) {
	parse := func(yml string) Probe {
		t.Helper()
		cfg, err := Parse("f.yml", []byte(yml), testEnv)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Probes[0]
	}
	base := "probes:\n  - name: a\n    http:\n      url: http://127.0.0.1/\n      assert: ['status == 200']\n"
	same := parse(base).Fingerprint() == parse(base).Fingerprint()
	changed := parse(base).Fingerprint() == parse(strings.Replace(base, "200", "201", 1)).Fingerprint()
	if !same || changed {
		t.Errorf("fingerprint: same config equal=%v (want true), changed assert equal=%v (want false)", same, changed)
	}
}

// TestAlikeProbesShareCompiledForms: within one file, expressions and
// regular expressions written alike are compiled once and shared.
func TestAlikeProbesShareCompiledForms(t *testing.T) {
	probe := "  - name: %s\n    http:\n      url: http://127.0.0.1/\n      expect: {body_regex: 'UP', headers: {X-A: '^1'}}\n      assert: ['%s']\n"
	yml := "probes:\n" + fmt.Sprintf(probe, "a", "status == 200") + fmt.Sprintf(probe, "b", "status == 200") + fmt.Sprintf(probe, "c", "status == 201")
	cfg, err := Parse("f.yml", []byte(yml), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := cfg.Probes[0].HTTP, cfg.Probes[1].HTTP, cfg.Probes[2].HTTP
	checks := []struct {
		name      string
		got, want bool
	}{
		{"assert program shared", a.Assert[0].Program == b.Assert[0].Program, true},
		{"assert explain shared", a.Assert[0].Explain == b.Assert[0].Explain, true},
		{"other assert not shared", a.Assert[0].Program == c.Assert[0].Program, false},
		{"body_regex shared", a.Expect.BodyRegex.Regexp == c.Expect.BodyRegex.Regexp, true},
		{"header regexp shared", a.Expect.Headers["X-A"].Regexp == c.Expect.Headers["X-A"].Regexp, true},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

// TestExplainPlannedOnFirstUse: the explaining program of a comparison is
// planned only when asked for, once, however many ask at the same time.
func TestExplainPlannedOnFirstUse(t *testing.T) {
	cfg, err := Parse("f.yml", []byte("probes:\n  - name: a\n    http:\n      url: http://127.0.0.1/\n      assert: ['status == 200']\n"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	x := cfg.Probes[0].HTTP.Assert[0].Explain
	if x.prg != nil {
		t.Fatal("explain program planned before use")
	}
	prgs := make([]cel.Program, 8)
	var wg sync.WaitGroup
	for i := range prgs {
		wg.Go(func() {
			prg, err := x.Program()
			if err != nil {
				t.Error(err)
			}
			prgs[i] = prg
		})
	}
	wg.Wait()
	for _, prg := range prgs {
		if prg == nil || prg != prgs[0] {
			t.Fatalf("got programs %v; want one and the same", prgs)
		}
	}
	_, det, err := prgs[0].Eval(map[string]any{"status": int64(503)})
	if err != nil || det == nil {
		t.Fatalf("eval: %v, details %v; want details", err, det)
	}
	if v, ok := det.State().Value(x.Left); !ok || v.Value() != int64(503) {
		t.Errorf("left side = %v; want 503", v)
	}
}

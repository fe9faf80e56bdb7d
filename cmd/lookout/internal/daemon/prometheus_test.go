package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/slack-go/slack/slacktest"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lookout-dev/lookout/alerting/promtest"
	"github.com/lookout-dev/lookout/collectors/mongodb/ferretdbtest"
	"github.com/lookout-dev/lookout/config"
)

// dashboardsDir holds the Grafana dashboards whose queries run here.
const dashboardsDir = "../../../../dashboards"

// TestPrometheusScrapesLookout runs a real Prometheus (the version whose
// packages Lookout uses) scraping a running Lookout through the protobuf
// scrape, with native histograms and exemplar storage on: every family
// /metrics serves arrives under its names, the native histograms arrive as
// native histograms (besides their classic series), the duration
// histogram's exemplars arrive with the trace ID of a run the trace
// collector received, a removed probe's series go stale (scraped, and
// those Lookout's remote_write sent to the same Prometheus), and the
// README's PromQL recipes and every query of the Grafana dashboards run
// through Prometheus's HTTP API, returning data except where noData says
// why not.
func TestPrometheusScrapesLookout(t *testing.T) {
	promtest.Bin(t, "prometheus") // skips, or fails in CI, before starting anything
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	tg := newTargets(t)
	hook := newHookServer(t)
	dir := t.TempDir()
	mongoDB := newMongoFixture(t, dir)
	// Prometheus scrapes Lookout, and takes its remote_write too (as
	// job lookout-remote, beside the scraped job lookout).
	// It also scrapes what Lookout exposes for a MongoDB 7.0 replica set,
	// which FerretDB is not: the series collectors/mongodb's tests make
	// from recorded replies.
	admin := promtest.FreeAddr(t)
	recorded := recordedMongoDB(t)
	prom := promtest.Prometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 900ms}
scrape_configs:
  - job_name: lookout
    scrape_protocols: [PrometheusProto, OpenMetricsText1.0.0, PrometheusText0.0.4]
    scrape_native_histograms: true
    always_scrape_classic_histograms: true
    static_configs: [{targets: [%q]}]
  - job_name: lookout-recorded-mongodb
    static_configs: [{targets: [%q]}]
`, admin, strings.TrimPrefix(recorded.URL, "http://")), "--enable-feature=exemplar-storage", "--web.enable-remote-write-receiver")

	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: scraped
    rules:
      - alert: BrokenNow
        expr: lookout_probe_state == 2
        labels: {severity: page}
        annotations: {summary: "{{ $labels.probe }} is down"}
`)
	const origin = "https://www.example.com"
	browserProbe, browserSection := browserParts(t)
	slack := slacktest.NewTestServer()
	slack.Start()
	defer slack.Stop()
	probes := browserProbe + fmt.Sprintf(`
  - name: restore-drill
    interval: 1h
    heartbeat: {every: 720h, token: %[4]s}
  - name: api
    interval: 1s
    labels: {team: api}
    http: {url: %[1]s/health, tls: {ca_file: %[2]s}}
  - name: broken
    interval: 1s
    labels: {team: api}
    http: {url: %[3]s/broken}
  - name: journey
    interval: 1s
    flow:
      steps:
        - {name: health, http: {url: '%[3]s/health'}}
`, tg.tls.URL, tg.caPEM, tg.plain.URL, beatToken)
	probes = "probes:\n" + probes
	gone := fmt.Sprintf(`  - name: gone
    interval: 1s
    http: {url: %s/health}
`, tg.plain.URL)
	head := mongoDB.section + browserSection + fmt.Sprintf(`remote_write:
  - {url: %q, interval: 1s, external_labels: {job: lookout-remote}}
`, prom.URL+"/api/v1/write") + fmt.Sprintf(`server:
  listen: %[6]q
  public: {listen: "127.0.0.1:0"}
storage: {path: %[1]q}
telemetry:
  tracing: {endpoint: %[2]s}
webvitals:
  enabled: true
  allowed_origins: [%[3]q]
  routes: ["/products/:id"]
alerting:
  evaluation_interval: 1s
  rule_files: [rules.yml]
  route: {receiver: hook, group_by: [alertname, probe], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
  receivers:
    - name: hook
      webhook: {url: %[4]q}
    - name: chat
      slack: {token: xoxb-test, channel: "#oncall", api_url: %[5]q}
`, filepath.Join(dir, "data"), collector.URL, origin, hook.srv.URL, slack.GetAPIURL(), admin)
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, head+probes+gone)
	bd := startBeatDaemon(t, cfgFile)
	d := bd.running
	defer d.stop(t)
	if code := bd.checkin(t, http.MethodPost, "/v1/heartbeat/restore-drill", beatToken, ""); code != http.StatusOK {
		t.Fatalf("the restore drill's check-in: %d", code)
	}

	// Prometheus applies its targets some seconds after it starts.
	promtest.Eventually(t, 30*time.Second, func(ctx context.Context) string {
		v, err := prom.Query(ctx, `up{job="lookout"} == 1`)
		if err != nil {
			return err.Error()
		}
		if len(v.(model.Vector)) == 0 {
			return "Prometheus has not scraped Lookout yet"
		}
		return ""
	})
	// Beacons of every Web Vitals metric, of page loads and of soft
	// navigations, spread over several scrapes so that rates have an
	// increase to show.
	for i := range 4 {
		sendBeacons(t, bd.public, origin, i)
		mongoDB.logSlowQueries(t)
		time.Sleep(1200 * time.Millisecond)
	}
	hook.next(t, "firing", 30*time.Second)
	promtest.Eventually(t, 45*time.Second, func(context.Context) string {
		for _, p := range d.probes(t).Probes {
			want := map[string]int{"restore-drill": 0, "shop": 1}[p.Name] // a check-in, and Chromium's start
			if _, other := map[string]int{"restore-drill": 0, "shop": 1}[p.Name]; !other {
				want = 3
			}
			if len(p.Results) < want {
				return fmt.Sprintf("probe %s ran %d times, want %d", p.Name, len(p.Results), want)
			}
		}
		return ""
	})

	t.Run("every family arrives", func(t *testing.T) {
		want := servedNames(t, d)
		promtest.Eventually(t, 30*time.Second, func(ctx context.Context) string {
			var got []string
			if err := prom.Get(ctx, "/api/v1/label/__name__/values", url.Values{"match[]": {`{job="lookout"}`}}, &got); err != nil {
				return err.Error()
			}
			var missing []string
			for _, name := range want {
				if !slices.Contains(got, name) {
					missing = append(missing, name)
				}
			}
			if len(missing) > 0 {
				return fmt.Sprintf("Prometheus lacks %d of the %d names /metrics serves: %v", len(missing), len(want), missing)
			}
			return ""
		})
	})

	t.Run("native histograms", func(t *testing.T) {
		for _, name := range []string{"lookout_probe_duration_seconds", "lookout_scheduler_lag_seconds",
			"lookout_flow_step_duration_seconds", "webvitals_lcp_seconds"} {
			promtest.Eventually(t, 15*time.Second, func(ctx context.Context) string {
				v, err := prom.Query(ctx, name)
				if err != nil {
					return err.Error()
				}
				vec, _ := v.(model.Vector)
				if len(vec) == 0 {
					return name + ": no series"
				}
				for _, s := range vec {
					if s.Histogram == nil || s.Histogram.Count == 0 || len(s.Histogram.Buckets) == 0 {
						return fmt.Sprintf("%s: %v is not a native histogram with observations: %v", name, s.Metric, s)
					}
				}
				return ""
			})
		}
	})

	t.Run("exemplars", func(t *testing.T) {
		traceID := regexp.MustCompile(`^[0-9a-f]{32}$`)
		var ids []string
		promtest.Eventually(t, 15*time.Second, func(ctx context.Context) string {
			var got []struct {
				SeriesLabels map[string]string `json:"seriesLabels"`
				Exemplars    []struct {
					Labels map[string]string `json:"labels"`
				} `json:"exemplars"`
			}
			now := time.Now()
			if err := prom.Get(ctx, "/api/v1/query_exemplars", url.Values{
				"query": {`{__name__=~"lookout_probe_duration_seconds(_bucket)?", probe="api"}`},
				"start": {strconv.FormatInt(now.Add(-time.Minute).Unix(), 10)}, "end": {strconv.FormatInt(now.Unix(), 10)},
			}, &got); err != nil {
				return err.Error()
			}
			ids = ids[:0]
			for _, series := range got {
				for _, e := range series.Exemplars {
					if !traceID.MatchString(e.Labels["trace_id"]) {
						return fmt.Sprintf("exemplar of %v has labels %v, want a trace_id", series.SeriesLabels, e.Labels)
					}
					ids = append(ids, e.Labels["trace_id"])
				}
			}
			if len(ids) == 0 {
				return "Prometheus has no exemplars of lookout_probe_duration_seconds"
			}
			return ""
		})
		promtest.Eventually(t, 20*time.Second, func(context.Context) string {
			recv.mu.Lock()
			defer recv.mu.Unlock()
			for _, s := range recv.spans {
				if slices.Contains(ids, hexID(s.TraceId)) {
					return ""
				}
			}
			return fmt.Sprintf("the collector has none of the exemplars' traces %v", ids)
		})
	})

	t.Run("queries", func(t *testing.T) {
		queries := append(readmeRecipes(t), dashboardQueries(t)...)
		excuses := maps.Clone(noData)
		if browserProbe != "" {
			delete(excuses, "probe_browser_")
		}
		withData := 0
		for _, q := range queries {
			if checkQuery(t, prom, q, excuses) {
				withData++
			}
		}
		t.Logf("%d queries ran; %d returned data", len(queries), withData)
	})

	t.Run("a removed probe goes stale", func(t *testing.T) {
		ctx := context.Background()
		if v, err := prom.Query(ctx, `lookout_probe_state{probe="gone"}`); err != nil || len(v.(model.Vector)) != 2 {
			t.Fatalf("before the reload: %v, %v; want the probe's series, scraped and remote-written", v, err)
		}
		writeConfig(t, cfgFile, head+probes)
		if resp, body := postReload(t, d); resp.StatusCode != http.StatusOK {
			t.Fatalf("reload: %d %s", resp.StatusCode, body)
		}
		promtest.Eventually(t, 15*time.Second, func(ctx context.Context) string {
			v, err := prom.Query(ctx, `{probe="gone"}`)
			if err != nil {
				return err.Error()
			}
			if n := len(v.(model.Vector)); n > 0 {
				return fmt.Sprintf("%d series of the removed probe are not stale: %v", n, v)
			}
			return ""
		})
		if v, err := prom.Query(ctx, `lookout_probe_state{probe="api"}`); err != nil || len(v.(model.Vector)) != 2 {
			t.Errorf("the probes that stay: %v, %v; want their series", v, err)
		}
	})
}

// browserParts are, when Chromium is here, a browser probe of a local
// page (for the lab Web Vitals) and the config's browser section; "" when
// it is not and .ci/test does not ask for it.
func browserParts(t *testing.T) (probe, section string) {
	t.Helper()
	for _, name := range config.BrowserExecutables {
		chrome, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, `<!doctype html><title>Shop</title><h1>Shop</h1><p>Everything in stock.</p>`)
		}))
		t.Cleanup(page.Close)
		return fmt.Sprintf("  - name: shop\n    interval: 3s\n    timeout: 2900ms\n    browser: {url: %s/}\n", page.URL),
			fmt.Sprintf("browser: {executable: %s}\n", chrome)
	}
	if os.Getenv("LOOKOUT_BROWSER_TESTS") != "" {
		t.Fatalf("LOOKOUT_BROWSER_TESTS is set but none of %v is on PATH", config.BrowserExecutables)
	}
	return "", ""
}

// recordedMongoDB serves, as /metrics, what Lookout exposes for the
// recorded replies of a MongoDB 7.0 replica set (serverStatus,
// replSetGetStatus, the oplog's ends, $indexStats and listIndexes): the
// golden files that
// collectors/mongodb's tests check its collector against.
func recordedMongoDB(t *testing.T) *httptest.Server {
	t.Helper()
	var body strings.Builder
	for _, f := range []string{"serverstatus", "replsetgetstatus", "oplog", "indexes"} {
		data, err := os.ReadFile("../../../../collectors/mongodb/testdata/" + f + "-mongodb-7.0.metrics")
		if err != nil {
			t.Fatal(err)
		}
		body.Write(data)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, body.String())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// mongoFixture is a MongoDB target of the test: FerretDB with indexes and
// Percona Backup for MongoDB's collections, dumps and their off-site copy,
// and a mongod log that slow queries are appended to.
type mongoFixture struct {
	section string // the config's mongodb section
	slowLog string
}

// newMongoFixture starts FerretDB and writes the target's files into dir:
// a done, a failed and a stuck running PBM backup and PITR an hour behind,
// three nightly dumps with one off-site copy, and an empty mongod log.
func newMongoFixture(t *testing.T, dir string) *mongoFixture {
	t.Helper()
	srv := ferretdbtest.Start(t)
	client, err := mongo.Connect(options.Client().ApplyURI(srv.URI))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(t.Context())
	now := time.Now()
	insertPBMState(t, client, now)
	// {customer: 1} is a prefix of the second index: redundant.
	if _, err := client.Database("shop").Collection("orders").Indexes().CreateMany(t.Context(), []mongo.IndexModel{
		{Keys: bson.D{{Key: "customer", Value: 1}}},
		{Keys: bson.D{{Key: "customer", Value: 1}, {Key: "createdAt", Value: -1}}},
	}); err != nil {
		t.Fatal(err)
	}
	dumps, offsite := filepath.Join(dir, "dumps"), filepath.Join(dir, "offsite")
	for folder, ages := range map[string][]time.Duration{dumps: {50 * time.Hour, 26 * time.Hour, 2 * time.Hour}, offsite: {26 * time.Hour}} {
		for _, age := range ages {
			at := now.Add(-age)
			writeDump(t, folder, fmt.Sprintf("%d.archive.gz", at.Unix()), 1000, at)
		}
	}
	m := &mongoFixture{slowLog: filepath.Join(dir, "mongod.log")}
	writeConfig(t, m.slowLog, "")
	m.section = fmt.Sprintf(`mongodb:
  - name: main
    uri: %[1]q
    interval: 1s
    timeout: 800ms
    slow_queries: {source: log, path: %[2]q}
    backups:
      expect: {every: 24h, grace: 2h}
      retention: 48h
      sources:
        - pbm: {}
        - files: {path: %[3]q, pattern: "*.archive.gz"}
        - {name: offsite, files: {path: %[4]q, copy_of: files}}
        - s3: {endpoint: "http://127.0.0.1:1", bucket: dumps, access_key_id: AKIAEXAMPLE, secret_access_key: never-reached}
      restore_test: {heartbeat: restore-drill, every: 720h}
`, srv.URI, m.slowLog, dumps, offsite)
	return m
}

// logSlowQueries appends mongod's log of a few slow queries to the log
// the target reads.
func (m *mongoFixture) logSlowQueries(t *testing.T) {
	t.Helper()
	lines, err := os.ReadFile("../../../../collectors/mongodb/testdata/slowlog-mongodb-7.0.log")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(m.slowLog, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(lines); err != nil {
		t.Fatal(err)
	}
}

// sendBeacons posts to the public listener a page load's and a soft navigation's Web Vitals, as
// the web-vitals library reports them, their values varying with i.
func sendBeacons(t *testing.T, public, origin string, i int) {
	t.Helper()
	var metrics []string
	for _, nav := range []string{"navigate", "soft-navigation"} {
		for _, m := range []struct {
			name  string
			value float64
		}{{"LCP", 1200}, {"INP", 150}, {"FCP", 800}, {"TTFB", 300}, {"CLS", 0.05}} {
			value := m.value * float64(1+i)
			if nav == "soft-navigation" && m.name == "TTFB" {
				value = 0
			}
			metrics = append(metrics, fmt.Sprintf(`{"name":%q,"value":%g,"id":"v5-%d-%s-%s","navigationType":%q,"page":"/products/%d"}`,
				m.name, value, i, nav, m.name, nav, 40+i))
		}
	}
	req, _ := http.NewRequest(http.MethodPost, public+"/v1/vitals", strings.NewReader("["+strings.Join(metrics, ",")+"]"))
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("beacons: %d, want 204", resp.StatusCode)
	}
}

// servedNames are the series names Prometheus keeps of what d's /metrics
// serves now: a counter's, a gauge's and an untyped family's name, a
// summary's with _sum and _count, a histogram's classic _bucket, _sum and
// _count (always_scrape_classic_histograms) and, for those with native
// buckets, its own name.
func servedNames(t *testing.T, d *running) []string {
	t.Helper()
	resp, body := d.get(t, "/metrics", "Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
	dec := expfmt.NewDecoder(strings.NewReader(body), expfmt.ResponseFormat(resp.Header))
	var names []string
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			break
		}
		name := mf.GetName()
		switch mf.GetType() {
		case dto.MetricType_SUMMARY:
			names = append(names, name, name+"_sum", name+"_count")
		case dto.MetricType_HISTOGRAM:
			names = append(names, name+"_bucket", name+"_sum", name+"_count")
			if h := mf.GetMetric()[0].GetHistogram(); h.GetSchema() != 0 || h.GetZeroThreshold() != 0 || len(h.GetPositiveSpan()) > 0 {
				names = append(names, name)
			}
		default:
			names = append(names, name)
		}
	}
	if len(names) < 50 {
		t.Fatalf("/metrics served %d names; the protobuf scrape did not decode:\n%.500s", len(names), body)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// promQuery is a query a user runs: a README recipe or a dashboard panel's.
type promQuery struct {
	where, expr string
}

// readmeRecipes are the README's PromQL recipes: each ```promql block's
// queries, a line indented under another continuing it.
func readmeRecipes(t *testing.T) []promQuery {
	t.Helper()
	data, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []promQuery
	for n, block := range strings.Split(string(data), "```promql\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		comment := ""
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.TrimSpace(line) == "":
			case strings.HasPrefix(line, "#"):
				comment = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			case strings.HasPrefix(line, " ") && len(out) > 0:
				out[len(out)-1].expr += " " + strings.TrimSpace(line)
			default:
				out = append(out, promQuery{where: fmt.Sprintf("README promql block %d, %q", n+1, comment), expr: line})
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the README has no PromQL recipes")
	}
	return out
}

// dashboardQueries are every panel query of the Grafana dashboards, with
// the dashboards' variables at All (Grafana's .* for a multi-value
// variable) and Grafana's own at values fitting a 1 s scrape.
func dashboardQueries(t *testing.T) []promQuery {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if len(files) == 0 {
		t.Fatal("no dashboards")
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var out []promQuery
	var walk func(file string, raw json.RawMessage)
	walk = func(file string, raw json.RawMessage) {
		var p panel
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, tg := range p.Targets {
			out = append(out, promQuery{where: fmt.Sprintf("%s, panel %q, query %s", file, p.Title, tg.RefID), expr: grafanaAll(tg.Expr)})
		}
		for _, child := range p.Panels {
			walk(file, child)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range d.Panels {
			walk(filepath.Base(f), p)
		}
	}
	return out
}

// grafanaValues stand for Grafana's own variables when a dashboard shows
// the last few minutes of a 1 s scrape.
var grafanaValues = map[string]string{
	"__rate_interval": "1m", "__interval": "1s", "__range": "5m",
	"__interval_ms": "1000", "__range_ms": "300000", "__range_s": "300",
}

// grafanaAll replaces Grafana's variables in a query: its own by
// grafanaValues, a dashboard's (multi-value, with All) by .*.
func grafanaAll(query string) string {
	return regexp.MustCompile(`\$(?:\{([A-Za-z_]\w*)(?::[^}]*)?\}|([A-Za-z_]\w*))`).ReplaceAllStringFunc(query, func(v string) string {
		m := regexp.MustCompile(`^\$\{?([A-Za-z_]\w*)`).FindStringSubmatch(v)
		if value, ok := grafanaValues[m[1]]; ok {
			return value
		}
		return ".*"
	})
}

// noData are the metric name prefixes of what this test's Lookout has
// none of, and why; a query that reads one may return nothing.
var noData = map[string]string{
	"lookout_cluster_": "there is no cluster here; TestClusterSpreadsProbes runs these queries through a Prometheus scraping its replicas",
	"probe_browser_":   "there is no Chromium here for a browser probe (.ci/test has one)",
}

// checkQuery runs q through prom: it must execute, and return data unless
// it reads a family excuses names. It tells whether q returned data.
func checkQuery(t *testing.T, prom *promtest.Server, q promQuery, excuses map[string]string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := prom.Query(ctx, q.expr)
	if err != nil {
		t.Errorf("%s: %s: %v", q.where, q.expr, err)
		return false
	}
	empty := false
	switch r := v.(type) {
	case model.Vector:
		empty = len(r) == 0
	case model.Matrix:
		empty = len(r) == 0
	}
	if !empty {
		return true
	}
	for prefix, why := range excuses {
		if regexp.MustCompile(`\b` + prefix).MatchString(q.expr) {
			t.Logf("%s: no data, as %s", q.where, why)
			return false
		}
	}
	t.Errorf("%s: no data from Prometheus: %s", q.where, q.expr)
	return false
}

// TestRemoteWriteFromLookout: with remote_write, a running Lookout pushes
// what /metrics serves (its own families and its probes') to a real
// Prometheus's remote-write receiver, labelled job="lookout" and with the
// host as instance, and a probe removed by a reload ends there at once
// (a staleness marker), as it does when Prometheus scrapes.
func TestRemoteWriteFromLookout(t *testing.T) {
	prom := promtest.Prometheus(t, "global: {}\n", "--web.enable-remote-write-receiver")
	tg := newTargets(t)
	dir := t.TempDir()
	head := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
remote_write:
  - url: %s/api/v1/write
    interval: 200ms
    external_labels: {location: eu-west}
probes:
  - name: api
    interval: 200ms
    http: {url: %s/health}
`, filepath.Join(dir, "data"), prom.URL, tg.plain.URL)
	gone := fmt.Sprintf("  - name: gone\n    interval: 200ms\n    http: {url: %s/broken}\n", tg.plain.URL)
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, head+gone)
	d := startDaemon(t, cfgFile)
	defer d.stop(t)

	host, _ := os.Hostname()
	for q, want := range map[string]float64{
		`lookout_probe_state{probe="api", job="lookout", location="eu-west"}`:  0,
		`lookout_probe_state{probe="gone", job="lookout", location="eu-west"}`: 2,
		fmt.Sprintf(`lookout_build_info{job="lookout", instance=%q}`, host):    1,
	} {
		promtest.Eventually(t, 20*time.Second, func(ctx context.Context) string {
			v, err := prom.Query(ctx, q)
			if err != nil {
				return err.Error()
			}
			if vec := v.(model.Vector); len(vec) != 1 || float64(vec[0].Value) != want {
				return fmt.Sprintf("%s = %v, want %v", q, vec, want)
			}
			return ""
		})
	}
	promtest.Eventually(t, 20*time.Second, func(ctx context.Context) string {
		v, err := prom.Query(ctx, `histogram_count(lookout_probe_duration_seconds{probe="api"}) > 0`)
		if err != nil || len(v.(model.Vector)) != 1 {
			return fmt.Sprintf("the native run-duration histogram did not arrive: %v %v", v, err)
		}
		return ""
	})

	writeConfig(t, cfgFile, head)
	if resp, body := postReload(t, d); resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	promtest.Eventually(t, 15*time.Second, func(ctx context.Context) string {
		v, err := prom.Query(ctx, `{probe="gone"}`)
		if err != nil {
			return err.Error()
		}
		if n := len(v.(model.Vector)); n > 0 {
			return fmt.Sprintf("%d series of the removed probe are not stale", n)
		}
		return ""
	})
	_, m := d.get(t, "/metrics")
	if !regexp.MustCompile(`(?m)^lookout_remote_write_samples_sent_total\{remote="[^"]+"\} [1-9]`).MatchString(m) {
		t.Errorf("/metrics does not count the samples sent:\n%s", grepLines(m, "lookout_remote_write_"))
	}
}

package daemon

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/kinds"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/heartbeat"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

var update = flag.Bool("update", false, "rewrite testdata/metrics.golden")

// targets are the local services the test daemon probes.
type targets struct {
	plain *httptest.Server
	tls   *httptest.Server
	caPEM string
	// hanging receives each request to /hang as it arrives.
	hanging chan *http.Request
	// dataDir is the daemon's storage.path.
	dataDir string
}

func newTargets(t *testing.T) *targets {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"UP"}`)
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/health", http.StatusFound)
	})
	tg := &targets{hanging: make(chan *http.Request, 10), dataDir: t.TempDir()}
	mux.HandleFunc("/hang", func(_ http.ResponseWriter, r *http.Request) {
		tg.hanging <- r
		<-r.Context().Done()
	})
	tg.plain, tg.tls = httptest.NewServer(mux), httptest.NewTLSServer(mux)
	t.Cleanup(tg.plain.Close)
	t.Cleanup(tg.tls.Close)
	tg.caPEM = filepath.Join(t.TempDir(), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tg.tls.Certificate().Raw})
	if err := os.WriteFile(tg.caPEM, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return tg
}

func (tg *targets) config(extraProbes string) string {
	return fmt.Sprintf(`server:
  listen: 127.0.0.1:0
storage:
  path: %[5]s
probes:
  - name: api-health
    interval: 1s
    labels: {team: api, env: test}
    http:
      url: %[1]s/health
      expect:
        status: [200]
        headers: {Content-Type: "^application/json"}
      assert: ['body.status == "UP"']
  - name: api-broken
    interval: 1s
    http:
      url: %[1]s/broken
  - name: api-redirect
    interval: 1s
    http:
      url: %[1]s/old
  - name: api-tls
    interval: 1s
    http:
      url: %[2]s/health
      tls: {ca_file: %[3]s}
%[4]s`, tg.plain.URL, tg.tls.URL, tg.caPEM, extraProbes, tg.dataDir)
}

// running is a daemon started by a test.
type running struct {
	base   string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

func startDaemon(t *testing.T, cfgFile string) *running {
	t.Helper()
	return startDaemonWith(t, cfgFile, nil)
}

// startDaemonWith is startDaemon with options set by with (nil: none).
func startDaemonWith(t *testing.T, cfgFile string, with func(*Options)) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	logs := &syncBuffer{}
	r := &running{cancel: cancel, done: make(chan error, 1), logs: logs}
	opts := Options{Kinds: allKinds(),
		ConfigFile: cfgFile, Version: "test", Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Listening: func(a net.Addr) { addr <- a },
	}
	if with != nil {
		with(&opts)
	}
	go func() { r.done <- Run(ctx, opts) }()
	select {
	case a := <-addr:
		r.base = "http://" + a.String()
	case err := <-r.done:
		t.Fatalf("daemon did not start: %v", err)
	}
	return r
}

// stop cancels the daemon as SIGTERM does and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(ShutdownTimeout):
		t.Fatal("daemon did not stop within the shutdown timeout")
	}
}

func (r *running) get(t *testing.T, path string, header ...string) (*http.Response, string) {
	t.Helper()
	return doURL(t, http.MethodGet, r.base+path, "", header...)
}

type apiProbes struct {
	Probes []struct {
		Name    string            `json:"name"`
		State   string            `json:"state"`
		Reason  string            `json:"reason"`
		Labels  map[string]string `json:"labels"`
		Results []struct {
			State  string             `json:"state"`
			Phases map[string]float64 `json:"phases"`
		} `json:"results"`
	} `json:"probes"`
}

func (r *running) probes(t *testing.T) apiProbes {
	t.Helper()
	_, body := r.get(t, "/api/v1/probes")
	var out apiProbes
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("decode /api/v1/probes: %v\n%s", err, body)
	}
	return out
}

// waitRuns waits until every probe has at least n results.
func (r *running) waitRuns(t *testing.T, n int) apiProbes {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ps := r.probes(t)
		ready := len(ps.Probes) > 0
		for _, p := range ps.Probes {
			ready = ready && len(p.Results) >= n
		}
		if ready {
			return ps
		}
		if time.Now().After(deadline) {
			t.Fatalf("probes did not all run %d times: %+v", n, ps)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestMetricsGolden starts the real daemon on a config file, lets every
// probe run, and compares /metrics with testdata/metrics.golden. Values
// that depend on timing are masked; everything else must match.
func TestMetricsGolden(t *testing.T) {
	tg := newTargets(t)
	cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
	writeConfig(t, cfgFile, tg.config(""))
	d := startDaemon(t, cfgFile)
	defer d.stop(t)
	d.waitRuns(t, 1)

	_, text := d.get(t, "/metrics")
	got := normalizeMetrics(text)
	golden := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (go test -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("/metrics differs from %s:\n%s", golden, lineDiff(string(want), got))
	}
}

var (
	// dynamicMetrics have values that depend on timing or the host.
	dynamicMetrics = regexp.MustCompile(`^(probe_duration_seconds|probe_http_duration_seconds|lookout_probe_duration_seconds_\w+|lookout_probe_last_run_timestamp_seconds|lookout_config_last_reload_success_timestamp_seconds|lookout_scheduler_lag_seconds_\w+|lookout_probe_runs_total|lookout_store_\w+|lookout_rule_evaluation_duration_seconds_\w+|lookout_rule_group_last_evaluation_timestamp_seconds)[{ ]`)
	keptFamilies   = regexp.MustCompile(`^(# (HELP|TYPE) )?(probe_|lookout_)`)
)

// normalizeMetrics keeps Lookout's and the probe families, masking
// timing-dependent values and histogram buckets.
func normalizeMetrics(text string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if !keptFamilies.MatchString(line) {
			continue
		}
		if strings.Contains(line, "_bucket{") {
			continue
		}
		if dynamicMetrics.MatchString(line) {
			if i := strings.LastIndexByte(line, ' '); i > 0 {
				line = line[:i] + " <dynamic>"
			}
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n") + "\n"
}

func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	inWant := map[string]bool{}
	for _, l := range wl {
		inWant[l] = true
	}
	inGot := map[string]bool{}
	for _, l := range gl {
		inGot[l] = true
	}
	var b strings.Builder
	for _, l := range wl {
		if !inGot[l] {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range gl {
		if !inWant[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

func TestAPIAndEndpoints(t *testing.T) {
	tg := newTargets(t)
	cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
	writeConfig(t, cfgFile, tg.config(""))
	d := startDaemon(t, cfgFile)
	defer d.stop(t)
	ps := d.waitRuns(t, 1)

	states := map[string]string{}
	for _, p := range ps.Probes {
		states[p.Name] = p.State + " " + p.Reason
		if p.Results[0].Phases["connect"] <= 0 {
			t.Errorf("%s: connect phase %v, want > 0 on a fresh connection", p.Name, p.Results[0].Phases["connect"])
		}
	}
	want := map[string]string{
		"api-health":   "up ",
		"api-broken":   "down status: expected 2xx, got 503 Service Unavailable",
		"api-redirect": "up ",
		"api-tls":      "up ",
	}
	for name, w := range want {
		if states[name] != w {
			t.Errorf("%s: got %q, want %q", name, states[name], w)
		}
	}
	if _, body := d.get(t, "/api/v1/probes/api-broken"); !strings.Contains(body, `"state": "down"`) {
		t.Errorf("/api/v1/probes/api-broken: %s", body)
	}
	if resp, _ := d.get(t, "/api/v1/probes/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown probe: status %d, want 404", resp.StatusCode)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, _ := d.get(t, path); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	formats := []struct{ accept, want string }{
		{"application/openmetrics-text;version=1.0.0", "application/openmetrics-text"},
		{"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "application/vnd.google.protobuf"},
		{"text/plain", "text/plain"},
	}
	for _, f := range formats {
		resp, body := d.get(t, "/metrics", "Accept", f.accept)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, f.want) {
			t.Errorf("Accept %s: Content-Type %q, want %s", f.accept, ct, f.want)
		}
		if !resp.Uncompressed {
			t.Errorf("Accept %s: response was not gzipped for a client that accepts gzip", f.accept)
		}
		switch f.want {
		case "application/openmetrics-text":
			if !strings.HasSuffix(body, "# EOF\n") {
				t.Errorf("OpenMetrics response does not end with # EOF")
			}
		case "application/vnd.google.protobuf":
			checkNativeHistogram(t, resp, body)
		}
	}
}

// checkNativeHistogram decodes a protobuf scrape and checks that the
// probe duration histogram carries native buckets beside classic ones.
func checkNativeHistogram(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	dec := expfmt.NewDecoder(strings.NewReader(body), expfmt.ResponseFormat(resp.Header))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			t.Fatalf("no lookout_probe_duration_seconds in the protobuf scrape (%v)", err)
		}
		if mf.GetName() != "lookout_probe_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h.GetSampleCount() == 0 || len(h.GetPositiveSpan()) == 0 || len(h.GetBucket()) == 0 || h.Schema == nil {
				t.Errorf("histogram %v lacks native or classic buckets: %v", m.GetLabel(), h)
			}
		}
		return
	}
}

// TestReload: a broken config is refused and the running one kept; a good
// one is applied, and a probe whose settings did not change keeps its
// history.
func TestReload(t *testing.T) {
	tg := newTargets(t)
	cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
	writeConfig(t, cfgFile, tg.config(""))
	d := startDaemon(t, cfgFile)
	defer d.stop(t)
	d.waitRuns(t, 2)

	writeConfig(t, cfgFile, tg.config("  - name: typo\n    intervall: 1s\n"))
	resp, body := postReload(t, d)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "probes[4].intervall: unknown field") {
		t.Errorf("bad reload: %d %s", resp.StatusCode, body)
	}
	if _, m := d.get(t, "/metrics"); !strings.Contains(m, "lookout_config_last_reload_successful 0") {
		t.Error("lookout_config_last_reload_successful should be 0 after a failed reload")
	}
	if n := len(d.probes(t).Probes); n != 4 {
		t.Errorf("%d probes after a failed reload, want the 4 running ones", n)
	}

	before := resultsByName(d.probes(t))
	changed := strings.Replace(tg.config("  - name: added\n    interval: 1s\n    http: {url: "+tg.plain.URL+"/health}\n"),
		"url: "+tg.plain.URL+"/broken", "url: "+tg.plain.URL+"/health", 1)
	writeConfig(t, cfgFile, changed)
	if resp, body := postReload(t, d); resp.StatusCode != http.StatusOK {
		t.Fatalf("good reload: %d %s", resp.StatusCode, body)
	}
	after := resultsByName(d.probes(t))
	if after["api-health"] < before["api-health"] {
		t.Errorf("unchanged probe lost its history: %d results before, %d after", before["api-health"], after["api-health"])
	}
	if after["api-broken"] >= before["api-broken"] && before["api-broken"] > 0 {
		t.Errorf("changed probe kept its old history (%d results)", after["api-broken"])
	}
	if _, ok := after["added"]; !ok {
		t.Error("added probe is missing after reload")
	}
	if _, m := d.get(t, "/metrics"); !strings.Contains(m, "lookout_config_last_reload_successful 1") {
		t.Error("lookout_config_last_reload_successful should be 1 after a good reload")
	}
}

func postReload(t *testing.T, d *running) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(d.base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func resultsByName(ps apiProbes) map[string]int {
	m := map[string]int{}
	for _, p := range ps.Probes {
		m[p.Name] = len(p.Results)
	}
	return m
}

// TestShutdownDrains: stopping the daemon while a probe hangs cancels the
// probe, Run returns, and no goroutine of the daemon outlives it.
func TestShutdownDrains(t *testing.T) {
	tg := newTargets(t)
	ignore := goleak.IgnoreCurrent()
	cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
probes:
  - name: hangs
    interval: 2s
    timeout: 1500ms
    http: {url: %s/hang}
`, tg.dataDir, tg.plain.URL))
	d := startDaemon(t, cfgFile)
	var inflight *http.Request
	select {
	case inflight = <-tg.hanging:
	case <-time.After(10 * time.Second):
		t.Fatal("the probe never reached the hanging target")
	}
	d.stop(t)
	select { // the target notices the closed connection a moment later
	case <-inflight.Context().Done():
	case <-time.After(5 * time.Second):
		t.Error("the in-flight probe request was not cancelled when the daemon stopped")
	}
	if err := goleak.Find(ignore); err != nil {
		t.Error(err)
	}
	if !strings.Contains(d.logs.String(), "lookout stopped") {
		t.Errorf("logs lack the stop message:\n%s", d.logs.String())
	}
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRuntimeGOGC: runtime.gogc sets the garbage collector's target at
// start and at a reload, as go_gc_gogc_percent shows.
func TestRuntimeGOGC(t *testing.T) {
	if env, ok := os.LookupEnv("GOGC"); ok {
		t.Skipf("GOGC=%s is set in the environment, which wins over runtime.gogc", env)
	}
	t.Cleanup(func() { debug.SetGCPercent(100) })
	tg := newTargets(t)
	cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
	writeConfig(t, cfgFile, "runtime: {gogc: 80}\n"+tg.config(""))
	d := startDaemon(t, cfgFile)
	defer d.stop(t)
	if _, m := d.get(t, "/metrics"); !strings.Contains(m, "\ngo_gc_gogc_percent 80\n") {
		t.Errorf("after start with gogc 80, /metrics has no go_gc_gogc_percent 80")
	}
	writeConfig(t, cfgFile, tg.config(""))
	if resp, body := postReload(t, d); resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	want := fmt.Sprintf("\ngo_gc_gogc_percent %d\n", config.DefaultGOGC)
	if _, m := d.get(t, "/metrics"); !strings.Contains(m, want) {
		t.Errorf("after a reload without runtime.gogc, /metrics lacks %q", strings.TrimSpace(want))
	}
}

// allKinds is every probe kind, as main gives them to the daemon, on
// transports of their own.
// allKinds is main's table; the browser is never started (no browser
// probes here), but its restart counter is served.
func allKinds() probes.Kinds {
	return kinds.All(httpprobe.NewTransports(), heartbeat.NewStore(), browserprobe.NewBrowser(slog.New(slog.DiscardHandler)))
}

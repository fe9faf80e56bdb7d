package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lookout-dev/lookout/alerting/silences"
)

// flappingTarget answers 200, or 503 while down is set.
type flappingTarget struct {
	srv  *httptest.Server
	down atomic.Bool
}

func newFlappingTarget(t *testing.T) *flappingTarget {
	ft := &flappingTarget{}
	ft.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if ft.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(ft.srv.Close)
	return ft
}

// webhookMessage is the part of Alertmanager's webhook JSON the tests read.
type webhookMessage struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

// hookServer is a real local webhook receiver.
type hookServer struct {
	srv *httptest.Server
	got chan webhookMessage
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{got: make(chan webhookMessage, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m webhookMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		h.got <- m
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// next waits for a notification with the given status.
func (h *hookServer) next(t *testing.T, status string, within time.Duration) webhookMessage {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-h.got:
			if m.Status == status {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s notification within %s", status, within)
		}
	}
}

// quiet asserts no notification arrives for d.
func (h *hookServer) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-h.got:
		t.Errorf("unexpected notification: %+v", m)
	case <-time.After(d):
	}
}

// alertingConfig writes a config whose probe "api" watches target and
// whose ProbeDown (overriding the built-in one, for: 0s) pages hook.
func alertingConfig(t *testing.T, dir string, target, hook string) string {
	t.Helper()
	rulesFile := `groups:
  - name: test
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
        annotations: {summary: "Probe {{ $labels.probe }} is down"}
`
	cfg := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
alerting:
  evaluation_interval: 100ms
  rule_files: [rules.yml]
  route: {receiver: hook, group_by: [alertname, probe], group_wait: 0s, group_interval: 200ms, repeat_interval: 1h}
  receivers:
    - name: hook
      webhook: {url: %q}
probes:
  - name: api
    interval: 100ms
    timeout: 80ms
    http: {url: %q}
`, filepath.Join(dir, "data"), hook, target)
	writeConfig(t, filepath.Join(dir, "rules.yml"), rulesFile)
	path := filepath.Join(dir, "lookout.yml")
	writeConfig(t, path, cfg)
	return path
}

// TestProbeDownPagesWebhook: a target that goes down drives the ProbeDown
// alert end to end into a real webhook, shows in the alerts and rules
// API, and resolves when the target comes back.
func TestProbeDownPagesWebhook(t *testing.T) {
	target, hook := newFlappingTarget(t), newHookServer(t)
	d := startDaemon(t, alertingConfig(t, t.TempDir(), target.srv.URL, hook.srv.URL))
	defer d.stop(t)

	target.down.Store(true)
	m := hook.next(t, "firing", 15*time.Second)
	a := m.Alerts[0]
	if a.Labels["alertname"] != "ProbeDown" || a.Labels["probe"] != "api" || a.Labels["severity"] != "page" || a.Annotations["summary"] != "Probe api is down" {
		t.Errorf("firing notification: %+v", m)
	}
	_, body := d.get(t, "/api/v1/alerts")
	if !strings.Contains(body, `"state": "firing"`) || !strings.Contains(body, `"rule": "ProbeDown"`) {
		t.Errorf("/api/v1/alerts lacks the firing ProbeDown:\n%s", body)
	}
	_, body = d.get(t, "/api/v1/rules")
	if !strings.Contains(body, `"name": "ProbeDown"`) || !strings.Contains(body, `"state": "firing"`) || !strings.Contains(body, `"health": "ok"`) {
		t.Errorf("/api/v1/rules lacks the firing ProbeDown rule:\n%s", body)
	}

	target.down.Store(false)
	m = hook.next(t, "resolved", 15*time.Second)
	if m.Alerts[0].Labels["alertname"] != "ProbeDown" || m.Alerts[0].Status != "resolved" {
		t.Errorf("resolved notification: %+v", m)
	}
}

// TestSilenceAPI: a silence made through the API mutes the page, is
// listed, and can be expired; bad requests say what is wrong.
func TestSilenceAPI(t *testing.T) {
	target, hook := newFlappingTarget(t), newHookServer(t)
	d := startDaemon(t, alertingConfig(t, t.TempDir(), target.srv.URL, hook.srv.URL))
	defer d.stop(t)

	resp, body := d.post(t, "/api/v1/silences", `{"matchers":["alertname=\"ProbeDown\"","probe=\"api\""],"duration":"1h","createdBy":"alice","comment":"deploy"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create silence: %d %s", resp.StatusCode, body)
	}
	var sil silences.JSON
	if err := json.Unmarshal([]byte(body), &sil); err != nil || sil.ID == "" || sil.State != "active" {
		t.Fatalf("created silence %s (%v)", body, err)
	}
	target.down.Store(true)
	hook.quiet(t, 2*time.Second)
	_, body = d.get(t, "/api/v1/alerts")
	if !strings.Contains(body, `"suppressed": true`) || !strings.Contains(body, sil.ID) {
		t.Errorf("/api/v1/alerts should show the alert silenced by %s:\n%s", sil.ID, body)
	}
	if _, body := d.get(t, "/api/v1/silences"); !strings.Contains(body, sil.ID) {
		t.Errorf("silence not listed: %s", body)
	}
	req, _ := http.NewRequest(http.MethodDelete, d.base+"/api/v1/silences/"+sil.ID, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("expire silence: %v %v", resp, err)
	}
	hook.next(t, "firing", 15*time.Second)

	bad := []struct{ body, want string }{
		{`{"matchers":["alertname=~\"(\""],"duration":"1h","createdBy":"a"}`, "silence: matchers: matcher 1"},
		{`{"matchers":["a=\"b\""],"duration":"soon","createdBy":"a"}`, `silence: duration "soon"`},
		{`{"matchers":["a=\"b\""],"duration":"1h"}`, "silence: no author"},
		{`{"matchers":["a=\"b\""],"duration":"1h","createdBy":"a","extra":1}`, "silence: invalid JSON body"},
	}
	for _, b := range bad {
		resp, body := d.post(t, "/api/v1/silences", b.body)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, b.want) {
			t.Errorf("POST %s: %d %q, want 400 with %q", b.body, resp.StatusCode, body, b.want)
		}
	}
}

func (r *running) post(t *testing.T, path, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(r.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// childConfigEnv names the config a child process runs the daemon with.
const childConfigEnv = "LOOKOUT_TEST_DAEMON_CONFIG"

// TestDaemonChild is the daemon in a child process of TestRestart; it
// does nothing in a normal test run.
func TestDaemonChild(t *testing.T) {
	cfg := os.Getenv(childConfigEnv)
	if cfg == "" {
		t.Skip("runs only as TestRestart's child process")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := Run(context.Background(), Options{Kinds: allKinds(), ConfigFile: cfg, Logger: log, Version: "child"}); err != nil {
		t.Fatal(err)
	}
}

func startChild(t *testing.T, cfg string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonChild$", "-test.v")
	cmd.Env = append(os.Environ(), childConfigEnv+"="+cfg)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no chance to save anything
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestRestart kills the daemon with SIGKILL and starts it again: an alert
// that was firing and still is does not page again, and one that cleared
// while Lookout was down gets its resolved notification.
func TestRestart(t *testing.T) {
	if os.Getenv(childConfigEnv) != "" {
		t.Skip("in the child")
	}
	target, hook := newFlappingTarget(t), newHookServer(t)
	cfg := alertingConfig(t, t.TempDir(), target.srv.URL, hook.srv.URL)

	target.down.Store(true)
	child := startChild(t, cfg)
	hook.next(t, "firing", 20*time.Second)
	time.Sleep(300 * time.Millisecond) // a few evaluations save their state
	kill(t, child)

	child = startChild(t, cfg) // still down
	hook.quiet(t, 3*time.Second)
	kill(t, child)

	target.down.Store(false) // cleared while Lookout is down
	startChild(t, cfg)
	m := hook.next(t, "resolved", 20*time.Second)
	if m.Alerts[0].Labels["alertname"] != "ProbeDown" {
		t.Errorf("resolved notification: %+v", m)
	}
}

// TestPendingResumesForClock: a pending alert keeps its activeAt across a
// restart, so its `for` clock does not start over.
func TestPendingResumesForClock(t *testing.T) {
	target, hook := newFlappingTarget(t), newHookServer(t)
	dir := t.TempDir()
	cfg := alertingConfig(t, dir, target.srv.URL, hook.srv.URL)
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: test
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        for: 1h
`)
	target.down.Store(true)
	activeAt := func(d *running) string {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			_, body := d.get(t, "/api/v1/alerts")
			var out struct {
				Alerts []struct {
					State    string `json:"state"`
					ActiveAt string `json:"activeAt"`
				} `json:"alerts"`
			}
			if err := json.Unmarshal([]byte(body), &out); err == nil && len(out.Alerts) == 1 && out.Alerts[0].State == "pending" {
				return out.Alerts[0].ActiveAt
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no pending ProbeDown")
		return ""
	}
	d := startDaemon(t, cfg)
	before := activeAt(d)
	time.Sleep(300 * time.Millisecond)
	d.stop(t)
	d = startDaemon(t, cfg)
	defer d.stop(t)
	if after := activeAt(d); after != before {
		t.Errorf("pending alert's activeAt went from %s to %s across a restart; want it kept", before, after)
	}
}

// TestWebVitalsEndpoint: with webvitals enabled, the daemon takes a
// beacon from an allowed origin on /v1/vitals and shows it on /metrics,
// and refuses one from another origin. Reloads change the origins and
// start and stop a MongoDB target.
func TestWebVitalsEndpoint(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfg, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
webvitals:
  enabled: true
  allowed_origins: ["https://www.example.com"]
  routes: ["/products/:id"]
probes: []
`, dir))
	d := startDaemon(t, cfg)
	send := func(origin string) int {
		req, _ := http.NewRequest(http.MethodPost, d.base+"/v1/vitals",
			strings.NewReader(`[{"name":"LCP","value":1800,"rating":"good","delta":1800,"id":"v5-1-1","navigationType":"navigate","page":"/products/42"}]`))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send("https://www.example.com"); code != http.StatusNoContent {
		t.Errorf("beacon from the allowed origin: %d, want 204", code)
	}
	if code := send("https://evil.example.net"); code != http.StatusForbidden {
		t.Errorf("beacon from another origin: %d, want 403", code)
	}
	_, m := d.get(t, "/metrics")
	if !strings.Contains(m, `webvitals_lcp_seconds_count{device="desktop",navigation="hard",route="/products/:id"} 1`) {
		t.Errorf("/metrics lacks the LCP observation:\n%s", grepLines(m, "webvitals"))
	}
	if !strings.Contains(m, `lookout_webvitals_rejected_total{reason="origin"} 1`) {
		t.Errorf("/metrics lacks the refused origin:\n%s", grepLines(m, "webvitals"))
	}

	// A reload applies new origins and starts a MongoDB target added at
	// the same time.
	reloadWith := func(storage, mongo string) {
		t.Helper()
		writeConfig(t, cfg, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
webvitals:
  enabled: true
  allowed_origins: ["https://evil.example.net"]
  routes: ["/products/:id"]
%s
probes: []
`, storage, mongo))
		if resp, body := postReload(t, d); resp.StatusCode != http.StatusOK {
			t.Fatalf("reload: %d %s", resp.StatusCode, body)
		}
	}
	reloadWith(dir, `mongodb:
  - {name: main, uri: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200", interval: 1s, timeout: 500ms}`)
	if code := send("https://evil.example.net"); code != http.StatusNoContent {
		t.Errorf("after the reload, beacon from the newly allowed origin: %d, want 204", code)
	}
	if code := send("https://www.example.com"); code != http.StatusForbidden {
		t.Errorf("after the reload, beacon from the removed origin: %d, want 403", code)
	}
	if logs := d.logs.String(); strings.Contains(logs, "change only at the next start") {
		t.Errorf("adding a MongoDB target and new origins logged that a restart is needed:\n%s", logs)
	}
	const mongoUp = `mongodb_up{target="main"} 0`
	waitFor(t, 15*time.Second, "the MongoDB target added by the reload to be collected", func() bool {
		_, m := d.get(t, "/metrics")
		return strings.Contains(m, mongoUp)
	})

	// Removing the target stops it and drops its series; a new storage
	// path needs a restart, and the log says so.
	reloadWith(filepath.Join(dir, "elsewhere"), "")
	if _, m := d.get(t, "/metrics"); strings.Contains(m, `target="main"`) {
		t.Errorf("/metrics still has the removed MongoDB target:\n%s", grepLines(m, `target="main"`))
	}
	if logs := d.logs.String(); !strings.Contains(logs, `change only at the next start" sections=storage`) {
		t.Errorf("the log does not say the storage section needs a restart:\n%s", logs)
	}
	// No goroutine of a target, stopped by the reload or not, outlives Run.
	d.stop(t)
	if err := goleak.Find(ignore); err != nil {
		t.Error(err)
	}
}

func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMongoDBTarget: a configured MongoDB target is collected on its own
// schedule and shown on /metrics; an unreachable one is down, and its
// password appears nowhere.
func TestMongoDBTarget(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfg, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
mongodb:
  - name: main
    uri: "mongodb://lookout:s3cr3t-pw@127.0.0.1:1/admin?serverSelectionTimeoutMS=200"
    interval: 1s
    timeout: 500ms
probes: []
`, dir))
	d := startDaemon(t, cfg)
	defer d.stop(t)
	deadline := time.Now().Add(15 * time.Second)
	var m string
	for time.Now().Before(deadline) {
		_, m = d.get(t, "/metrics")
		if strings.Contains(m, `mongodb_up{target="main"} 0`) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(m, `mongodb_up{target="main"} 0`) {
		t.Errorf("/metrics lacks mongodb_up 0 for the unreachable target:\n%s", grepLines(m, "mongodb"))
	}
	if strings.Contains(m, "s3cr3t-pw") || strings.Contains(d.logs.String(), "s3cr3t-pw") {
		t.Error("the MongoDB password shows in /metrics or the logs")
	}
}

// slowQueryLine is a "Slow query" line of mongod's JSON log (MongoDB 7.0).
const slowQueryLine = `{"t":{"$date":"2026-11-25T12:00:01.250+00:00"},"s":"I","c":"COMMAND","id":51803,"ctx":"conn1841","msg":"Slow query",` +
	`"attr":{"type":"command","ns":"shop.orders","command":{"find":"orders","filter":{"customer.email":"jane.doe@example.com","total":{"$gt":250.5}},"$db":"shop"},` +
	`"planSummary":"COLLSCAN","keysExamined":0,"docsExamined":184220,"nreturned":3,"queryHash":"3C4D5E6F","planCacheKey":"A1B2C3D4","durationMillis":412}}`

// TestMongoDBSlowQueriesAPI: slow queries that mongod logs after Lookout
// started are counted on /metrics and listed by shape at
// /api/v1/mongodb/slow-queries, with the query's values left out. The
// log is read even while the server is unreachable.
func TestMongoDBSlowQueriesAPI(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "mongod.log")
	writeConfig(t, logFile, slowQueryLine+"\n") // before Lookout started: not counted
	cfg := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfg, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
mongodb:
  - name: main
    uri: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200"
    interval: 1s
    timeout: 500ms
    slow_queries: {source: log, path: %q}
probes: []
`, dir, logFile))
	d := startDaemon(t, cfg)
	defer d.stop(t)
	waitFor(t, 15*time.Second, "a first pass of the slow-query step", func() bool {
		_, m := d.get(t, "/metrics")
		return strings.Contains(m, `lookout_collector_duration_seconds{collector="mongodb_slow_queries",target="main"}`)
	})
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(slowQueryLine + "\n" + slowQueryLine + "\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := `mongodb_slow_queries_total{collection="orders",database="shop",op="find",plan="COLLSCAN",target="main"} 2`
	waitFor(t, 15*time.Second, want, func() bool {
		_, m := d.get(t, "/metrics")
		return strings.Contains(m, want)
	})
	resp, body := d.get(t, "/api/v1/mongodb/slow-queries?target=main&limit=5")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET slow-queries: %d %s", resp.StatusCode, body)
	}
	var got struct {
		Targets []struct {
			Target string `json:"target"`
			Shapes []struct {
				Hash    string `json:"hash"`
				Count   int    `json:"count"`
				Plan    string `json:"plan"`
				Example string `json:"example"`
			} `json:"shapes"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("decode: %v\n%s", err, body)
	}
	if len(got.Targets) != 1 || len(got.Targets[0].Shapes) != 1 {
		t.Fatalf("want one target with one shape:\n%s", body)
	}
	s := got.Targets[0].Shapes[0]
	if s.Hash != "3C4D5E6F" || s.Count != 2 || s.Plan != "COLLSCAN" || !strings.Contains(s.Example, "customer.email") {
		t.Errorf("shape = %+v, want queryHash 3C4D5E6F counted twice, COLLSCAN, the filter's field names", s)
	}
	for _, value := range []string{"jane.doe", "250.5"} {
		if strings.Contains(body, value) {
			t.Errorf("the API shows the query value %q:\n%s", value, body)
		}
	}
	for _, bad := range []struct{ query, want string }{
		{"?target=nope", "no MongoDB target named"},
		{"?limit=0", "want a whole number from 1 to 1000"},
	} {
		if resp, body := d.get(t, "/api/v1/mongodb/slow-queries"+bad.query); resp.StatusCode < 400 || !strings.Contains(body, bad.want) {
			t.Errorf("GET slow-queries%s: %d %q, want an error saying %q", bad.query, resp.StatusCode, body, bad.want)
		}
	}
}

// TestExternalURLInAnnotations: alerting.external_url is $externalURL in
// a rule's annotations, and what the externalURL and pathPrefix template
// functions return, as in Prometheus.
func TestExternalURLInAnnotations(t *testing.T) {
	hook := newHookServer(t)
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: test
    rules:
      - alert: Always
        expr: vector(1)
        annotations:
          var: '{{ $externalURL }}/alerts'
          func: '{{ externalURL }}'
          prefix: '{{ pathPrefix }}'
`)
	cfg := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfg, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
alerting:
  evaluation_interval: 100ms
  external_url: https://lookout.example.com/ops
  builtin_rules: false
  rule_files: [rules.yml]
  route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 200ms, repeat_interval: 1h}
  receivers:
    - name: hook
      webhook: {url: %q}
`, filepath.Join(dir, "data"), hook.srv.URL))
	d := startDaemon(t, cfg)
	defer d.stop(t)

	m := hook.next(t, "firing", 15*time.Second)
	want := map[string]string{"var": "https://lookout.example.com/ops/alerts", "func": "https://lookout.example.com/ops", "prefix": "/ops"}
	for name, v := range want {
		if got := m.Alerts[0].Annotations[name]; got != v {
			t.Errorf("annotation %s = %q, want %q", name, got, v)
		}
	}
}

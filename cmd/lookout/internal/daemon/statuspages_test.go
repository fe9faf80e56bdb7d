package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/alerting/incidents"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/statuspage"
	"github.com/lookout-dev/lookout/config"
)

// Labels of the status page test's probes: on no page, ever.
const (
	webTeam = "storefront-c41d"
	apiTeam = "payments-9e2b"
)

// TestStatusPages: a page lists web (up) and api (down); billing-db is
// down and listed nowhere. The public listener serves the page and its
// JSON with both components and their state in words; api's down alert
// opens an incident on it, and an update posted to the admin API shows;
// badges answer SVG; If-None-Match gives 304. Neither the page nor its
// JSON ever holds a probe's URL, labels or reason, who wrote an update,
// or anything of billing-db, not even its incident.
func TestStatusPages(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: test
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        for: 300ms
        labels: {severity: page}
`)
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  public: {listen: 127.0.0.1:0}
storage: {path: %[1]q}
alerting:
  evaluation_interval: 100ms
  builtin_rules: false
  rule_files: [rules.yml]
probes:
  - name: web
    interval: 200ms
    labels: {team: %[3]s}
    http: {url: %[2]s/health}
  - name: api
    interval: 200ms
    labels: {team: %[4]s}
    http: {url: %[2]s/broken}
  - name: billing-db
    interval: 200ms
    http: {url: %[2]s/broken}
status_pages:
  - name: public
    path: /status
    title: Example status
    description: Our public services.
    groups:
      - {name: Website, probes: [web]}
      - {name: API, probes: [api]}
`, filepath.Join(dir, "data"), target.URL, webTeam, apiTeam))
	public := make(chan net.Addr, 1)
	d := startDaemonWith(t, cfgFile, func(o *Options) {
		o.UptimeEvery = 50 * time.Millisecond
		o.ListeningPublic = func(a net.Addr) { public <- a }
	})
	defer d.stop(t)
	pub := "http://" + (<-public).String()

	// api's alert fires and opens its incident.
	var apiIncident incidents.Incident
	waitFor(t, 20*time.Second, "an open incident of api", func() bool {
		for _, inc := range listIncidents(t, d) {
			if inc.Probe == "api" && inc.Open() && inc.Auto {
				apiIncident = inc
				return true
			}
		}
		return false
	})
	if apiIncident.Title != "api is down" {
		t.Errorf("the automatic incident is titled %q; want \"api is down\"", apiIncident.Title)
	}
	for _, inc := range listIncidents(t, d) {
		if inc.Probe == "billing-db" {
			t.Errorf("billing-db, on no page, got incident %+v", inc)
		}
	}
	// An incident of billing-db, opened by hand, is not for this page.
	postIncident(t, d, `{"probe":"billing-db","title":"Billing database failover","message":"Failing over to the replica.","by":"bob.oncall"}`, http.StatusCreated)
	update := `{"id":"` + apiIncident.ID + `","message":"We found a bad deploy and are rolling back.","status":"identified","by":"alice.oncall"}`
	postIncident(t, d, update, http.StatusOK)

	resp, html := getURL(t, pub+"/status")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/status: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"<h1>Example status</h1>", "<h3>web</h3>", "Operational", "<h3>api</h3>", "Down",
		"Active incidents", "api is down", "We found a bad deploy and are rolling back.", "Identified",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("/status lacks %q", want)
		}
	}
	resp, body := getURL(t, pub+"/status.json")
	var page statuspage.Page
	if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/status.json: %d %v", resp.StatusCode, err)
	}
	states := map[string]string{}
	for _, g := range page.Groups {
		for _, c := range g.Components {
			states[c.Name] = c.StateText
			if len(c.Days) != statuspage.Days {
				t.Errorf("%s has %d days; want %d", c.Name, len(c.Days), statuspage.Days)
			}
		}
	}
	if len(states) != 2 || states["web"] != "Operational" || states["api"] != "Down" {
		t.Errorf("components in JSON %v; want web Operational and api Down", states)
	}
	if len(page.Incidents) != 1 || page.Incidents[0].ID != apiIncident.ID || page.Incidents[0].Updates[0].Status != incidents.Identified {
		t.Errorf("incidents in JSON %+v; want api's, identified", page.Incidents)
	}

	var probe apiProbes
	if err := json.Unmarshal([]byte(mustGet(t, d, "/api/v1/probes")), &probe); err != nil {
		t.Fatal(err)
	}
	forbidden := []string{target.URL, strings.TrimPrefix(target.URL, "http://"), "/broken", "/health", webTeam, apiTeam,
		"billing-db", "Billing database failover", "alice.oncall", "bob.oncall"}
	for _, p := range probe.Probes {
		if p.Reason != "" {
			forbidden = append(forbidden, p.Reason)
		}
	}
	if len(forbidden) < 11 {
		t.Fatalf("no probe has a reason to look for: %+v", probe.Probes)
	}
	for _, path := range []string{"/status", "/status.json", "/badge/api/state.svg", "/badge/web/uptime-30d.svg"} {
		_, body := getURL(t, pub+path)
		for _, f := range forbidden {
			if strings.Contains(body, f) {
				t.Errorf("%s holds %q", path, f)
			}
		}
	}

	for path, want := range map[string]string{"/badge/api/state.svg": ">down<", "/badge/web/state.svg": ">operational<", "/badge/web/uptime-30d.svg": ">uptime 30d<"} {
		resp, body := getURL(t, pub+path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(body, want) {
			t.Errorf("%s: %d %s %q; want an SVG saying %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
		}
	}
	for _, path := range []string{"/badge/billing-db/state.svg", "/badge/nope/state.svg", "/status.xml"} {
		if resp, _ := getURL(t, pub+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d; want 404", path, resp.StatusCode)
		}
	}
	if resp, _ := doURL(t, http.MethodPost, pub+"/status", "x"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /status: %d; want 405", resp.StatusCode)
	}
	if resp, _ := getURL(t, d.base+"/status"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the admin listener serves /status: %d; want 404 beside server.public", resp.StatusCode)
	}

	// The page changes while api is down (its downtime grows), so an
	// ETag may be outdated by the time it is sent back: try a few times.
	notModified := false
	for range 5 {
		resp, _ := getURL(t, pub+"/status")
		etag := resp.Header.Get("ETag")
		if resp.Header.Get("Cache-Control") != "public, max-age=5" || etag == "" {
			t.Fatalf("Cache-Control %q, ETag %q", resp.Header.Get("Cache-Control"), etag)
		}
		resp, body := getURL(t, pub+"/status", "If-None-Match", etag)
		if resp.StatusCode == http.StatusNotModified && body == "" {
			notModified = true
			break
		}
	}
	if !notModified {
		t.Error("If-None-Match with the page's ETag never gave 304")
	}
}

func listIncidents(t *testing.T, d *running) []incidents.Incident {
	t.Helper()
	var out struct {
		Incidents []incidents.Incident `json:"incidents"`
	}
	if err := json.Unmarshal([]byte(mustGet(t, d, "/api/v1/incidents")), &out); err != nil {
		t.Fatal(err)
	}
	return out.Incidents
}

func postIncident(t *testing.T, d *running, body string, want int) incidents.Incident {
	t.Helper()
	resp, text := doURL(t, http.MethodPost, d.base+"/api/v1/incidents", body, "Content-Type", "application/json")
	if resp.StatusCode != want {
		t.Fatalf("POST /api/v1/incidents %s: %d %s; want %d", body, resp.StatusCode, text, want)
	}
	var inc incidents.Incident
	_ = json.Unmarshal([]byte(text), &inc)
	return inc
}

func mustGet(t *testing.T, d *running, path string) string {
	t.Helper()
	resp, body := d.get(t, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body
}

func getURL(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	return doURL(t, http.MethodGet, url, "", header...)
}

func doURL(t *testing.T, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestIncidentAPI: the admin API opens incidents, adds updates and
// resolves, and refuses what it cannot take with a status and the field
// at fault.
func TestIncidentAPI(t *testing.T) {
	tg := newTargets(t)
	cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
	writeConfig(t, cfgFile, tg.config(""))
	d := startDaemon(t, cfgFile)
	defer d.stop(t)
	opened := postIncident(t, d, `{"probe":"api-health","title":"Slow checkout","message":"Card payments take a minute.","by":"alice"}`, http.StatusCreated)
	if opened.ID == "" || opened.Status() != incidents.Investigating || opened.Auto {
		t.Fatalf("opened %+v; want an investigating manual incident with an ID", opened)
	}
	// An update without a status keeps the incident's.
	kept := postIncident(t, d, `{"id":"`+opened.ID+`","message":"Still looking."}`, http.StatusOK)
	if kept.Status() != incidents.Investigating || len(kept.Updates) != 2 {
		t.Errorf("after an update without status: %+v", kept)
	}
	tests := []struct {
		name, method, path, body string
		want                     int
		says                     string
	}{
		{"unknown probe", "POST", "/api/v1/incidents", `{"probe":"nope","title":"t","message":"m"}`, 400, `probe: no probe named "nope"`},
		{"no title", "POST", "/api/v1/incidents", `{"probe":"api-health","message":"m"}`, 400, "title: missing"},
		{"unknown status", "POST", "/api/v1/incidents", `{"id":"` + opened.ID + `","message":"m","status":"fixed"}`, 400, `status: "fixed" is not a status`},
		{"an update with a title", "POST", "/api/v1/incidents", `{"id":"` + opened.ID + `","title":"t","message":"m"}`, 400, "title: "},
		{"unknown field", "POST", "/api/v1/incidents", `{"probe":"api-health","titel":"t","message":"m"}`, 400, `unknown field "titel"`},
		{"message too long", "POST", "/api/v1/incidents", `{"id":"` + opened.ID + `","message":"` + strings.Repeat("x", incidents.DefaultMaxMessage+1) + `"}`, 400, "message: 2001 bytes; at most 2000"},
		{"unknown incident", "POST", "/api/v1/incidents", `{"id":"999","message":"m","status":"monitoring"}`, 404, "no such incident"},
		{"resolve unknown", "POST", "/api/v1/incidents/999/resolve", "", 404, "no such incident"},
		{"resolve", "POST", "/api/v1/incidents/" + opened.ID + "/resolve", `{"message":"Fixed.","by":"alice"}`, 200, `"status": "resolved"`},
		{"resolve twice", "POST", "/api/v1/incidents/" + opened.ID + "/resolve", "", 409, "resolved at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.body != "" {
				header = []string{"Content-Type", "application/json"}
			}
			resp, text := doURL(t, tt.method, d.base+tt.path, tt.body, header...)
			if resp.StatusCode != tt.want || !strings.Contains(text, tt.says) {
				t.Errorf("%d %s; want %d saying %q", resp.StatusCode, text, tt.want, tt.says)
			}
		})
	}
	incs := listIncidents(t, d)
	if len(incs) != 1 || incs[0].Open() || len(incs[0].Updates) != 3 || incs[0].Updates[2].By != "alice" {
		t.Errorf("incidents after the requests: %+v; want the one, resolved by alice", incs)
	}
}

// addIncident opens an incident of the secured daemon's probe and
// returns its ID.
func (s *secured) addIncident(t *testing.T) string {
	t.Helper()
	resp, text := s.do(t, credential{set: bearer(adminToken)}, http.MethodPost, s.base+"/api/v1/incidents",
		`{"probe":"self","title":"listeners test","message":"opened by the test","by":"test"}`)
	var inc incidents.Incident
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(text), &inc) != nil {
		t.Fatalf("open an incident: %d %s", resp.StatusCode, text)
	}
	return inc.ID
}

// TestStatusPagesReload: a reload applies a page's title and probes at
// once; a page at a path Lookout did not start with is not served until
// the next start, and the log says so.
func TestStatusPagesReload(t *testing.T) {
	tg := newTargets(t)
	cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
	page := func(title, path string, probes string) string {
		return fmt.Sprintf("status_pages:\n  - {name: public, path: %s, title: %q, groups: [{name: API, probes: [%s]}]}\n", path, title, probes)
	}
	writeConfig(t, cfgFile, tg.config("")+page("Before", "/status", "api-health"))
	d := startDaemon(t, cfgFile)
	defer d.stop(t)
	if _, html := d.get(t, "/status"); !strings.Contains(html, "<h1>Before</h1>") || strings.Contains(html, "api-tls") {
		t.Fatalf("before the reload:\n%s", html)
	}
	writeConfig(t, cfgFile, tg.config("")+page("After", "/status", "api-health, api-tls")+
		"  - {name: other, path: /other, groups: [{name: Web, probes: [api-redirect]}]}\n")
	if resp, body := doURL(t, http.MethodPost, d.base+"/-/reload", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	if _, html := d.get(t, "/status"); !strings.Contains(html, "<h1>After</h1>") || !strings.Contains(html, "<h3>api-tls</h3>") {
		t.Errorf("after the reload, the page has not its new title and probe:\n%.600s", html)
	}
	if resp, _ := d.get(t, "/badge/api-tls/state.svg"); resp.StatusCode != http.StatusOK {
		t.Errorf("the badge of a probe listed since the reload: %d; want 200", resp.StatusCode)
	}
	if resp, _ := d.get(t, "/other"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a page at a new path: %d; want 404 until the next start", resp.StatusCode)
	}
	if logs := d.logs.String(); !strings.Contains(logs, "path changes at the next start") || !strings.Contains(logs, "/other") {
		t.Errorf("the log does not say /other is served from the next start:\n%s", logs)
	}
}

// TestStatusPagesCannotTakeLookoutRoutes: config refuses a status page at
// every path the admin and public listeners serve (taken from their route
// tables), so a page can never collide with the API, the web UI or a
// public endpoint when both are on one listener.
func TestStatusPagesCannotTakeLookoutRoutes(t *testing.T) {
	admin, public := testRoutes()
	for _, rt := range append(admin, public...) {
		_, path, ok := strings.Cut(rt.pattern, " ")
		if !ok {
			path = rt.pattern
		}
		path, _, wild := strings.Cut(path, "{")
		if path == "/" {
			continue // "/" itself is refused as a page's path
		}
		if wild || strings.HasSuffix(path, "/") {
			path += "x"
		}
		if _, reserved := config.ReservedRoute(path); !reserved {
			t.Errorf("%s serves %s, which config's reservedRoutes lacks: a status page could take it", rt.pattern, path)
		}
	}
}

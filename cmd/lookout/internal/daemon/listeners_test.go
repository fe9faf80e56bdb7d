package daemon

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/kinds"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/testca"
	"github.com/lookout-dev/lookout/collectors/webvitals"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/heartbeat"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// Credentials of the secured test daemon.
const (
	adminToken   = "admin-token-b7e2"
	readToken    = "read-token-41c9"
	alicePass    = "alice-password"
	robPass      = "rob-password"
	vitalsOrigin = "https://www.example.com"
)

// secured is a daemon with both listeners on TLS from a test CA, basic
// auth (alice admin, rob read), tokens of both roles, and client
// certificates verified when given (mTLS).
type secured struct {
	*running
	public string // the public listener's https:// base
	ca     *testca.CA
	// plain trusts the CA and shows no client certificate; withCert shows
	// one the CA signed.
	plain, withCert *http.Client
	// clientCert and clientKey are that certificate's files.
	clientCert, clientKey string
	// dir holds lookout.yml, web.yml and tokens.yml.
	dir string
}

func startSecured(t *testing.T) *secured {
	t.Helper()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(target.Close)
	ca := testca.New(t, "lookout-test")
	adminCert, adminKey := ca.Server(t, "admin")
	publicCert, publicKey := ca.Server(t, "public")
	clientCert, clientKey := ca.Client(t, "operator")
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "web.yml"), fmt.Sprintf(`tls_server_config:
  cert_file: %s
  key_file: %s
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: %s
basic_auth_users:
  alice: %s
  rob: %s
`, adminCert, adminKey, ca.CertFile, bcryptHash(t, alicePass), bcryptHash(t, robPass)))
	writeConfig(t, filepath.Join(dir, "public-web.yml"), fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", publicCert, publicKey))
	writeConfig(t, filepath.Join(dir, "tokens.yml"), fmt.Sprintf(`tokens:
  - {name: ci, sha256: %s, role: admin}
  - {name: grafana, sha256: %s, role: read}
`, sha256Hex(adminToken), sha256Hex(readToken)))
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  web_config_file: web.yml
  api_tokens_file: tokens.yml
  read_users: [rob]
  allowed_hosts: [127.0.0.1, localhost]
  public:
    listen: 127.0.0.1:0
    web_config_file: public-web.yml
    trusted_proxies: [10.0.0.0/8]
storage: {path: %q}
browser: {artifacts: {path: %q}}
webvitals: {enabled: true, allowed_origins: [%q]}
alerting:
  route: {receiver: pager}
  receivers:
    - name: pager
      slack: {token: xoxb-test, channel: "#oncall", signing_secret: s3cret, api_url: "http://127.0.0.1:1/"}
probes:
  - name: self
    interval: 1s
    http: {url: %s/}
`, dir, filepath.Join(dir, "artifacts"), vitalsOrigin, target.URL))
	plantEvidence(t, filepath.Join(dir, "artifacts"), "self", keptRun)
	r, public := startListening(t, cfgFile, "https")
	s := &secured{
		running: r, public: public, ca: ca, clientCert: clientCert, clientKey: clientKey, dir: dir,
		plain:    &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLS(t, "", "")}},
		withCert: &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLS(t, clientCert, clientKey)}},
	}
	t.Cleanup(func() {
		s.plain.CloseIdleConnections()
		s.withCert.CloseIdleConnections()
		r.stop(t)
	})
	s.waitReady(t)
	return s
}

// keptRun is the run of evidence the secured daemon has kept (of its
// probe self), as a browser probe would have.
const keptRun = "20250102T030405.000Z"

// plantEvidence writes a kept run of probe into a browser.artifacts.path,
// as a down browser run leaves it.
func plantEvidence(t *testing.T, root, probe, run string) {
	t.Helper()
	dir := filepath.Join(root, probe, run)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, filepath.Join(dir, "run.json"), `{"probe": "`+probe+`", "reason": "step \"wait_for 1\": selector \"h1\" did not appear within 1s"}`)
	writeConfig(t, filepath.Join(dir, "console.json"), `[{"kind": "uncaught", "text": "Uncaught Error: boom", "at_seconds": 0.5}]`)
}

// startListening starts a daemon and returns it with the base URL of its
// public listener ("" without one); its browser kind keeps its evidence
// where the daemon serves it.
func startListening(t *testing.T, cfgFile, scheme string) (*running, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	admin, public := make(chan net.Addr, 1), make(chan net.Addr, 1)
	r := &running{cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	go func() {
		browser := browserprobe.NewBrowser(slog.New(slog.DiscardHandler))
		r.done <- Run(ctx, Options{Kinds: kinds.All(httpprobe.NewTransports(), heartbeat.NewStore(), browser), Browser: browser,
			ConfigFile: cfgFile, Version: "test", Logger: slog.New(slog.NewTextHandler(r.logs, nil)),
			Listening:       func(a net.Addr) { admin <- a },
			ListeningPublic: func(a net.Addr) { public <- a },
		})
	}()
	select {
	case a := <-admin:
		r.base = scheme + "://" + a.String()
	case err := <-r.done:
		t.Fatalf("daemon did not start: %v", err)
	}
	select {
	case a := <-public:
		return r, scheme + "://" + a.String()
	default:
		return r, ""
	}
}

// waitReady waits until /readyz answers 200: the daemon's goroutines run.
func (s *secured) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := s.plain.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// credential is one way a client may present itself.
type credential struct {
	name string
	set  func(*http.Request) // nil: no Authorization header
	cert bool                // show the client certificate
	role role
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func basic(user, pass string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

var testCredentials = []credential{
	{name: "none", role: noRole},
	{name: "wrong token", set: bearer("not-a-token"), role: noRole},
	{name: "wrong password", set: basic("alice", "hunter2"), role: noRole},
	{name: "unknown user", set: basic("mallory", alicePass), role: noRole},
	{name: "wrong token beside a client certificate", set: bearer("not-a-token"), cert: true, role: noRole},
	{name: "read token", set: bearer(readToken), role: readRole},
	{name: "read user", set: basic("rob", robPass), role: readRole},
	{name: "admin token", set: bearer(adminToken), role: adminRole},
	{name: "admin user", set: basic("alice", alicePass), role: adminRole},
	{name: "client certificate", cert: true, role: adminRole},
}

// sample is a request that a route answers with 2xx when allowed.
type sample struct {
	method, path, body string
	header             []string // name, value, …
}

// samples are the test's request for every admin route, by pattern. A
// route added to adminRoutes without one fails TestAdminRoutesNeedCredentials.
func (s *secured) samples(t *testing.T) map[string]func() sample {
	silence := `{"matchers":["alertname=\"Test\""],"duration":"1h","createdBy":"test","comment":"listeners test"}`
	window := `{"matchers":["probe=\"self\""],"duration":"1h","createdBy":"test","message":"listeners test"}`
	return map[string]func() sample{
		"GET /metrics":                        func() sample { return sample{path: "/metrics"} },
		"GET /healthz":                        func() sample { return sample{path: "/healthz"} },
		"GET /readyz":                         func() sample { return sample{path: "/readyz"} },
		"POST /-/reload":                      func() sample { return sample{method: http.MethodPost, path: "/-/reload"} },
		"GET /api/v1/probes":                  func() sample { return sample{path: "/api/v1/probes"} },
		"GET /api/v1/probes/{name}":           func() sample { return sample{path: "/api/v1/probes/self"} },
		"GET /api/v1/probes/{name}/artifacts": func() sample { return sample{path: "/api/v1/probes/self/artifacts"} },
		"GET /api/v1/probes/{name}/artifacts/{run}/{file}": func() sample {
			return sample{path: "/api/v1/probes/self/artifacts/" + keptRun + "/console.json"}
		},
		"GET /api/v1/probes/{name}/uptime": func() sample { return sample{path: "/api/v1/probes/self/uptime?step=1h"} },
		"GET /api/v1/cluster":              func() sample { return sample{path: "/api/v1/cluster"} },
		"GET /api/v1/mongodb/slow-queries": func() sample { return sample{path: "/api/v1/mongodb/slow-queries"} },
		"GET /api/v1/mongodb/backups":      func() sample { return sample{path: "/api/v1/mongodb/backups"} },
		"GET /api/v1/alerts":               func() sample { return sample{path: "/api/v1/alerts"} },
		"GET /api/v1/rules":                func() sample { return sample{path: "/api/v1/rules"} },
		"GET /api/v1/silences":             func() sample { return sample{path: "/api/v1/silences"} },
		"POST /api/v1/silences":            func() sample { return sample{method: http.MethodPost, path: "/api/v1/silences", body: silence} },
		"DELETE /api/v1/silences/{id}": func() sample {
			return sample{method: http.MethodDelete, path: "/api/v1/silences/" + s.addSilence(t, silence)}
		},
		"GET /api/v1/maintenance":  func() sample { return sample{path: "/api/v1/maintenance"} },
		"POST /api/v1/maintenance": func() sample { return sample{method: http.MethodPost, path: "/api/v1/maintenance", body: window} },
		"DELETE /api/v1/maintenance/{id}": func() sample {
			resp, text := s.do(t, credential{set: bearer(adminToken)}, http.MethodPost, s.base+"/api/v1/maintenance", window)
			var created struct {
				ID string `json:"id"`
			}
			if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(text), &created) != nil {
				t.Fatalf("add maintenance window: %d %s", resp.StatusCode, text)
			}
			return sample{method: http.MethodDelete, path: "/api/v1/maintenance/" + created.ID}
		},
		"GET /api/v1/incidents": func() sample {
			return sample{path: "/api/v1/incidents"}
		},
		"POST /api/v1/incidents": func() sample {
			return sample{method: http.MethodPost, path: "/api/v1/incidents", body: `{"probe":"self","title":"listeners test","message":"m","by":"test"}`}
		},
		"POST /api/v1/incidents/{id}/resolve": func() sample {
			return sample{method: http.MethodPost, path: "/api/v1/incidents/" + s.addIncident(t) + "/resolve", body: `{"message":"fixed","by":"test"}`}
		},
		"GET /{$}":                     func() sample { return sample{path: "/"} },
		"GET /probes/{name}":           func() sample { return sample{path: "/probes/self"} },
		"POST /probes/{name}/run":      func() sample { return sample{method: http.MethodPost, path: "/probes/self/run"} },
		"GET /alerts":                  func() sample { return sample{path: "/alerts"} },
		"GET /silences":                func() sample { return sample{path: "/silences"} },
		"GET /silences/preview":        func() sample { return sample{path: "/silences/preview?matcher=alertname%3D%22Test%22"} },
		"POST /silences":               func() sample { return uiForm("/silences", "matcher=alertname%3D%22Test%22&duration=1h&createdBy=test") },
		"POST /silences/{id}/expire":   func() sample { return uiForm("/silences/"+s.addSilence(t, silence)+"/expire", "") },
		"POST /silences/{id}/extend":   func() sample { return uiForm("/silences/"+s.addSilence(t, silence)+"/extend", "by=1h") },
		"GET /incidents":               func() sample { return sample{path: "/incidents"} },
		"POST /incidents":              func() sample { return uiForm("/incidents", "probe=self&title=t&message=m&by=test") },
		"POST /incidents/{id}/resolve": func() sample { return uiForm("/incidents/"+s.addIncident(t)+"/resolve", "") },
		"GET /maintenance":             func() sample { return sample{path: "/maintenance"} },
		"POST /maintenance":            func() sample { return uiForm("/maintenance", "matcher=probe%3D%22self%22&duration=1h&createdBy=test") },
		"POST /maintenance/{id}/end": func() sample {
			resp, text := s.do(t, credential{set: bearer(adminToken)}, http.MethodPost, s.base+"/api/v1/maintenance", window)
			var created struct {
				ID string `json:"id"`
			}
			if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(text), &created) != nil {
				t.Fatalf("add maintenance window: %d %s", resp.StatusCode, text)
			}
			return uiForm("/maintenance/"+created.ID+"/end", "")
		},
		"GET /rules":               func() sample { return sample{path: "/rules"} },
		"GET /mongodb":             func() sample { return sample{path: "/mongodb"} },
		"GET /webvitals":           func() sample { return sample{path: "/webvitals"} },
		"GET /static/":             func() sample { return sample{path: "/static/ui.css"} },
		"GET /favicon.ico":         func() sample { return sample{path: "/favicon.ico"} },
		"GET /debug/pprof/":        func() sample { return sample{path: "/debug/pprof/"} },
		"GET /debug/pprof/cmdline": func() sample { return sample{path: "/debug/pprof/cmdline"} },
		"GET /debug/pprof/profile": func() sample { return sample{path: "/debug/pprof/profile?seconds=1"} },
		"GET /debug/pprof/symbol":  func() sample { return sample{path: "/debug/pprof/symbol"} },
		"GET /debug/pprof/trace":   func() sample { return sample{path: "/debug/pprof/trace?seconds=1"} },
	}
}

// do sends a request to base+path with the credential and the headers
// given as name, value pairs; a body is sent as JSON unless a header says
// otherwise.
func (s *secured) do(t *testing.T, c credential, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	if method == "" {
		method = http.MethodGet
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	if c.set != nil {
		c.set(req)
	}
	client := s.plain
	if c.cert {
		client = s.withCert
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (s *secured) addSilence(t *testing.T, body string) string {
	t.Helper()
	resp, text := s.do(t, credential{set: bearer(adminToken)}, http.MethodPost, s.base+"/api/v1/silences", body)
	var out struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(text), &out) != nil {
		t.Fatalf("add silence: %d %s", resp.StatusCode, text)
	}
	return out.ID
}

// uiForm is a web UI form's POST.
func uiForm(path, body string) sample {
	return sample{method: http.MethodPost, path: path, body: body, header: []string{"Content-Type", "application/x-www-form-urlencoded"}}
}

// roleNeeded is the policy, written out apart from the route table: only
// the health endpoints are open; /metrics and every other GET need read;
// /debug/pprof/, a browser probe's evidence and every request that changes
// state need admin.
func roleNeeded(pattern string) role {
	method, path, _ := strings.Cut(pattern, " ")
	switch {
	case path == "/healthz" || path == "/readyz":
		return noRole
	case strings.HasPrefix(path, "/debug/pprof/") || strings.Contains(path, "/artifacts"):
		return adminRole
	case method == http.MethodGet:
		return readRole
	}
	return adminRole
}

// testRoutes are the route tables of a daemon with Web Vitals and one
// Slack receiver with buttons ("pager"), as startSecured configures.
func testRoutes() (admin, public []endpoint) {
	d := &daemon{vitals: &webvitals.Collector{}, alerting: &alertingParts{slackSecrets: map[string]string{"pager": "s3cret"}}}
	return d.adminRoutes(), d.publicRoutes()
}

// TestAdminRoutesNeedCredentials: every route of the admin listener,
// taken from its table, answers 401 without credentials, 403 with
// credentials of too small a role, and 2xx with enough, for bearer tokens,
// basic-auth users and client certificates alike.
func TestAdminRoutesNeedCredentials(t *testing.T) {
	s := startSecured(t)
	samples := s.samples(t)
	admin, _ := testRoutes()
	for _, rt := range admin {
		t.Run(rt.pattern, func(t *testing.T) {
			mk, ok := samples[rt.pattern]
			if !ok {
				t.Fatalf("no sample request for %s: add one to samples, so its credentials are tested", rt.pattern)
			}
			need := roleNeeded(rt.pattern)
			for _, c := range testCredentials {
				t.Run(c.name, func(t *testing.T) {
					smp := mk()
					resp, body := s.do(t, c, smp.method, s.base+smp.path, smp.body, smp.header...)
					switch {
					case need == noRole || c.role >= need:
						if resp.StatusCode/100 != 2 {
							t.Errorf("%d %s; want 2xx", resp.StatusCode, body)
						}
					case c.role == noRole:
						if resp.StatusCode != http.StatusUnauthorized || len(resp.Header.Values("WWW-Authenticate")) != 2 {
							t.Errorf("%d %v %s; want 401 with a Basic and a Bearer challenge", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), body)
						}
					default:
						if resp.StatusCode != http.StatusForbidden {
							t.Errorf("%d %s; want 403", resp.StatusCode, body)
						}
					}
				})
			}
		})
	}
	t.Run("the table has every sample", func(t *testing.T) {
		for pattern := range samples {
			if !slices.ContainsFunc(admin, func(rt endpoint) bool { return rt.pattern == pattern }) {
				t.Errorf("sample for %s, which is not an admin route", pattern)
			}
		}
	})
	t.Run("tokens never reach the log", func(t *testing.T) {
		if logs := s.logs.String(); strings.Contains(logs, adminToken) || strings.Contains(logs, readToken) || strings.Contains(logs, alicePass) {
			t.Errorf("a credential is in the log:\n%s", logs)
		}
	})
}

// TestPublicListener: the public listener serves its routes and nothing
// else; the admin listener no longer serves them.
func TestPublicListener(t *testing.T) {
	s := startSecured(t)
	admin, public := testRoutes()
	beacon := `{"name":"LCP","value":1200,"id":"v5-1","page":"/"}`
	answers := map[string]struct {
		method, body string
		header       []string
		want         int
		wantBody     string // a prefix that shows the route's own handler answered
	}{
		"/v1/vitals": {method: http.MethodPost, body: beacon, header: []string{"Origin", vitalsOrigin, "Content-Type", "text/plain;charset=UTF-8"}, want: http.StatusNoContent},
		"POST /slack/pager/interactions": {method: http.MethodPost, body: "payload=%7B%7D", header: []string{"Content-Type", "application/x-www-form-urlencoded"},
			want: http.StatusUnauthorized, wantBody: "slack: "},
	}
	for _, rt := range public {
		t.Run("public serves "+rt.pattern, func(t *testing.T) {
			a, ok := answers[rt.pattern]
			if !ok {
				t.Fatalf("no sample request for %s: add one to answers", rt.pattern)
			}
			_, path, found := strings.Cut(rt.pattern, " ")
			if !found {
				path = rt.pattern
			}
			resp, body := s.do(t, credential{}, a.method, s.public+path, a.body, a.header...)
			if resp.StatusCode != a.want || !strings.HasPrefix(body, a.wantBody) {
				t.Errorf("%d %q; want %d %q…", resp.StatusCode, body, a.want, a.wantBody)
			}
			resp, body = s.do(t, credential{set: bearer(adminToken)}, a.method, s.base+path, a.body, a.header...)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("admin listener: %d %q; want 404 once server.public is set", resp.StatusCode, body)
			}
		})
	}
	others := []string{"/", "/nope", "/v1", "/slack/other/interactions", "/api/v1/probes/self"}
	for _, rt := range admin {
		method, path, _ := strings.Cut(rt.pattern, " ")
		others = append(others, method+" "+strings.ReplaceAll(strings.ReplaceAll(path, "{name}", "self"), "{id}", "x"))
	}
	for _, o := range others {
		t.Run("public 404 "+o, func(t *testing.T) {
			method, path, found := strings.Cut(o, " ")
			if !found {
				method, path = http.MethodGet, o
			}
			for _, c := range []credential{{name: "none"}, {name: "admin token", set: bearer(adminToken)}} {
				if resp, body := s.do(t, c, method, s.public+path, ""); resp.StatusCode != http.StatusNotFound {
					t.Errorf("%s: %d %q; want 404", c.name, resp.StatusCode, body)
				}
			}
		})
	}
}

// TestStateChangesRefusedCrossSite: a request that changes state must be
// JSON (or have no body) and come from this origin or no browser, even
// with admin credentials, so a page cannot use a logged-in browser.
func TestStateChangesRefusedCrossSite(t *testing.T) {
	s := startSecured(t)
	admin := credential{set: bearer(adminToken)}
	silence := `{"matchers":["alertname=\"Csrf\""],"duration":"1h","createdBy":"test","comment":"x"}`
	tests := []struct {
		name         string
		method, path string
		body         string
		header       []string
		want         int
	}{
		{"text/plain body", http.MethodPost, "/api/v1/silences", silence, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"form body", http.MethodPost, "/api/v1/silences", silence, []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"foreign Origin", http.MethodPost, "/api/v1/silences", silence, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"null Origin", http.MethodPost, "/api/v1/silences", silence, []string{"Origin", "null"}, http.StatusForbidden},
		{"cross-site fetch", http.MethodPost, "/api/v1/silences", silence, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"foreign Origin expiring", http.MethodDelete, "/api/v1/silences/x", "", []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"foreign Origin reloading", http.MethodPost, "/-/reload", "", []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"reload with text/plain and no body", http.MethodPost, "/-/reload", "", []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"same origin", http.MethodPost, "/api/v1/silences", silence, []string{"Origin", s.base, "Sec-Fetch-Site", "same-origin"}, http.StatusCreated},
		{"no Origin (curl)", http.MethodPost, "/api/v1/silences", silence, nil, http.StatusCreated},
		{"reload with no body and no Content-Type (curl -X POST)", http.MethodPost, "/-/reload", "", nil, http.StatusOK},
		{"a read from another site is not refused", http.MethodGet, "/api/v1/silences", "", []string{"Origin", "https://evil.example"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(t, admin, tt.method, s.base+tt.path, tt.body, tt.header...)
			if resp.StatusCode != tt.want {
				t.Errorf("%d %q; want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// TestAllowedHosts: with server.allowed_hosts, both listeners refuse a
// Host they do not name (DNS rebinding), except for the health endpoints.
func TestAllowedHosts(t *testing.T) {
	s := startSecured(t)
	admin := credential{set: bearer(adminToken)}
	beacon := `{"name":"LCP","value":1200,"id":"v5-2","page":"/"}`
	vitals := []string{"Origin", vitalsOrigin, "Content-Type", "text/plain"}
	tests := []struct {
		name string
		url  string
		host string
		body string
		hdr  []string
		want int
	}{
		{"admin API, rebound name", s.base + "/api/v1/probes", "evil.example", "", nil, http.StatusMisdirectedRequest},
		{"admin API, listed name", s.base + "/api/v1/probes", "localhost", "", nil, http.StatusOK},
		{"admin API, listed name with port", s.base + "/api/v1/probes", "localhost:9477", "", nil, http.StatusOK},
		{"metrics, rebound name", s.base + "/metrics", "evil.example:9477", "", nil, http.StatusMisdirectedRequest},
		{"healthz, any name", s.base + "/healthz", "evil.example", "", nil, http.StatusOK},
		{"public, rebound name", s.public + "/v1/vitals", "evil.example", beacon, vitals, http.StatusMisdirectedRequest},
		{"public, listed address", s.public + "/v1/vitals", "127.0.0.1", beacon, vitals, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := http.MethodGet
			if tt.body != "" {
				method = http.MethodPost
			}
			resp, body := s.do(t, admin, method, tt.url, tt.body, append([]string{"Host", tt.host}, tt.hdr...)...)
			if resp.StatusCode != tt.want {
				t.Errorf("%d %q; want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// TestClientCertificates: a client certificate another CA signed does not
// get through the handshake; one the client CA signed is admin (see
// TestAdminRoutesNeedCredentials).
func TestClientCertificates(t *testing.T) {
	s := startSecured(t)
	other := testca.New(t, "other")
	cert, key := other.Client(t, "stranger")
	cfg := s.ca.ClientTLS(t, cert, key)
	// Go's client shows a certificate only when the server's CA list names
	// its issuer; this one shows it anyway.
	stranger := cfg.Certificates[0]
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(s.base + "/api/v1/probes")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate of another CA got %d; want the handshake refused", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "tls") {
		t.Errorf("error %v; want the TLS handshake refused", err)
	}
}

// TestMetricsAuthOff: server.metrics_auth: false leaves /metrics to
// scrapers without credentials; the API still asks for them, and even an
// open API refuses text/plain state changes.
func TestMetricsAuthOff(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "tokens.yml"), fmt.Sprintf("tokens:\n  - {name: grafana, sha256: %s, role: read}\n", sha256Hex(readToken)))
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf("server: {listen: \"127.0.0.1:0\", api_tokens_file: tokens.yml, metrics_auth: false}\nstorage: {path: %q}\nprobes: []\n", dir))
	r, public := startListening(t, cfgFile, "http")
	defer r.stop(t)
	if public != "" {
		t.Fatalf("a public listener without server.public: %s", public)
	}
	s := &secured{running: r, plain: http.DefaultClient}
	tests := []struct {
		name string
		c    credential
		path string
		want int
	}{
		{"metrics without credentials", credential{}, "/metrics", http.StatusOK},
		{"API without credentials", credential{}, "/api/v1/probes", http.StatusUnauthorized},
		{"API with a read token", credential{set: bearer(readToken)}, "/api/v1/probes", http.StatusOK},
		{"pprof with a read token", credential{set: bearer(readToken)}, "/debug/pprof/", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := s.do(t, tt.c, http.MethodGet, r.base+tt.path, ""); resp.StatusCode != tt.want {
				t.Errorf("%d %q; want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

// TestOpenAPIStillSameOrigin: on loopback without credentials the API is
// open, as before, but a page still cannot change state through it.
func TestOpenAPIStillSameOrigin(t *testing.T) {
	tg := newTargets(t)
	cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
	writeConfig(t, cfgFile, tg.config(""))
	d := startDaemon(t, cfgFile)
	defer d.stop(t)
	s := &secured{running: d, plain: http.DefaultClient}
	silence := `{"matchers":["alertname=\"X\""],"duration":"1h","createdBy":"t","comment":"c"}`
	tests := []struct {
		name   string
		header []string
		want   int
	}{
		{"JSON from no browser", nil, http.StatusCreated},
		{"text/plain", []string{"Content-Type", "text/plain;charset=UTF-8"}, http.StatusUnsupportedMediaType},
		{"foreign Origin", []string{"Origin", "http://evil.example"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := s.do(t, credential{}, http.MethodPost, d.base+"/api/v1/silences", silence, tt.header...); resp.StatusCode != tt.want {
				t.Errorf("%d %q; want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
	if strings.Contains(d.logs.String(), "exposed without credentials") {
		t.Errorf("a loopback listener without credentials should not warn:\n%s", d.logs.String())
	}
}

// TestWebConfigReloadedWhenChanged: a user added to web.yml can log in
// without a restart; a web.yml that stops loading keeps the last good one.
func TestWebConfigReloadedWhenChanged(t *testing.T) {
	s := startSecured(t)
	web := filepath.Join(s.dir, "web.yml")
	old, err := os.ReadFile(web)
	if err != nil {
		t.Fatal(err)
	}
	carol := credential{name: "carol", set: basic("carol", "carol-password")}
	steps := []struct {
		name    string
		content string
		want    int
	}{
		{"before", string(old), http.StatusUnauthorized},
		{"carol added", string(old) + "  carol: " + bcryptHash(t, "carol-password") + "\n", http.StatusOK},
		{"file broken", "tls_server_config: [\n", http.StatusOK},
		{"carol removed", string(old) + "\n", http.StatusUnauthorized},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			writeConfig(t, web, st.content)
			s.plain.CloseIdleConnections() // a new handshake reads the TLS settings again too
			if resp, body := s.do(t, carol, http.MethodGet, s.base+"/api/v1/probes", ""); resp.StatusCode != st.want {
				t.Errorf("%d %q; want %d", resp.StatusCode, body, st.want)
			}
		})
	}
}

// TestPublicTrustedProxies: on a plain-HTTP public listener, beacons from
// a trusted proxy are rate limited per visitor named in X-Forwarded-For,
// before and after a reload.
func TestPublicTrustedProxies(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  public: {listen: "127.0.0.1:0", trusted_proxies: [127.0.0.0/8]}
storage: {path: %q}
webvitals: {enabled: true, allowed_origins: [%q], rate_limit: {per_ip: 1/h, burst: 1}}
probes: []
`, dir, vitalsOrigin))
	r, public := startListening(t, cfgFile, "http")
	defer r.stop(t)
	s := &secured{running: r, plain: http.DefaultClient}
	beacon := func(visitor string) int {
		resp, _ := s.do(t, credential{}, http.MethodPost, public+"/v1/vitals", `{"name":"LCP","value":1200,"id":"v5-`+visitor+`","page":"/"}`,
			"Origin", vitalsOrigin, "Content-Type", "text/plain", "X-Forwarded-For", "198.51.100."+visitor)
		return resp.StatusCode
	}
	steps := []struct {
		name, visitor string
		reload        bool
		want          int
	}{
		{"first visitor", "1", false, http.StatusNoContent},
		{"first visitor again, over its burst", "1", false, http.StatusTooManyRequests},
		{"second visitor, a bucket of its own", "2", false, http.StatusNoContent},
		{"third visitor after a reload", "3", true, http.StatusNoContent},
		{"fourth visitor after the reload", "4", false, http.StatusNoContent},
		{"fourth visitor again", "4", false, http.StatusTooManyRequests},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.reload {
				if resp, body := postReload(t, r); resp.StatusCode != http.StatusOK {
					t.Fatalf("reload: %d %s", resp.StatusCode, body)
				}
			}
			if got := beacon(st.visitor); got != st.want {
				t.Errorf("status %d, want %d", got, st.want)
			}
		})
	}
}

// TestConnectionLimits: each listener serves at most its
// max_connections at once; one more connection waits, unserved, until
// one of them closes, and is then served.
func TestConnectionLimits(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfg, fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  max_connections: 2
  public: {listen: 127.0.0.1:0, max_connections: 3}
storage: {path: %q}
`, filepath.Join(dir, "data")))
	d, public := startListening(t, cfg, "http")
	t.Cleanup(func() { d.stop(t) })
	for _, l := range []struct {
		name, addr string
		limit      int
	}{
		{"admin", strings.TrimPrefix(d.base, "http://"), 2},
		{"public", strings.TrimPrefix(public, "http://"), 3},
	} {
		t.Run(l.name, func(t *testing.T) {
			held := make([]net.Conn, l.limit)
			for i := range held {
				held[i] = dialServed(t, l.addr)
			}
			extra, err := net.Dial("tcp", l.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer extra.Close()
			if _, err := io.WriteString(extra, "GET /healthz HTTP/1.1\r\nHost: "+l.addr+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			_ = extra.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			if n, err := extra.Read(make([]byte, 1)); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection %d of a limit of %d was served (read %d bytes, %v)", l.limit+1, l.limit, n, err)
			}
			held[0].Close()
			_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(extra), nil)
			if err != nil {
				t.Fatalf("after one connection closed, the waiting one was not served: %v", err)
			}
			resp.Body.Close()
			for _, c := range held[1:] {
				c.Close()
			}
		})
	}
}

// dialServed opens a connection to addr and has one request served on
// it, so the listener has accepted it; the connection stays open.
func dialServed(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("connection to %s not served: %v", addr, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c
}

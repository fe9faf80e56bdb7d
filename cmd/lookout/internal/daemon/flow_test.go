package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtAPI is a small API behind JWT auth, like the one the flow kind is
// for: POST /auth/login checks the password and answers an HS256 token
// signed with the API's secret; GET /users/me wants that token as a
// bearer token and checks its signature.
type jwtAPI struct {
	srv      *httptest.Server
	secret   []byte
	password string

	mu     sync.Mutex
	tokens []string // every token issued
}

func newJWTAPI(t *testing.T, password string) *jwtAPI {
	a := &jwtAPI{secret: []byte("jwt-secret-of-the-api"), password: password}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/login", a.login)
	mux.HandleFunc("GET /users/me", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return a.secret, nil }, jwt.WithValidMethods([]string{"HS256"}))
		if err != nil {
			http.Error(w, `{"error":"invalid token"}`, http.StatusUnauthorized)
			return
		}
		sub, _ := tok.Claims.GetSubject()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": 42, "email": sub})
	})
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *jwtAPI) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Email, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil || in.Password != a.password {
		http.Error(w, `{"error":"wrong email or password"}`, http.StatusUnauthorized)
		return
	}
	now := time.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": in.Email, "role": "monitoring", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(a.secret)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a.mu.Lock()
	a.tokens = append(a.tokens, token)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": token})
}

func (a *jwtAPI) issued() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.tokens...)
}

// notificationSink records what Lookout sends a webhook (/hook) and Slack
// (its Web API under /slack/): each request's body, Slack's form values
// decoded.
type notificationSink struct {
	srv *httptest.Server

	mu      sync.Mutex
	webhook []string
	slack   []string
}

func newNotificationSink(t *testing.T) *notificationSink {
	s := &notificationSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/slack/") {
			s.webhook = append(s.webhook, string(body))
			return
		}
		form, _ := url.ParseQuery(string(body))
		var b strings.Builder
		for k, vs := range form {
			fmt.Fprintf(&b, "%s=%s\n", k, strings.Join(vs, ", "))
		}
		s.slack = append(s.slack, b.String())
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"channel":"C1","ts":"1700000000.%06d"}`, len(s.slack))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *notificationSink) got() (webhook, slack []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.webhook...), append([]string(nil), s.slack...)
}

// flowSecretsConfig writes a config whose flow logs in to api with the
// password from $LOOKOUT_TEST_FLOW_PASSWORD, keeps the token as a secret
// variable, and then fails on an assert that would show the token; its
// ProbeDown pages a webhook, Slack and the log.
func flowSecretsConfig(t *testing.T, dir, api, sink string) string {
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: test
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
        annotations: {summary: "Probe {{ $labels.probe }} is down"}
`)
	cfg := fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %[1]q}
alerting:
  evaluation_interval: 100ms
  builtin_rules: false
  rule_files: [rules.yml]
  route: {receiver: oncall, group_by: [alertname, probe], group_wait: 0s, group_interval: 200ms, repeat_interval: 1h}
  receivers:
    - name: oncall
      webhook: {url: "%[3]s/hook"}
      slack: {token: xoxb-test, channel: "#flows", api_url: "%[3]s/slack/"}
      log: {}
probes:
  - name: login-and-profile
    interval: 1s
    timeout: 800ms
    flow:
      cookies: true
      steps:
        - name: login
          http:
            url: %[2]s/auth/login
            method: POST
            headers: {Content-Type: application/json}
            body: '{"email":"probe@example.com","password":"${LOOKOUT_TEST_FLOW_PASSWORD}"}'
            expect: {status: [200]}
            assert: ['body.token.size() > 20']
          extract:
            token: {cel: 'body.token', secret: true}
          assert: ['jwt(vars.token).header.alg != "none"']
        - name: profile
          http:
            url: %[2]s/users/me
            bearer_token: '{{ vars.token }}'
            expect: {status: [200]}
            assert: ['!text.contains("${LOOKOUT_TEST_FLOW_PASSWORD}")']
          assert: ['vars.token == "x"']
`, filepath.Join(dir, "data"), api, sink)
	path := filepath.Join(dir, "lookout.yml")
	writeConfig(t, path, cfg)
	return path
}

// TestFlowSecretsNeverShown: a flow's secrets — the login's token, a
// secret variable, and the password that ${VAR} put into its body — show
// in none of what the real daemon tells: the probes API, the alerts API,
// its logs, /metrics, and the webhook's and Slack's notifications of the
// page its failure causes. The flow fails at a check that would show the
// token, and the API's reason shows *** in its place.
func TestFlowSecretsNeverShown(t *testing.T) {
	const password = "pr0be-Pa55word-of-the-flow"
	t.Setenv("LOOKOUT_TEST_FLOW_PASSWORD", password)
	api, sink := newJWTAPI(t, password), newNotificationSink(t)
	d := startDaemon(t, flowSecretsConfig(t, t.TempDir(), api.srv.URL, sink.srv.URL))
	stopped := false
	defer func() {
		if !stopped {
			d.stop(t)
		}
	}()

	// Wait for the page to reach the webhook and Slack, and for the log
	// receiver's line.
	deadline := time.Now().Add(20 * time.Second)
	for {
		webhook, slack := sink.got()
		if len(webhook) > 0 && len(slack) > 0 && strings.Contains(d.logs.String(), "ProbeDown") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page within 20s: %d webhook and %d Slack requests; probes: %+v\nlogs:\n%s", len(webhook), len(slack), d.probes(t), d.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	const name = "login-and-profile"
	var st struct {
		State, Reason string
	}
	_, one := d.get(t, "/api/v1/probes/"+name)
	if err := json.Unmarshal([]byte(one), &st); err != nil {
		t.Fatalf("decode /api/v1/probes/%s: %v\n%s", name, err, one)
	}
	if want := `step "profile": assert: expected vars.token == "x", got vars.token is "***`; st.State != "down" || !strings.HasPrefix(st.Reason, want) {
		t.Errorf("/api/v1/probes/%s: %s, reason %q; want down, the reason starting %q", name, st.State, st.Reason, want)
	}
	outputs := map[string]string{"/api/v1/probes/" + name: one}
	for _, path := range []string{"/api/v1/probes", "/api/v1/alerts", "/metrics"} {
		_, outputs[path] = d.get(t, path)
	}
	if !strings.Contains(outputs["/metrics"], `probe_flow_step_success{probe="login-and-profile",step="profile"} 0`) {
		t.Errorf("/metrics lacks the failed profile step:\n%s", grepLines(outputs["/metrics"], "probe_flow_step"))
	}
	webhook, slack := sink.got()
	var page webhookMessage
	if err := json.Unmarshal([]byte(webhook[0]), &page); err != nil || page.Status != "firing" || len(page.Alerts) != 1 ||
		page.Alerts[0].Labels["alertname"] != "ProbeDown" || page.Alerts[0].Labels["probe"] != name {
		t.Errorf("webhook payload (%v): %s; want the firing ProbeDown of %s", err, webhook[0], name)
	}
	outputs["webhook payload"] = strings.Join(webhook, "\n")
	outputs["Slack message"] = strings.Join(slack, "\n")
	if !strings.Contains(outputs["Slack message"], "***") {
		t.Errorf("the Slack message lacks the probe's reason with ***:\n%s", outputs["Slack message"])
	}
	d.stop(t)
	stopped = true
	outputs["logs"] = d.logs.String()
	if !strings.Contains(outputs["logs"], "***") {
		t.Errorf("the logs lack the probe's reason with ***:\n%s", outputs["logs"])
	}

	tokens := api.issued()
	if len(tokens) == 0 {
		t.Fatal("the API issued no token")
	}
	secrets := map[string]string{"the password": password}
	for i, tok := range tokens {
		secrets[fmt.Sprintf("token %d", i+1)] = tok
	}
	for where, out := range outputs {
		for what, secret := range secrets {
			if part := shownPart(out, secret); part != "" {
				t.Errorf("%s shows %s (%d of its %d bytes): %s", where, what, len(part), len(secret), grepLines(out, part))
			}
		}
	}
}

// shownPart returns the longest part of secret, at least 16 bytes long
// (or the whole of a shorter one), that out holds as it is or
// JSON-escaped; "" if none. A shortened secret ("eyJhbGciOi…") is a leak
// too.
func shownPart(out, secret string) string {
	esc, _ := json.Marshal(secret)
	forms := []string{secret, strings.Trim(string(esc), `"`)}
	const minLen = 16
	var longest string
	for _, s := range forms {
		n := min(minLen, len(s))
		for i := 0; i+n <= len(s); i++ {
			if !strings.Contains(out, s[i:i+n]) {
				continue
			}
			j := i + n
			for j < len(s) && strings.Contains(out, s[i:j+1]) {
				j++
			}
			if j-i > len(longest) {
				longest = s[i:j]
			}
		}
	}
	return longest
}

package flowprobe_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/flowprobe"
	"github.com/lookout-dev/lookout/probes/httpprobe"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
)

// loginFlow is the flow against the local API at BASE.
const loginFlow = `
probes:
  - name: login-and-profile
    interval: 60s
    timeout: 5s
    flow:
      cookies: COOKIES
      steps:
        - name: login
          http:
            url: BASE/auth/login
            method: POST
            headers: {Content-Type: application/json}
            body: '{"email":"probe@example.com","password":"${PROBE_PASSWORD}"}'
            expect: {status: [200]}
            assert: ['body.token.size() > 20']
          extract:
            token: {cel: 'body.token', secret: true}
          assert:
            - 'jwt(vars.token).header.alg != "none"'
            - 'jwt(vars.token).claims.exp - now() < duration("24h")'
            - 'jwt(vars.token).claims.exp > now()'
        - name: profile
          http:
            url: BASE/users/me
            bearer_token: '{{ vars.token }}'
            expect: {status: [200]}
            assert: ['body.email == "probe@example.com"']
          extract:
            user_id: {cel: 'string(body.id)'}
        - name: orders
          timeout: STEP_TIMEOUT
          http:
            url: 'BASE/users/{{ vars.user_id }}/orders?limit=1'
            bearer_token: '{{ vars.token }}'
            degraded_if: ['duration > duration("2s")']
`

type flowOpts struct {
	password    string
	cookies     bool
	stepTimeout string
	extra       string // replaces the end of the orders step's http section
}

// newFlow builds the flow's runner, as the daemon does, with password as
// $PROBE_PASSWORD.
func newFlow(t *testing.T, base string, o flowOpts) *probes.Runner {
	t.Helper()
	if o.stepTimeout == "" {
		o.stepTimeout = "4s"
	}
	yml := strings.NewReplacer("BASE", base, "COOKIES", map[bool]string{true: "true", false: "false"}[o.cookies], "STEP_TIMEOUT", o.stepTimeout).Replace(loginFlow)
	yml += o.extra
	env := func(name string) (string, bool) {
		if name == "PROBE_PASSWORD" {
			return o.password, true
		}
		return "", false
	}
	cfg, err := config.Parse("flow.yml", []byte(yml), env)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	transports := httpprobe.NewTransports()
	t.Cleanup(transports.CloseIdle)
	r, err := probes.Kinds{flowprobe.Kind(transports)}.NewRunner(cfg.Probes[0], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func stepsOf(t *testing.T, res probes.Result) []flowprobe.StepFacts {
	t.Helper()
	f, ok := res.Facts.(*flowprobe.Facts)
	if !ok {
		t.Fatalf("facts %T; want *flowprobe.Facts", res.Facts)
	}
	return f.Steps
}

// TestLoginFlow: the login's JWT, checked for its algorithm and expiry,
// goes to the next steps as a bearer token, the profile's id into the
// orders URL, and the session cookie along with them.
func TestLoginFlow(t *testing.T) {
	a, srv := newAPI(t)
	r := newFlow(t, srv.URL, flowOpts{password: a.password, cookies: true})
	res := r.Probe(t.Context())
	if res.State != probes.Up {
		t.Fatalf("%s: %s; checks %+v", res.State, res.Reason, res.Checks)
	}
	steps := stepsOf(t, res)
	if len(steps) != 3 {
		t.Fatalf("%d steps ran, want 3", len(steps))
	}
	for i, name := range []string{"login", "profile", "orders"} {
		s := steps[i]
		if s.Name != name || s.State != probes.Up || s.HTTP == nil || s.HTTP.HTTP == nil || s.HTTP.HTTP.StatusCode != 200 || s.Duration <= 0 {
			t.Errorf("step %d: %+v; want %s up with status 200 and a duration", i, s, name)
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.authz) != 3 || a.authz[0] != "" || !strings.HasPrefix(a.authz[1], "Bearer ey") || a.authz[2] != a.authz[1] {
		t.Errorf("Authorization per request %q; want none, then the login's token twice", a.authz)
	}
	if a.cookies[1] != "sess-probe@example.com" || a.cookies[2] != "sess-probe@example.com" {
		t.Errorf("session cookie per request %q; want the login's on the later steps", a.cookies)
	}
}

// TestFlowFailures: a flow is down at its first failing step, which the
// reason names, and runs no step after it.
func TestFlowFailures(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*api)
		opts   flowOpts
		steps  int
		reason []string
	}{
		{"wrong password", nil, flowOpts{password: "wrong"}, 1,
			[]string{`step "login": status: expected 200, got 401`}},
		{"expired token", func(a *api) { a.tokenTTL = -time.Minute }, flowOpts{}, 1,
			[]string{`step "login": assert: expected jwt(vars.token).claims.exp > now()`}},
		{"alg none", func(a *api) { a.algNone = true }, flowOpts{}, 1,
			[]string{`step "login": assert: expected jwt(vars.token).header.alg != "none"`, `"none"`}},
		{"step timeout", func(a *api) { a.slow = 3 * time.Second }, flowOpts{stepTimeout: "300ms"}, 3,
			[]string{`step "orders": `, "timeout: no complete response within the step's timeout of 300ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, srv := newAPI(t)
			if tt.setup != nil {
				tt.setup(a)
			}
			if tt.opts.password == "" {
				tt.opts.password = a.password
			}
			r := newFlow(t, srv.URL, tt.opts)
			start := time.Now()
			res := r.Probe(t.Context())
			took := time.Since(start)
			t.Logf("%s: %s", res.State, res.Reason)
			if res.State != probes.Down {
				t.Fatalf("%s, want down", res.State)
			}
			for _, part := range tt.reason {
				if !strings.Contains(res.Reason, part) {
					t.Errorf("reason %q; want it to contain %q", res.Reason, part)
				}
			}
			if got := len(stepsOf(t, res)); got != tt.steps {
				t.Errorf("%d steps ran, want %d (none after the failing one)", got, tt.steps)
			}
			a.mu.Lock()
			requests := len(a.authz)
			a.mu.Unlock()
			if requests != tt.steps {
				t.Errorf("the API saw %d requests, want %d", requests, tt.steps)
			}
			if tt.opts.stepTimeout == "300ms" && took > 2*time.Second {
				t.Errorf("the run took %s; the step's own timeout of 300ms should have ended it", took)
			}
		})
	}
}

// TestNoCookiesUnlessAsked: without cookies: true, no step sends the
// cookie an earlier one was given.
func TestNoCookiesUnlessAsked(t *testing.T) {
	a, srv := newAPI(t)
	r := newFlow(t, srv.URL, flowOpts{password: a.password})
	if res := r.Probe(t.Context()); res.State != probes.Up {
		t.Fatalf("%s: %s", res.State, res.Reason)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, c := range a.cookies {
		if c != "" {
			t.Errorf("request %d sent the cookie %q", i, c)
		}
	}
}

// TestSecretsNeverShown: the login's token (a secret variable) and the
// password (from the environment) are shown as *** in the reason, the
// checks, the facts' JSON, the history and `lookout probe NAME`, even
// when a failing check would show them.
func TestSecretsNeverShown(t *testing.T) {
	a, srv := newAPI(t)
	// The orders step asserts something false about the token, so its
	// failure shows the token's value; and the password is in a header.
	r := newFlow(t, srv.URL, flowOpts{password: a.password, extra: "            headers: {X-Debug: 'password ${PROBE_PASSWORD}'}\n            assert: ['vars.token == \"x\" + \"${PROBE_PASSWORD}\"']\n"})
	res := r.Probe(t.Context())
	if res.State != probes.Down || !strings.Contains(res.Reason, "***") {
		t.Fatalf("%s: %q; want down, the reason showing *** for the token", res.State, res.Reason)
	}
	a.mu.Lock()
	token := strings.TrimPrefix(a.authz[1], "Bearer ")
	a.mu.Unlock()
	var out bytes.Buffer
	js, err := json.Marshal(r.Status())
	if err != nil {
		t.Fatal(err)
	}
	out.Write(js)
	out.WriteString(res.Reason)
	for _, c := range res.Checks {
		out.WriteString(c.Expected + c.Actual)
	}
	rep := probes.NewReport(&out, time.Now())
	r.Kind().ReportTarget(rep, r.Config())
	r.Kind().ReportFacts(rep, res.Facts)
	for _, secret := range []string{token, a.password} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("a secret shows in what the run tells:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "***") {
		t.Errorf("no *** in what the run tells:\n%s", out.String())
	}
}

// TestRedactCutValues: a secret a check's wording cut short (…) or quoted
// with escapes is hidden too; text that merely shares a short start with
// it is not.
func TestRedactCutValues(t *testing.T) {
	secret := "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig" + `"q`
	for _, tt := range []struct{ in, want string }{
		{`got "` + secret + `"`, `got "***"`},
		{`got "` + secret[:20] + `…"`, `got "***"`},
		{`got "` + strings.ReplaceAll(secret, `"`, `\"`) + `"`, `got "***"`},
		{`got "eyJ…" and "eyJh` + `…"`, `got "eyJ…" and "***"`},
		{`nothing here…`, `nothing here…`},
	} {
		if got := flowprobe.Redact(tt.in, []string{secret}); got != tt.want {
			t.Errorf("Redact(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestFlowMetrics: a flow's families carry each step that ran, labelled
// step, with HTTP's phases beside; and the TLS families watch its https://
// steps, so the built-in certificate rules cover flows.
func TestFlowMetrics(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id": 7}`))
	}))
	defer srv.Close()
	transports := httpprobe.NewTransports()
	t.Cleanup(transports.CloseIdle)
	kind := flowprobe.Kind(transports)
	r := probetest.Runner(t, kind, "", `{steps: [
      {name: first, http: {url: '`+srv.URL+`/a', tls: {insecure_skip_verify: true}}, extract: {id: {cel: 'string(body.id)'}}},
      {name: second, http: {url: '`+srv.URL+`/b/{{ vars.id }}', tls: {insecure_skip_verify: true}}}]}`)
	t.Cleanup(r.Close)
	if res := r.Probe(t.Context()); res.State != probes.Up {
		t.Fatalf("%s: %s", res.State, res.Reason)
	}
	got := probetest.Gauges(t, probes.Kinds{kind}, r, "step", "phase")
	for _, name := range []string{
		"probe_flow_step_success{first}", "probe_flow_step_success{second}",
		"probe_http_status_code{second}", "probe_ssl_earliest_cert_expiry",
	} {
		if got[name] <= 0 {
			t.Errorf("%s = %v; want it set (gauges: %v)", name, got[name], got)
		}
	}
	if _, ok := got["probe_http_duration_seconds{connect}{first}"]; !ok {
		t.Errorf("no connect phase of step first (gauges: %v)", got)
	}
}

// TestRetriesRerunTheFlow: with retries, a run that failed at a later
// step starts again from the first (a fresh login), and is up when the
// second attempt passes.
func TestRetriesRerunTheFlow(t *testing.T) {
	a, srv := newAPI(t)
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer flaky.Close()
	transports := httpprobe.NewTransports()
	t.Cleanup(transports.CloseIdle)
	kind := flowprobe.Kind(transports)
	pc := probetest.Config(t, kind, "", `{steps: [
      {name: login, http: {url: '`+srv.URL+`/auth/login', method: POST, body: '{"email":"p@example.com","password":"`+a.password+`"}'}},
      {name: flaky, http: {url: '`+flaky.URL+`/x'}}]}`)
	pc.Retries = 1
	r, err := probes.Kinds{kind}.NewRunner(pc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	res := r.Probe(t.Context())
	if res.State != probes.Up || res.Attempts != 2 {
		t.Fatalf("%s after %d attempts (%s); want up after 2", res.State, res.Attempts, res.Reason)
	}
	a.mu.Lock()
	logins := len(a.authz)
	a.mu.Unlock()
	if logins != 2 {
		t.Errorf("the API saw %d logins; want 2 (the retry starts the flow again)", logins)
	}
}

// TestStepHistograms: each step's durations accumulate in
// lookout_flow_step_duration_seconds{probe,step}, which the kind's
// Collector holds, and go with the probe.
func TestStepHistograms(t *testing.T) {
	a, srv := newAPI(t)
	transports := httpprobe.NewTransports()
	t.Cleanup(transports.CloseIdle)
	kind := flowprobe.Kind(transports)
	r := probetest.Runner(t, kind, "", `{steps: [
      {name: login, http: {url: '`+srv.URL+`/auth/login', method: POST, body: '{"email":"p@example.com","password":"`+a.password+`"}'}, extract: {token: {cel: body.token, secret: true}}},
      {name: me, http: {url: '`+srv.URL+`/users/me', bearer_token: '{{ vars.token }}'}}]}`)
	for range 3 {
		if res := r.Probe(t.Context()); res.State != probes.Up {
			t.Fatalf("%s: %s", res.State, res.Reason)
		}
	}
	mfs, err := prometheusGather(kind)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, m := range mfs["lookout_flow_step_duration_seconds"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "step" {
				counts[lp.GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	if counts["login"] != 3 || counts["me"] != 3 || len(counts) != 2 {
		t.Errorf("step histograms' counts %v; want 3 runs of login and me", counts)
	}
	r.Close()
	if mfs, _ := prometheusGather(kind); len(mfs["lookout_flow_step_duration_seconds"].GetMetric()) != 0 {
		t.Error("the removed probe's step histograms are still there")
	}
}

func prometheusGather(k *probes.Kind) (map[string]*dto.MetricFamily, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(k.Collector); err != nil {
		return nil, err
	}
	mfs, err := reg.Gather()
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out, err
}

// TestAPIRefusesToken: the API's own checks of the token reach the flow
// as its failure at the step that used it: a token changed on the way (a
// bad signature) and an expired one are each a 401 there.
func TestAPIRefusesToken(t *testing.T) {
	for _, tt := range []struct {
		name, bearer string
		ttl          time.Duration
	}{
		{"wrong token", "{{ vars.token }}x", time.Hour},
		{"expired token", "{{ vars.token }}", -time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, srv := newAPI(t)
			a.tokenTTL = tt.ttl
			transports := httpprobe.NewTransports()
			t.Cleanup(transports.CloseIdle)
			r := probetest.Runner(t, flowprobe.Kind(transports), "", `{steps: [
      {name: login, http: {url: '`+srv.URL+`/auth/login', method: POST, body: '{"email":"p@example.com","password":"`+a.password+`"}'}, extract: {token: {cel: body.token, secret: true}}},
      {name: profile, http: {url: '`+srv.URL+`/users/me', bearer_token: '`+tt.bearer+`'}}]}`)
			t.Cleanup(r.Close)
			probetest.Want(t, r.Probe(t.Context()), probes.Down, `step "profile": status: expected 2xx, got 401 Unauthorized`)
		})
	}
}

package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/golang-jwt/jwt/v5"
)

// issueFlow returns the issue's flow as it loads from kinds.yml.
func issueFlow(t *testing.T) Probe {
	t.Helper()
	cfg, err := loadTestdata(t, "testdata/kinds.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range cfg.Probes {
		if p.Name == "login-and-profile" {
			return p
		}
	}
	t.Fatal("no probe login-and-profile in kinds.yml")
	return Probe{}
}

// signed returns an HS256 token, as the API Lookout watches issues them.
func signed(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("JWT_SECRET of the API"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned returns a token with alg none.
func unsigned(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// eval runs a compiled program with the given variables.
func eval(t *testing.T, prg cel.Program, vars map[string]any) (any, error) {
	t.Helper()
	if prg == nil {
		t.Fatal("program not compiled")
	}
	v, _, err := prg.Eval(vars)
	if err != nil {
		return nil, err
	}
	return v.Value(), nil
}

func TestFlowIssueExampleLoads(t *testing.T) {
	p := issueFlow(t)
	f := p.Flow
	login, profile, orders := f.Steps[0], f.Steps[1], f.Steps[2]
	userID := func(name string) string { return map[string]string{"user_id": "42", "token": "T"}[name] }
	checks := []struct {
		name      string
		got, want any
	}{
		{"kind", p.Kind(), "flow"},
		{"timeout", p.Timeout.Std(), 20 * time.Second},
		{"cookies", f.Cookies, true},
		{"steps", len(f.Steps), 3},
		{"step names", login.Name + "," + profile.Name + "," + orders.Name, "login,profile,orders"},
		{"step timeout unset", login.Timeout, Duration(0)},
		{"method", login.HTTP.Method, "POST"},
		{"http defaults filled", orders.HTTP.Method + " " + orders.HTTP.Expect.Status[0].String(), "GET 2xx"},
		{"body expanded at load", login.Templates.Body.Expand(nil), `{"email":"probe@example.com","password":"pr0be-pa55word"}`},
		{"literal source is the value", login.Templates.Body.Source, login.Templates.Body.Expand(nil)},
		{"body literal", login.Templates.Body.IsLiteral(), true},
		{"header literal", login.Templates.Headers["Content-Type"].Expand(nil), "application/json"},
		{"login url literal", login.Templates.URL.Expand(nil), "https://api.example.com/auth/login"},
		{"extract names", strings.Join(login.ExtractNames, ","), "token"},
		{"extract secret", login.Extract["token"].Secret, true},
		{"extract compiled", login.Extract["token"].CEL.Program != nil, true},
		{"bearer token template", profile.Templates.BearerToken.IsLiteral(), false},
		{"bearer token vars", strings.Join(profile.Templates.BearerToken.Vars(), ","), "token"},
		{"bearer token expands", profile.Templates.BearerToken.Expand(userID), "T"},
		{"unset fields expand empty", profile.Templates.Body.Expand(userID) + profile.Templates.Password.Expand(userID), ""},
		{"url as written", orders.Templates.URL.Source, "https://api.example.com/users/{{ vars.user_id }}/orders?limit=1"},
		{"url expands", orders.Templates.URL.Expand(userID), "https://api.example.com/users/42/orders?limit=1"},
		{"url parsed with placeholders", orders.HTTP.URL.Host + orders.HTTP.URL.Path, "api.example.com/users/{{ vars.user_id }}/orders"},
		{"degraded_if compiled", orders.HTTP.DegradedIf[0].Program != nil, true},
		{"secrets", strings.Join(p.Secrets, ","), "pr0be-pa55word"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

// TestFlowIssueExampleChecksJWT runs the issue's login step's own
// assertions on tokens made the way the API makes them.
func TestFlowIssueExampleChecksJWT(t *testing.T) {
	login := issueFlow(t).Flow.Steps[0]
	algOK, expSoon := login.Assert[0].Program, login.Assert[1].Program
	now := time.Now()
	tests := []struct {
		name           string
		token          string
		algOK, expSoon bool
	}{
		{"HS256, expires in 1h", signed(t, jwt.MapClaims{"sub": "probe", "exp": now.Add(time.Hour).Unix()}), true, true},
		{"HS256, expires in 48h", signed(t, jwt.MapClaims{"sub": "probe", "exp": now.Add(48 * time.Hour).Unix()}), true, false},
		{"alg none", unsigned(t, jwt.MapClaims{"sub": "probe", "exp": now.Add(time.Hour).Unix()}), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]any{"vars": map[string]any{"token": tt.token}}
			if got, err := eval(t, algOK, vars); err != nil || got != tt.algOK {
				t.Errorf("%s = %v, %v; want %v", login.Assert[0].Source, got, err, tt.algOK)
			}
			if got, err := eval(t, expSoon, vars); err != nil || got != tt.expSoon {
				t.Errorf("%s = %v, %v; want %v", login.Assert[1].Source, got, err, tt.expSoon)
			}
		})
	}
	t.Run("extract reads the body", func(t *testing.T) {
		got, err := eval(t, login.Extract["token"].CEL.Program, map[string]any{"body": map[string]any{"token": "abc"}})
		if err != nil || got != "abc" {
			t.Errorf("extract token = %v, %v; want abc", got, err)
		}
	})
}

// flowEnvForTest is the environment of a flow step's expressions.
func flowEnvForTest(t *testing.T) *cel.Env {
	t.Helper()
	env, err := cel.NewEnv(exprVars("flow")...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func compileForTest(t *testing.T, env *cel.Env, src string) cel.Program {
	t.Helper()
	prg, err := compileValue(env, src)
	if err != nil {
		t.Fatal(err)
	}
	return prg
}

func TestJWT(t *testing.T) {
	env := flowEnvForTest(t)
	iat := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hs := signed(t, jwt.MapClaims{"sub": "probe@example.com", "uid": 12345678901, "scope": []string{"read", "write"}, "ratio": 0.5,
		"iat": iat.Unix(), "nbf": iat.Unix(), "exp": float64(iat.Add(time.Hour+500*time.Millisecond).UnixMilli()) / 1000})
	none := unsigned(t, jwt.MapClaims{"sub": "x"})
	tests := []struct {
		name, expr, token string
		want              any
	}{
		{"header alg", "jwt(vars.token).header.alg", hs, "HS256"},
		{"header typ", "jwt(vars.token).header.typ", hs, "JWT"},
		{"string claim", "jwt(vars.token).claims.sub", hs, "probe@example.com"},
		{"whole number claim is an int", "jwt(vars.token).claims.uid + 1", hs, int64(12345678902)},
		{"fraction claim is a double", "jwt(vars.token).claims.ratio", hs, 0.5},
		{"list claim", `jwt(vars.token).claims.scope.exists(s, s == "write")`, hs, true},
		{"exp is a timestamp, its fraction kept", "jwt(vars.token).claims.exp - jwt(vars.token).claims.iat", hs, time.Hour + 500*time.Millisecond},
		{"iat is a timestamp", "jwt(vars.token).claims.iat == timestamp('2026-03-01T12:00:00Z')", hs, true},
		{"nbf is a timestamp", "jwt(vars.token).claims.nbf < jwt(vars.token).claims.exp", hs, true},
		{"alg none decodes", "jwt(vars.token).header.alg", none, "none"},
		{"unknown alg decodes", "jwt(vars.token).header.alg", "eyJhbGciOiJYWTk5OSJ9.eyJzdWIiOiJ4In0.c2ln", "XY999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eval(t, compileForTest(t, env, tt.expr), map[string]any{"vars": map[string]any{"token": tt.token}})
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := got.(time.Duration); ok && d != tt.want {
				t.Errorf("%s = %v; want %v", tt.expr, d, tt.want)
			} else if !ok && got != tt.want {
				t.Errorf("%s = %#v; want %#v", tt.expr, got, tt.want)
			}
		})
	}
}

func TestJWTMalformed(t *testing.T) {
	env := flowEnvForTest(t)
	prg := compileForTest(t, env, "jwt(vars.token).claims")
	good := signed(t, jwt.MapClaims{"sub": "x"})
	parts := strings.Split(good, ".")
	tests := []struct{ name, token, want string }{
		{"not a token", "s3cret-not-a-jwt", "jwt: not three base64url parts separated by dots"},
		{"four parts", good + ".s3cret", "jwt: not three base64url parts separated by dots"},
		{"header not base64url", "s3cret!!." + parts[1] + "." + parts[2], "jwt: the header is not base64url"},
		{"header not JSON", "czNjcmV0." + parts[1] + "." + parts[2], "jwt: the header is not a JSON object"},
		{"header null", "bnVsbA." + parts[1] + "." + parts[2], "jwt: the header is not a JSON object"},
		{"claims not base64url", parts[0] + ".s3cret!!." + parts[2], "jwt: the claims are not base64url"},
		{"claims not an object", parts[0] + ".WyJzM2NyZXQiXQ." + parts[2], "jwt: the claims are not a JSON object"},
		{"signature not base64url", parts[0] + "." + parts[1] + ".s3cret!!", "jwt: the signature is not base64url"},
		{"too long", parts[0] + "." + strings.Repeat("czNjcmV0", 2100) + "." + parts[2], "jwt: the token is longer than 16 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eval(t, prg, map[string]any{"vars": map[string]any{"token": tt.token}})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got error %v; want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "czNjcmV0") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

// TestNowReadsTheClock: now() is the time of the evaluation, not of the
// compile.
func TestNowReadsTheClock(t *testing.T) {
	prg := compileForTest(t, flowEnvForTest(t), "now()")
	for i := range 2 {
		before := time.Now()
		got, err := eval(t, prg, nil)
		after := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		if ts := got.(time.Time); ts.Before(before) || ts.After(after) {
			t.Errorf("evaluation %d: now() = %v; want between %v and %v", i, ts, before, after)
		}
	}
	if _, ok := types.DefaultTypeAdapter.NativeToValue(time.Now()).(types.Timestamp); !ok {
		t.Error("time.Time does not adapt to a CEL timestamp")
	}
}

func TestParseTemplate(t *testing.T) {
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"HOST": "api.example.com", "BRACES": "{{ vars.x }}"}[name]
		return v, ok
	}
	vars := func(name string) string { return "<" + name + ">" }
	tests := []struct {
		name, src, source, expanded, vars, err string
		literal                                bool
	}{
		{name: "plain", src: "plain", source: "plain", expanded: "plain", literal: true},
		{name: "empty", src: "", source: "", expanded: "", literal: true},
		{name: "one", src: "{{ vars.token }}", source: "{{ vars.token }}", expanded: "<token>", vars: "token"},
		{name: "no spaces", src: "{{vars.token}}", source: "{{vars.token}}", expanded: "<token>", vars: "token"},
		{name: "around", src: "https://${HOST}/u/{{ vars.id }}/o?l={{ vars.n }}&id={{ vars.id }}", source: "https://api.example.com/u/{{ vars.id }}/o?l={{ vars.n }}&id={{ vars.id }}",
			expanded: "https://api.example.com/u/<id>/o?l=<n>&id=<id>", vars: "id,n"},
		{name: "env value is not a template", src: "x${BRACES}y", source: "x{{ vars.x }}y", expanded: "x{{ vars.x }}y", literal: true},
		{name: "braces in env default", src: "${UNSET:-{{}", source: "{{", expanded: "{{", literal: true},
		{name: "dollar escape", src: "$${{ vars.a }}", source: "${{ vars.a }}", expanded: "$<a>", vars: "a"},
		{name: "unclosed", src: "x {{ vars.a", err: "has {{ without a closing }}; want {{ vars.NAME }}"},
		{name: "not vars", src: "{{ token }}", err: `"{{ token }}" is not a template; want {{ vars.NAME }}, NAME a variable an earlier step extracts`},
		{name: "bad name", src: "{{ vars.1a }}", err: `"{{ vars.1a }}" is not a template; want {{ vars.NAME }}, NAME a variable an earlier step extracts`},
		{name: "unset env", src: "${UNSET}{{ vars.a }}", err: "environment variable UNSET is not set and has no default; set it or write ${UNSET:-default}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := parseTemplate(tt.src, env)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("got error %v; want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tp.Expand(vars); got != tt.expanded {
				t.Errorf("Expand = %q; want %q", got, tt.expanded)
			}
			if got := strings.Join(tp.Vars(), ","); got != tt.vars {
				t.Errorf("Vars = %q; want %q", got, tt.vars)
			}
			if tp.IsLiteral() != tt.literal || tp.Source != tt.source {
				t.Errorf("IsLiteral = %v, Source = %q; want %v, %q", tp.IsLiteral(), tp.Source, tt.literal, tt.source)
			}
		})
	}
}

// TestProbeSecrets: every value ${VAR} puts into a probe's fields is
// kept with that probe, whatever the kind, longest first.
func TestProbeSecrets(t *testing.T) {
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"PW": "pw-1", "TOKEN": "tok-long-22", "EMPTY": "", "OTHER": "other-probe"}[name]
		return v, ok
	}
	yml := `probes:
  - name: f
    flow:
      steps:
        - name: login
          http:
            url: https://api.example.com/login
            body: '{"p":"${PW}","e":"${EMPTY}","d":"${UNSET:-default}"}'
          extract: {t: {cel: body.t}}
        - name: again
          http:
            url: https://api.example.com/again
            headers: {X-Token: '${TOKEN} {{ vars.t }}'}
  - name: h
    http: {url: 'https://api.example.com/${OTHER}'}
  - name: none
    tcp: {address: "db.internal:27017"}
`
	cfg, err := Parse("f.yml", []byte(yml), env)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"tok-long-22", "pw-1"}, {"other-probe"}, nil}
	for i, p := range cfg.Probes {
		if !slices.Equal(p.Secrets, want[i]) {
			t.Errorf("%s: secrets %q; want %q", p.Name, p.Secrets, want[i])
		}
	}
	if got := cfg.Probes[0].Flow.Steps[1].Templates.Headers["X-Token"].Expand(func(string) string { return "T" }); got != "tok-long-22 T" {
		t.Errorf("header expands to %q", got)
	}
}

// TestBracesOutsideTemplates: "{{" in a CEL string or in a value from the
// environment is no template.
func TestBracesOutsideTemplates(t *testing.T) {
	env := func(name string) (string, bool) { return "{{ vars.x }}", name == "BRACES" }
	yml := `probes:
  - name: page
    http:
      url: https://www.example.com/
      body: '${BRACES}'
      assert: ['!text.contains("{{")']
  - name: f
    flow:
      steps:
        - name: s
          http: {url: https://www.example.com/, body: '${BRACES}', assert: ['!text.contains("{{")']}
`
	cfg, err := Parse("f.yml", []byte(yml), env)
	if err != nil {
		t.Fatal(err)
	}
	if b := cfg.Probes[1].Flow.Steps[0].Templates.Body; !b.IsLiteral() || b.Expand(nil) != "{{ vars.x }}" {
		t.Errorf("body %+v: want the literal value of BRACES", b)
	}
}

func TestFlowStepLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString("probes:\n  - name: long\n    flow:\n      steps:\n")
	for i := range MaxFlowSteps + 1 {
		fmt.Fprintf(&b, "        - {name: s%d, http: {url: https://api.example.com/%d}}\n", i, i)
	}
	_, err := Parse("f.yml", []byte(b.String()), testEnv)
	want := "f.yml:5:9: probes[0].flow.steps: has 21 steps; want at most 20"
	if err == nil || err.Error() != want {
		t.Errorf("got %v; want %s", err, want)
	}
}

// TestFlowFingerprint: a reload tells a changed flow from an unchanged
// one, down to a step's extract or template.
func TestFlowFingerprint(t *testing.T) {
	base := `probes:
  - name: f
    flow:
      steps:
        - {name: login, http: {url: https://api.example.com/login}, extract: {t: {cel: body.t}}}
        - {name: me, http: {url: https://api.example.com/me, bearer_token: '{{ vars.t }}'}}
`
	parse := func(yml string) Probe {
		t.Helper()
		cfg, err := Parse("f.yml", []byte(yml), testEnv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(cfg.Probes[0]); err != nil {
			t.Fatalf("a flow probe does not marshal, so its fingerprint tells nothing: %v", err)
		}
		return cfg.Probes[0]
	}
	tests := []struct {
		name, yml string
		same      bool
	}{
		{"same", base, true},
		{"extract changed", strings.Replace(base, "body.t}", "body.token}", 1), false},
		{"template changed", strings.Replace(base, "bearer_token: '{{ vars.t }}'", "bearer_token: 'x{{ vars.t }}'", 1), false},
		{"cookies on", strings.Replace(base, "    flow:\n", "    flow:\n      cookies: true\n", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parse(base).Fingerprint() == parse(tt.yml).Fingerprint(); got != tt.same {
				t.Errorf("fingerprints equal = %v; want %v", got, tt.same)
			}
		})
	}
}

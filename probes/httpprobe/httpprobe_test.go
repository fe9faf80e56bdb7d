package httpprobe_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

// newProber builds a prober the way the daemon does: the probe's http
// section is written as YAML, parsed by config.Parse (defaults, CEL
// compilation, TLS file checks) and handed to httpprobe.New. httpYAML is
// the body of the http: mapping, written flush left.
func newProber(t *testing.T, httpYAML string) *httpprobe.Prober {
	t.Helper()
	transports := httpprobe.NewTransports()
	t.Cleanup(transports.CloseIdle)
	return newProberOn(t, transports, httpYAML)
}

// newProberOn is newProber on transports shared with other probers.
func newProberOn(t *testing.T, transports *httpprobe.Transports, httpYAML string) *httpprobe.Prober {
	t.Helper()
	var b strings.Builder
	b.WriteString("probes:\n  - name: test\n    http:\n")
	for _, line := range strings.Split(strings.Trim(httpYAML, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Parse("test.yml", []byte(b.String()), noEnv)
	if err != nil {
		t.Fatalf("config.Parse:\n%s\nerror: %v", b.String(), err)
	}
	p, err := httpprobe.New(cfg.Probes[0].HTTP, transports)
	if err != nil {
		t.Fatalf("httpprobe.New: %v", err)
	}
	return p
}

// runProbe runs p once under a deadline no test should reach.
func runProbe(t *testing.T, p *httpprobe.Prober) probes.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return p.Probe(ctx)
}

// checkResult fails the test when the state or reason is not the wanted
// one; an up probe must have no reason.
func checkResult(t *testing.T, res probes.Result, state probes.State, reason string) {
	t.Helper()
	if res.State != state || res.Reason != reason {
		t.Errorf("got state %s, reason %q; want state %s, reason %q\nassertions: %+v",
			res.State, res.Reason, state, reason, res.Checks)
	}
}

// checkReasonHas is checkResult for reasons with variable parts: each of
// parts must appear in the reason.
func checkReasonHas(t *testing.T, res probes.Result, state probes.State, parts ...string) {
	t.Helper()
	if res.State != state {
		t.Errorf("got state %s (reason %q); want %s", res.State, res.Reason, state)
	}
	for _, part := range parts {
		if !strings.Contains(res.Reason, part) {
			t.Errorf("reason %q does not contain %q", res.Reason, part)
		}
	}
}

// checkReasonPrefix is checkResult for reasons that end in a variable
// part, such as a measured duration or an error from a library.
func checkReasonPrefix(t *testing.T, res probes.Result, state probes.State, prefix string) {
	t.Helper()
	if res.State != state || !strings.HasPrefix(res.Reason, prefix) {
		t.Errorf("got state %s, reason %q; want state %s, reason starting %q", res.State, res.Reason, state, prefix)
	}
}

func startServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// securityHeaderSets are the sets of security headers /secure/{set} sends.
var securityHeaderSets = map[string]map[string]string{
	"none": {},
	"all": {
		"Content-Security-Policy":   "default-src 'self'",
		"X-Frame-Options":           "DENY",
		"X-Content-Type-Options":    "nosniff",
		"Strict-Transport-Security": "max-age=63072000",
		"Referrer-Policy":           "no-referrer",
	},
	"frame-ancestors": {
		"Content-Security-Policy":   "default-src 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options":    "nosniff",
		"Strict-Transport-Security": "max-age=63072000",
		"Referrer-Policy":           "no-referrer",
	},
	"no-frame": {
		"Content-Security-Policy":   "default-src 'self'",
		"X-Content-Type-Options":    "nosniff",
		"Strict-Transport-Security": "max-age=63072000",
		"Referrer-Policy":           "no-referrer",
	},
	"no-hsts": {
		"Content-Security-Policy": "default-src 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	},
	"sniff": {
		"Content-Security-Policy":   "default-src 'self'",
		"X-Frame-Options":           "DENY",
		"X-Content-Type-Options":    "off",
		"Strict-Transport-Security": "max-age=63072000",
		"Referrer-Policy":           "no-referrer",
	},
}

// targetMux is the service under test:
//
//	/up, /down        a JSON health document with status UP or DOWN
//	/text             plain text
//	/status/{code}    an empty response with that status
//	/redirect/{n}     n redirects, then 200 "arrived"
//	/secure/{set}     a page with one of securityHeaderSets
func targetMux() *http.ServeMux {
	mux := http.NewServeMux()
	health := func(status string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("X-Version", "1.4.2")
			fmt.Fprintf(w, `{"status": %q, "checks": {"db": {"latency_ms": 12}}, "replicas": [1, 2, 3]}`, status)
		}
	}
	mux.HandleFunc("/up", health("UP"))
	mux.HandleFunc("/down", health("DOWN"))
	mux.HandleFunc("/text", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "all systems go\nlast error: none\n")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(code)
	})
	mux.HandleFunc("/redirect/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if n == 0 {
			io.WriteString(w, "arrived")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/secure/{set}", func(w http.ResponseWriter, r *http.Request) {
		set, ok := securityHeaderSets[r.PathValue("set")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range set {
			w.Header().Set(k, v)
		}
		io.WriteString(w, "<!doctype html><title>app</title>")
	})
	return mux
}

func TestExpectStatus(t *testing.T) {
	srv := startServer(t, targetMux())
	tests := []struct {
		name   string
		status string // expect.status as YAML; empty keeps the default
		code   int
		state  probes.State
		reason string
	}{
		{"default accepts any 2xx", "", 204, probes.Up, ""},
		{"default rejects 404", "", 404, probes.Down, "status: expected 2xx, got 404 Not Found"},
		{"code matches", "[200]", 200, probes.Up, ""},
		{"code differs", "[200]", 201, probes.Down, "status: expected 200, got 201 Created"},
		{"class matches", `["3xx"]`, 304, probes.Up, ""},
		{"class differs", `["3xx"]`, 500, probes.Down, "status: expected 3xx, got 500 Internal Server Error"},
		{"range lower bound", `["200-204"]`, 200, probes.Up, ""},
		{"range upper bound", `["200-204"]`, 204, probes.Up, ""},
		{"past the range", `["200-204"]`, 206, probes.Down, "status: expected 200-204, got 206 Partial Content"},
		{"one of a list", `[200, "3xx"]`, 300, probes.Up, ""},
		{"none of a list", `[200, "3xx"]`, 404, probes.Down, "status: expected 200 or 3xx, got 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := fmt.Sprintf("url: %s/status/%d\n", srv.URL, tt.code)
			if tt.status != "" {
				y += "expect: {status: " + tt.status + "}\n"
			}
			res := runProbe(t, newProber(t, y))
			checkResult(t, res, tt.state, tt.reason)
			if httpprobe.FactsOf(res).HTTP == nil {
				t.Fatal("no HTTP facts for a response")
			}
			if httpprobe.FactsOf(res).HTTP.StatusCode != tt.code || httpprobe.FactsOf(res).HTTP.Version != 1.1 {
				t.Errorf("HTTP facts: status %d, version %v; want %d, 1.1", httpprobe.FactsOf(res).HTTP.StatusCode, httpprobe.FactsOf(res).HTTP.Version, tt.code)
			}
		})
	}
}

func TestExpectHeaders(t *testing.T) {
	srv := startServer(t, targetMux())
	tests := []struct {
		name    string
		headers string // expect.headers as a YAML flow mapping
		state   probes.State
		reason  string
	}{
		{"present and matching", `{Content-Type: "^application/json"}`, probes.Up, ""},
		{"name is case-insensitive", `{content-type: "json"}`, probes.Up, ""},
		{"mismatched", `{Content-Type: "^text/html"}`, probes.Down,
			`header Content-Type: expected matches ^text/html, got "application/json; charset=utf-8"`},
		{"absent", `{X-Request-Id: "."}`, probes.Down, "header X-Request-Id: expected matches ., got header absent"},
		{"first failing in name order", `{X-Version: "^2\\.", Content-Type: "^text/"}`, probes.Down,
			`header Content-Type: expected matches ^text/, got "application/json; charset=utf-8"`},
		{"all matching", `{X-Version: "^1\\.4\\.", Content-Type: "json"}`, probes.Up, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProber(t, fmt.Sprintf("url: %s/up\nexpect: {headers: %s}", srv.URL, tt.headers))
			checkResult(t, runProbe(t, p), tt.state, tt.reason)
		})
	}
}

func TestExpectBody(t *testing.T) {
	srv := startServer(t, targetMux())
	tests := []struct {
		name   string
		expect string // the expect mapping as YAML flow
		state  probes.State
		reason string
	}{
		{"body_regex matches", `{body_regex: "systems go"}`, probes.Up, ""},
		{"body_regex spans lines", `{body_regex: "(?s)go.*none"}`, probes.Up, ""},
		{"body_regex does not match", `{body_regex: "^OK$"}`, probes.Down, "body_regex: expected body matches ^OK$, got no match"},
		{"body_not_regex does not match", `{body_not_regex: "panic|fatal"}`, probes.Up, ""},
		{"body_not_regex matches", `{body_not_regex: "error: \\w+"}`, probes.Down,
			`body_not_regex: expected body does not match error: \w+, got matched "error: none"`},
		{"both, not_regex failing", `{body_regex: "go", body_not_regex: "last"}`, probes.Down,
			`body_not_regex: expected body does not match last, got matched "last"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProber(t, fmt.Sprintf("url: %s/text\nexpect: %s", srv.URL, tt.expect))
			checkResult(t, runProbe(t, p), tt.state, tt.reason)
		})
	}
}

func TestAssert(t *testing.T) {
	srv := startServer(t, targetMux())
	tests := []struct {
		name   string
		path   string
		assert string // the assert list as YAML flow
		state  probes.State
		reason string
		prefix bool // reason is only the start of it
	}{
		{"JSON body field", "/up", `['body.status == "UP"']`, probes.Up, "", false},
		{"nested JSON field", "/up", `['body.checks.db.latency_ms < 100', 'size(body.replicas) == 3']`, probes.Up, "", false},
		{"failed comparison shows the actual value", "/down", `['body.status == "UP"']`, probes.Down,
			`assert: expected body.status == "UP", got body.status is "DOWN"`, false},
		{"first failing assert is the reason", "/up", `['status == 200', 'body.checks.db.latency_ms < 10']`, probes.Down,
			`assert: expected body.checks.db.latency_ms < 10, got body.checks.db.latency_ms is 12`, false},
		{"headers by any case", "/up", `['headers["CONTENT-TYPE"][0].startsWith("application/json")', '"x-version" in headers']`, probes.Up, "", false},
		{"missing header is not in headers", "/up", `['"X-Request-Id" in headers']`, probes.Down,
			`assert: expected "X-Request-Id" in headers, got false`, false},
		{"status", "/up", `['status == 200']`, probes.Up, "", false},
		{"duration", "/up", `['duration < duration("10s")', 'duration > duration("0s")']`, probes.Up, "", false},
		{"duration too long", "/up", `['duration > duration("1h")']`, probes.Down, "assert: expected duration > duration(\"1h\"), got duration is ", true},
		{"phases", "/up", `['phases.connect > duration("0s")', 'phases["processing"] > duration("0s")', 'phases.tls == duration("0s")']`, probes.Up, "", false},
		{"text", "/text", `['text.contains("systems go")', 'text.startsWith("all")']`, probes.Up, "", false},
		{"text not matching", "/text", `['text.contains("degraded")']`, probes.Down,
			`assert: expected text.contains("degraded"), got false`, false},
		{"tls is null over http", "/up", `['tls == null']`, probes.Up, "", false},
		{"body is null when not JSON", "/text", `['body == null']`, probes.Up, "", false},
		{"eval error fails with error", "/text", `['body.status == "UP"']`, probes.Down,
			`assert: expected body.status == "UP", got error: `, true},
		{"non-bool result is an error", "/up", `['body.status']`, probes.Down,
			`assert: expected body.status, got error: gave string, not a bool`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProber(t, fmt.Sprintf("url: %s%s\nexpect: {status: [\"1xx\", \"2xx\", \"3xx\", \"4xx\", \"5xx\"]}\nassert: %s", srv.URL, tt.path, tt.assert))
			res := runProbe(t, p)
			if tt.prefix {
				checkReasonPrefix(t, res, tt.state, tt.reason)
				return
			}
			checkResult(t, res, tt.state, tt.reason)
		})
	}
}

// TestAssertShowsStatus checks the actual status in the reason, which the
// table above cannot spell out for a range of codes.
func TestAssertShowsStatus(t *testing.T) {
	srv := startServer(t, targetMux())
	p := newProber(t, fmt.Sprintf("url: %s/status/503\nexpect: {status: [\"5xx\"]}\nassert: ['status < 500']", srv.URL))
	checkResult(t, runProbe(t, p), probes.Down, "assert: expected status < 500, got status is 503")
}

func TestDegradedIf(t *testing.T) {
	srv := startServer(t, targetMux())
	tests := []struct {
		name   string
		path   string
		extra  string // further YAML for the http section
		state  probes.State
		reason string
		prefix bool // reason is only the start of it
	}{
		{"true degrades", "/down", `degraded_if: ['body.status == "DOWN"']`, probes.Degraded,
			`degraded_if: expected not body.status == "DOWN", got body.status is "DOWN"`, false},
		{"false stays up", "/up", `degraded_if: ['body.status == "DOWN"']`, probes.Up, "", false},
		{"slow degrades", "/up", `degraded_if: ['duration > duration("0s")']`, probes.Degraded,
			`degraded_if: expected not duration > duration("0s"), got duration is `, true},
		{"eval error does not degrade", "/text", `degraded_if: ['body.status == "DOWN"']`, probes.Up, "", false},
		{"failed assert beats degraded", "/down", "assert: ['body.status == \"UP\"']\ndegraded_if: ['duration > duration(\"0s\")']", probes.Down,
			`assert: expected body.status == "UP", got body.status is "DOWN"`, false},
		{"failed status beats degraded", "/status/500", `degraded_if: ['duration > duration("0s")']`, probes.Down,
			"status: expected 2xx, got 500 Internal Server Error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, newProber(t, fmt.Sprintf("url: %s%s\n%s", srv.URL, tt.path, tt.extra)))
			if tt.prefix {
				checkReasonPrefix(t, res, tt.state, tt.reason)
				return
			}
			checkResult(t, res, tt.state, tt.reason)
		})
	}
}

// TestDegradedIfErrorIsRecorded checks that a degraded_if that cannot be
// evaluated, while not degrading the probe, still says why in its assertion.
func TestDegradedIfErrorIsRecorded(t *testing.T) {
	srv := startServer(t, targetMux())
	res := runProbe(t, newProber(t, fmt.Sprintf("url: %s/text\ndegraded_if: ['body.status == \"DOWN\"']", srv.URL)))
	checkResult(t, res, probes.Up, "")
	a := res.Checks[len(res.Checks)-1]
	if a.Name != "degraded_if" || !a.OK || !strings.HasPrefix(a.Actual, "error: ") {
		t.Errorf("degraded_if assertion = %+v; want OK with an actual starting \"error: \"", a)
	}
}

func TestSecurityHeaders(t *testing.T) {
	pki := newTestPKI(t, 30*24*time.Hour)
	plain := startServer(t, targetMux())
	secure := startTLSServer(t, pki, 0, targetMux())
	tests := []struct {
		name   string
		https  bool
		set    string // a key of securityHeaderSets
		mode   string // security_headers
		state  probes.State
		reason string
	}{
		{"strict, none sent", false, "none", "strict", probes.Down,
			"security header Content-Security-Policy: expected present, got absent"},
		{"warn, none sent", false, "none", "warn", probes.Degraded,
			"security header Content-Security-Policy: expected present, got absent"},
		{"off, none sent", false, "none", "off", probes.Up, ""},
		{"strict, all sent", false, "all", "strict", probes.Up, ""},
		{"strict, HSTS not needed over http", false, "no-hsts", "strict", probes.Up, ""},
		{"strict, frame-ancestors replaces X-Frame-Options", false, "frame-ancestors", "strict", probes.Up, ""},
		{"strict, no framing protection", false, "no-frame", "strict", probes.Down,
			"security header X-Frame-Options or CSP frame-ancestors: expected one present, got absent"},
		{"strict, nosniff wrong", false, "sniff", "strict", probes.Down,
			`security header X-Content-Type-Options: expected "nosniff", got "off"`},
		{"https strict, all sent", true, "all", "strict", probes.Up, ""},
		{"https strict, frame-ancestors and HSTS", true, "frame-ancestors", "strict", probes.Up, ""},
		{"https strict, HSTS missing", true, "no-hsts", "strict", probes.Down,
			"security header Strict-Transport-Security: expected present, got absent"},
		{"https warn, HSTS missing", true, "no-hsts", "warn", probes.Degraded,
			"security header Strict-Transport-Security: expected present, got absent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := fmt.Sprintf("url: %s/secure/%s\nsecurity_headers: %s", plain.URL, tt.set, tt.mode)
			if tt.https {
				y = fmt.Sprintf("url: %s/secure/%s\nsecurity_headers: %s\ntls: {ca_file: %q}", secure.URL, tt.set, tt.mode, pki.CAFile)
			}
			checkResult(t, runProbe(t, newProber(t, y)), tt.state, tt.reason)
		})
	}
}

func TestRedirects(t *testing.T) {
	srv := startServer(t, targetMux())
	tests := []struct {
		name      string
		extra     string
		path      string
		state     probes.State
		reason    string // a part of the reason
		status    int    // 0: no HTTP facts expected
		redirects int
	}{
		{"followed and counted", "", "/redirect/3", probes.Up, "", 200, 3},
		{"no redirect", "", "/redirect/0", probes.Up, "", 200, 0},
		{"max_redirects reached exactly", "max_redirects: 3", "/redirect/3", probes.Up, "", 200, 3},
		{"max_redirects exceeded", "max_redirects: 2", "/redirect/3", probes.Down, "max_redirects", 0, 0},
		{"max_redirects 0", "max_redirects: 0", "/redirect/1", probes.Down, "max_redirects", 0, 0},
		{"not followed, 3xx expected", "follow_redirects: false\nexpect: {status: [\"3xx\"]}", "/redirect/3", probes.Up, "", 302, 0},
		{"not followed, 2xx expected", "follow_redirects: false", "/redirect/3", probes.Down,
			"status: expected 2xx, got 302 Found", 302, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, newProber(t, fmt.Sprintf("url: %s%s\n%s", srv.URL, tt.path, tt.extra)))
			if tt.reason == "" {
				checkResult(t, res, tt.state, "")
			} else {
				checkReasonHas(t, res, tt.state, tt.reason)
			}
			if tt.status == 0 {
				return
			}
			if httpprobe.FactsOf(res).HTTP == nil {
				t.Fatal("no HTTP facts")
			}
			if httpprobe.FactsOf(res).HTTP.StatusCode != tt.status || httpprobe.FactsOf(res).HTTP.Redirects != tt.redirects {
				t.Errorf("status %d after %d redirects; want %d after %d", httpprobe.FactsOf(res).HTTP.StatusCode, httpprobe.FactsOf(res).HTTP.Redirects, tt.status, tt.redirects)
			}
		})
	}
}

// TestRedirectCountResets checks that a run does not report the redirects
// of the run before it.
func TestRedirectCountResets(t *testing.T) {
	srv := startServer(t, targetMux())
	var hops atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n := hops.Load()
		if n == 0 {
			io.WriteString(w, "no redirect this time")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("%s/redirect/%d", srv.URL, n-1), http.StatusFound)
	})
	front := startServer(t, mux)
	p := newProber(t, "url: "+front.URL+"/")
	for _, want := range []int32{3, 0} {
		hops.Store(want)
		res := runProbe(t, p)
		checkResult(t, res, probes.Up, "")
		if httpprobe.FactsOf(res).HTTP == nil || httpprobe.FactsOf(res).HTTP.Redirects != int(want) {
			t.Errorf("HTTP facts %+v; want %d redirects", httpprobe.FactsOf(res).HTTP, want)
		}
	}
}

func TestTLS(t *testing.T) {
	pki := newTestPKI(t, 3*24*time.Hour)
	srv13 := startTLSServer(t, pki, 0, targetMux())
	srv12 := startTLSServer(t, pki, tls.VersionTLS12, targetMux())
	tests := []struct {
		name       string
		url        string
		tls        string // the tls mapping as YAML flow
		extra      string
		state      probes.State
		reasonPart string
		version    string // "" when the handshake failed
		verified   bool
		verifyErr  string // a part of VerifyError; "" for none
	}{
		{"ca_file, TLS 1.3", srv13.URL, fmt.Sprintf("{ca_file: %q}", pki.CAFile), "", probes.Up, "", "TLS 1.3", true, ""},
		{"ca_file, TLS 1.2", srv12.URL, fmt.Sprintf("{ca_file: %q}", pki.CAFile), "", probes.Up, "", "TLS 1.2", true, ""},
		{"no ca_file", srv13.URL, "{}", "", probes.Down, "x509", "", false, "x509"},
		{"insecure_skip_verify", srv13.URL, "{insecure_skip_verify: true}", "", probes.Up, "", "TLS 1.3", false, "x509"},
		{"insecure_skip_verify with ca_file", srv13.URL, fmt.Sprintf("{insecure_skip_verify: true, ca_file: %q}", pki.CAFile), "", probes.Up, "", "TLS 1.3", true, ""},
		{"server_name not in certificate", srv13.URL, fmt.Sprintf("{ca_file: %q, server_name: wrong.example}", pki.CAFile), "", probes.Down, "wrong.example", "", false, "wrong.example"},
		{"tls in CEL", srv13.URL, fmt.Sprintf("{ca_file: %q}", pki.CAFile),
			`assert: ['tls.verified', 'tls.version == "TLS 1.3"', 'tls.earliest_expiry < timestamp("2100-01-01T00:00:00Z")', 'phases.tls > duration("0s")']`,
			probes.Up, "", "TLS 1.3", true, ""},
		{"tls in CEL, failing", srv13.URL, fmt.Sprintf("{ca_file: %q}", pki.CAFile), `assert: ['tls.version == "TLS 1.2"']`,
			probes.Down, `got tls.version is "TLS 1.3"`, "TLS 1.3", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, newProber(t, fmt.Sprintf("url: %s/up\ntls: %s\n%s", tt.url, tt.tls, tt.extra)))
			if tt.reasonPart == "" {
				checkResult(t, res, tt.state, "")
			} else {
				checkReasonHas(t, res, tt.state, tt.reasonPart)
			}
			f := httpprobe.FactsOf(res).TLS
			if f == nil {
				t.Fatal("no TLS facts")
			}
			// The expiry must be known even when verification failed, so
			// that an expired or untrusted certificate still alerts on it.
			if !f.EarliestExpiry.Equal(pki.LeafNotAfter) {
				t.Errorf("EarliestExpiry = %v; want the server certificate's %v", f.EarliestExpiry, pki.LeafNotAfter)
			}
			if left := time.Until(f.EarliestExpiry); left < 71*time.Hour || left > 72*time.Hour {
				t.Errorf("certificate expires in %v; want about 3 days", left)
			}
			if f.Version != tt.version || f.Verified != tt.verified {
				t.Errorf("TLS facts: version %q, verified %v; want %q, %v", f.Version, f.Verified, tt.version, tt.verified)
			}
			if badVerifyErr := tt.verifyErr == "" && f.VerifyError != ""; badVerifyErr || !strings.Contains(f.VerifyError, tt.verifyErr) {
				t.Errorf("VerifyError = %q; want one containing %q", f.VerifyError, tt.verifyErr)
			}
			if tt.version != "" && httpprobe.FactsOf(res).Phases.TLS <= 0 {
				t.Errorf("TLS phase = %v after a handshake; want > 0", httpprobe.FactsOf(res).Phases.TLS)
			}
		})
	}
}

func TestPhases(t *testing.T) {
	pki := newTestPKI(t, 24*time.Hour)
	plain := startServer(t, targetMux())
	secure := startTLSServer(t, pki, 0, targetMux())
	localhostURL := strings.Replace(plain.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name                   string
		yaml                   string
		resolve, connect, tlsP bool // whether each phase must be > 0 (else == 0)
	}{
		{"http to an IP", "url: " + plain.URL + "/up", false, true, false},
		{"http to a name", "url: " + localhostURL + "/up", true, true, false},
		{"https to an IP", fmt.Sprintf("url: %s/up\ntls: {ca_file: %q}", secure.URL, pki.CAFile), false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, newProber(t, tt.yaml))
			checkResult(t, res, probes.Up, "")
			ph := httpprobe.FactsOf(res).Phases
			for _, c := range []struct {
				name string
				d    time.Duration
				want bool
			}{
				{"resolve", ph.Resolve, tt.resolve},
				{"connect", ph.Connect, tt.connect},
				{"tls", ph.TLS, tt.tlsP},
				{"processing", ph.Processing, true},
				{"transfer", ph.Transfer, true},
			} {
				if c.want != (c.d > 0) || c.d < 0 {
					t.Errorf("phase %s = %v; want > 0: %v", c.name, c.d, c.want)
				}
			}
			var sum time.Duration
			for _, d := range ph.Each() {
				sum += d
			}
			if res.Duration <= 0 || sum > res.Duration {
				t.Errorf("duration %v, phases sum to %v; want a positive duration no shorter than its phases", res.Duration, sum)
			}
			if res.Start.IsZero() || time.Since(res.Start) > time.Minute {
				t.Errorf("Start = %v; want the time of the run", res.Start)
			}
		})
	}
}

// hangingServer answers only once the request is cancelled. afterHeaders
// sends the status and headers first, then stalls the body.
func hangingServer(t *testing.T, afterHeaders bool) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if afterHeaders {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name         string
		afterHeaders bool
		reasonPrefix string
	}{
		{"no response", false, "timeout"},
		{"body stalls", true, "read body: timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := hangingServer(t, tt.afterHeaders)
			p := newProber(t, "url: "+srv.URL+"/")
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			res := p.Probe(ctx)
			elapsed := time.Since(start)
			checkReasonPrefix(t, res, probes.Down, tt.reasonPrefix)
			if elapsed > 5*time.Second {
				t.Errorf("probe took %v to give up after a 300ms deadline", elapsed)
			}
			if res.Duration <= 0 {
				t.Errorf("Duration = %v; a timed-out run still took time", res.Duration)
			}
		})
	}
}

// TestCancelled checks that a run stopped from outside (the daemon
// shutting down) is not reported as the target timing out.
func TestCancelled(t *testing.T) {
	srv := hangingServer(t, false)
	p := newProber(t, "url: "+srv.URL+"/")
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	res := p.Probe(ctx)
	checkResult(t, res, probes.Down, "cancelled")
}

// bigBody serves size bytes of "x" with a Content-Length.
func bigBody(size int64) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		chunk := []byte(strings.Repeat("x", 32<<10))
		for left := size; left > 0; {
			n := min(left, int64(len(chunk)))
			if _, err := w.Write(chunk[:n]); err != nil {
				return // the prober stopped reading
			}
			left -= n
		}
	}
}

func TestBodySizeLimit(t *testing.T) {
	tests := []struct {
		name      string
		limit     string // body_size_limit; "" for the default
		size      int64
		state     probes.State
		reason    string
		bodyBytes int64
	}{
		{"50 MB over the default", "", 50 << 20, probes.Down,
			"read body: body exceeds body_size_limit of 1048576 bytes", 1 << 20},
		{"exactly the default", "", 1 << 20, probes.Up, "", 1 << 20},
		{"over a set limit", "64KiB", 100 << 10, probes.Down,
			"read body: body exceeds body_size_limit of 65536 bytes", 64 << 10},
		{"under a set limit", "64KiB", 1000, probes.Up, "", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t, bigBody(tt.size))
			y := "url: " + srv.URL + "/"
			if tt.limit != "" {
				y += "\nbody_size_limit: " + tt.limit
			}
			start := time.Now()
			res := runProbe(t, newProber(t, y))
			checkResult(t, res, tt.state, tt.reason)
			if httpprobe.FactsOf(res).HTTP == nil {
				t.Fatal("no HTTP facts")
			}
			if httpprobe.FactsOf(res).HTTP.BodyBytes != tt.bodyBytes || httpprobe.FactsOf(res).HTTP.ContentLength != tt.size {
				t.Errorf("read %d bytes of Content-Length %d; want %d of %d", httpprobe.FactsOf(res).HTTP.BodyBytes, httpprobe.FactsOf(res).HTTP.ContentLength, tt.bodyBytes, tt.size)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("probe took %v; it should stop reading at the limit", elapsed)
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	tests := []struct {
		name        string
		keepAlive   bool
		connections int32
	}{
		{"off: a fresh connection each run", false, 2},
		{"on: the second run reuses the connection", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int32
			srv := httptest.NewUnstartedServer(targetMux())
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			t.Cleanup(srv.Close)
			p := newProber(t, fmt.Sprintf("url: %s/up\nkeep_alive: %v", srv.URL, tt.keepAlive))
			first, second := runProbe(t, p), runProbe(t, p)
			checkResult(t, first, probes.Up, "")
			checkResult(t, second, probes.Up, "")
			if httpprobe.FactsOf(first).Phases.Connect <= 0 {
				t.Errorf("first run: connect = %v; want > 0", httpprobe.FactsOf(first).Phases.Connect)
			}
			if reused := httpprobe.FactsOf(second).Phases.Connect == 0; reused != tt.keepAlive {
				t.Errorf("second run: connect = %v; want a reused connection: %v", httpprobe.FactsOf(second).Phases.Connect, tt.keepAlive)
			}
			if got := conns.Load(); got != tt.connections {
				t.Errorf("server saw %d connections; want %d", got, tt.connections)
			}
		})
	}
}

// seenRequest is what the target received.
type seenRequest struct {
	Method, Host, Body string
	Header             http.Header
}

// recordingServer answers 200 and keeps the last request it received.
func recordingServer(t *testing.T) (*httptest.Server, func() seenRequest) {
	t.Helper()
	var mu sync.Mutex
	var last seenRequest
	srv := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = seenRequest{Method: r.Method, Host: r.Host, Body: string(body), Header: r.Header.Clone()}
		mu.Unlock()
	}))
	return srv, func() seenRequest {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func TestRequest(t *testing.T) {
	srv, seen := recordingServer(t)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("probe:s3cret pass"))
	tests := []struct {
		name  string
		extra string
		check func(t *testing.T, r seenRequest)
	}{
		{"defaults", "", func(t *testing.T, r seenRequest) {
			if r.Method != "GET" || r.Header.Get("User-Agent") != "Lookout" || r.Header.Get("Authorization") != "" {
				t.Errorf("got %s with User-Agent %q, Authorization %q; want GET, Lookout, none",
					r.Method, r.Header.Get("User-Agent"), r.Header.Get("Authorization"))
			}
		}},
		{"basic_auth", `basic_auth: {username: probe, password: "s3cret pass"}`, func(t *testing.T, r seenRequest) {
			if got := r.Header.Get("Authorization"); got != basic {
				t.Errorf("Authorization = %q; want %q", got, basic)
			}
		}},
		{"bearer_token", "bearer_token: tok-123", func(t *testing.T, r seenRequest) {
			if got := r.Header.Get("Authorization"); got != "Bearer tok-123" {
				t.Errorf("Authorization = %q; want %q", got, "Bearer tok-123")
			}
		}},
		{"headers", `headers: {Accept: application/json, X-Tenant: blue, User-Agent: "Lookout/canary"}`, func(t *testing.T, r seenRequest) {
			for k, want := range map[string]string{"Accept": "application/json", "X-Tenant": "blue", "User-Agent": "Lookout/canary"} {
				if got := r.Header.Get(k); got != want {
					t.Errorf("header %s = %q; want %q", k, got, want)
				}
			}
		}},
		{"Host header", `headers: {Host: api.example.com}`, func(t *testing.T, r seenRequest) {
			if r.Host != "api.example.com" {
				t.Errorf("Host = %q; want api.example.com", r.Host)
			}
		}},
		{"method and body", "method: POST\nheaders: {Content-Type: application/json}\nbody: '{\"ping\": true}'", func(t *testing.T, r seenRequest) {
			if r.Method != "POST" || r.Body != `{"ping": true}` || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("got %s %q (%s); want POST {\"ping\": true} (application/json)", r.Method, r.Body, r.Header.Get("Content-Type"))
			}
		}},
		{"method without body", "method: DELETE", func(t *testing.T, r seenRequest) {
			if r.Method != "DELETE" || r.Body != "" {
				t.Errorf("got %s %q; want DELETE with no body", r.Method, r.Body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, newProber(t, fmt.Sprintf("url: %s/api\n%s", srv.URL, tt.extra)))
			checkResult(t, res, probes.Up, "")
			tt.check(t, seen())
		})
	}
}

// TestReasonHidesSecrets checks that a failed request does not put the
// URL's password or the token in the reason, which is logged and served.
func TestReasonHidesSecrets(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	tests := []struct {
		name, yaml string
	}{
		{"password in URL", "url: http://probe:hunter2@" + closed + "/"},
		{"bearer token", "url: http://" + closed + "/\nbearer_token: hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, newProber(t, tt.yaml))
			checkReasonHas(t, res, probes.Down, "connect")
			if strings.Contains(res.Reason, "hunter2") {
				t.Errorf("reason %q shows the secret", res.Reason)
			}
			if httpprobe.FactsOf(res).HTTP != nil {
				t.Errorf("HTTP facts %+v for a request that got no response", httpprobe.FactsOf(res).HTTP)
			}
		})
	}
}

func TestIPProtocol(t *testing.T) {
	srv := startServer(t, targetMux()) // listens on 127.0.0.1 only
	localhostURL := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	tests := []struct {
		name   string
		yaml   string
		state  probes.State
		reason string // a part of it
	}{
		{"ip4 to 127.0.0.1", "url: " + srv.URL + "/up\nip_protocol: ip4", probes.Up, ""},
		{"ip4 to localhost without fallback", "url: " + localhostURL + "/up\nip_protocol: ip4\nip_protocol_fallback: false", probes.Up, ""},
		{"ip6 to 127.0.0.1 falls back to ip4", "url: " + srv.URL + "/up\nip_protocol: ip6", probes.Up, ""},
		{"ip6 to 127.0.0.1 without fallback", "url: " + srv.URL + "/up\nip_protocol: ip6\nip_protocol_fallback: false", probes.Down, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runProbe(t, newProber(t, tt.yaml))
			if tt.reason == "" {
				checkResult(t, res, tt.state, "")
				return
			}
			checkReasonHas(t, res, tt.state, tt.reason)
		})
	}
}

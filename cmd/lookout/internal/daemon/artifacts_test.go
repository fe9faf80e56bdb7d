package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/alerting/notify/sentry/sentrytest"
	"github.com/lookout-dev/lookout/config"
)

// chromium returns the path of Chromium, or skips the test when there is
// none and LOOKOUT_BROWSER_TESTS (set by .ci/test) does not ask for it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range config.BrowserExecutables {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("LOOKOUT_BROWSER_TESTS") != "" {
		t.Fatalf("LOOKOUT_BROWSER_TESTS is set but none of %v is on PATH", config.BrowserExecutables)
	}
	t.Skipf("browser test skipped: none of %v is on PATH", config.BrowserExecutables)
	return ""
}

// TestBrowserEvidenceServed runs a browser probe whose page never shows
// what its step waits for: the evidence of its down runs is listed and
// served on the admin listener to an admin token, each file with its
// content type, and refused without credentials and to a read token; a
// name that is not one of a run's files is not found.
func TestBrowserEvidenceServed(t *testing.T) {
	chrome := chromium(t)
	page := http.NewServeMux()
	page.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `<!doctype html><h1>Shop</h1><img src="/missing.png" alt="">`)
	})
	page.HandleFunc("GET /missing.png", http.NotFound)
	site := httptest.NewServer(page)
	t.Cleanup(site.Close)

	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "tokens.yml"), fmt.Sprintf("tokens:\n  - {name: grafana, sha256: %s, role: read}\n  - {name: oncall, sha256: %s, role: admin}\n", sha256Hex(readToken), sha256Hex(adminToken)))
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`server: {listen: "127.0.0.1:0", api_tokens_file: tokens.yml}
storage: {path: %q}
browser:
  executable: %s
  artifacts: {path: %q, keep_per_probe: 2}
probes:
  - name: shop home
    interval: 6s
    timeout: 5s
    browser:
      url: %s/
      steps:
        - wait_for: {selector: "#cart", timeout: 1s}
`, dir, chrome, filepath.Join(dir, "artifacts"), site.URL))
	r, _ := startListening(t, cfgFile, "http")
	defer r.stop(t)
	s := &secured{running: r, plain: http.DefaultClient}
	reader, admin := credential{set: bearer(readToken)}, credential{set: bearer(adminToken)}
	list := r.base + "/api/v1/probes/shop%20home/artifacts"

	var listed struct {
		Runs []struct {
			Run    string    `json:"run"`
			Time   time.Time `json:"time"`
			Reason string    `json:"reason"`
			Files  []struct {
				Name  string `json:"name"`
				Bytes int64  `json:"bytes"`
			} `json:"files"`
		} `json:"runs"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(listed.Runs) == 0 {
		resp, body := s.do(t, admin, "", list, "")
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &listed) != nil {
			t.Fatalf("list: %d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no evidence listed within 30s: %s\nlog:\n%s", body, r.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	run := listed.Runs[0]
	if want := `step "wait_for 1": selector "#cart" did not appear within 1s`; run.Reason != want || run.Time.IsZero() {
		t.Errorf("listed run %+v; want its time and the reason %q", run, want)
	}
	sizes := map[string]int64{}
	for _, f := range run.Files {
		sizes[f.Name] = f.Bytes
	}

	tests := []struct {
		name  string
		c     credential
		url   string
		code  int
		ctype string
		check func(t *testing.T, body string)
	}{
		{name: "list without credentials", url: list, code: http.StatusUnauthorized},
		{name: "screenshot without credentials", url: list + "/" + run.Run + "/screenshot.png", code: http.StatusUnauthorized},
		{name: "list to the read role", c: reader, url: list, code: http.StatusForbidden},
		{name: "screenshot to the read role", c: reader, url: list + "/" + run.Run + "/screenshot.png", code: http.StatusForbidden},
		{name: "screenshot", c: admin, url: list + "/" + run.Run + "/screenshot.png", code: http.StatusOK, ctype: "image/png",
			check: func(t *testing.T, body string) {
				if _, err := png.Decode(strings.NewReader(body)); err != nil || int64(len(body)) != sizes["screenshot.png"] {
					t.Errorf("screenshot: %v, %d bytes; want a PNG of the listed %d bytes", err, len(body), sizes["screenshot.png"])
				}
			}},
		{name: "requests", c: admin, url: list + "/" + run.Run + "/requests.json", code: http.StatusOK, ctype: "application/json",
			check: func(t *testing.T, body string) {
				if !strings.Contains(body, `"url": "`+site.URL+`/missing.png"`) || !strings.Contains(body, `"status": 404`) {
					t.Errorf("requests.json lacks the image that failed with 404:\n%s", body)
				}
			}},
		{name: "console", c: admin, url: list + "/" + run.Run + "/console.json", code: http.StatusOK, ctype: "application/json"},
		{name: "a file a run does not have", c: admin, url: list + "/" + run.Run + "/lookout.yml", code: http.StatusNotFound},
		{name: "a path out of the run", c: admin, url: list + "/" + run.Run + "/..%2F..%2F..%2Flookout.yml", code: http.StatusNotFound},
		{name: "a run that is a path", c: admin, url: list + "/..%2F..%2F/tokens.yml", code: http.StatusNotFound},
		{name: "a run never kept", c: admin, url: list + "/20000101T000000.000Z/console.json", code: http.StatusNotFound},
		{name: "another probe", c: admin, url: r.base + "/api/v1/probes/nope/artifacts", code: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, tc.c, "", tc.url, "")
			if resp.StatusCode != tc.code {
				t.Fatalf("%d %.200q; want %d", resp.StatusCode, body, tc.code)
			}
			if tc.ctype != "" {
				if got := resp.Header.Get("Content-Type"); got != tc.ctype || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("Content-Type %q, X-Content-Type-Options %q; want %s, nosniff", got, resp.Header.Get("X-Content-Type-Options"), tc.ctype)
				}
				if resp.Header.Get("Content-Length") != strconv.FormatInt(sizes[lastPart(tc.url)], 10) {
					t.Errorf("Content-Length %s; want the listed %d", resp.Header.Get("Content-Length"), sizes[lastPart(tc.url)])
				}
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
	if strings.Contains(r.logs.String(), readToken) {
		t.Error("the read token is in the log")
	}
}

// lastPart is the last part of a URL's path.
func lastPart(u string) string { return u[strings.LastIndex(u, "/")+1:] }

// TestPagesCarryTheScreenshot: the page about a browser probe that is
// down carries the screenshot of its failing run: Slack's message links it
// on the admin listener at alerting.external_url, and Sentry's event has
// it attached, the same PNG the run kept.
func TestPagesCarryTheScreenshot(t *testing.T) {
	chrome := chromium(t)
	page := http.NewServeMux()
	page.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `<!doctype html><h1>Shop</h1><p>The cart never shows.</p>`)
	})
	site := httptest.NewServer(page)
	t.Cleanup(site.Close)
	sink := newNotificationSink(t)
	sentry := newSentrySink(t)
	dsn := sentry.dsn()

	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: test
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
`)
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %[1]q}
browser:
  executable: %[2]s
  artifacts: {path: %[3]q}
alerting:
  external_url: https://lookout.example.com/
  evaluation_interval: 100ms
  builtin_rules: false
  rule_files: [rules.yml]
  route: {receiver: oncall, group_by: [alertname, probe], group_wait: 0s, group_interval: 200ms, repeat_interval: 1h}
  receivers:
    - name: oncall
      slack: {token: xoxb-test, channel: "#pages", api_url: "%[5]s/slack/"}
      sentry: {dsn: %[6]q}
probes:
  - name: shop
    interval: 10s
    timeout: 8s
    browser:
      url: %[4]s/
      steps:
        - wait_for: {selector: "#cart", timeout: 500ms}
`, filepath.Join(dir, "data"), chrome, filepath.Join(dir, "artifacts"), site.URL, sink.srv.URL, dsn))
	r, _ := startListening(t, cfgFile, "http")
	defer r.stop(t)

	slack := waitForPage(t, sink, sentry, 45*time.Second, r.logs.String, func(_ []sentryEvent, atts []sentrytest.Attachment) bool { return len(atts) > 0 })
	link := regexp.MustCompile(`(?:<|\\u003c)https://lookout\.example\.com/api/v1/probes/shop/artifacts/([0-9TZ.]+)/screenshot\.png\|:camera: Screenshot`).FindStringSubmatch(strings.Join(slack, "\n"))
	if link == nil {
		t.Fatalf("the Slack message has no Screenshot link:\n%s", strings.Join(slack, "\n"))
	}
	kept, err := os.ReadFile(filepath.Join(dir, "artifacts", "shop", link[1], "screenshot.png"))
	if err != nil {
		t.Fatalf("the linked run's screenshot: %v", err)
	}
	_, attached := sentry.got()
	a := attached[0]
	if a.Filename != "screenshot-"+link[1]+".png" || a.ContentType != "image/png" || !bytes.Equal(a.Payload, kept) {
		t.Errorf("Sentry's attachment %s (%s, %d bytes); want screenshot-%s.png, image/png, the %d bytes the run kept", a.Filename, a.ContentType, len(a.Payload), link[1], len(kept))
	}
	if _, err := png.Decode(bytes.NewReader(a.Payload)); err != nil {
		t.Errorf("Sentry's attachment is not a PNG: %v", err)
	}
}

// TestReloadWithoutBrowserProbes: a reload that removes the last browser
// probe stops the Chromium Lookout started for it; it does not idle on.
func TestReloadWithoutBrowserProbes(t *testing.T) {
	chrome := chromium(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `<!doctype html><h1>Shop</h1>`)
	}))
	defer page.Close()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "lookout.yml")
	head := fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  public: {listen: 127.0.0.1:0}
storage: {path: %q}
browser: {executable: %s}
probes:
  - {name: api, interval: 1s, http: {url: %q}}
`, dir, chrome, page.URL)
	writeConfig(t, cfgFile, head+fmt.Sprintf("  - {name: shop, interval: 2s, timeout: 1900ms, browser: {url: %q}}\n", page.URL))
	d := startBeatDaemon(t, cfgFile)
	defer d.stop(t)
	d.waitFor(t, "shop", "run in Chromium", func(st beatStatus) bool { return len(st.Results) > 0 })
	if n := len(chromiumChildren(t)); n == 0 {
		t.Fatal("no Chromium process runs the browser probe")
	}

	writeConfig(t, cfgFile, head)
	if resp, body := postReload(t, d.running); resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(chromiumChildren(t)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Chromium processes %v still run after the last browser probe was removed", chromiumChildren(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// chromiumChildren are the Chromium processes this test process started
// (through the daemon it runs), by PID.
func chromiumChildren(t *testing.T) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var pids []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 || !strings.HasPrefix(s[open+1:end], "chrom") {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == os.Getpid() {
			pid, _ := strconv.Atoi(strings.TrimSpace(s[:open]))
			pids = append(pids, pid)
		}
	}
	return pids
}

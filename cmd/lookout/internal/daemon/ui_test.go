package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// uiBrowser is headless Chromium with Lookout's flags and a profile of its
// own, whose every request carries the admin token. It stops when the
// test ends.
type uiBrowser struct {
	ctx context.Context

	mu       sync.Mutex
	problems []string // console errors, exceptions, failed loads
}

func startUIBrowser(t *testing.T, chrome, token string) *uiBrowser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	}
	limit, cancelLimit := context.WithTimeout(context.Background(), 3*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(limit, opts...)
	b := &uiBrowser{}
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(b.listen))
	t.Cleanup(func() { cancel(); cancelAlloc(); cancelLimit() })
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + token}}); err != nil {
		t.Fatalf("set the token: %v", err)
	}
	return b
}

// listen keeps the page's problems: console errors, exceptions, failed
// requests and answers of 400 or more.
func (b *uiBrowser) listen(ev any) {
	var p string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			p = "console.error"
			for _, a := range e.Args {
				p += " " + a.Description + string(a.Value)
			}
		}
	case *runtime.EventExceptionThrown:
		p = "exception: " + e.ExceptionDetails.Text
	case *network.EventLoadingFailed:
		if !e.Canceled {
			p = "request failed: " + e.ErrorText
		}
	case *network.EventResponseReceived:
		if e.Response.Status >= 400 {
			p = fmt.Sprintf("%s answered %d", e.Response.URL, e.Response.Status)
		}
	}
	if p != "" {
		b.mu.Lock()
		b.problems = append(b.problems, p)
		b.mu.Unlock()
	}
}

// do runs actions within 30 s.
func (b *uiBrowser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v (the page: %s)", what, err, strings.Join(b.takeProblems(), "; "))
	}
}

// get runs one action that reads a value, within 30 s.
func get[T any](t *testing.T, b *uiBrowser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// takeProblems returns the problems seen since the last call.
func (b *uiBrowser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// artifactsDir is where the UI tests write their screenshots:
// $LOOKOUT_TEST_ARTIFACTS/ui (which .ci/test sets), else a temporary
// folder.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if root := os.Getenv("LOOKOUT_TEST_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, "ui")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// focusablesJS marks every control a keyboard user must reach with
// data-kb=N and returns how many there are.
const focusablesJS = `(() => {
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"])';
  const els = [...document.querySelectorAll(sel)].filter((e) => !e.disabled && e.getClientRects().length > 0);
  els.forEach((e, i) => e.setAttribute('data-kb', String(i)));
  return els.length;
})()`

// TestAdminUI opens every page of the admin UI in real Chromium against a
// daemon with real probes: each renders its elements without a console
// error or failed request, keyboard-only navigation reaches every control,
// Run now runs a probe, a silence created through the form (its preview
// first) mutes the firing alert, and each page's screenshot is written.
// Without credentials the UI is 401.
func TestAdminUI(t *testing.T) {
	chrome := chromium(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer target.Close()
	dir := t.TempDir()
	writeConfig(t, filepath.Join(dir, "tokens.yml"), fmt.Sprintf("tokens:\n  - {name: oncall, sha256: %s, role: admin}\n", sha256Hex(adminToken)))
	writeConfig(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: probes
    rules:
      - alert: ProbeDown
        expr: lookout_probe_state == 2
        labels: {severity: page}
        annotations: {summary: "{{ $labels.probe }} is down", runbook_url: "https://runbooks.example.com/probe-down"}
`)
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`server: {listen: "127.0.0.1:0", api_tokens_file: tokens.yml}
storage: {path: %q}
alerting:
  evaluation_interval: 200ms
  builtin_rules: false
  rule_files: [rules.yml]
  route: {receiver: log, group_wait: 0s, group_interval: 200ms, repeat_interval: 1h}
  receivers: [{name: log, log: {}}]
status_pages:
  - name: public
    path: /status
    title: Example status
    groups: [{name: Shop, probes: [shop, api]}]
probes:
  - {name: shop, interval: 2s, labels: {team: web}, http: {url: %q, assert: ['status == 200']}}
  - {name: api, interval: 2s, labels: {team: backend}, http: {url: %q, headers: {Authorization: "Bearer s3cret-probe-token"}}}
`, filepath.Join(dir, "data"), target.URL+"/", target.URL+"/broken"))
	r, _ := startListening(t, cfgFile, "http")
	defer r.stop(t)
	s := &secured{running: r, plain: http.DefaultClient}
	admin := credential{set: bearer(adminToken)}

	if resp, _ := s.do(t, credential{}, "", r.base+"/", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the UI without credentials: %d, want 401", resp.StatusCode)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(alertsJSON(t, s, admin), `"firing"`) {
		if time.Now().After(deadline) {
			t.Fatalf("ProbeDown not firing within 20 s:\n%s", r.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	b := startUIBrowser(t, chrome, adminToken)
	shots := artifactsDir(t)
	pages := []struct {
		name, path string
		want       []string // texts the page must show
	}{
		{"overview", "/", []string{"api", "Down", "shop", "Up", "ProbeDown", "Page 1 of 1"}},
		{"overview-filtered", "/?state=down", []string{"api", "1 of 2"}},
		{"probe", "/probes/api", []string{"Down", "503", "Run now", "Config as loaded", "team", "***"}},
		{"alerts", "/alerts", []string{"ProbeDown", "Firing", "api is down", "Runbook"}},
		{"silences", "/silences", []string{"New silence", "Create silence"}},
		{"incidents", "/incidents", []string{"Open", "api is down", "Add update", "Open an incident"}},
		{"status", "/status", []string{"Example status", "Shop", "api", "shop", "Down", "api is down"}},
		{"maintenance", "/maintenance", []string{"Configured", "One-off windows", "Start maintenance"}},
		{"rules", "/rules", []string{"probes", "ProbeDown", "OK"}},
		{"mongodb", "/mongodb", []string{"No MongoDB targets"}},
		{"webvitals", "/webvitals", []string{"Web Vitals"}},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			b.do(t, "open "+p.path, chromedp.Navigate(r.base+p.path), chromedp.WaitVisible(chromedp.CSS("h1")))
			text := get(t, b, "read "+p.path, chromedp.Text(chromedp.CSS("body")))
			shot := get(t, b, "screenshot "+p.path, chromedp.FullScreenshot(100))
			controls := get(t, b, "controls of "+p.path, chromedp.Evaluate[int](focusablesJS))
			for _, w := range p.want {
				if !strings.Contains(text, w) {
					t.Errorf("%s lacks %q", p.path, w)
				}
			}
			if strings.Contains(text, "s3cret-probe-token") {
				t.Errorf("%s shows a probe's secret header", p.path)
			}
			if err := os.WriteFile(filepath.Join(shots, p.name+".png"), shot, 0o644); err != nil {
				t.Fatal(err)
			}
			// Keyboard only: Tab through the page; every control is reached.
			reached := map[string]bool{}
			for range controls + 3 {
				b.do(t, "tab", chromedp.KeyEvent("\t"))
				kb := get(t, b, "focus", chromedp.Evaluate[string](`document.activeElement ? (document.activeElement.getAttribute('data-kb') || '') : ''`))
				if kb != "" {
					reached[kb] = true
				}
			}
			if len(reached) != controls {
				t.Errorf("%s: Tab reached %d of its %d controls", p.path, len(reached), controls)
			}
			if probs := b.takeProblems(); len(probs) > 0 {
				t.Errorf("%s: %s", p.path, strings.Join(probs, "; "))
			}
		})
	}

	t.Run("run now", func(t *testing.T) {
		before := len(probeResults(t, s, admin, "shop"))
		b.do(t, "run shop now", chromedp.Navigate(r.base+"/probes/shop"), chromedp.WaitVisible(chromedp.CSS("main h1")),
			chromedp.Click(chromedp.CSS(`form[action="/probes/shop/run"] button`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
		flash := get(t, b, "flash", chromedp.Text(chromedp.CSS(".flash")))
		if !strings.HasPrefix(flash, "Ran shop: up in ") {
			t.Errorf("flash %q; want Ran shop: up in …", flash)
		}
		if after := len(probeResults(t, s, admin, "shop")); after <= before && after < 20 {
			t.Errorf("shop has %d results after Run now, %d before", after, before)
		}
	})

	t.Run("silence through the form", func(t *testing.T) {
		b.do(t, "type a matcher", chromedp.Navigate(r.base+"/silences"), chromedp.WaitVisible(chromedp.CSS("#silence-form")),
			chromedp.SendKeys(chromedp.CSS(`#silence-form input.matcher`), `alertname="ProbeDown"`))
		get(t, b, "the preview", chromedp.Poll[bool](`document.querySelector('#preview').innerText.includes('would mute 1 alert')`, chromedp.WithPollingTimeout(10*time.Second)))
		preview := get(t, b, "read the preview", chromedp.Text(chromedp.CSS("#preview")))
		b.do(t, "create the silence", chromedp.SetValue(chromedp.CSS(`input[name=createdBy]`), "alice"),
			chromedp.SetValue(chromedp.CSS(`input[name=comment]`), "deploying the API"),
			chromedp.Click(chromedp.CSS(`#silence-form button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
		flash := get(t, b, "flash", chromedp.Text(chromedp.CSS(".flash")))
		if !strings.Contains(preview, `probe="api"`) {
			t.Errorf("the preview %q does not list the api alert", preview)
		}
		if !strings.HasPrefix(flash, "Silence ") || !strings.Contains(flash, "created") {
			t.Errorf("flash %q; want Silence … created", flash)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(alertsJSON(t, s, admin), `"silencedBy"`) {
			if time.Now().After(deadline) {
				t.Fatalf("the alert is not silenced 10 s after the form's silence:\n%s", alertsJSON(t, s, admin))
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.do(t, "alerts page", chromedp.Navigate(r.base+"/alerts"), chromedp.WaitVisible(chromedp.CSS("main h1")))
		text := get(t, b, "read the alerts page", chromedp.Text(chromedp.CSS("main")))
		if !strings.Contains(text, "silenced by") {
			t.Errorf("the alerts page does not say the alert is silenced:\n%s", text)
		}
		if probs := b.takeProblems(); len(probs) > 0 {
			t.Errorf("problems: %s", strings.Join(probs, "; "))
		}
	})

	t.Run("incident update through the form reaches the status page", func(t *testing.T) {
		b.do(t, "add an update", chromedp.Navigate(r.base+"/incidents"), chromedp.WaitVisible(chromedp.CSS("form.update")),
			chromedp.SendKeys(chromedp.CSS(`form.update input[name=message]`), "We found the cause: a full disk."),
			chromedp.SetValue(chromedp.CSS(`form.update select[name=status]`), "identified"),
			chromedp.SendKeys(chromedp.CSS(`form.update input[name=by]`), "carol"),
			chromedp.Click(chromedp.CSS(`form.update button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
		flash := get(t, b, "flash", chromedp.Text(chromedp.CSS(".flash")))
		if !strings.HasPrefix(flash, "Update added to incident ") {
			t.Errorf("flash %q; want Update added to incident …", flash)
		}
		// The page visited above may still be fresh in the browser's cache
		// (max-age=5): ask for it under another URL.
		b.do(t, "the status page", chromedp.Navigate(r.base+"/status?after-the-update"), chromedp.WaitVisible(chromedp.CSS("h1")))
		text := get(t, b, "read the status page", chromedp.Text(chromedp.CSS("body")))
		if !strings.Contains(text, "We found the cause: a full disk.") || strings.Contains(text, "carol") {
			t.Errorf("the status page should show the update without its author:\n%s", text)
		}
		if strings.Contains(text, target.URL) || strings.Contains(text, "503") || strings.Contains(text, "backend") {
			t.Errorf("the status page shows a probe's URL, reason or label:\n%s", text)
		}
		if probs := b.takeProblems(); len(probs) > 0 {
			t.Errorf("problems: %s", strings.Join(probs, "; "))
		}
	})

	t.Run("maintenance through the form", func(t *testing.T) {
		b.do(t, "start maintenance", chromedp.Navigate(r.base+"/maintenance"), chromedp.WaitVisible(chromedp.CSS("main h1")),
			chromedp.SendKeys(chromedp.CSS(`form[action="/maintenance"] input[name=matcher]`), `probe="api"`),
			chromedp.SetValue(chromedp.CSS(`form[action="/maintenance"] input[name=createdBy]`), "bob"),
			chromedp.SetValue(chromedp.CSS(`form[action="/maintenance"] input[name=message]`), "database upgrade"),
			chromedp.Click(chromedp.CSS(`form[action="/maintenance"] button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
		flash := get(t, b, "flash", chromedp.Text(chromedp.CSS(".flash")))
		if !strings.HasPrefix(flash, "Maintenance maintenance-") || !strings.Contains(flash, "started") {
			t.Errorf("flash %q; want Maintenance … started", flash)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(alertsJSON(t, s, admin), `"maintenance-`) {
			if time.Now().After(deadline) {
				t.Fatalf("the api alert is not muted by the window 10 s after the form:\n%s", alertsJSON(t, s, admin))
			}
			time.Sleep(100 * time.Millisecond)
		}
		text := get(t, b, "the page", chromedp.Text(chromedp.CSS("main")))
		if !strings.Contains(text, "database upgrade") || !strings.Contains(text, "End now") {
			t.Errorf("the page does not list the window:\n%s", text)
		}
		if probs := b.takeProblems(); len(probs) > 0 {
			t.Errorf("problems: %s", strings.Join(probs, "; "))
		}
	})

	t.Run("a form from another site is refused", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, r.base+"/probes/shop/run", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-site Run now: %d, want 403", resp.StatusCode)
		}
	})
}

func alertsJSON(t *testing.T, s *secured, c credential) string {
	t.Helper()
	_, body := s.do(t, c, "", s.base+"/api/v1/alerts", "")
	return body
}

func probeResults(t *testing.T, s *secured, c credential, name string) []json.RawMessage {
	t.Helper()
	_, body := s.do(t, c, "", s.base+"/api/v1/probes/"+name, "")
	var st struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("probe %s: %v: %s", name, err, body)
	}
	return st.Results
}

package browserprobe_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
)

// TestLoginKeepsTheSecret signs in through a form, the password typed
// from a secret, on a site that then shows the password every way a run
// could tell it (console lines, a failing request and the page's URL):
// the run succeeds, and the password, in any of its forms, is in no
// reason, result, report or log line.
func TestLoginKeepsTheSecret(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	cfg := loadConfig(t, chrome, "", "20s", indent(6, `url: `+srv.URL+`/login.html
device: mobile
steps:
  - fill: {selector: "#email", value: probe@example.com}
  - fill: {selector: "#password", value: "${PROBE_PASSWORD}", secret: true}
  - click: {selector: "#submit"}
  - wait_for: {text: "Welcome back", timeout: 5s}
assert: ['steps["wait_for 4"] < duration("5s")', 'failed_requests == 1']
degraded_if: ['console_errors > 0']`))
	b := shared(t, cfg, &log)
	r, kinds := runner(t, b, cfg, &log)
	res := r.Probe(t.Context())
	probetest.Want(t, res, probes.Degraded, "degraded_if: expected not console_errors > 0, got console_errors is 2")
	f := browserprobe.FactsOf(res)
	if f == nil {
		t.Fatalf("no facts (reason %q)", res.Reason)
	}
	var steps []string
	for _, s := range f.Steps {
		steps = append(steps, s.Name)
		if s.Duration <= 0 || s.Failed {
			t.Errorf("step %s: %v, failed %v; want a duration, done", s.Name, s.Duration, s.Failed)
		}
	}
	if got := strings.Join(steps, ", "); got != "fill 1, fill 2, click 3, wait_for 4" {
		t.Errorf("steps %s, want the four configured", got)
	}
	if f.Vitals == nil {
		t.Fatal("the journey was not measured")
	}
	t.Logf("INP %v over the steps' interactions; steps %+v", f.Vitals.INP, f.Steps)
	if len(f.Console) != 2 || !strings.Contains(f.Console[1], "password was ***") || len(f.Failed) != 1 || !strings.Contains(f.Failed[0].URL, "/avatar/***.png") {
		t.Errorf("console %q, failed %+v; want the password shown as ***", f.Console, f.Failed)
	}

	// Everything a run tells, as the API, lookout probe, /metrics and
	// the logs do.
	var api bytes.Buffer
	enc := json.NewEncoder(&api)
	enc.SetEscapeHTML(false) // & as it is, as the forms looked for have it
	if err := enc.Encode(r.Status()); err != nil {
		t.Fatal(err)
	}
	var report bytes.Buffer
	rep := probes.NewReport(&report, time.Now())
	k := kinds.Get("browser")
	k.ReportTarget(rep, cfg.Probes[0])
	k.ReportFacts(rep, res.Facts)
	metrics, err := probes.NewCollector(func() []*probes.Runner { return []*probes.Runner{r} }, kinds).Gather()
	if err != nil {
		t.Fatal(err)
	}
	b.Close() // its last log lines
	outputs := map[string]string{
		"reason": res.Reason, "API": api.String(), "report": report.String(), "log": log.String(), "metrics": stringOf(metrics),
	}
	for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
		for name, out := range outputs {
			if strings.Contains(out, form) {
				t.Errorf("the %s shows the secret (%q):\n%s", name, form, out)
			}
		}
	}
	for _, want := range []string{`fill "#password" with ***`, "step fill 2:", "console:", "password was ***"} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.String())
		}
	}
}

func stringOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestStepFails: a selector that never appears fails its step at the
// step's timeout, with a reason naming the step and the selector; the
// page is measured all the same.
func TestStepFails(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	cfg := loadConfig(t, chrome, "", "10s", indent(6, `url: `+srv.URL+`/busy.html
steps:
  - wait_for: {selector: "#done"}
  - wait_for: {selector: "#nope", timeout: 1s}
  - click: {selector: "#done"}`))
	b := shared(t, cfg, &log)
	r, kinds := runner(t, b, cfg, &log)
	res := r.Probe(t.Context())
	probetest.Want(t, res, probes.Down, `step "wait_for 2": selector "#nope" did not appear within 1s`)
	if res.Reason != `step "wait_for 2": selector "#nope" did not appear within 1s` || res.ProberError {
		t.Errorf("reason %q (prober error %v), want exactly the step's", res.Reason, res.ProberError)
	}
	f := browserprobe.FactsOf(res)
	if f == nil || len(f.Steps) != 2 || !f.Steps[1].Failed || f.Steps[1].Duration < time.Second || f.Vitals == nil || f.Vitals.FCP <= 0 {
		t.Fatalf("facts %+v: want two steps, the second failed after 1 s, and the page measured", f)
	}
	g := probetest.Gauges(t, kinds, r, "step")
	if d := g["probe_browser_step_duration_seconds{wait_for 2}"]; d < 1 || d > 2 {
		t.Errorf("step duration of wait_for 2 on /metrics %v, want about 1 s", d)
	}
	if _, ok := g["probe_browser_step_duration_seconds{click 3}"]; ok {
		t.Error("a step that did not run has a duration on /metrics")
	}
}

package browserprobe_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/internal/probetest"
)

// TestMeasures loads pages of known behaviour and checks what a run
// measured of each, as facts, CEL variables and gauges on /metrics.
func TestMeasures(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	b := shared(t, loadConfig(t, chrome, "", "15s", indent(6, "url: "+srv.URL+"/")), &log)

	tests := []struct {
		name    string
		section string
		state   probes.State
		reason  string
		check   func(t *testing.T, f *browserprobe.Facts, gauges map[string]float64)
	}{
		{
			name: "hero rendered after 1.2 s",
			section: `url: ` + srv.URL + `/hero.html
steps:
  - wait_for: {selector: "#hero"}
assert: ['lcp >= duration("1200ms")', 'fcp < lcp', 'ttfb < fcp']`,
			state: probes.Up,
			check: func(t *testing.T, f *browserprobe.Facts, g map[string]float64) {
				v := f.Vitals
				t.Logf("TTFB %v, FCP %v, LCP %v", v.TTFB, v.FCP, v.LCP)
				if v.LCP < 1200*time.Millisecond || v.LCP > 3*time.Second {
					t.Errorf("LCP %v, want from 1.2 s (the hero) to 3 s", v.LCP)
				}
				if got := g["probe_browser_lcp_seconds"]; got != v.LCP.Seconds() {
					t.Errorf("probe_browser_lcp_seconds %v, want the run's LCP %v", got, v.LCP.Seconds())
				}
			},
		},
		{
			name: "banner pushes the content at 400 ms",
			section: `url: ` + srv.URL + `/shift.html
steps:
  - wait_for: {selector: "#banner"}
degraded_if: ['cls > 0.1']`,
			state:  probes.Degraded,
			reason: "degraded_if: expected not cls > 0.1, got cls is 0.2",
			check: func(t *testing.T, f *browserprobe.Facts, g map[string]float64) {
				t.Logf("CLS %.4f", f.Vitals.CLS)
				if f.Vitals.CLS < 0.2 || f.Vitals.CLS > 0.3 {
					t.Errorf("CLS %.4f, want 0.234 (from 0.2 to 0.3)", f.Vitals.CLS)
				}
				if g["probe_browser_cls"] != f.Vitals.CLS {
					t.Errorf("probe_browser_cls %v, want %v", g["probe_browser_cls"], f.Vitals.CLS)
				}
			},
		},
		{
			name: "300 ms busy after the first paint",
			section: `url: ` + srv.URL + `/busy.html
steps:
  - wait_for: {selector: "#done"}
degraded_if: ['tbt > duration("200ms")']`,
			state:  probes.Degraded,
			reason: "degraded_if: expected not tbt > duration(\"200ms\"), got tbt is ",
			check: func(t *testing.T, f *browserprobe.Facts, g map[string]float64) {
				t.Logf("TBT %v, FCP %v", f.Vitals.TBT, f.Vitals.FCP)
				if f.Vitals.TBT < 200*time.Millisecond || f.Vitals.TBT > time.Second {
					t.Errorf("TBT %v, want about 250 ms (from 200 ms to 1 s)", f.Vitals.TBT)
				}
				if g["probe_browser_tbt_seconds"] != f.Vitals.TBT.Seconds() {
					t.Errorf("probe_browser_tbt_seconds %v, want %v", g["probe_browser_tbt_seconds"], f.Vitals.TBT.Seconds())
				}
			},
		},
		{
			name: "uncaught error, console.error and a missing image",
			section: `url: ` + srv.URL + `/broken.html
assert: ['js_errors == 0']`,
			state:  probes.Down,
			reason: "assert: expected js_errors == 0, got js_errors is 1",
			check: func(t *testing.T, f *browserprobe.Facts, g map[string]float64) {
				if f.JSErrors != 1 || len(f.Errors) != 1 || !strings.Contains(f.Errors[0], "Error: boom: the cart failed to render") {
					t.Errorf("js errors %d %q, want 1 with its text", f.JSErrors, f.Errors)
				}
				if f.ConsoleErrors != 1 || len(f.Console) != 1 || f.Console[0] != "cart: the API answered 500" {
					t.Errorf("console errors %d %q, want 1: cart: the API answered 500", f.ConsoleErrors, f.Console)
				}
				if f.FailedRequests != 1 || len(f.Failed) != 1 || f.Failed[0].URL != srv.URL+"/missing.png" || f.Failed[0].Status != 404 {
					t.Errorf("failed requests %d %+v, want 1: %s/missing.png with 404", f.FailedRequests, f.Failed, srv.URL)
				}
				for name, want := range map[string]float64{"probe_browser_js_errors": 1, "probe_browser_failed_requests": 1, "probe_browser_requests": float64(f.Requests)} {
					if g[name] != want {
						t.Errorf("%s %v, want %v", name, g[name], want)
					}
				}
				if f.Requests < 2 || f.TransferBytes < 500 {
					t.Errorf("%d requests, %d bytes; want at least 2 (the page and the image; Chromium may ask for the favicon too), some bytes", f.Requests, f.TransferBytes)
				}
			},
		},
		{
			name: "wait_until load reads the page at its load event",
			section: `url: ` + srv.URL + `/late.html
assert: ['failed_requests == 0']`,
			state: probes.Up,
			check: func(t *testing.T, f *browserprobe.Facts, g map[string]float64) {
				if f.FailedRequests != 0 {
					t.Errorf("failed requests %d %+v, want 0: the image is asked for 300 ms after the load event", f.FailedRequests, f.Failed)
				}
			},
		},
		{
			name: "wait_until networkidle sees a request made after the load",
			section: `url: ` + srv.URL + `/late.html
wait_until: networkidle
assert: ['failed_requests == 0']`,
			state:  probes.Down,
			reason: "assert: expected failed_requests == 0, got failed_requests is 1",
			check: func(t *testing.T, f *browserprobe.Facts, g map[string]float64) {
				if len(f.Failed) != 1 || f.Failed[0].URL != srv.URL+"/late-missing.png" {
					t.Errorf("failed %+v, want %s/late-missing.png", f.Failed, srv.URL)
				}
			},
		},
		{
			name: "CSP violation",
			section: `url: ` + srv.URL + `/csp.html
assert: ['csp_violations == 0']`,
			state:  probes.Down,
			reason: "assert: expected csp_violations == 0, got csp_violations is 1",
			check: func(t *testing.T, f *browserprobe.Facts, g map[string]float64) {
				if f.Vitals.CSPViolations < 1 || len(f.CSP) < 1 || !strings.Contains(f.CSP[0], "img-src blocked http://localhost:1/tracker.png") {
					t.Errorf("CSP violations %d %q, want one, on the image", f.Vitals.CSPViolations, f.CSP)
				}
				if g["probe_browser_csp_violations"] < 1 {
					t.Errorf("probe_browser_csp_violations %v, want at least 1", g["probe_browser_csp_violations"])
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loadConfig(t, chrome, "", "15s", indent(6, tc.section))
			r, kinds := runner(t, b, cfg, &log)
			res := r.Probe(t.Context())
			probetest.Want(t, res, tc.state, tc.reason)
			f := browserprobe.FactsOf(res)
			if f == nil || f.Vitals == nil {
				t.Fatalf("no facts or vitals: %+v (reason %q)", f, res.Reason)
			}
			tc.check(t, f, probetest.Gauges(t, kinds, r))
		})
	}
}

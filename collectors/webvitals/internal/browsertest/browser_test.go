package browsertest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/collectors/webvitals"
	"github.com/lookout-dev/lookout/config"
)

// requireEnv is set by .ci/test: there a missing browser or npm package fails
// the test instead of skipping it.
const requireEnv = "LOOKOUT_BROWSER_TESTS"

const (
	webVitalsJS = "node_modules/web-vitals/dist/web-vitals.iife.js"
	pagePath    = "/products/123"
	route       = "/products/:id"
)

// histograms are the collector's histograms, one per metric that the page
// reports.
var histograms = []string{
	"webvitals_lcp_seconds",
	"webvitals_fcp_seconds",
	"webvitals_ttfb_seconds",
	"webvitals_cls",
	"webvitals_inp_seconds",
}

// TestBrowserBeacons loads a product page in headless Chromium, interacts with
// it as a visitor would and hides it, then reads what the collector observed
// from the page's beacon.
func TestBrowserBeacons(t *testing.T) {
	chromium := requireDeps(t)
	browser := startBrowser(t, chromium)

	// Two page servers, two origins; only the first is allowed.
	allowedSite := newPageServer(t)
	foreignSite := newPageServer(t)

	tests := []struct {
		name  string
		site  *httptest.Server
		check func(t *testing.T, ctx context.Context, reg *prometheus.Registry)
	}{
		{"allowed origin", allowedSite, checkObserved},
		{"disallowed origin", foreignSite, checkRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			vitals := newVitalsServer(t, reg, allowedSite.URL)
			visitPage(t, browser, tc.site.URL+pagePath+"?beacon="+url.QueryEscape(vitals.URL+"/v1/vitals"))

			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			tc.check(t, ctx, reg)
		})
	}
}

// requireDeps returns the path of Chromium, or skips the test when Chromium or
// web-vitals is missing and .ci/test did not ask for browser tests.
func requireDeps(t *testing.T) string {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	missing := ""
	switch {
	case err != nil:
		missing = "chromium is not on PATH (apt-get install chromium)"
	case !fileExists(webVitalsJS):
		missing = webVitalsJS + " is missing (npm ci in collectors/webvitals/internal/browsertest)"
	}
	if missing == "" {
		return chromium
	}
	if os.Getenv(requireEnv) != "" {
		t.Fatalf("%s is set but %s", requireEnv, missing)
	}
	t.Skipf("browser test skipped: %s; .ci/test installs both", missing)
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// startBrowser starts headless Chromium with a fresh profile and returns a
// chromedp context for it. The browser stops when the test ends, or after two
// minutes at most.
func startBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	limit, cancelLimit := context.WithTimeout(context.Background(), 2*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(limit, opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		// Closes the browser and waits for its process to exit, before
		// t.TempDir removes the profile.
		cancelBrowser()
		cancelAlloc()
		cancelLimit()
	})
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// newPageServer serves the product page and web-vitals' IIFE build; with
// ?spa, the product page of a single-page app (testdata/spa.html).
func newPageServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		page := "product.html"
		if r.URL.Query().Has("spa") {
			page = "spa.html"
		}
		http.ServeFile(w, r, filepath.Join("testdata", page))
	})
	mux.HandleFunc("GET /web-vitals.iife.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, webVitalsJS)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// newVitalsServer serves a new collector at /v1/vitals, on its own origin.
func newVitalsServer(t *testing.T, reg *prometheus.Registry, allowedOrigin string) *httptest.Server {
	t.Helper()
	cfg := config.WebVitals{
		AllowedOrigins: []string{allowedOrigin},
		Routes:         []string{route},
		MaxRoutes:      50,
		RateLimit:      config.RateLimit{PerIP: 100, Burst: 100},
	}.WithDefaults()
	c, err := webvitals.New(cfg, nil, reg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("webvitals.New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/vitals", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Logf("vitals server: %s %s from origin %q", r.Method, r.URL.Path, r.Header.Get("Origin"))
		c.ServeHTTP(w, r)
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// visitPage opens the page in a new tab, waits for its largest contentful
// paint and its late banner's layout shift, clicks the button, and then
// navigates away, which hides the page and makes it send its beacon. The tab
// is closed when the test ends.
func visitPage(t *testing.T, browser context.Context, pageURL string) {
	t.Helper()
	runSteps(t, browser, []step{
		{"load the page", chromedp.Navigate(pageURL)},
		{"wait for LCP", chromedp.WaitReady(chromedp.CSS("html[data-lcp]"))},
		{"wait for the banner's layout shift", chromedp.WaitReady(chromedp.CSS("html[data-shifted]"))},
		{"click the button", chromedp.Click(chromedp.ID("buy"))},
		{"wait for the click handler", chromedp.WaitReady(chromedp.CSS("html[data-clicked]"))},
		// The Event Timing entry of the click, which INP is made of, comes
		// after the next paint.
		{"wait for the interaction's timing", chromedp.WaitReady(chromedp.CSS("html[data-interaction]"))},
		{"hide the page", chromedp.Navigate("about:blank")},
	})
}

// step is one thing a visitor does, or waits for, in a tab.
type step struct {
	name   string
	action chromedp.Action[chromedp.Void]
}

// runSteps opens a new tab and runs the steps in it, within 30 s. The tab
// stays open until the test has read the collector: closing it right after
// the last navigation can kill the old page before its visibilitychange
// handler has sent the beacon.
func runSteps(t *testing.T, browser context.Context, steps []step) {
	t.Helper()
	tab, cancelTab := chromedp.NewContext(browser)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	for _, s := range steps {
		if err := chromedp.Do(ctx, s.action); err != nil {
			t.Fatalf("%s: %v (page state: %s)", s.name, err, pageState(tab))
		}
	}
}

// pageState returns the data attributes that the page sets on <html>, which
// tell how far it got.
func pageState(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 2*time.Second)
	defer cancel()
	state, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(document.documentElement.dataset)`))
	if err != nil {
		return "unknown: " + err.Error()
	}
	return state
}

// checkObserved waits until every histogram has an observation for the page's
// route on a desktop, and checks that the banner and the click counted.
func checkObserved(t *testing.T, ctx context.Context, reg *prometheus.Registry) {
	t.Helper()
	labels := map[string]string{"route": route, "device": "desktop"}
	for _, name := range histograms {
		mfs := waitFor(t, ctx, reg, func(mfs []*dto.MetricFamily) bool {
			return findHistogram(mfs, name, labels).GetSampleCount() > 0
		}, name+`{route="`+route+`",device="desktop"} observed`)
		h := findHistogram(mfs, name, labels)
		if got := h.GetSampleCount(); got != 1 {
			t.Errorf("%s: %d observations, want 1 (one page load)", name, got)
		}
		switch name {
		case "webvitals_cls":
			if h.GetSampleSum() <= 0 {
				t.Errorf("webvitals_cls = %v, want > 0 from the late banner", h.GetSampleSum())
			}
		case "webvitals_inp_seconds":
			if h.GetSampleSum() < 0.1 {
				t.Errorf("webvitals_inp_seconds = %vs, want >= 0.1s from the 150 ms click handler", h.GetSampleSum())
			}
		}
	}
}

// checkRefused waits until the collector has refused the beacon for its origin,
// and checks that nothing was observed.
func checkRefused(t *testing.T, ctx context.Context, reg *prometheus.Registry) {
	t.Helper()
	mfs := waitFor(t, ctx, reg, func(mfs []*dto.MetricFamily) bool {
		return counterValue(mfs, "lookout_webvitals_rejected_total", map[string]string{"reason": "origin"}) > 0
	}, `lookout_webvitals_rejected_total{reason="origin"} > 0`)
	for _, name := range histograms {
		for _, m := range family(mfs, name).GetMetric() {
			if n := m.GetHistogram().GetSampleCount(); n > 0 {
				t.Errorf("%s%v: %d observations from a disallowed origin, want none", name, m.GetLabel(), n)
			}
		}
	}
}

// waitFor gathers reg until cond holds, and returns that gathering. It fails
// the test when ctx ends first.
func waitFor(t *testing.T, ctx context.Context, reg *prometheus.Registry, cond func([]*dto.MetricFamily) bool, what string) []*dto.MetricFamily {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		if cond(mfs) {
			return mfs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; the registry has %s", what, ctx.Err(), names(mfs))
		case <-tick.C:
		}
	}
}

func family(mfs []*dto.MetricFamily, name string) *dto.MetricFamily {
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// find returns the metric of the family name whose labels include labels.
func find(mfs []*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	for _, m := range family(mfs, name).GetMetric() {
		matched := 0
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
				matched++
			}
		}
		if matched == len(labels) {
			return m
		}
	}
	return nil
}

func findHistogram(mfs []*dto.MetricFamily, name string, labels map[string]string) *dto.Histogram {
	return find(mfs, name, labels).GetHistogram()
}

func counterValue(mfs []*dto.MetricFamily, name string, labels map[string]string) float64 {
	return find(mfs, name, labels).GetCounter().GetValue()
}

// names lists the gathered series with their values, for failures.
func names(mfs []*dto.MetricFamily) string {
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			fmt.Fprintf(&b, "\n  %s%v", mf.GetName(), m.GetLabel())
			if h := m.GetHistogram(); h != nil {
				fmt.Fprintf(&b, " count=%d sum=%g", h.GetSampleCount(), h.GetSampleSum())
			}
			if c := m.GetCounter(); c != nil {
				fmt.Fprintf(&b, " value=%g", c.GetValue())
			}
		}
	}
	if b.Len() == 0 {
		return "no series"
	}
	return b.String()
}

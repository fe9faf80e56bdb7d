package browsertest

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestBrowserSoftNavigation loads a single-page app's product page in
// headless Chromium with web-vitals reporting soft navigations, follows a
// client-side link to /cart, and hides the page. The product view's
// metrics, CLS among them, which web-vitals reports only once the URL is
// already /cart, count under the product's route as a page load; the
// cart's count as a soft navigation.
func TestBrowserSoftNavigation(t *testing.T) {
	chromium := requireDeps(t)
	browser := startBrowser(t, chromium)
	site := newPageServer(t)
	reg := prometheus.NewRegistry()
	vitals := newVitalsServer(t, reg, site.URL)
	visitSPA(t, browser, site.URL+pagePath+"?spa&beacon="+url.QueryEscape(vitals.URL+"/v1/vitals"))

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	product := map[string]string{"route": route, "device": "desktop", "navigation": "hard"}
	cart := map[string]string{"route": "/cart", "device": "desktop", "navigation": "soft"}
	mfs := waitFor(t, ctx, reg, func(mfs []*dto.MetricFamily) bool {
		return findHistogram(mfs, "webvitals_cls", product).GetSampleCount() > 0 &&
			findHistogram(mfs, "webvitals_fcp_seconds", cart).GetSampleCount() > 0
	}, "the product view's CLS and the cart's FCP")

	for _, name := range []string{"webvitals_lcp_seconds", "webvitals_fcp_seconds", "webvitals_ttfb_seconds", "webvitals_cls"} {
		if got := findHistogram(mfs, name, product).GetSampleCount(); got != 1 {
			t.Errorf("%s%v: %d observations, want 1 (the page load)", name, product, got)
		}
	}
	if cls := findHistogram(mfs, "webvitals_cls", product).GetSampleSum(); cls <= 0 {
		t.Errorf("webvitals_cls%v = %v, want > 0 from the late banner", product, cls)
	}
	if got := findHistogram(mfs, "webvitals_fcp_seconds", cart).GetSampleCount(); got != 1 {
		t.Errorf("webvitals_fcp_seconds%v: %d observations, want 1 (the soft navigation)", cart, got)
	}
	// Nothing of the cart counts as a page load, and nothing of the
	// product page as a soft navigation.
	for _, name := range histograms {
		for _, m := range family(mfs, name).GetMetric() {
			l := labelMap(m)
			if (l["route"] == "/cart") != (l["navigation"] == "soft") && m.GetHistogram().GetSampleCount() > 0 {
				t.Errorf("%s%v: %d observations, want none", name, l, m.GetHistogram().GetSampleCount())
			}
		}
	}
	if got := counterValue(mfs, "lookout_webvitals_route_source_total", map[string]string{"source": "page"}); got != 0 {
		t.Errorf("%v reports took their route from the page field, want none (navigationURL first)", got)
	}
}

// visitSPA opens the single-page app in a new tab, waits for the page
// load's LCP and layout shift, clicks the link to the cart, waits until
// Chromium has seen the soft navigation and web-vitals has reported the
// product view's CLS for it, then hides the page.
func visitSPA(t *testing.T, browser context.Context, pageURL string) {
	t.Helper()
	runSteps(t, browser, []step{
		{"load the page", chromedp.Navigate(pageURL)},
		{"wait for LCP", chromedp.WaitReady(chromedp.CSS("html[data-lcp]"))},
		{"wait for the banner's layout shift", chromedp.WaitReady(chromedp.CSS("html[data-shifted]"))},
		{"follow the link to the cart", chromedp.Click(chromedp.ID("to-cart"))},
		{"wait for the soft navigation", chromedp.WaitReady(chromedp.CSS(`html[data-softnav="/cart"]`))},
		{"wait for the product view's CLS", chromedp.WaitReady(chromedp.CSS(`html[data-queued*="CLS@navigate"]`))},
		{"hide the page", chromedp.Navigate("about:blank")},
	})
}

func labelMap(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, lp := range m.GetLabel() {
		l[lp.GetName()] = lp.GetValue()
	}
	return l
}

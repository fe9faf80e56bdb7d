package webvitals

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Bodies as the libraries send them (values trimmed of fields that do not
// change the shape).
const (
	v3LCP = `{"name":"LCP","value":2612.3,"rating":"needs-improvement","delta":2612.3,"id":"v3-1700000000000-1234567890123",
		"entries":[{"name":"","entryType":"largest-contentful-paint","startTime":2612.3,"duration":0,"size":48000,"renderTime":2612.3,"loadTime":0,"id":"hero","url":""}],
		"navigationType":"navigate"}`
	v3CLSAttribution = `{"name":"CLS","value":0.31,"rating":"poor","delta":0.31,"id":"v3-1700000000001-8888888888888",
		"entries":[{"name":"","entryType":"layout-shift","startTime":1200.5,"duration":0,"value":0.31,"hadRecentInput":false,"sources":[]}],
		"navigationType":"reload",
		"attribution":{"largestShiftTarget":"#banner","largestShiftTime":1200.5,"largestShiftValue":0.31,"loadState":"dom-interactive"}}`
	v4INP            = `{"name":"INP","value":184,"rating":"good","delta":184,"id":"v4-1717000000000-5555555555555","entries":[],"navigationType":"back-forward-cache"}`
	v4INPAttribution = `{"name":"INP","value":560,"rating":"poor","delta":560,"id":"v4-1717000000000-6666666666666",
		"entries":[{"name":"pointerdown","entryType":"event","startTime":3000,"duration":560,"interactionId":1234}],
		"navigationType":"navigate",
		"attribution":{"interactionTarget":"#buy","interactionTargetElement":{},"interactionType":"pointer","interactionTime":3000,
		"nextPaintTime":3560,"processedEventEntries":[],"longAnimationFrameEntries":[],"inputDelay":12,"processingDuration":500,
		"presentationDelay":48,"loadState":"complete"}}`
	v5FCP = `{"name":"FCP","value":1432.7,"rating":"good","delta":1432.7,"id":"v5-1740000000000-7777777777777",
		"entries":[{"name":"first-contentful-paint","entryType":"paint","startTime":1432.7,"duration":0}],"navigationType":"navigate"}`
	v5TTFBAttribution = `{"name":"TTFB","value":950.5,"rating":"needs-improvement","delta":950.5,"id":"v5-1740000000000-9999999999999",
		"entries":[{"name":"https://www.example.com/checkout","entryType":"navigation"}],"navigationType":"prerender",
		"attribution":{"waitingDuration":10,"cacheDuration":0,"dnsDuration":20,"connectionDuration":40,"requestDuration":880.5,
		"navigationEntry":{"entryType":"navigation"}}}`
	v5LCPAttribution = `{"name":"LCP","value":4100,"rating":"poor","delta":4100,"id":"v5-1740000000001-1111111111111","entries":[],
		"navigationType":"restore",
		"attribution":{"target":"#hero > img","url":"https://cdn.example.com/hero.avif","timeToFirstByte":300,"resourceLoadDelay":100,
		"resourceLoadDuration":3000,"elementRenderDelay":700,"navigationEntry":{},"lcpResourceEntry":{},"lcpEntry":{}}}`
	nextPagesFCP     = `{"id":"1700000000000-4444444444444","name":"FCP","startTime":0,"value":1700,"label":"web-vital"}`
	nextHydration    = `{"id":"1700000000000-3333333333333","name":"Next.js-hydration","startTime":512.5,"value":38.2,"label":"custom"}`
	nextRouteChange  = `{"id":"1700000000000-3333333333334","name":"Next.js-route-change-to-render","startTime":9000,"value":120,"label":"custom"}`
	nextRender       = `{"id":"1700000000000-3333333333335","name":"Next.js-render","startTime":9120,"value":15,"label":"custom"}`
	nextAppRouterCLS = `{"name":"CLS","value":0.02,"rating":"good","delta":0.02,"id":"v4-1730000000000-2222222222222","entries":[],"navigationType":"navigate"}`
	v3FID            = `{"name":"FID","value":12,"rating":"good","delta":12,"id":"v3-1700000000000-0000000000001","entries":[],"navigationType":"navigate"}`
)

func TestBodyShapes(t *testing.T) {
	tests := []struct {
		name, body, metric, hist, rating string
		seconds                          float64 // the observation; hist "" for none
	}{
		{"web-vitals v3 LCP", v3LCP, "LCP", "webvitals_lcp_seconds", ratingNI, 2.6123},
		{"web-vitals v3 attribution CLS", v3CLSAttribution, "CLS", "webvitals_cls", ratingPoor, 0.31},
		{"web-vitals v4 INP", v4INP, "INP", "webvitals_inp_seconds", ratingGood, 0.184},
		{"web-vitals v4 attribution INP", v4INPAttribution, "INP", "webvitals_inp_seconds", ratingPoor, 0.56},
		{"web-vitals v5 FCP", v5FCP, "FCP", "webvitals_fcp_seconds", ratingGood, 1.4327},
		{"web-vitals v5 attribution TTFB", v5TTFBAttribution, "TTFB", "webvitals_ttfb_seconds", ratingNI, 0.9505},
		{"web-vitals v5 attribution LCP", v5LCPAttribution, "LCP", "webvitals_lcp_seconds", ratingPoor, 4.1},
		{"Next.js reportWebVitals FCP", nextPagesFCP, "FCP", "webvitals_fcp_seconds", ratingGood, 1.7},
		{"Next.js useReportWebVitals CLS", nextAppRouterCLS, "CLS", "webvitals_cls", ratingGood, 0.02},
		{"Next.js hydration", nextHydration, "Next.js-hydration", "", ratingNone, 0},
		{"Next.js route change", nextRouteChange, "Next.js-route-change-to-render", "", ratingNone, 0},
		{"Next.js render", nextRender, "Next.js-render", "", ratingNone, 0},
		{"web-vitals v3 FID", v3FID, "FID", "", ratingGood, 0},
	}
	for _, tt := range tests {
		for _, ct := range []string{beaconType, fetchType} {
			t.Run(tt.name+"/"+ct, func(t *testing.T) {
				_, reg, srv := newTestServer(t, testConfig())
				resp := beacon{contentType: ct, body: tt.body}.send(t, srv)
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("status %d, want 204", resp.StatusCode)
				}
				labels := map[string]string{"metric": tt.metric, "route": "/checkout", "device": "desktop", "rating": tt.rating}
				if got := counter(t, reg, "webvitals_reports_total", labels); got != 1 {
					t.Errorf("webvitals_reports_total%v = %v, want 1", labels, got)
				}
				if tt.hist == "" {
					if n, err := testutil.GatherAndCount(reg, "webvitals_lcp_seconds", "webvitals_inp_seconds", "webvitals_cls",
						"webvitals_fcp_seconds", "webvitals_ttfb_seconds"); err != nil || n != 0 {
						t.Errorf("histogram series = %d (%v), want none", n, err)
					}
					return
				}
				h := histogram(t, reg, tt.hist, "/checkout", "desktop")
				if h.GetSampleCount() != 1 || !near(h.GetSampleSum(), tt.seconds) {
					t.Errorf("%s: count %d sum %v, want 1 and %v", tt.hist, h.GetSampleCount(), h.GetSampleSum(), tt.seconds)
				}
				if h.GetSchema() == 0 && len(h.GetPositiveSpan()) == 0 && h.GetZeroCount() == 0 {
					t.Errorf("%s has no native buckets", tt.hist)
				}
			})
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestBatch(t *testing.T) {
	_, reg, srv := newTestServer(t, testConfig())
	body := "[" + strings.Join([]string{v3LCP, v5FCP, v5TTFBAttribution, v3CLSAttribution, v4INP,
		`{"name":"XYZ","value":1,"id":"a"}`, `{"name":"LCP","value":-5,"id":"b"}`, `5`, `{"name":7}`}, ",") + "]"
	if resp := (beacon{contentType: fetchType, body: body}).send(t, srv); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
	const want = `
# HELP lookout_webvitals_rejected_total Web Vitals beacons, or metrics within one, refused, by reason.
# TYPE lookout_webvitals_rejected_total counter
lookout_webvitals_rejected_total{reason="bad_value"} 1
lookout_webvitals_rejected_total{reason="duplicate"} 0
lookout_webvitals_rejected_total{reason="malformed"} 2
lookout_webvitals_rejected_total{reason="method"} 0
lookout_webvitals_rejected_total{reason="origin"} 0
lookout_webvitals_rejected_total{reason="rate_limited"} 0
lookout_webvitals_rejected_total{reason="soft_navigation"} 0
lookout_webvitals_rejected_total{reason="too_large"} 0
lookout_webvitals_rejected_total{reason="unknown_metric"} 1
# HELP webvitals_reports_total Web Vitals reports accepted, by metric, route, device, navigation and rating (duplicates excluded).
# TYPE webvitals_reports_total counter
webvitals_reports_total{device="desktop",metric="CLS",navigation="hard",rating="good",route="/checkout"} 0
webvitals_reports_total{device="desktop",metric="CLS",navigation="hard",rating="needs-improvement",route="/checkout"} 0
webvitals_reports_total{device="desktop",metric="CLS",navigation="hard",rating="poor",route="/checkout"} 1
webvitals_reports_total{device="desktop",metric="FCP",navigation="hard",rating="good",route="/checkout"} 1
webvitals_reports_total{device="desktop",metric="FCP",navigation="hard",rating="needs-improvement",route="/checkout"} 0
webvitals_reports_total{device="desktop",metric="FCP",navigation="hard",rating="poor",route="/checkout"} 0
webvitals_reports_total{device="desktop",metric="INP",navigation="hard",rating="good",route="/checkout"} 1
webvitals_reports_total{device="desktop",metric="INP",navigation="hard",rating="needs-improvement",route="/checkout"} 0
webvitals_reports_total{device="desktop",metric="INP",navigation="hard",rating="poor",route="/checkout"} 0
webvitals_reports_total{device="desktop",metric="LCP",navigation="hard",rating="good",route="/checkout"} 0
webvitals_reports_total{device="desktop",metric="LCP",navigation="hard",rating="needs-improvement",route="/checkout"} 1
webvitals_reports_total{device="desktop",metric="LCP",navigation="hard",rating="poor",route="/checkout"} 0
webvitals_reports_total{device="desktop",metric="TTFB",navigation="hard",rating="good",route="/checkout"} 0
webvitals_reports_total{device="desktop",metric="TTFB",navigation="hard",rating="needs-improvement",route="/checkout"} 1
webvitals_reports_total{device="desktop",metric="TTFB",navigation="hard",rating="poor",route="/checkout"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "webvitals_reports_total", "lookout_webvitals_rejected_total"); err != nil {
		t.Error(err)
	}
}

func TestClassicBuckets(t *testing.T) {
	_, reg, srv := newTestServer(t, testConfig())
	for i, v := range []float64{0.0625, 0.09375, 0.1875, 0.25, 0.28125} {
		body := fmt.Sprintf(`{"name":"CLS","value":%v,"id":"v5-%d"}`, v, i)
		beacon{body: body}.send(t, srv)
	}
	const want = `
# HELP webvitals_cls Cumulative Layout Shift of real page loads, unitless (good ≤ 0.1, poor > 0.25).
# TYPE webvitals_cls histogram
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.01"} 0
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.025"} 0
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.05"} 0
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.075"} 1
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.1"} 2
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.15"} 2
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.2"} 3
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.25"} 4
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.3"} 5
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="0.5"} 5
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="1"} 5
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="2"} 5
webvitals_cls_bucket{device="desktop",navigation="hard",route="/checkout",le="+Inf"} 5
webvitals_cls_sum{device="desktop",navigation="hard",route="/checkout"} 0.875
webvitals_cls_count{device="desktop",navigation="hard",route="/checkout"} 5
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "webvitals_cls"); err != nil {
		t.Error(err)
	}
}

package webvitals

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/config"
)

// The site of the Next.js replay: the pages' origin, and the Referer a
// browser sends with a beacon to Lookout on another origin (the default
// referrer policy, strict-origin-when-cross-origin, keeps only the origin).
const (
	shopOrigin  = "https://shop.example.com"
	shopReferer = shopOrigin + "/"
	mobileUA    = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36"
)

// nextMetric is one web-vitals v6 metric as Next.js 16's useReportWebVitals
// hands it to the README's old component, which sent it as it is with
// page: window.location.pathname added when the callback ran.
type nextMetric struct {
	name     string
	value    float64
	navID    int    // web-vitals' navigationId: 1 for the page load, then one per soft navigation
	navType  string // navigate or soft-navigation
	view     string // the path of the view the metric belongs to (navigationURL)
	location string // window.location.pathname when the metric was reported
}

func (m nextMetric) body(visitor string) string {
	return fmt.Sprintf(`{"name":%q,"value":%v,"rating":"good","delta":%v,"id":"v6-%s-%s-%d","entries":[],`+
		`"navigationType":%q,"navigationId":%d,"navigationURL":%q,"navigationStartTime":0,"page":%q}`,
		m.name, m.value, m.value, visitor, m.name, m.navID, m.navType, m.navID, shopOrigin+m.view, m.location)
}

// nextVisits are two visitors of a Next.js 16 App Router shop.
//
// The desktop visitor loads /products/456, follows a <Link> to /, then one
// to /products/789, and leaves. With reportSoftNavs, web-vitals reports the
// page load's CLS and INP only when the first soft navigation starts, after
// the URL changed: location says /, navigationURL /products/456. Each soft
// navigation has its own LCP and FCP, measured from the click (tens of
// milliseconds), and no TTFB.
//
// The mobile visitor loads / and leaves.
var nextVisits = []struct {
	visitor, ua string
	metrics     []nextMetric
}{
	{"desktop", desktopUA, []nextMetric{
		{"TTFB", 180, 1, "navigate", "/products/456", "/products/456"},
		{"FCP", 950, 1, "navigate", "/products/456", "/products/456"},
		{"LCP", 1900, 1, "navigate", "/products/456", "/products/456"},
		// The click on <Link href="/">.
		{"CLS", 0.31, 1, "navigate", "/products/456", "/"},
		{"INP", 240, 1, "navigate", "/products/456", "/"},
		{"FCP", 37, 2, "soft-navigation", "/", "/"},
		{"LCP", 42, 2, "soft-navigation", "/", "/"},
		// The click on <Link href="/products/789">.
		{"CLS", 0, 2, "soft-navigation", "/", "/products/789"},
		{"INP", 64, 2, "soft-navigation", "/", "/products/789"},
		{"FCP", 39, 3, "soft-navigation", "/products/789", "/products/789"},
		{"LCP", 41, 3, "soft-navigation", "/products/789", "/products/789"},
		// The tab is hidden.
		{"CLS", 0.02, 3, "soft-navigation", "/products/789", "/products/789"},
		{"INP", 56, 3, "soft-navigation", "/products/789", "/products/789"},
	}},
	{"mobile", mobileUA, []nextMetric{
		{"TTFB", 420, 1, "navigate", "/", "/"},
		{"FCP", 1600, 1, "navigate", "/", "/"},
		{"LCP", 2900, 1, "navigate", "/", "/"},
		{"CLS", 0.05, 1, "navigate", "/", "/"},
		{"INP", 180, 1, "navigate", "/", "/"},
	}},
}

// TestNextJSSoftNavigations replays the beacons Next.js 16 sends (one
// request per metric) under each soft_navigations mode and counts the
// observations per route, device and navigation.
func TestNextJSSoftNavigations(t *testing.T) {
	type count struct {
		metric, route, device, navigation string
		want                              uint64
	}
	tests := []struct {
		mode     string
		counts   []count
		rejected float64 // rejected{reason="soft_navigation"}
	}{
		{config.SoftNavSeparate, []count{
			{"webvitals_lcp_seconds", "/products/:id", "desktop", "hard", 1},
			{"webvitals_lcp_seconds", "/products/:id", "desktop", "soft", 1},
			{"webvitals_lcp_seconds", "/", "desktop", "soft", 1},
			{"webvitals_lcp_seconds", "/", "desktop", "hard", 0},
			{"webvitals_lcp_seconds", "/", "mobile", "hard", 1},
			// The page load's CLS and INP count under the page that had them.
			{"webvitals_cls", "/products/:id", "desktop", "hard", 1},
			{"webvitals_cls", "/", "desktop", "hard", 0},
			{"webvitals_cls", "/", "desktop", "soft", 1},
			{"webvitals_cls", "/products/:id", "desktop", "soft", 1},
			{"webvitals_inp_seconds", "/products/:id", "desktop", "hard", 1},
			{"webvitals_inp_seconds", "/", "desktop", "hard", 0},
			{"webvitals_inp_seconds", "/", "mobile", "hard", 1},
			{"webvitals_ttfb_seconds", "/products/:id", "desktop", "hard", 1},
			{"webvitals_ttfb_seconds", "/products/:id", "desktop", "soft", 0},
			{"webvitals_fcp_seconds", "/", "desktop", "soft", 1},
			{"webvitals_fcp_seconds", "/", "mobile", "hard", 1},
		}, 0},
		{config.SoftNavDrop, []count{
			{"webvitals_lcp_seconds", "/products/:id", "desktop", "hard", 1},
			{"webvitals_lcp_seconds", "/products/:id", "desktop", "soft", 0},
			{"webvitals_lcp_seconds", "/", "desktop", "soft", 0},
			{"webvitals_cls", "/products/:id", "desktop", "hard", 1},
			{"webvitals_cls", "/", "desktop", "hard", 0},
			{"webvitals_inp_seconds", "/", "mobile", "hard", 1},
		}, 8},
		{config.SoftNavMerge, []count{
			{"webvitals_lcp_seconds", "/products/:id", "desktop", "", 2},
			{"webvitals_lcp_seconds", "/", "desktop", "", 1},
			{"webvitals_lcp_seconds", "/", "mobile", "", 1},
			{"webvitals_cls", "/products/:id", "desktop", "", 2},
			{"webvitals_ttfb_seconds", "/products/:id", "desktop", "", 1},
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			cfg := config.WebVitals{AllowedOrigins: []string{shopOrigin}, Routes: []string{"/products/:id"}, SoftNavigations: tt.mode}.WithDefaults()
			_, reg, srv := newTestServer(t, cfg)
			sent := 0
			for _, v := range nextVisits {
				for _, m := range v.metrics {
					b := beacon{origin: shopOrigin, referer: shopReferer, ua: v.ua, contentType: beaconType, body: m.body(v.visitor)}
					if resp := b.send(t, srv); resp.StatusCode != http.StatusNoContent {
						t.Fatalf("%s %s: status %d, want 204", v.visitor, m.name, resp.StatusCode)
					}
					sent++
				}
			}
			for _, c := range tt.counts {
				labels := map[string]string{"route": c.route, "device": c.device, "navigation": c.navigation}
				if got := observations(t, reg, c.metric, labels); got != c.want {
					t.Errorf("%s{route=%q, device=%q, navigation=%q}: %d observations, want %d", c.metric, c.route, c.device, c.navigation, got, c.want)
				}
			}
			if got := rejected(t, reg, reasonSoftNavigation); got != tt.rejected {
				t.Errorf("rejected{reason=soft_navigation} = %v, want %v", got, tt.rejected)
			}
			accepted := float64(sent) - tt.rejected
			if got := counter(t, reg, "lookout_webvitals_route_source_total", map[string]string{"source": sourceNavigationURL}); got != accepted {
				t.Errorf("route_source_total{source=navigation_url} = %v, want %v (every accepted metric)", got, accepted)
			}
		})
	}
}

// observations counts what a histogram observed for the series with
// exactly these labels; 0 when it has none.
func observations(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) uint64 {
	t.Helper()
	return findSeries(t, reg, name, labels, true).GetHistogram().GetSampleCount()
}

// TestRefererPage: the Referer names the page unless it is a bare origin
// on a cross-origin beacon.
func TestRefererPage(t *testing.T) {
	tests := []struct{ name, host, origin, referer, want string }{
		{"cross-origin, full URL", "lookout.example.com", shopOrigin, shopOrigin + "/cart", shopOrigin + "/cart"},
		{"cross-origin, origin only", "lookout.example.com", shopOrigin, shopReferer, ""},
		{"cross-origin, origin without slash", "lookout.example.com", shopOrigin, shopOrigin, ""},
		{"same-origin home page", "shop.example.com", shopOrigin, shopReferer, shopReferer},
		{"no referer", "lookout.example.com", shopOrigin, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://"+tt.host+"/v1/vitals", strings.NewReader(""))
			if tt.referer != "" {
				r.Header.Set("Referer", tt.referer)
			}
			if got := refererPage(r, tt.origin); got != tt.want {
				t.Errorf("refererPage = %q, want %q", got, tt.want)
			}
		})
	}
}

package webvitals

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/config"
)

func TestRoutes(t *testing.T) {
	tests := []struct{ name, body, referer, want string }{
		{"referer, query and fragment dropped", `{"name":"FCP","value":1,"id":"1"}`, "https://www.example.com/checkout?a=1#x", "/checkout"},
		{"page field wins over referer", `{"name":"FCP","value":1,"id":"1","page":"/pricing"}`, "", "/pricing"},
		{"url field, absolute", `{"name":"FCP","value":1,"id":"1","url":"https://www.example.com/docs/intro?x#y"}`, "", "/docs/intro"},
		{"pathname field", `{"name":"FCP","value":1,"id":"1","pathname":"/about/"}`, "", "/about"},
		{"template with parameter", `{"name":"FCP","value":1,"id":"1","page":"/users/alice"}`, "", "/users/:id"},
		{"template with star", `{"name":"FCP","value":1,"id":"1","page":"/blog/2024/05/hello"}`, "", "/blog/*"},
		{"star needs a segment", `{"name":"FCP","value":1,"id":"1","page":"/blog"}`, "", "/blog"},
		{"number", `{"name":"FCP","value":1,"id":"1","page":"/orders/12345/items"}`, "", "/orders/:id/items"},
		{"uuid", `{"name":"FCP","value":1,"id":"1","page":"/t/3f2504e0-4f89-11d3-9a0c-0305e82c3301"}`, "", "/t/:id"},
		{"object id", `{"name":"FCP","value":1,"id":"1","page":"/p/507f1f77bcf86cd799439011"}`, "", "/p/:id"},
		{"random token", `{"name":"FCP","value":1,"id":"1","page":"/share/V1StGXR8_Z5jdHi6B-myT"}`, "", "/share/:id"},
		{"slug stays", `{"name":"FCP","value":1,"id":"1","page":"/blog-posts/top-10-tips-for-2024"}`, "", "/blog-posts/top-10-tips-for-2024"},
		{"no page, no referer", `{"name":"FCP","value":1,"id":"1"}`, "-", routeUnknown},
		{"root", `{"name":"FCP","value":1,"id":"1","url":"https://www.example.com"}`, "", "/"},
		{"navigationURL wins over page", `{"name":"FCP","value":1,"id":"1","navigationURL":"https://www.example.com/users/bob?tab=2","page":"/"}`, "", "/users/:id"},
		{"navigationURL wins over referer", `{"name":"FCP","value":1,"id":"1","navigationURL":"https://www.example.com/pricing"}`, "https://www.example.com/about", "/pricing"},
		// Cross-origin, a browser's default referrer policy sends only the
		// page's origin: that is not the page /.
		{"origin-only referer of a cross-origin beacon", `{"name":"FCP","value":1,"id":"1"}`, "https://www.example.com/", routeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, reg, srv := newTestServer(t, testConfig())
			beacon{body: tt.body, referer: tt.referer}.send(t, srv)
			if h := histogram(t, reg, "webvitals_fcp_seconds", tt.want, "desktop"); h.GetSampleCount() != 1 {
				t.Errorf("no observation for route %q", tt.want)
			}
		})
	}
}

func TestMaxRoutes(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRoutes = 4 // two templates and two discovered routes
	_, reg, srv := newTestServer(t, cfg)
	for _, p := range []string{"/a", "/b", "/c", "/d", "/a", "/users/1"} {
		beacon{body: fmt.Sprintf(`{"name":"LCP","value":100,"page":%q}`, p)}.send(t, srv)
	}
	for route, want := range map[string]uint64{"/a": 2, "/b": 1, routeOther: 2, "/users/:id": 1} {
		if got := histogram(t, reg, "webvitals_lcp_seconds", route, "desktop").GetSampleCount(); got != want {
			t.Errorf("route %q: %d observations, want %d", route, got, want)
		}
	}
}

func TestDeviceClass(t *testing.T) {
	tests := []struct{ name, ua, want string }{
		{"iPhone Safari", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", deviceMobile},
		{"Android Chrome phone", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", deviceMobile},
		{"Firefox Android phone", "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0", deviceMobile},
		{"iPad (old UA)", "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", deviceTablet},
		{"Android tablet Chrome", "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", deviceTablet},
		{"Firefox Android tablet", "Mozilla/5.0 (Android 14; Tablet; rv:127.0) Gecko/127.0 Firefox/127.0", deviceTablet},
		{"Kindle Silk", "Mozilla/5.0 (Linux; Android 9; KFMAWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/126.3.1 like Chrome/126.0 Safari/537.36", deviceTablet},
		{"Windows Chrome", desktopUA, deviceDesktop},
		{"macOS Safari", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", deviceDesktop},
		{"empty", "", deviceDesktop},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := deviceClass(tt.ua); got != tt.want {
				t.Errorf("deviceClass = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("through HTTP", func(t *testing.T) {
		_, reg, srv := newTestServer(t, testConfig())
		beacon{body: v5FCP, ua: tests[0].ua}.send(t, srv)
		if h := histogram(t, reg, "webvitals_fcp_seconds", "/checkout", deviceMobile); h.GetSampleCount() != 1 {
			t.Error("no mobile observation")
		}
	})
}

func TestDedupe(t *testing.T) {
	_, reg, srv := newTestServer(t, testConfig())
	// web-vitals re-reports CLS under the same id as it grows: the first wins.
	for _, v := range []float64{0.05, 0.3, 0.4} {
		beacon{body: fmt.Sprintf(`{"name":"CLS","value":%v,"id":"v4-1-2"}`, v)}.send(t, srv)
	}
	beacon{body: `{"name":"LCP","value":1000,"id":"v4-1-2"}`}.send(t, srv) // another metric, same page load
	if h := histogram(t, reg, "webvitals_cls", "/checkout", "desktop"); h.GetSampleCount() != 1 || h.GetSampleSum() != 0.05 {
		t.Errorf("CLS count %d sum %v, want 1 and 0.05", h.GetSampleCount(), h.GetSampleSum())
	}
	if got := histogram(t, reg, "webvitals_lcp_seconds", "/checkout", "desktop").GetSampleCount(); got != 1 {
		t.Errorf("LCP count %d, want 1", got)
	}
	if got := rejected(t, reg, reasonDuplicate); got != 2 {
		t.Errorf("duplicates %v, want 2", got)
	}
}

func TestRejections(t *testing.T) {
	big := `[` + strings.Repeat(v4INP+",", MaxBodyBytes/len(v4INP)) + v4INP + `]`
	tests := []struct {
		name   string
		b      beacon
		chunk  bool // send without Content-Length
		status int
		reason string
	}{
		{"GET", beacon{method: http.MethodGet}, false, http.StatusMethodNotAllowed, reasonMethod},
		{"disallowed origin", beacon{origin: "https://evil.example", body: v4INP}, false, http.StatusForbidden, reasonOrigin},
		{"no origin", beacon{origin: "-", body: v4INP}, false, http.StatusForbidden, reasonOrigin},
		{"apex of a wildcard", beacon{origin: "https://shop.example", body: v4INP}, false, http.StatusForbidden, reasonOrigin},
		{"too large", beacon{body: big}, false, http.StatusRequestEntityTooLarge, reasonTooLarge},
		{"too large, chunked", beacon{body: big}, true, http.StatusRequestEntityTooLarge, reasonTooLarge},
		{"malformed JSON", beacon{body: `{"name":"LCP",`}, false, http.StatusBadRequest, reasonMalformed},
		{"not a metric", beacon{body: `"LCP"`}, false, http.StatusBadRequest, reasonMalformed},
		{"empty body", beacon{body: ``}, false, http.StatusBadRequest, reasonMalformed},
		{"form content type", beacon{contentType: "application/x-www-form-urlencoded", body: v4INP}, false, http.StatusUnsupportedMediaType, reasonMalformed},
		{"unknown metric", beacon{body: `{"name":"LCPX","value":1}`}, false, http.StatusNoContent, reasonUnknownMetric},
		{"negative", beacon{body: `{"name":"LCP","value":-1}`}, false, http.StatusNoContent, reasonBadValue},
		{"null (NaN from JSON.stringify)", beacon{body: `{"name":"LCP","value":null}`}, false, http.StatusNoContent, reasonBadValue},
		{"string value", beacon{body: `{"name":"LCP","value":"12"}`}, false, http.StatusNoContent, reasonBadValue},
		{"missing value", beacon{body: `{"name":"LCP"}`}, false, http.StatusNoContent, reasonBadValue},
		{"overflow", beacon{body: `{"name":"LCP","value":1e400}`}, false, http.StatusNoContent, reasonBadValue},
		{"LCP over 10 min", beacon{body: `{"name":"LCP","value":600001}`}, false, http.StatusNoContent, reasonBadValue},
		{"CLS over 100", beacon{body: `{"name":"CLS","value":100.5}`}, false, http.StatusNoContent, reasonBadValue},
		{"duplicate in a batch", beacon{body: `[` + v4INP + `,` + v4INP + `]`}, false, http.StatusNoContent, reasonDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, reg, srv := newTestServer(t, testConfig())
			req := tt.b.request(t, srv.URL)
			if tt.chunk {
				req.ContentLength = -1
				req.Body = io.NopCloser(strings.NewReader(tt.b.body))
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := rejected(t, reg, tt.reason); got != 1 {
				t.Errorf("rejected{reason=%q} = %v, want 1", tt.reason, got)
			}
			if tt.status == http.StatusForbidden && resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("refused origin got a CORS grant")
			}
		})
	}
}

func TestCORS(t *testing.T) {
	tests := []struct {
		name, method, origin string
		status               int
		grant                bool
	}{
		{"preflight, allowed", http.MethodOptions, testOrigin, http.StatusNoContent, true},
		{"preflight, wildcard subdomain", http.MethodOptions, "https://eu.shop.example", http.StatusNoContent, true},
		{"preflight, disallowed", http.MethodOptions, "https://evil.example", http.StatusForbidden, false},
		{"preflight, wrong scheme", http.MethodOptions, "http://www.example.com", http.StatusForbidden, false},
		{"POST, allowed", http.MethodPost, testOrigin, http.StatusNoContent, true},
		{"POST, disallowed", http.MethodPost, "null", http.StatusForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, srv := newTestServer(t, testConfig())
			req := beacon{method: tt.method, origin: tt.origin, body: v4INP}.request(t, srv.URL)
			if tt.method == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "content-type")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if h.Get("Vary") != "Origin" {
				t.Errorf("Vary = %q, want Origin", h.Get("Vary"))
			}
			if got := h.Get("Access-Control-Allow-Origin"); (got == tt.origin) != tt.grant || (!tt.grant && got != "") {
				t.Errorf("Access-Control-Allow-Origin = %q, grant want %v", got, tt.grant)
			}
			if tt.grant && tt.method == http.MethodOptions {
				if h.Get("Access-Control-Allow-Methods") != "POST" || h.Get("Access-Control-Allow-Headers") != "Content-Type" || h.Get("Access-Control-Max-Age") == "" {
					t.Errorf("preflight headers %v", h)
				}
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		cfg := testConfig()
		cfg.RateLimit = config.RateLimit{PerIP: 2, Burst: 3}
		c, err := New(cfg, nil, reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		send := func(remote string) int {
			req := beacon{body: v4INP}.request(t, "http://lookout/v1/vitals")
			req.RemoteAddr = remote
			w := httptest.NewRecorder()
			c.ServeHTTP(w, req)
			return w.Code
		}
		for i := range 3 {
			if got := send("192.0.2.1:1000"); got != http.StatusNoContent {
				t.Fatalf("request %d: status %d, want 204 within the burst", i, got)
			}
		}
		if got := send("192.0.2.1:1001"); got != http.StatusTooManyRequests {
			t.Fatalf("past the burst: status %d, want 429", got)
		}
		if got := send("192.0.2.2:1000"); got != http.StatusNoContent {
			t.Errorf("another IP: status %d, want 204", got)
		}
		if got := send("[2001:db8::1]:1"); got != http.StatusNoContent {
			t.Errorf("IPv6: status %d, want 204", got)
		}
		for range 2 {
			send("[2001:db8::2]:1") // same /64
		}
		if got := send("[2001:db8::3]:1"); got != http.StatusTooManyRequests {
			t.Errorf("IPv6 /64 past the burst: status %d, want 429", got)
		}
		time.Sleep(500 * time.Millisecond) // one token back at 2/s
		if got := send("192.0.2.1:1000"); got != http.StatusNoContent {
			t.Errorf("after refill: status %d, want 204", got)
		}
		if got := send("192.0.2.1:1000"); got != http.StatusTooManyRequests {
			t.Errorf("refill gave more than one token: status %d", got)
		}
		if got := rejected(t, reg, reasonRateLimited); got != 3 {
			t.Errorf("rate_limited = %v, want 3", got)
		}
	})
}

// TestBounded sends 100,000 beacons from distinct IPs for distinct random
// URLs with distinct ids: routes, dedupe table and IP table stay bounded.
func TestBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	cfg.MaxRoutes = 50
	c, err := New(cfg, nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100_000 {
		req := httptest.NewRequest(http.MethodPost, "/v1/vitals",
			strings.NewReader(fmt.Sprintf(`{"name":"LCP","value":%d,"id":"v5-%d","page":"/x%dy/z"}`, i%5000, i, i*7919)))
		req.Header.Set("Origin", testOrigin)
		req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:5000", i>>16&255, i>>8&255, i&255)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent {
			t.Fatalf("beacon %d: status %d", i, w.Code)
		}
	}
	if n := c.settings.Load().routes.len(); n > cfg.MaxRoutes {
		t.Errorf("%d routes, want ≤ %d", n, cfg.MaxRoutes)
	}
	if n := c.seen.len(); n != maxTrackedIDs {
		t.Errorf("dedupe table holds %d ids, want %d", n, maxTrackedIDs)
	}
	if n := c.settings.Load().limiter.Len(); n != MaxIPs {
		t.Errorf("IP table holds %d, want %d", n, MaxIPs)
	}
	// 48 discovered routes (the two templates take the rest) and other.
	if n := testutilCount(t, reg, "webvitals_lcp_seconds"); n != cfg.MaxRoutes-2+1 {
		t.Errorf("%d LCP series, want %d", n, cfg.MaxRoutes-2+1)
	}
}

func testutilCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

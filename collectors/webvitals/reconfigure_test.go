package webvitals

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/lookout-dev/lookout/config"
)

// TestReconfigure: a reload's new origins and routes apply to the next
// beacon once applied, not before; unchanged routes keep what they
// learned. (An invalid config never gets here: config.Parse refuses it.)
func TestReconfigure(t *testing.T) {
	c, reg, srv := newTestServer(t, testConfig())
	const newOrigin = "https://app.example.net"
	sent := 0
	send := func(origin, page string) int {
		sent++ // a new id each time: repeated ids are dropped
		body := fmt.Sprintf(`{"name":"FCP","value":1,"id":"%d","page":%q}`, sent, page)
		return beacon{origin: origin, body: body}.send(t, srv).StatusCode
	}
	if got := send(newOrigin, ""); got != http.StatusForbidden {
		t.Fatalf("before the reload, %s got %d, want 403", newOrigin, got)
	}
	if got := send(testOrigin, "/blog/2024/hello"); got != http.StatusNoContent {
		t.Errorf("the old origin got %d, want 204", got)
	}

	cfg := testConfig()
	cfg.AllowedOrigins = []string{newOrigin}
	cfg.Routes = append(cfg.Routes, "/shop/*")
	apply := c.Reconfigure(cfg, nil)
	if got := send(newOrigin, ""); got != http.StatusForbidden {
		t.Errorf("before apply, %s got %d, want 403: nothing changes until then", newOrigin, got)
	}
	if h := histogram(t, reg, "webvitals_fcp_seconds", "/blog/*", "desktop"); h.GetSampleCount() != 1 {
		t.Fatalf("before apply, /blog/* has %d observations, want 1", h.GetSampleCount())
	}
	apply()
	// The routes changed: the old routes' series are gone, so max_routes
	// bounds the label across reloads.
	if h := histogram(t, reg, "webvitals_fcp_seconds", "/blog/*", "desktop"); h != nil {
		t.Errorf("after new routes, the old route's series is still there: %v", h)
	}
	if got := send(newOrigin, "/shop/shoes/red"); got != http.StatusNoContent {
		t.Errorf("after apply, %s got %d, want 204", newOrigin, got)
	}
	if got := send(testOrigin, ""); got != http.StatusForbidden {
		t.Errorf("after apply, the removed origin got %d, want 403", got)
	}
	if h := histogram(t, reg, "webvitals_fcp_seconds", "/shop/*", "desktop"); h.GetSampleCount() != 1 {
		t.Errorf("the new route template /shop/* has %d observations, want 1", h.GetSampleCount())
	}

	before := c.settings.Load().routes
	c.Reconfigure(cfg, nil)()
	if c.settings.Load().routes != before {
		t.Error("reloading the same routes replaced the route table (and what it learned)")
	}
}

// TestReconfigureSoftNavigations: a reload that changes soft_navigations
// drops the series of the old navigation labels, and the next beacons count
// under the new mode.
func TestReconfigureSoftNavigations(t *testing.T) {
	c, reg, srv := newTestServer(t, testConfig())
	const soft = `{"name":"LCP","value":40,"id":"%s","navigationType":"soft-navigation","navigationURL":"https://www.example.com/cart"}`
	beacon{body: fmt.Sprintf(soft, "a")}.send(t, srv)
	if got := observations(t, reg, "webvitals_lcp_seconds", map[string]string{"route": "/cart", "device": "desktop", "navigation": "soft"}); got != 1 {
		t.Fatalf("separate: %d soft observations, want 1", got)
	}
	cfg := testConfig()
	cfg.SoftNavigations = config.SoftNavMerge
	c.Reconfigure(cfg, nil)()
	if m := series(t, reg, "webvitals_lcp_seconds", map[string]string{"navigation": "soft"}); m != nil {
		t.Errorf("after the switch to merge, a navigation=\"soft\" series is left: %v", m)
	}
	beacon{body: fmt.Sprintf(soft, "b")}.send(t, srv)
	if got := observations(t, reg, "webvitals_lcp_seconds", map[string]string{"route": "/cart", "device": "desktop", "navigation": ""}); got != 1 {
		t.Errorf("merge: %d observations without a navigation label, want 1", got)
	}
}

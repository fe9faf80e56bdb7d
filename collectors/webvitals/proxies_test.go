package webvitals

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/config"
)

// TestClientKeyTrustedProxies: X-Forwarded-For names the client only when
// the connection comes from a trusted proxy, and then only as far as the
// trusted proxies appended to it: the rightmost address not trusted.
func TestClientKeyTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	tests := []struct {
		name    string
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies trusted: the header is ignored", "10.0.0.1:5000", []string{"198.51.100.7"}, nil, "10.0.0.1"},
		{"untrusted peer: the header is ignored", "192.0.2.1:5000", []string{"198.51.100.7"}, trusted, "192.0.2.1"},
		{"trusted peer: the client it names", "10.0.0.1:5000", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
		{"a forged left part is skipped", "10.0.0.1:5000", []string{"203.0.113.9, 198.51.100.7"}, trusted, "198.51.100.7"},
		{"a chain of trusted proxies", "10.0.0.1:5000", []string{"198.51.100.7, 10.1.1.1", "10.2.2.2"}, trusted, "198.51.100.7"},
		{"every hop trusted: the leftmost", "10.0.0.1:5000", []string{"10.9.9.9, 10.1.1.1"}, trusted, "10.9.9.9"},
		{"garbage stops at the proxy that appended it", "10.0.0.1:5000", []string{"nonsense, 10.1.1.1"}, trusted, "10.1.1.1"},
		{"trusted peer without the header", "10.0.0.1:5000", nil, trusted, "10.0.0.1"},
		{"a client with a port", "10.0.0.1:5000", []string{"198.51.100.7:443"}, trusted, "198.51.100.7"},
		{"an IPv6 client's /64", "[2001:db8:ffff::1]:5000", []string{"2001:db8:1:2:3:4:5:6"}, trusted, "2001:db8:1:2::"},
		{"an IPv4-mapped proxy", "[::ffff:10.0.0.1]:5000", []string{"198.51.100.7"}, trusted, "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/v1/vitals", nil)
			req.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientKey(req, tt.trusted); got != netip.MustParseAddr(tt.want) {
				t.Errorf("client %v, want %s", got, tt.want)
			}
		})
	}
}

// TestRateLimitBehindTrustedProxy: behind a trusted proxy each visitor has
// a bucket of its own; behind any other proxy they share the proxy's.
func TestRateLimitBehindTrustedProxy(t *testing.T) {
	tests := []struct {
		name    string
		trusted []config.Prefix
		want    []int // the second visitor's two beacons
	}{
		{"trusted proxy", []config.Prefix{{Prefix: netip.MustParsePrefix("10.0.0.0/8")}}, []int{http.StatusNoContent, http.StatusTooManyRequests}},
		{"untrusted proxy", nil, []int{http.StatusTooManyRequests, http.StatusTooManyRequests}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := testConfig()
				cfg.RateLimit = config.RateLimit{PerIP: 1, Burst: 1}
				c, err := New(cfg, tt.trusted, prometheus.NewRegistry(), nil)
				if err != nil {
					t.Fatal(err)
				}
				send := func(visitor string) int {
					req := beacon{body: v4INP}.request(t, "http://lookout/v1/vitals")
					req.RemoteAddr = "10.0.0.1:40000"
					req.Header.Set("X-Forwarded-For", visitor)
					w := httptest.NewRecorder()
					c.ServeHTTP(w, req)
					return w.Code
				}
				if got := send("198.51.100.1"); got != http.StatusNoContent {
					t.Fatalf("first visitor: status %d, want 204", got)
				}
				for i, want := range tt.want {
					if got := send("198.51.100.2"); got != want {
						t.Errorf("second visitor, beacon %d: status %d, want %d", i, got, want)
					}
				}
			})
		})
	}
}

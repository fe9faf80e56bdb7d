package webvitals

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-dev/lookout/config"
)

// BenchmarkServeHTTP is one single-metric beacon through the handler, as
// web-vitals sends it: the handler's own cost, without the network.
func BenchmarkServeHTTP(b *testing.B) {
	cfg := config.WebVitals{
		AllowedOrigins: []string{"https://www.example.com"}, Routes: []string{"/products/:id"},
		RateLimit: config.RateLimit{PerIP: 1e9, Burst: 1e9},
	}.WithDefaults()
	c, err := New(cfg, nil, prometheus.NewRegistry(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := `{"name":"LCP","value":1234.5,"rating":"good","delta":1234.5,"id":"v4-1700000000000-` + strconv.Itoa(i) + `","navigationType":"navigate","page":"/products/42"}`
		r := httptest.NewRequest(http.MethodPost, "/v1/vitals", strings.NewReader(body))
		r.Header.Set("Origin", "https://www.example.com")
		r.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		r.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36")
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d", w.Code)
		}
	}
}

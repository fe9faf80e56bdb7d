package webvitals

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lookout-dev/lookout/config"
)

const (
	testOrigin  = "https://www.example.com"
	testReferer = "https://www.example.com/checkout?step=2#pay"
	desktopUA   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	beaconType  = "text/plain;charset=UTF-8"
	fetchType   = "application/json"
)

// testConfig is a webvitals section with config's defaults filled in, as
// config.Parse would.
func testConfig() config.WebVitals {
	return config.WebVitals{
		AllowedOrigins: []string{testOrigin, "https://*.shop.example"},
		Routes:         []string{"/users/:id", "/blog/*"},
	}.WithDefaults()
}

// newTestServer starts a collector with a fresh registry behind a real
// HTTP server.
func newTestServer(t *testing.T, cfg config.WebVitals) (*Collector, *prometheus.Registry, *httptest.Server) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := New(cfg, nil, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, reg, srv
}

type beacon struct {
	method, origin, contentType, referer, ua, body string
}

func (b beacon) request(t *testing.T, url string) *http.Request {
	t.Helper()
	method := b.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, url, strings.NewReader(b.body))
	if err != nil {
		t.Fatal(err)
	}
	set := func(k, v, def string) {
		if v == "" {
			v = def
		}
		if v != "-" {
			req.Header.Set(k, v)
		}
	}
	set("Origin", b.origin, testOrigin)
	set("Content-Type", b.contentType, beaconType)
	set("Referer", b.referer, testReferer)
	set("User-Agent", b.ua, desktopUA)
	return req
}

func (b beacon) send(t *testing.T, srv *httptest.Server) *http.Response {
	t.Helper()
	resp, err := srv.Client().Do(b.request(t, srv.URL+"/v1/vitals"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// histogram finds one histogram series, or nil.
func histogram(t *testing.T, reg *prometheus.Registry, name, route, device string) *dto.Histogram {
	t.Helper()
	m := series(t, reg, name, map[string]string{"route": route, "device": device})
	if m == nil {
		return nil
	}
	return m.GetHistogram()
}

// counter is the value of one counter series, 0 when absent.
func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	return series(t, reg, name, labels).GetCounter().GetValue()
}

// series finds the first series of name whose labels include labels, or nil.
func series(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	return findSeries(t, reg, name, labels, false)
}

// findSeries finds the first series of name whose labels include labels
// (exact: are labels), or nil.
func findSeries(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, exact bool) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if exact && len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				want, ok := labels[lp.GetName()]
				if (ok || exact) && want != lp.GetValue() {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

func rejected(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	return counter(t, reg, "lookout_webvitals_rejected_total", map[string]string{"reason": reason})
}

package statuspage

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lookout-dev/lookout/alerting/incidents"
	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/uptime"
)

// fakeSource holds what a test page shows.
type fakeSource struct {
	mu      sync.Mutex
	probes  map[string]ProbeStatus
	periods map[string][]uptime.Period
	incs    []incidents.Incident
	windows map[string][]Window
	reads   int // DailyUptime calls
}

func (f *fakeSource) Probe(name string) (ProbeStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.probes[name]
	return st, ok
}

func (f *fakeSource) DailyUptime(probe string, from, to time.Time) ([]uptime.Period, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	var out []uptime.Period
	for _, p := range f.periods[probe] {
		if !p.Start.Before(from) && p.Start.Before(to) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeSource) Incidents(since time.Time) []incidents.Incident {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []incidents.Incident
	for _, inc := range f.incs {
		if inc.Open() || !inc.Resolved.Before(since) {
			out = append(out, inc)
		}
	}
	return out
}

func (f *fakeSource) Maintenance(probe string, now time.Time, horizon time.Duration) []Window {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Window
	for _, w := range f.windows[probe] {
		if now.Before(w.End) && w.Start.Before(now.Add(horizon)) {
			out = append(out, w)
		}
	}
	return out
}

func (f *fakeSource) set(name string, st ProbeStatus) {
	f.mu.Lock()
	f.probes[name] = st
	f.mu.Unlock()
}

// Secrets the fixture holds that no page without show_reasons may show.
const (
	secretReason   = "GET https://internal.example.com:8443/health?token=s3cr3t: status 503"
	secretProbe    = "billing-db"
	secretIncident = "Billing database failover"
	secretWindow   = "Replacing the billing database disks"
)

// fixture is a source at now: web up all along, api down an hour
// yesterday with an incident, billing-db (listed nowhere) down with an
// incident and maintenance of its own; and a page listing web and api.
func fixture(now time.Time) (*fakeSource, config.StatusPage) {
	today := now.UTC().Truncate(24 * time.Hour)
	yesterday := today.AddDate(0, 0, -1)
	full := uint32(24 * time.Hour / time.Millisecond)
	hour := uint32(time.Hour / time.Millisecond)
	src := &fakeSource{
		probes: map[string]ProbeStatus{
			"web":       {State: probes.Up, Judged: true},
			"api":       {State: probes.Down, Judged: true, Reason: secretReason},
			secretProbe: {State: probes.Down, Judged: true, Reason: secretReason},
		},
		periods: map[string][]uptime.Period{
			"web": {{Start: yesterday, Millis: uptime.Millis{Up: full}}},
			"api": {
				{Start: today.AddDate(0, 0, -2), Millis: uptime.Millis{Up: full}},
				{Start: yesterday, Millis: uptime.Millis{Up: full - hour, Down: hour}},
			},
			secretProbe: {{Start: yesterday, Millis: uptime.Millis{Down: full}}},
		},
		incs: []incidents.Incident{
			{ID: "1", Probe: "api", Title: "api is down", Started: yesterday.Add(3 * time.Hour), Resolved: yesterday.Add(4 * time.Hour), Auto: true,
				Updates: []incidents.Update{
					{Time: yesterday.Add(3 * time.Hour), Status: incidents.Investigating, Message: "api is down. We are looking into it.", By: "lookout"},
					{Time: yesterday.Add(4 * time.Hour), Status: incidents.Resolved, Message: "A bad deploy, rolled back.", By: "alice.oncall"},
				}},
			{ID: "2", Probe: "api", Title: "Slow API answers", Started: now.Add(-time.Hour),
				Updates: []incidents.Update{{Time: now.Add(-time.Hour), Status: incidents.Identified, Message: "A slow query.", By: "alice.oncall"}}},
			{ID: "3", Probe: secretProbe, Title: secretIncident, Started: now.Add(-time.Hour),
				Updates: []incidents.Update{{Time: now.Add(-time.Hour), Status: incidents.Investigating, Message: "Failing over.", By: "bob"}}},
		},
		windows: map[string][]Window{
			"web":       {{Message: "Moving the web servers", Start: now.Add(24 * time.Hour), End: now.Add(26 * time.Hour)}},
			"api":       {{Message: "Moving the web servers", Start: now.Add(24 * time.Hour), End: now.Add(26 * time.Hour)}},
			secretProbe: {{Message: secretWindow, Start: now.Add(time.Hour), End: now.Add(2 * time.Hour)}},
		},
	}
	page := config.StatusPage{Name: "public", Path: "/status", Title: "Example status", Description: "Our public services.",
		Groups: []config.StatusGroup{{Name: "Website", Probes: []string{"web"}}, {Name: "API", Probes: []string{"api"}}}}
	return src, page
}

func get(t *testing.T, h http.Handler, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestPage: the page shows every listed component with its state in
// words, 90 daily bars each (focusable, with the day's uptime, downtime
// and incidents in their label), the uptime over 30 and 90 days, open and
// recent incidents and maintenance; its JSON holds the same.
func TestPage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(36 * time.Hour) // a day and a half in: yesterday is whole
		now := time.Now()
		src, page := fixture(now)
		s := New(src, []config.StatusPage{page}, nil, Options{})

		resp, html := get(t, s, "/status")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		for _, want := range []string{
			"<title>Example status</title>", "Our public services.", "Partial outage",
			"<h2 id=\"group-0\">Website</h2>", "<h3>web</h3>", "Operational",
			"<h2 id=\"group-1\">API</h2>", "<h3>api</h3>", "Down",
			"Slow API answers", "A slow query.", // open
			"Resolved in the last 7 days", "A bad deploy, rolled back.",
			"Scheduled maintenance", "Moving the web servers", "web, api",
		} {
			if !strings.Contains(html, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		bars := regexp.MustCompile(`<span class="bar b-(\w+)" role="img" tabindex="0" aria-label="([^"]*)"></span>`).FindAllStringSubmatch(html, -1)
		if len(bars) != 2*Days {
			t.Fatalf("%d focusable labelled bars; want %d", len(bars), 2*Days)
		}
		yesterday := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1).Format("Jan 2, 2006")
		apiYesterday := bars[2*Days-2]
		if apiYesterday[1] != "major" || apiYesterday[2] != yesterday+": 95.83% up, down 1 h. Incident: api is down." {
			t.Errorf("api's bar of yesterday: class %s, label %q", apiYesterday[1], apiYesterday[2])
		}
		if webYesterday := bars[Days-2]; webYesterday[1] != "ok" || webYesterday[2] != yesterday+": 100% up, no downtime." {
			t.Errorf("web's bar of yesterday: class %s, label %q", webYesterday[1], webYesterday[2])
		}
		if webToday := bars[Days-1]; webToday[1] != "none" || !strings.HasSuffix(webToday[2], ": no data.") {
			t.Errorf("web's bar of today, not watched yet: class %s, label %q; want no data", webToday[1], webToday[2])
		}
		if !strings.Contains(html, "Uptime 90 days: 97.91% · 30 days: 97.91%") {
			t.Errorf("api's uptime: want 97.91%% (48 watched hours, one down):\n%s", html)
		}

		_, body := get(t, s, "/status.json")
		var p Page
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		if len(p.Groups) != 2 || p.Groups[1].Components[0].Name != "api" || p.Groups[1].Components[0].StateText != "Down" || p.State != Down {
			t.Errorf("JSON groups %+v, state %s", p.Groups, p.State)
		}
		api := p.Groups[1].Components[0]
		if len(api.Days) != Days || api.Days[Days-1].Date != now.UTC().Format(time.DateOnly) || api.Days[Days-2].DownSeconds != 3600 ||
			len(api.Days[Days-2].Incidents) != 1 || api.Uptime30d == nil || *api.Uptime30d != 97.9166 {
			t.Errorf("api in JSON: %d days, last %s, yesterday %+v, 30d %v", len(api.Days), api.Days[Days-1].Date, api.Days[Days-2], api.Uptime30d)
		}
		if len(p.Incidents) != 2 || p.Incidents[0].ID != "2" || p.Incidents[1].Updates[0].Message != "A bad deploy, rolled back." {
			t.Errorf("JSON incidents %+v; want the open one, then the resolved one newest update first", p.Incidents)
		}
		if len(p.Maintenance) != 1 || len(p.Maintenance[0].Components) != 2 || p.Maintenance[0].Active {
			t.Errorf("JSON maintenance %+v; want one upcoming window of web and api", p.Maintenance)
		}
	})
}

// TestNothingUnlistedOrPrivate: neither the page nor its JSON holds a
// probe's reason (it is where URLs and tokens show), an unlisted probe's
// name, incidents or maintenance, or who wrote an update; with
// show_reasons the reason shows, and only that.
func TestNothingUnlistedOrPrivate(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	src, page := fixture(now)
	forbidden := []string{secretReason, "internal.example.com", "s3cr3t", secretProbe, secretIncident, secretWindow, "alice.oncall"}
	for _, show := range []bool{false, true} {
		t.Run(fmt.Sprintf("show_reasons %v", show), func(t *testing.T) {
			page.ShowReasons = show
			s := New(src, []config.StatusPage{page}, nil, Options{Now: func() time.Time { return now }})
			for _, path := range []string{"/status", "/status.json"} {
				_, body := get(t, s, path)
				for _, f := range forbidden {
					if show && (f == secretReason || f == "internal.example.com" || f == "s3cr3t") {
						if !strings.Contains(body, f) {
							t.Errorf("%s with show_reasons lacks the reason part %q", path, f)
						}
						continue
					}
					if strings.Contains(body, f) {
						t.Errorf("%s holds %q", path, f)
					}
				}
			}
			if resp, _ := get(t, s, BadgePrefix+secretProbe+"/"+BadgeState); resp.StatusCode != http.StatusNotFound {
				t.Errorf("a badge of the unlisted probe: %d; want 404", resp.StatusCode)
			}
		})
	}
}

// TestBadges: a listed probe's state and 30-day uptime as SVG with its
// text; anything else 404.
func TestBadges(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	src, page := fixture(now)
	s := New(src, []config.StatusPage{page}, nil, Options{Now: func() time.Time { return now }})
	tests := []struct {
		path   string
		status int
		text   []string
	}{
		{"/badge/api/state.svg", 200, []string{">api<", ">down<", `aria-label="api: down"`}},
		{"/badge/web/state.svg", 200, []string{">operational<"}},
		{"/badge/api/uptime-30d.svg", 200, []string{">uptime 30d<", ">97.91%<"}},
		{"/badge/web/uptime-30d.svg", 200, []string{">100%<"}},
		{"/badge/api/uptime-7d.svg", 404, nil},
		{"/badge/nope/state.svg", 404, nil},
		{"/badge/" + secretProbe + "/uptime-30d.svg", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, s, tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("%d; want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "image/svg+xml" || !strings.HasPrefix(body, "<svg ") {
				t.Errorf("%s %.40q; want an SVG", ct, body)
			}
			for _, want := range tt.text {
				if !strings.Contains(body, want) {
					t.Errorf("badge lacks %q:\n%s", want, body)
				}
			}
		})
	}
}

// TestCaching: answers carry an ETag and Cache-Control; the same ETag in
// If-None-Match gives 304; gzip is served to those who take it; a page
// is built again after CacheFor or once Invalidate is called, not before.
func TestCaching(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		src, page := fixture(now)
		s := New(src, []config.StatusPage{page}, nil, Options{})
		resp, body := get(t, s, "/status")
		etag := resp.Header.Get("ETag")
		if etag == "" || resp.Header.Get("Cache-Control") != "public, max-age=5" {
			t.Fatalf("ETag %q, Cache-Control %q", etag, resp.Header.Get("Cache-Control"))
		}
		for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
			if resp, body := get(t, s, "/status", "If-None-Match", inm); resp.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("If-None-Match %s: %d with %d bytes; want 304 and no body", inm, resp.StatusCode, len(body))
			}
		}
		if resp, _ := get(t, s, "/status", "If-None-Match", `"other"`); resp.StatusCode != http.StatusOK {
			t.Errorf("another ETag: %d; want 200", resp.StatusCode)
		}
		resp, gz := get(t, s, "/status", "Accept-Encoding", "br, gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") == etag || len(gz) >= len(body) {
			t.Errorf("gzip: encoding %q, ETag %q, %d bytes of %d", resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"), len(gz), len(body))
		} else if zr, err := gzip.NewReader(strings.NewReader(gz)); err != nil {
			t.Error(err)
		} else if plain, _ := io.ReadAll(zr); string(plain) != body {
			t.Error("the gzipped page is not the page")
		}
		if resp, _ := get(t, s, "/status", "Accept-Encoding", "gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
			t.Error("gzip served to a client that refuses it")
		}

		src.set("web", ProbeStatus{State: probes.Down, Judged: true})
		time.Sleep(DefaultCacheFor - time.Second)
		if got := webState(t, s); got != Operational {
			t.Errorf("within CacheFor the page changed: web %s", got)
		}
		time.Sleep(time.Second)
		if got := webState(t, s); got != Down {
			t.Errorf("after CacheFor: web %s; want down", got)
		}
		src.set("web", ProbeStatus{State: probes.Up, Judged: true})
		s.Invalidate()
		if got := webState(t, s); got != Operational {
			t.Errorf("after Invalidate: web %s; want operational", got)
		}
		before := src.reads
		for range 100 {
			get(t, s, "/status")
		}
		if src.reads != before {
			t.Errorf("100 requests within CacheFor read the uptime %d times; want none", src.reads-before)
		}
	})
}

// webState is web's state in the fixture page's JSON.
func webState(t *testing.T, s *Server) State {
	t.Helper()
	_, body := get(t, s, "/status.json")
	var p Page
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	return p.Groups[0].Components[0].State
}

// TestRequestsBounded: only GET and HEAD; HEAD sends no body; each
// client IP (an IPv6 /64) has its own rate limit, and X-Forwarded-For
// counts only from a trusted proxy.
func TestRequestsBounded(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	src, page := fixture(now)
	t.Run("methods", func(t *testing.T) {
		s := New(src, []config.StatusPage{page}, nil, Options{Now: func() time.Time { return now }})
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest(m, "/status", strings.NewReader("x")))
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s: %d, Allow %q; want 405", m, rec.Code, rec.Header().Get("Allow"))
			}
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/status", nil))
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD: %d, %d bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		trusted := []config.Prefix{{Prefix: netip.MustParsePrefix("10.0.0.0/8")}}
		s := New(src, []config.StatusPage{page}, trusted, Options{Burst: 3, RatePerIP: 0.001, Now: func() time.Time { return now }})
		do := func(remote, xff string) int {
			req := httptest.NewRequest(http.MethodGet, "/badge/web/state.svg", nil)
			req.RemoteAddr = remote
			if xff != "" {
				req.Header.Set("X-Forwarded-For", xff)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			return rec.Code
		}
		for i := range 3 {
			if code := do("192.0.2.1:1000", ""); code != 200 {
				t.Fatalf("request %d within the burst: %d", i+1, code)
			}
		}
		if code := do("192.0.2.1:1001", ""); code != http.StatusTooManyRequests {
			t.Errorf("past the burst: %d; want 429", code)
		}
		if code := do("192.0.2.2:1000", ""); code != 200 {
			t.Errorf("another client: %d; want 200", code)
		}
		if code := do("192.0.2.1:1000", "198.51.100.7"); code != http.StatusTooManyRequests {
			t.Errorf("X-Forwarded-For from an untrusted peer chose a bucket: %d; want 429", code)
		}
		for i := range 3 {
			if code := do("10.1.2.3:1000", "198.51.100.7, 10.9.9.9"); code != 200 {
				t.Fatalf("request %d of a client behind the trusted proxy: %d", i+1, code)
			}
		}
		if code := do("10.1.2.3:1000", "198.51.100.7"); code != http.StatusTooManyRequests {
			t.Errorf("the client behind the proxy past its burst: %d; want 429", code)
		}
		for i := range 3 {
			if code := do(fmt.Sprintf("[2001:db8::%d]:1000", i+1), ""); code != 200 {
				t.Fatalf("IPv6 request %d: %d", i+1, code)
			}
		}
		if code := do("[2001:db8::ffff]:1000", ""); code != http.StatusTooManyRequests {
			t.Errorf("another address of the same /64 past the burst: %d; want 429", code)
		}
	})
}

// TestAccessible: the page runs no script and allows none, its style
// sheet is the one its Content-Security-Policy allows, and states are
// said in words beside their symbol.
func TestAccessible(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	src, page := fixture(now)
	src.set("web", ProbeStatus{Judged: true, Maintenance: true})
	src.probes["new"] = ProbeStatus{}
	src.probes["slow"] = ProbeStatus{State: probes.Degraded, Judged: true}
	page.Groups = append(page.Groups, config.StatusGroup{Name: "Other", Probes: []string{"new", "slow"}})
	s := New(src, []config.StatusPage{page}, nil, Options{Now: func() time.Time { return now }})
	resp, html := get(t, s, "/status")
	if strings.Contains(html, "<script") {
		t.Error("the page has a script")
	}
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(html)
	if style == nil {
		t.Fatal("no <style>")
	}
	sum := sha256.Sum256([]byte(style[1]))
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q does not allow the page's style (or allows more)", csp)
	}
	for _, want := range []string{"Under maintenance", "No data", "Degraded", "Down"} {
		if !regexp.MustCompile(`<span class="state s-\w+"><span aria-hidden="true">[^<]+</span> ` + want + `</span>`).MatchString(html) {
			t.Errorf("no state said as %q", want)
		}
	}
}

package heartbeat_test

import (
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lookout-dev/lookout/probes/heartbeat"
)

const twoBeats = `
  - name: nightly-dump
    heartbeat: {schedule: "0 3 * * *", timezone: Europe/Berlin, grace: 1h, token: "${HEARTBEAT_TOKEN}"}
  - name: backup
    heartbeat: {every: 24h, token: other-token-0123456789}
`

// TestCheckinRoutes sends every kind of check-in, and the refused ones,
// over HTTP to the store's handler on a loopback port, and checks the
// answer, what the store recorded and what was counted.
func TestCheckinRoutes(t *testing.T) {
	b := newBeats(t, twoBeats)
	var notified []string
	var mu sync.Mutex
	b.store.OnCheckin(func(name string) {
		mu.Lock()
		notified = append(notified, name)
		mu.Unlock()
	})
	mux := http.NewServeMux()
	mux.Handle(heartbeat.RoutePrefix, b.store)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	bearer := []string{"Authorization", "Bearer " + token}
	big := strings.Repeat("x", heartbeat.MaxBody)
	tests := []struct {
		name, method, path, body string
		header                   []string
		want                     int
		wantBody                 string // a prefix
		// check, for an accepted check-in, looks at the signals after it.
		check func(t *testing.T, sig heartbeat.Signals)
	}{
		{"success with a bearer token", "GET", "/v1/heartbeat/nightly-dump", "", bearer, 200, "OK", func(t *testing.T, sig heartbeat.Signals) {
			if sig.Success.IsZero() || sig.Failed || sig.Running {
				t.Errorf("signals %+v, want a success", sig)
			}
		}},
		{"start with ?token=", "POST", "/v1/heartbeat/nightly-dump/start?token=" + token, "", nil, 200, "OK", func(t *testing.T, sig heartbeat.Signals) {
			if !sig.Running || sig.Start.IsZero() {
				t.Errorf("signals %+v, want a run started", sig)
			}
		}},
		{"fail with a body", "POST", "/v1/heartbeat/nightly-dump/fail", "pg_dump: disk full\n", bearer, 200, "OK", func(t *testing.T, sig heartbeat.Signals) {
			if !sig.Failed || sig.Reason != "pg_dump: disk full" || sig.ExitCode != -1 || sig.Running {
				t.Errorf("signals %+v, want failed with the body as reason", sig)
			}
		}},
		{"exit code 0 is a success", "POST", "/v1/heartbeat/nightly-dump/0", "", bearer, 200, "OK", func(t *testing.T, sig heartbeat.Signals) {
			if sig.Failed || sig.ExitCode != 0 {
				t.Errorf("signals %+v, want a success", sig)
			}
		}},
		{"exit code 3 is a failure", "GET", "/v1/heartbeat/nightly-dump/3", "", bearer, 200, "OK", func(t *testing.T, sig heartbeat.Signals) {
			if !sig.Failed || sig.ExitCode != 3 || sig.Reason != "exited with code 3" {
				t.Errorf("signals %+v, want failed with exit code 3", sig)
			}
		}},
		{"exit code with a body", "POST", "/v1/heartbeat/nightly-dump/2", "rsync: connection refused", bearer, 200, "OK", func(t *testing.T, sig heartbeat.Signals) {
			if sig.Reason != "exited with code 2: rsync: connection refused" {
				t.Errorf("reason %q", sig.Reason)
			}
		}},
		{"a body of 10 KiB", "POST", "/v1/heartbeat/nightly-dump/fail", big, bearer, 200, "OK", func(t *testing.T, sig heartbeat.Signals) {
			if sig.Reason != big {
				t.Errorf("reason of %d bytes, want the whole body of %d", len(sig.Reason), len(big))
			}
		}},
		{"a body over 10 KiB", "POST", "/v1/heartbeat/nightly-dump/fail", big + "y", bearer, 413, "heartbeat: body over 10240 bytes", nil},
		{"no token", "GET", "/v1/heartbeat/nightly-dump", "", nil, 401, "heartbeat: wrong or missing token", nil},
		{"wrong token", "GET", "/v1/heartbeat/nightly-dump?token=0123456789abcdef-nightlx", "", nil, 401, "heartbeat: wrong or missing token", nil},
		{"another heartbeat's token", "GET", "/v1/heartbeat/nightly-dump", "", []string{"Authorization", "Bearer other-token-0123456789"}, 401, "heartbeat: wrong", nil},
		{"basic auth", "GET", "/v1/heartbeat/nightly-dump", "", []string{"Authorization", "Basic " + token}, 401, "heartbeat: wrong", nil},
		{"unknown name", "GET", "/v1/heartbeat/nightly-dumb", "", bearer, 404, "heartbeat: no heartbeat at this path", nil},
		{"unknown signal", "GET", "/v1/heartbeat/nightly-dump/finish", "", bearer, 404, "heartbeat: no heartbeat", nil},
		{"exit code over 255", "GET", "/v1/heartbeat/nightly-dump/256", "", bearer, 400, "heartbeat: exit code over 255", nil},
		{"PUT", "PUT", "/v1/heartbeat/nightly-dump", "", bearer, 405, "heartbeat: a check-in is GET or POST", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := b.store.Signals("nightly-dump")
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.HasPrefix(body, tt.wantBody) {
				t.Errorf("%d %q, want %d %q…", resp.StatusCode, body, tt.want, tt.wantBody)
			}
			if strings.Contains(body, token) {
				t.Errorf("the answer %q holds the token", body)
			}
			after, _ := b.store.Signals("nightly-dump")
			if tt.check != nil {
				tt.check(t, after)
			} else if after != before {
				t.Errorf("a refused check-in changed the signals from %+v to %+v", before, after)
			}
		})
	}

	want := map[string]float64{"ok": 7, "unauthorized": 4, "unknown": 2, "too_large": 1, "invalid": 2, "rate_limited": 0}
	if got := b.counts(); !maps.Equal(got, want) {
		t.Errorf("lookout_heartbeat_checkins_total by result = %v, want %v", got, want)
	}
	if n := testutil.CollectAndCount(b.store); n != len(want) {
		t.Errorf("%d series of lookout_heartbeat_checkins_total, want %d (one per result, never per name)", n, len(want))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notified) != 7 || slices.ContainsFunc(notified, func(n string) bool { return n != "nightly-dump" }) {
		t.Errorf("OnCheckin heard %v, want nightly-dump for each of the 7 accepted check-ins", notified)
	}
	if other, _ := b.store.Signals("backup"); !other.Success.IsZero() || !other.Fail.IsZero() || !other.Start.IsZero() {
		t.Errorf("backup's signals changed: %+v", other)
	}
}

// TestCheckinsLimitedPerClient: a client over the rate LimitClients sets
// is answered 429 with Retry-After before its token is read, counted as
// rate_limited, and its check-in changes nothing; another client is not
// affected.
func TestCheckinsLimitedPerClient(t *testing.T) {
	b := newBeats(t, twoBeats)
	left := map[string]int{"192.0.2.1": 2}
	b.store.LimitClients(func(r *http.Request) bool {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		n, limited := left[host]
		if !limited {
			return true
		}
		left[host] = n - 1
		return n > 0
	})
	checkin := func(remote, bearer string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/heartbeat/nightly-dump", nil)
		req.RemoteAddr = remote + ":40000"
		req.Header.Set("Authorization", "Bearer "+bearer)
		rec := httptest.NewRecorder()
		b.store.ServeHTTP(rec, req)
		return rec
	}
	for i, want := range []int{http.StatusOK, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusTooManyRequests} {
		bearer := token
		if i == 1 {
			bearer = "wrong"
		}
		if rec := checkin("192.0.2.1", bearer); rec.Code != want {
			t.Errorf("check-in %d from the limited client: %d, want %d", i+1, rec.Code, want)
		} else if want == http.StatusTooManyRequests && rec.Header().Get("Retry-After") != "1" {
			t.Errorf("a 429 without Retry-After: %v", rec.Header())
		}
	}
	before, _ := b.store.Signals("nightly-dump")
	if rec := checkin("192.0.2.1", token); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("over the rate: %d", rec.Code)
	}
	if after, _ := b.store.Signals("nightly-dump"); after != before {
		t.Errorf("a refused check-in changed the signals from %+v to %+v", before, after)
	}
	if rec := checkin("198.51.100.7", token); rec.Code != http.StatusOK {
		t.Errorf("another client: %d, want 200", rec.Code)
	}
	if got := b.counts()["rate_limited"]; got != 3 {
		t.Errorf("rate_limited = %v, want 3", got)
	}
}

// TestCheckinCountersStartAtZero: every result has its series at 0 before
// any check-in, so increase() counts the first.
func TestCheckinCountersStartAtZero(t *testing.T) {
	b := newBeats(t, twoBeats)
	want := map[string]float64{"ok": 0, "unauthorized": 0, "unknown": 0, "too_large": 0, "invalid": 0, "rate_limited": 0}
	if got := b.counts(); !maps.Equal(got, want) {
		t.Errorf("lookout_heartbeat_checkins_total = %v, want %v", got, want)
	}
}

// TestReconfigure: a heartbeat kept by a reload keeps its signals and
// takes its new token; a removed one answers 404.
func TestReconfigure(t *testing.T) {
	b := newBeats(t, twoBeats)
	b.checkin("POST", "/v1/heartbeat/nightly-dump", "")
	created, _ := b.store.Signals("nightly-dump")
	b.configure(`
  - name: nightly-dump
    heartbeat: {schedule: "0 4 * * *", token: a-new-token-0123456789}
`)
	sig, ok := b.store.Signals("nightly-dump")
	if !ok || sig != created {
		t.Errorf("after the reload nightly-dump has %+v (known %v), want %+v", sig, ok, created)
	}
	for _, tt := range []struct {
		path, token string
		want        int
	}{
		{"/v1/heartbeat/nightly-dump", token, 401},
		{"/v1/heartbeat/nightly-dump", "a-new-token-0123456789", 200},
		{"/v1/heartbeat/backup", "other-token-0123456789", 404},
	} {
		rec := httptest.NewRecorder()
		b.store.ServeHTTP(rec, httptest.NewRequest("GET", tt.path+"?token="+tt.token, nil))
		if rec.Code != tt.want {
			t.Errorf("%s with token %s…: %d, want %d", tt.path, tt.token[:4], rec.Code, tt.want)
		}
	}
	if _, ok := b.store.Signals("backup"); ok {
		t.Error("the store still knows backup, which the reload removed")
	}
}

package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// uptimeOf reads a probe's uptime report of the current hour.
func uptimeOf(t *testing.T, r *running, probe string) uptimeReport {
	t.Helper()
	resp, body := r.get(t, "/api/v1/probes/"+probe+"/uptime?step=1h&from="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("uptime of %s: %d %s", probe, resp.StatusCode, body)
	}
	var rep uptimeReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestUptimeAPI: a daemon counts a probe that answers as up and one that
// fails as down, reports it per hour with the uptime, keeps it across a
// restart, and refuses bad parameters naming them.
func TestUptimeAPI(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer target.Close()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, fmt.Sprintf(`storage: {path: %q}
probes:
  - {name: shop, interval: 1s, http: {url: %q}}
  - {name: api, interval: 1s, http: {url: %q}}
`, filepath.Join(dir, "data"), target.URL+"/", target.URL+"/broken"))
	fast := func(o *Options) { o.UptimeEvery = 50 * time.Millisecond }
	r := startDaemonWith(t, cfgFile, fast)
	deadline := time.Now().Add(15 * time.Second)
	for uptimeOf(t, r, "shop").Total.Up < 2 || uptimeOf(t, r, "api").Total.Down < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not 2 s of uptime counted within 15 s: %+v %+v", uptimeOf(t, r, "shop"), uptimeOf(t, r, "api"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	shop, api := uptimeOf(t, r, "shop"), uptimeOf(t, r, "api")
	r.stop(t)
	switch {
	case shop.Total.Uptime == nil || *shop.Total.Uptime != 1 || shop.Total.Down != 0:
		t.Errorf("shop: %+v; want up only, uptime 1", shop.Total)
	case api.Total.Uptime == nil || *api.Total.Uptime != 0 || api.Total.Up != 0:
		t.Errorf("api: %+v; want down only, uptime 0", api.Total)
	}

	r = startDaemonWith(t, cfgFile, fast)
	defer r.stop(t)
	again := uptimeOf(t, r, "shop")
	if again.Total.Up < shop.Total.Up {
		t.Errorf("after a restart shop has %.1f s up; want at least the %.1f s counted before", again.Total.Up, shop.Total.Up)
	}
	if again.Bytes < 50 || again.Bytes > 100 {
		t.Errorf("shop's periods take %d bytes in lookout.db; want its hour and its day, 25 bytes each (or the next hour's too)", again.Bytes)
	}
	for _, c := range []struct{ query, want string }{
		{"step=2d", `step: "2d" is not a step; want 1d or 1h`},
		{"from=yesterday", `from: "yesterday" is not a time`},
		{"from=2030-01-01T00:00:00Z", "from: 2030-01-01T00:00:00Z is not before to"},
		{"step=1h&from=0", "periods asked for; at most"},
	} {
		resp, body := r.get(t, "/api/v1/probes/shop/uptime?"+c.query)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("?%s: %d %q; want 400 saying %q", c.query, resp.StatusCode, body, c.want)
		}
	}
	if resp, _ := r.get(t, "/api/v1/probes/nope/uptime"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown probe's uptime: %d, want 404", resp.StatusCode)
	}
}

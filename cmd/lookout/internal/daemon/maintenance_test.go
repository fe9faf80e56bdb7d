package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/alerting/maintenance"
)

// probeDownStatus is ProbeDown of probe api as GET /api/v1/alerts shows
// it; ok is false while it is not firing.
func probeDownStatus(t *testing.T, d *running) (a apiAlert, ok bool) {
	t.Helper()
	_, body := d.get(t, "/api/v1/alerts")
	var out struct {
		Alerts []apiAlert `json:"alerts"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("decode /api/v1/alerts: %v\n%s", err, body)
	}
	for _, a := range out.Alerts {
		if a.Rule == "ProbeDown" && a.Labels.Get("probe") == "api" && a.State.String() == "firing" {
			return a, true
		}
	}
	return apiAlert{}, false
}

// del sends a DELETE to the daemon.
func (r *running) del(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, r.base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestMaintenanceWindowMutes: a one-off window created through the API
// for a probe that then goes down mutes its ProbeDown (no page; the
// alerts API shows it suppressed by the window) and its down time counts
// as maintenance; ended through the API, the alert pages and the time
// counts as down. A configured window added by a reload mutes it again,
// and cannot be ended through the API.
func TestMaintenanceWindowMutes(t *testing.T) {
	target, hook := newFlappingTarget(t), newHookServer(t)
	dir := t.TempDir()
	cfgFile := alertingConfig(t, dir, target.srv.URL, hook.srv.URL)
	d := startDaemonWith(t, cfgFile, func(o *Options) { o.UptimeEvery = 50 * time.Millisecond })
	defer d.stop(t)

	resp, body := d.post(t, "/api/v1/maintenance", `{"matchers":["probe=\"api\""],"duration":"1h","message":"database upgrade","createdBy":"alice"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create a window: %d %s", resp.StatusCode, body)
	}
	var win maintenance.Window
	if err := json.Unmarshal([]byte(body), &win); err != nil || win.ID == "" || win.State != "active" || win.End.Sub(win.Start) != time.Hour {
		t.Fatalf("created window %s (%v); want an active one of an hour, with an ID", body, err)
	}
	target.down.Store(true)
	waitFor(t, 10*time.Second, "ProbeDown to fire", func() bool { _, ok := probeDownStatus(t, d); return ok })
	hook.quiet(t, time.Second) // a few group intervals
	if a, _ := probeDownStatus(t, d); !a.Suppressed || !slices.Equal(a.SilencedBy, []string{win.ID}) {
		t.Errorf("ProbeDown during the window: suppressed %v, silenced by %v; want suppressed by [%s]", a.Suppressed, a.SilencedBy, win.ID)
	}
	if _, body := d.get(t, "/api/v1/maintenance"); !strings.Contains(body, win.ID) || !strings.Contains(body, `"state": "active"`) {
		t.Errorf("GET /api/v1/maintenance lacks the active window:\n%s", body)
	}
	during := uptimeOf(t, d, "api").Total
	if during.Maintenance <= 0 || during.Down != 0 {
		t.Errorf("uptime during the window: %+v; want maintenance seconds and no down seconds", during)
	}

	resp, body = d.del(t, "/api/v1/maintenance/"+win.ID)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"state": "ended"`) {
		t.Fatalf("end the window: %d %s", resp.StatusCode, body)
	}
	m := hook.next(t, "firing", 15*time.Second)
	if m.Alerts[0].Labels["alertname"] != "ProbeDown" || m.Alerts[0].Labels["probe"] != "api" {
		t.Errorf("paged after the window: %+v", m)
	}
	waitFor(t, 10*time.Second, "down seconds after the window", func() bool { return uptimeOf(t, d, "api").Total.Down > 0 })
	if after := uptimeOf(t, d, "api").Total; after.Maintenance < during.Maintenance {
		t.Errorf("maintenance seconds went from %.3f to %.3f", during.Maintenance, after.Maintenance)
	}

	cfg, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	writeConfig(t, cfgFile, string(cfg)+fmt.Sprintf(`maintenance:
  - name: deploy
    start: %q
    end: %q
    matchers: ['probe="api"']
    message: Deploying the API
`, now.Add(-time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)))
	if resp, body := postReload(t, d); resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	if a, _ := probeDownStatus(t, d); !a.Suppressed || !slices.Equal(a.SilencedBy, []string{"maintenance:deploy"}) {
		t.Errorf("ProbeDown after a reload with a window: suppressed %v, silenced by %v; want suppressed by [maintenance:deploy]", a.Suppressed, a.SilencedBy)
	}
	_, body = d.get(t, "/api/v1/maintenance")
	var list maintenance.Listing
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Configured) != 1 || list.Configured[0].ID != "maintenance:deploy" || list.Configured[0].Current == nil || list.Configured[0].Message != "Deploying the API" ||
		len(list.OneOffs) != 1 || list.OneOffs[0].State != "ended" {
		t.Errorf("GET /api/v1/maintenance: %s; want the configured window on, and the one-off ended", body)
	}
	resp, body = d.del(t, "/api/v1/maintenance/maintenance:deploy")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "edit or remove it in the config file's maintenance section and reload") {
		t.Errorf("ending a configured window: %d %q; want 409 saying to edit the config", resp.StatusCode, body)
	}
}

// TestMaintenanceAPIRefuses: every refusal of POST /api/v1/maintenance
// has its status (400 not a valid window, 422 refused by a bound) and
// names the field; DELETE of an unknown window is 404.
func TestMaintenanceAPIRefuses(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/lookout.yml"
	writeConfig(t, cfg, fmt.Sprintf("server: {listen: \"127.0.0.1:0\"}\nstorage: {path: %q}\n", dir+"/data"))
	d := startDaemon(t, cfg)
	defer d.stop(t)

	tests := []struct {
		name   string
		body   string
		status int
		want   string // the answer starts with it
	}{
		{"no matchers", `{"matchers":[],"duration":"1h"}`, http.StatusBadRequest, "maintenance: matchers: missing"},
		{"a matcher that does not parse", `{"matchers":["probe=~\"(\""],"duration":"1h"}`, http.StatusBadRequest, `maintenance: matchers: matcher 1`},
		{"matchers that mute everything", `{"matchers":["probe=~\".*\""],"duration":"1h"}`, http.StatusUnprocessableEntity,
			`maintenance: matchers: every matcher ({probe=~".*"}) matches alerts without the label`},
		{"no duration or end", `{"matchers":["probe=\"api\""]}`, http.StatusBadRequest, "maintenance: duration: missing"},
		{"over 7 days", `{"matchers":["probe=\"api\""],"duration":"169h"}`, http.StatusUnprocessableEntity,
			"maintenance: duration: 169h0m0s from start to end is longer than a window may last"},
		{"an end in the past", `{"matchers":["probe=\"api\""],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2020-01-01T01:00:00Z"}`, http.StatusBadRequest,
			"maintenance: endsAt: 2020-01-01T01:00:00Z is in the past"},
		{"a long message", fmt.Sprintf(`{"matchers":["probe=\"api\""],"duration":"1h","message":%q}`, strings.Repeat("m", 501)), http.StatusUnprocessableEntity,
			"maintenance: message: is 501 characters; want at most 500"},
		{"an unknown field", `{"matchers":["probe=\"api\""],"duration":"1h","comment":"x"}`, http.StatusBadRequest,
			`maintenance: invalid JSON body: unknown field "comment"; valid fields: matchers, duration, startsAt, endsAt, message, createdBy`},
		{"a bad time, named", `{"matchers":["probe=\"api\""],"endsAt":"soon"}`, http.StatusBadRequest,
			`maintenance: invalid JSON body: field "endsAt": parsing time "soon"`},
		{"a body far over the bound", fmt.Sprintf(`{"matchers":["probe=\"api\""],"duration":"1h","message":%q}`, strings.Repeat("m", 70000)), http.StatusRequestEntityTooLarge,
			"maintenance: request body over 65536 bytes"},
		{"a window from an end", fmt.Sprintf(`{"matchers":["probe=\"api\""],"endsAt":%q,"createdBy":"bob"}`, time.Now().Add(time.Hour).Format(time.RFC3339)), http.StatusCreated, "{"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := d.post(t, "/api/v1/maintenance", tt.body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(body, tt.want) {
				t.Errorf("got %d %q\nwant %d %q", resp.StatusCode, body, tt.status, tt.want)
			}
		})
	}
	if resp, body := d.del(t, "/api/v1/maintenance/maintenance-nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("ending an unknown window: %d %s, want 404", resp.StatusCode, body)
	}
}

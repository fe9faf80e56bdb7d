package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/kinds"
	"github.com/lookout-dev/lookout/probes/browserprobe"
	"github.com/lookout-dev/lookout/probes/heartbeat"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

const beatToken = "s3cret-heartbeat-token-4f9a"

// heartbeatConfig has two heartbeat probes and a public listener: dump is
// evaluated once an hour (only a check-in runs it sooner), backup every
// second.
func heartbeatConfig(dir string) string {
	return fmt.Sprintf(`server:
  listen: 127.0.0.1:0
  public: {listen: 127.0.0.1:0}
storage:
  path: %s
probes:
  - name: dump
    interval: 1h
    heartbeat: {schedule: "0 3 * * *", timezone: Europe/Berlin, grace: 1h, token: %s}
  - name: backup
    interval: 1s
    heartbeat: {every: 1h, grace: 5m, token: %s}
`, filepath.Join(dir, "data"), beatToken, beatToken)
}

// beatDaemon is a daemon started as main starts it, with a store of
// check-ins, and the address of its public listener.
type beatDaemon struct {
	*running
	public string
}

func startBeatDaemon(t *testing.T, cfgFile string) *beatDaemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	admin, public := make(chan net.Addr, 1), make(chan net.Addr, 1)
	logs := &syncBuffer{}
	r := &running{cancel: cancel, done: make(chan error, 1), logs: logs}
	beats := heartbeat.NewStore()
	browser := browserprobe.NewBrowser(slog.New(slog.DiscardHandler)) // Chromium starts with the first browser probe
	go func() {
		r.done <- Run(ctx, Options{Kinds: kinds.All(httpprobe.NewTransports(), beats, browser), Heartbeats: beats, Browser: browser,
			ConfigFile: cfgFile, Version: "test", Logger: slog.New(slog.NewTextHandler(logs, nil)),
			Listening: func(a net.Addr) { admin <- a }, ListeningPublic: func(a net.Addr) { public <- a },
		})
	}()
	d := &beatDaemon{running: r}
	select {
	case a := <-admin:
		r.base = "http://" + a.String()
		d.public = "http://" + (<-public).String()
	case err := <-r.done:
		t.Fatalf("daemon did not start: %v", err)
	}
	return d
}

// checkin sends a check-in to the public listener and returns the status.
func (d *beatDaemon) checkin(t *testing.T, method, path, tok, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, d.public+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// beatStatus is a heartbeat probe as /api/v1/probes/NAME shows it.
type beatStatus struct {
	State   string `json:"state"`
	Reason  string `json:"reason"`
	Results []struct {
		State              string    `json:"state"`
		LastSuccess        time.Time `json:"last_success"`
		LastStart          time.Time `json:"last_start"`
		Running            bool      `json:"running"`
		RunDurationSeconds float64   `json:"run_duration_seconds"`
	} `json:"results"`
}

func (d *beatDaemon) status(t *testing.T, name string) (beatStatus, string) {
	t.Helper()
	_, body := d.get(t, "/api/v1/probes/"+name)
	var st beatStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("decode /api/v1/probes/%s: %v\n%s", name, err, body)
	}
	return st, body
}

// waitFor polls the probe's status until ok holds, for up to 10 s: only
// the outcome is asserted, never how long it took.
func (d *beatDaemon) waitFor(t *testing.T, name, what string, ok func(beatStatus) bool) beatStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := d.status(t, name)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never %s; last status:\n%s", name, what, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCheckinRateLimit: one client address past its burst of check-ins
// is answered 429 with Retry-After, counted as rate_limited, while
// another address (here a client behind a trusted proxy, by its
// X-Forwarded-For) still checks in. The test sends at most 450 check-ins,
// to 127.0.0.1.
func TestCheckinRateLimit(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, strings.Replace(heartbeatConfig(dir), "public: {listen: 127.0.0.1:0}",
		"public: {listen: 127.0.0.1:0, trusted_proxies: [127.0.0.1]}", 1))
	d := startBeatDaemon(t, cfgFile)
	defer d.stop(t)
	checkin := func(client string) *http.Response {
		req, _ := http.NewRequest("POST", d.public+"/v1/heartbeat/backup", nil)
		req.Header.Set("Authorization", "Bearer "+beatToken)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	accepted, limited := 0, 0
	for range checkinBurst + 150 {
		resp := checkin("203.0.113.9")
		switch resp.StatusCode {
		case http.StatusOK:
			accepted++
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("429 without Retry-After: %v", resp.Header)
			}
		default:
			t.Fatalf("check-in: %d", resp.StatusCode)
		}
	}
	if accepted < checkinBurst || limited == 0 {
		t.Errorf("one address: %d accepted, %d refused; want its burst of %d accepted, then 429s", accepted, limited, checkinBurst)
	}
	if resp := checkin("198.51.100.20"); resp.StatusCode != http.StatusOK {
		t.Errorf("another address: %d, want 200", resp.StatusCode)
	}
	_, metrics := d.get(t, "/metrics")
	if want := fmt.Sprintf(`lookout_heartbeat_checkins_total{result="rate_limited"} %d`, limited); !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "lookout_heartbeat_checkins_total"))
	}
}

// TestHeartbeatCheckins: check-ins reach the public listener only; a
// failure makes a probe evaluated once an hour down at once, with the
// job's words as the reason, and a success brings it back; refusals are
// counted, and the token is nowhere to be read.
func TestHeartbeatCheckins(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, heartbeatConfig(dir))
	d := startBeatDaemon(t, cfgFile)
	defer d.stop(t)

	if got := d.checkin(t, "POST", "/v1/heartbeat/dump/fail", beatToken, "pg_dump: disk full"); got != http.StatusOK {
		t.Fatalf("fail check-in: %d", got)
	}
	d.waitFor(t, "dump", "down with the job's reason", func(st beatStatus) bool {
		return st.State == "down" && st.Reason == "pg_dump: disk full"
	})
	if got := d.checkin(t, "GET", "/v1/heartbeat/dump/0", beatToken, ""); got != http.StatusOK {
		t.Fatalf("exit code 0 check-in: %d", got)
	}
	d.waitFor(t, "dump", "up again", func(st beatStatus) bool { return st.State == "up" })

	refused := []struct {
		name, path, token string
		want              int
	}{
		{"wrong token", "/v1/heartbeat/dump", "s3cret-heartbeat-token-0000", http.StatusUnauthorized},
		{"no token", "/v1/heartbeat/dump", "", http.StatusUnauthorized},
		{"unknown name", "/v1/heartbeat/dumpster", beatToken, http.StatusNotFound},
	}
	for _, tt := range refused {
		if got := d.checkin(t, "GET", tt.path, tt.token, ""); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
	req, _ := http.NewRequest("POST", d.base+"/v1/heartbeat/dump", nil)
	req.Header.Set("Authorization", "Bearer "+beatToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("the admin listener answered a check-in with %v %v; want 404, the public listener serves them", resp.StatusCode, err)
	}

	_, metrics := d.get(t, "/metrics")
	for _, want := range []string{
		`lookout_heartbeat_checkins_total{result="ok"} 2`,
		`lookout_heartbeat_checkins_total{result="unauthorized"} 2`,
		`lookout_heartbeat_checkins_total{result="unknown"} 1`,
		`lookout_heartbeat_last_ping_timestamp_seconds{kind="fail",probe="dump"} `,
		`lookout_heartbeat_last_ping_timestamp_seconds{kind="success",probe="dump"} `,
		`lookout_storage_write_failures_total{component="heartbeats",reason="other"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, `kind="start",probe="dump"`) {
		t.Error("/metrics has a start of dump, which never started")
	}
	_, api := d.get(t, "/api/v1/probes")
	for where, text := range map[string]string{"/metrics": metrics, "/api/v1/probes": api, "the log": d.logs.String()} {
		if strings.Contains(text, beatToken) {
			t.Errorf("%s shows the heartbeat's token", where)
		}
	}
}

// TestHeartbeatRestart: Lookout restarts between a job's start and its
// success. After the restart the probe is up (the success before it still
// counts; no missed run is invented), keeps the start, and the success's
// run lasts from that start.
func TestHeartbeatRestart(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "lookout.yml")
	writeConfig(t, cfgFile, heartbeatConfig(dir))

	d := startBeatDaemon(t, cfgFile)
	if got := d.checkin(t, "POST", "/v1/heartbeat/backup", beatToken, ""); got != http.StatusOK {
		t.Fatalf("success: %d", got)
	}
	startSent := time.Now()
	if got := d.checkin(t, "POST", "/v1/heartbeat/backup/start", beatToken, ""); got != http.StatusOK {
		t.Fatalf("start: %d", got)
	}
	startDone := time.Now()
	before := d.waitFor(t, "backup", "running", func(st beatStatus) bool { return len(st.Results) > 0 && st.Results[0].Running })
	d.stop(t)

	d = startBeatDaemon(t, cfgFile)
	defer d.stop(t)
	after := d.waitFor(t, "backup", "evaluated", func(st beatStatus) bool { return len(st.Results) > 0 })
	r, was := after.Results[0], before.Results[0]
	if after.State != "up" || !r.Running || !r.LastStart.Equal(was.LastStart) || !r.LastSuccess.Equal(was.LastSuccess) {
		t.Errorf("after the restart: %s (%s), running %v, start %v, success %v; want up, running, start %v and success %v as before",
			after.State, after.Reason, r.Running, r.LastStart, r.LastSuccess, was.LastStart, was.LastSuccess)
	}
	successSent := time.Now()
	if got := d.checkin(t, "POST", "/v1/heartbeat/backup", beatToken, ""); got != http.StatusOK {
		t.Fatalf("success: %d", got)
	}
	successDone := time.Now()
	done := d.waitFor(t, "backup", "done", func(st beatStatus) bool { return len(st.Results) > 0 && st.Results[0].RunDurationSeconds > 0 })
	got := time.Duration(done.Results[0].RunDurationSeconds * float64(time.Second))
	if least, most := successSent.Sub(startDone), successDone.Sub(startSent); got < least || got > most {
		t.Errorf("the run took %v; want between %v and %v, from the start before the restart to the success after it", got, least, most)
	}
	if done.State != "up" {
		t.Errorf("backup is %s (%s) after its success, want up", done.State, done.Reason)
	}
}

// TestHeartbeatsAddedByReload: a reload that adds the first heartbeat
// probe takes its check-ins at once, with no restart, and serves their
// counter; before it every name is unknown.
func TestHeartbeatsAddedByReload(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "lookout.yml")
	full := heartbeatConfig(dir)
	writeConfig(t, cfgFile, full[:strings.Index(full, "probes:")])
	d := startBeatDaemon(t, cfgFile)
	defer d.stop(t)
	if got := d.checkin(t, "POST", "/v1/heartbeat/dump", beatToken, ""); got != http.StatusNotFound {
		t.Errorf("check-in with no heartbeat probe: %d, want 404", got)
	}
	writeConfig(t, cfgFile, full)
	if resp, body := postReload(t, d.running); resp.StatusCode != http.StatusOK {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	if logs := d.logs.String(); strings.Contains(logs, "change only at the next start") {
		t.Errorf("the reload says a restart is needed:\n%s", logs)
	}
	if got := d.checkin(t, "POST", "/v1/heartbeat/dump", beatToken, ""); got != http.StatusOK {
		t.Errorf("check-in after the reload: %d, want 200", got)
	}
	d.waitFor(t, "dump", "up from its check-in", func(st beatStatus) bool { return st.State == "up" })
	_, metrics := d.get(t, "/metrics")
	if !strings.Contains(metrics, `lookout_heartbeat_checkins_total{result="ok"} 1`) {
		t.Errorf("/metrics does not count the check-in:\n%s", grepLines(metrics, "lookout_heartbeat_"))
	}
}

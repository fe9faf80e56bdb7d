package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/daemon"
	"github.com/lookout-dev/lookout/cmd/lookout/internal/kinds"
	"github.com/lookout-dev/lookout/probes/heartbeat"
	"github.com/lookout-dev/lookout/probes/httpprobe"
)

func TestCheck(t *testing.T) {
	good := writeFile(t, "probes:\n  - name: a\n    http: {url: http://127.0.0.1:1/}\n")
	bad := writeFile(t, "probes:\n  - name: a\n    timeout: -1s\n    http: {url: 'not a url'}\n")
	badRules := writeFile(t, "alerting:\n  rule_files: [rules.yml]\nprobes: []\n")
	if err := os.WriteFile(filepath.Join(filepath.Dir(badRules), "rules.yml"), []byte("groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up ==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		file     string
		wantCode int
		wantOut  string
	}{
		{"valid", good, 0, good + ": OK, 1 probes, 23 rules"},
		{"rule file with an error", badRules, 1, filepath.Join(filepath.Dir(badRules), "rules.yml") +
			`:5:15: group "g", rule 1, "X": could not parse expression: 1:6: parse error: unexpected end of input`},
		{"every problem reported", bad, 1, bad + `:3:14: probes[0].timeout: "-1s" is negative; want a duration of 0 or more` + "\n" +
			bad + `:4:17: probes[0].http.url: is not an absolute URL; want one starting with http:// or https://, like https://api.example.com/health (the value is not shown: it may hold a password or token)`},
		{"quickstart example", "../../examples/quickstart.yml", 0, "../../examples/quickstart.yml: OK, 2 probes, 23 rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run([]string{"check", tt.file}, &out, &errOut)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %s)", code, tt.wantCode, errOut.String())
			}
			if got := strings.TrimSpace(out.String() + errOut.String()); got != tt.wantOut {
				t.Errorf("output:\n%s\nwant:\n%s", got, tt.wantOut)
			}
		})
	}
}

// TestProbeCommand: lookout probe runs one probe once, prints a report
// with phases and each check, and exits 1 when the probe is down, so it
// can gate a deployment.
func TestProbeCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"status":"DOWN"}`)
			return
		}
		io.WriteString(w, `{"status":"UP"}`)
	}))
	defer srv.Close()
	cfg := writeFile(t, fmt.Sprintf(`probes:
  - name: up
    http:
      url: %[1]s/up
      assert: ['body.status == "UP"']
  - name: down
    http:
      url: %[1]s/down
      expect: {status: [200]}
      assert: ['body.status == "UP"']
  - name: slow
    http:
      url: %[1]s/up
      degraded_if: ['duration > duration("0s")']
`, srv.URL))
	tests := []struct {
		args     []string
		wantCode int
		want     []string
	}{
		{[]string{"probe", "up", "--config", cfg}, 0, []string{"probe up: UP", "phases:     resolve", "connect", "ok    assert: expected body.status == \"UP\", got true"}},
		{[]string{"probe", "--config", cfg, "down"}, 1, []string{"probe down: DOWN", "reason:     status: expected 200, got 503 Service Unavailable",
			"FAIL  status: expected 200, got 503 Service Unavailable", `FAIL  assert: expected body.status == "UP", got body.status is "DOWN"`}},
		{[]string{"probe", "slow", "--config", cfg}, 0, []string{"probe slow: DEGRADED", "WARN  degraded_if"}},
		{[]string{"probe", "slow", "--config", cfg, "--fail-on-degraded"}, 1, []string{"probe slow: DEGRADED"}},
		{[]string{"probe", "nope", "--config", cfg}, 2, []string{`no probe named "nope"`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, &out, &errOut)
			got := out.String() + errOut.String()
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tt.wantCode, got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("report lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestUsageAndVersion(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "lookout ") {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut.String())
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lookout.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSilenceCommands drives lookout silence add, ls and expire against a
// real daemon.
func TestSilenceCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lookout.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("server: {listen: \"127.0.0.1:0\"}\nstorage: {path: %q}\nprobes: []\n", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "http://" + startDaemon(t, cfg)

	var out, errOut bytes.Buffer
	if code := run([]string{"silence", "add", "--url", url, "--author", "bob", "--duration", "1h", `alertname="ProbeDown"`}, &out, &errOut); code != 0 {
		t.Fatalf("add: exit %d: %s", code, errOut.String())
	}
	id, _, _ := strings.Cut(out.String(), " ")
	out.Reset()
	if code := run([]string{"silence", "ls", "--url", url}, &out, &errOut); code != 0 || !strings.Contains(out.String(), id+"  active") {
		t.Errorf("ls: exit %d:\n%s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"silence", "expire", "--url", url, id}, &out, &errOut); code != 0 {
		t.Errorf("expire: exit %d: %s", code, errOut.String())
	}
	out.Reset()
	if run([]string{"silence", "ls", "--url", url}, &out, &errOut); !strings.Contains(out.String(), id+"  expired") {
		t.Errorf("after expire:\n%s", out.String())
	}
	errOut.Reset()
	if code := run([]string{"silence", "add", "--url", url, "--author", "bob", `alertname=~"("`}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "400 Bad Request: silence: matchers") {
		t.Errorf("bad matcher: exit %d: %s", code, errOut.String())
	}
}

// TestTestRules: lookout test rules runs promtool-format rule tests and
// exits 1 when one fails, so it can gate CI.
func TestTestRules(t *testing.T) {
	const dir = "../../alerting/rules/ruletest/testdata/"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"passing", []string{"test", "rules", dir + "pass.yml"}, 0, "SUCCESS: 3 tests"},
		{"failing", []string{"test", "rules", dir + "pass.yml", dir + "fail.yml"}, 1, `differs in: label severity: expected "ticket", got "page"`},
		{"no file", []string{"test", "rules"}, 2, "want lookout test rules FILE..."},
		{"unknown kind", []string{"test", "probes", "x.yml"}, 2, "want lookout test rules FILE..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, &out, &errOut)
			got := out.String() + errOut.String()
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\n%s", code, tt.wantCode, got)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, got)
			}
		})
	}
}

// startDaemon runs the daemon on cfg until the test ends and returns the
// address it listens on.
func startDaemon(t *testing.T, cfg string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, daemon.Options{Kinds: kinds.All(httpprobe.NewTransports(), heartbeat.NewStore(), nil), ConfigFile: cfg, Logger: slog.New(slog.DiscardHandler), Listening: func(a net.Addr) { addr <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return (<-addr).String()
}

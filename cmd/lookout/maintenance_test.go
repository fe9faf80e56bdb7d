package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lsRow is the row of window id in lookout maintenance ls's output, split
// into its columns; nil when there is none.
func lsRow(out, id string) []string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == id {
			return f
		}
	}
	return nil
}

// TestMaintenanceCommands drives lookout maintenance start, ls and end
// against a real daemon with a configured window.
func TestMaintenanceCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lookout.yml")
	now := time.Now()
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {listen: "127.0.0.1:0"}
storage: {path: %q}
probes: []
maintenance:
  - name: deploy
    start: %q
    end: %q
    matchers: ['probe="api"']
    message: Deploying the API
`, dir, now.Add(-time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "http://" + startDaemon(t, cfg)

	var out, errOut bytes.Buffer
	if code := run([]string{"maintenance", "start", "--url", url, "--author", "bob", "--duration", "1h", "--message", "db upgrade", `probe=~"db-.*"`}, &out, &errOut); code != 0 {
		t.Fatalf("start: exit %d: %s", code, errOut.String())
	}
	id, until, _ := strings.Cut(strings.TrimSpace(out.String()), " until ")
	if end, err := time.Parse(time.RFC3339, until); err != nil || end.Sub(now) < 59*time.Minute || end.Sub(now) > 61*time.Minute {
		t.Errorf("start printed %q; want the ID and an end an hour from now", out.String())
	}
	out.Reset()
	if code := run([]string{"maintenance", "ls", "--url", url}, &out, &errOut); code != 0 {
		t.Fatalf("ls: exit %d: %s", code, errOut.String())
	}
	if row := lsRow(out.String(), id); len(row) < 7 || row[1] != "active" || row[4] != "bob" || row[5] != `probe=~"db-.*"` || strings.Join(row[6:], " ") != "db upgrade" {
		t.Errorf("ls shows the one-off as %q:\n%s", row, out.String())
	}
	if row := lsRow(out.String(), "maintenance:deploy"); len(row) < 5 || row[1] != "active" || row[4] != "config" {
		t.Errorf("ls shows the configured window as %q:\n%s", row, out.String())
	}
	out.Reset()
	if code := run([]string{"maintenance", "end", "--url", url, id}, &out, &errOut); code != 0 || out.String() != "ended "+id+"\n" {
		t.Errorf("end: exit %d: %q %s", code, out.String(), errOut.String())
	}
	out.Reset()
	if run([]string{"maintenance", "ls", "--url", url}, &out, &errOut); len(lsRow(out.String(), id)) < 2 || lsRow(out.String(), id)[1] != "ended" {
		t.Errorf("after end:\n%s", out.String())
	}

	failures := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"a configured window", []string{"end", "--url", url, "maintenance:deploy"}, 1,
			`lookout maintenance end: 409 Conflict: maintenance "deploy" cannot be ended here: it is configured: edit or remove it in the config file's maintenance section and reload`},
		{"an unknown window", []string{"end", "--url", url, "maintenance-nope"}, 1,
			`lookout maintenance end: 404 Not Found: maintenance window "maintenance-nope": no such maintenance window`},
		{"a bad matcher", []string{"start", "--url", url, "--duration", "1h", `probe=~"("`}, 1, "lookout maintenance start: 400 Bad Request: maintenance: matchers: matcher 1"},
		{"a matcher that mutes everything", []string{"start", "--url", url, "--duration", "1h", `probe=~".*"`}, 1,
			"lookout maintenance start: 422 Unprocessable Entity: maintenance: matchers: every matcher"},
		{"over 7 days", []string{"start", "--url", url, "--duration", "200h", `probe="api"`}, 1,
			"lookout maintenance start: 422 Unprocessable Entity: maintenance: duration: 200h0m0s from start to end is longer than a window may last"},
		{"no duration", []string{"start", "--url", url, `probe="api"`}, 2, "lookout maintenance start: want --duration"},
		{"no matcher", []string{"start", "--url", url, "--duration", "1h"}, 2, "lookout maintenance start: want at least one matcher"},
		{"no ID", []string{"end", "--url", url}, 2, "lookout maintenance end: want one window ID"},
		{"an unknown subcommand", []string{"stop"}, 2, `lookout maintenance: unknown subcommand "stop"`},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"maintenance"}, tt.args...), &out, &errOut)
			if code != tt.wantCode || !strings.HasPrefix(errOut.String(), tt.want) {
				t.Errorf("exit %d, %q; want exit %d, %q", code, errOut.String(), tt.wantCode, tt.want)
			}
		})
	}
}

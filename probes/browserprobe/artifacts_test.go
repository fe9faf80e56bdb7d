package browserprobe_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/config"
	"github.com/lookout-dev/lookout/probes"
	"github.com/lookout-dev/lookout/probes/browserprobe"
)

// artifactsAt is the browser: settings that keep evidence in dir.
func artifactsAt(dir string, keep int) string {
	return fmt.Sprintf("  artifacts: {path: %s, keep_per_probe: %d}\n", dir, keep)
}

// TestEvidenceOfFailingRun signs in, the password from a secret, on the
// site that then shows it every way it can, and waits for a text that
// never comes: the down run leaves a screenshot, the console lines and
// the requests (the failing one with its status), in private files,
// without the password in any form; a passing run leaves nothing.
func TestEvidenceOfFailingRun(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	dir := t.TempDir()
	cfg := loadConfig(t, chrome, artifactsAt(dir, 5), "20s", indent(6, `url: `+srv.URL+`/login.html
device: mobile
steps:
  - fill: {selector: "#email", value: probe@example.com}
  - fill: {selector: "#password", value: "${PROBE_PASSWORD}", secret: true}
  - click: {selector: "#submit"}
  - wait_for: {text: "Goodbye", timeout: 1s}`))
	b := shared(t, cfg, &log)
	r, _ := runner(t, b, cfg, &log)
	res := r.Probe(t.Context())
	if res.State != probes.Down || res.ProberError {
		t.Fatalf("run: %s, %q (prober error %v); want down", res.State, res.Reason, res.ProberError)
	}
	runs, err := b.Artifacts().Runs("t")
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v, %v; want the one down run", runs, err)
	}
	run := runs[0]
	// The run's folder is named after the prober's start, to the
	// millisecond, which is within the Runner's result.
	if run.Reason != res.Reason || run.Time.Before(res.Start.Truncate(time.Millisecond)) || run.Time.After(res.Start.Add(res.Duration)) {
		t.Errorf("listed run %q at %v; want the run's reason %q and a time from %v to %v", run.Reason, run.Time, res.Reason, res.Start.UTC(), res.Start.Add(res.Duration).UTC())
	}
	var names []string
	for _, f := range run.Files {
		names = append(names, f.Name)
		if f.Bytes <= 0 {
			t.Errorf("%s has %d bytes", f.Name, f.Bytes)
		}
	}
	if got := strings.Join(names, ", "); got != "console.json, requests.json, run.json, screenshot.png" {
		t.Fatalf("files %s; want console.json, requests.json, run.json, screenshot.png", got)
	}
	files := map[string][]byte{}
	for _, name := range names {
		f, info, err := b.Artifacts().Open("t", run.Run, name)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(f)
		f.Close()
		if err != nil || int64(buf.Len()) != info.Bytes {
			t.Fatalf("read %s: %v, %d bytes of %d", name, err, buf.Len(), info.Bytes)
		}
		files[name] = buf.Bytes()
	}

	img, err := png.Decode(bytes.NewReader(files["screenshot.png"]))
	if err != nil {
		t.Fatalf("screenshot.png: %v", err)
	}
	if w, h := img.Bounds().Dx(), img.Bounds().Dy(); w < 200 || h < 200 || max(w, h) > 1600 {
		t.Errorf("screenshot %dx%d; want the phone's viewport, its larger side at most 1600", w, h)
	}
	var console []browserprobe.ConsoleLine
	if err := json.Unmarshal(files["console.json"], &console); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(console, func(l browserprobe.ConsoleLine) bool {
		return l.Kind == "console.error" && strings.Contains(l.Text, "password was ***")
	}) {
		t.Errorf("console.json %+v; want the console.error line, the password as ***", console)
	}
	var requests []browserprobe.RequestEntry
	if err := json.Unmarshal(files["requests.json"], &requests); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(requests, func(e browserprobe.RequestEntry) bool {
		return strings.HasSuffix(e.URL, "/avatar/***.png") && e.Status == 404 && e.Type == "Image"
	}) || !slices.ContainsFunc(requests, func(e browserprobe.RequestEntry) bool {
		return e.URL == srv.URL+"/login.html" && e.Status == 200 && e.Type == "Document" && e.Bytes > 0
	}) {
		t.Errorf("requests.json %+v; want the page (200, its bytes) and the avatar that failed (404, the password as ***)", requests)
	}
	for name, b := range files {
		text := string(b)
		if strings.HasSuffix(name, ".json") {
			text = unescaped(t, b)
		}
		for _, form := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
			if strings.Contains(text, form) {
				t.Errorf("%s shows the secret (%q)", name, form)
			}
		}
	}
	checkPrivate(t, dir)

	t.Run("a passing run leaves nothing", func(t *testing.T) {
		dir := t.TempDir()
		cfg := loadConfig(t, chrome, artifactsAt(dir, 5), "15s", indent(6, `url: `+srv.URL+`/hero.html
steps:
  - wait_for: {selector: "#hero"}`))
		b := shared(t, cfg, &log)
		r, _ := runner(t, b, cfg, &log)
		if res := r.Probe(t.Context()); res.State != probes.Up {
			t.Fatalf("run: %s, %q; want up", res.State, res.Reason)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%s holds %v after a passing run; want nothing", dir, entries)
		}
	})
}

// unescaped is a JSON document with its strings as they are, & and <
// unescaped, as a reader sees them.
func unescaped(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// checkPrivate checks that only Lookout's user may read the evidence.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = fs.ModeDir | 0o700
		}
		if info.Mode() != want {
			t.Errorf("%s is %v, want %v", path, info.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEvidenceBounded: after keep_per_probe+2 down runs only the newest
// keep_per_probe are kept; a restart with a smaller keep_per_probe applies
// it to what is on disk; with a max_bytes that holds less than two runs,
// the evidence on disk stays under it, the newest run kept.
func TestEvidenceBounded(t *testing.T) {
	chrome := chromium(t)
	srv := site(t)
	var log logBuffer
	dir := t.TempDir()
	const keep = 2
	section := indent(6, `url: `+srv.URL+`/broken.html
assert: ['js_errors == 0']`)
	cfg := loadConfig(t, chrome, artifactsAt(dir, keep), "15s", section)
	b := shared(t, cfg, &log)
	r, _ := runner(t, b, cfg, &log)
	var newest []string
	for i := range keep + 2 {
		if res := r.Probe(t.Context()); res.State != probes.Down {
			t.Fatalf("run %d: %s, %q; want down", i, res.State, res.Reason)
		}
		runs, err := b.Artifacts().Runs("t")
		if err != nil || len(runs) == 0 {
			t.Fatalf("after run %d: %+v, %v", i, runs, err)
		}
		newest = append(newest, runs[0].Run)
	}
	if got, want := listed(t, b), []string{newest[3], newest[2]}; !slices.Equal(got, want) {
		t.Errorf("kept %v after %d down runs; want the newest %d, newest first: %v", got, keep+2, keep, want)
	}

	t.Run("a restart applies the bounds to what is kept", func(t *testing.T) {
		again := shared(t, loadConfig(t, chrome, artifactsAt(dir, 1), "15s", section), &log)
		if got := listed(t, again); !slices.Equal(got, newest[3:]) {
			t.Errorf("kept %v after a start with keep_per_probe 1; want %v", got, newest[3:])
		}
	})

	t.Run("max_bytes", func(t *testing.T) {
		one := diskBytes(t, dir)
		s := cfg.Browser
		s.Artifacts.KeepPerProbe = 5
		s.Artifacts.MaxBytes = config.ByteSize(one * 3 / 2)
		b.Configure(s)
		for i := range 2 {
			if res := r.Probe(t.Context()); res.State != probes.Down {
				t.Fatalf("run %d: %s, %q; want down", i, res.State, res.Reason)
			}
			if got := diskBytes(t, dir); got > int64(s.Artifacts.MaxBytes) {
				t.Errorf("after run %d: %d bytes on disk, over max_bytes %d", i, got, s.Artifacts.MaxBytes)
			}
		}
		if got := listed(t, b); len(got) != 1 || got[0] <= newest[3] {
			t.Errorf("kept %v; want the newest run only (one run is %d bytes, max_bytes %d)", got, one, s.Artifacts.MaxBytes)
		}
	})
}

// listed are the names of the probe's kept runs, newest first.
func listed(t *testing.T, b *browserprobe.Browser) []string {
	t.Helper()
	runs, err := b.Artifacts().Runs("t")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range runs {
		names = append(names, r.Run)
	}
	return names
}

// diskBytes are the bytes of the files under dir.
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		n += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

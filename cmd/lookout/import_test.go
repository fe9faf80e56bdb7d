package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/config"
)

// blackboxTestdata holds blackbox_exporter and Prometheus configs in the
// shapes those projects ship.
const blackboxTestdata = "internal/importer/blackbox/testdata"

// TestImportBlackbox: `lookout import blackbox` writes a config that
// `lookout check` passes, exits 0 when everything was carried over, and
// when something was not, still writes the config, lists each item on
// stderr and exits 1. Unreadable input writes nothing and exits 2.
func TestImportBlackbox(t *testing.T) {
	// The README's first job alone: everything in it has its equivalent.
	complete := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(complete, []byte(`scrape_configs:
  - job_name: websites
    metrics_path: /probe
    params: {module: [http_2xx]}
    static_configs:
      - targets: [http://status.example.org, "https://shop.example.org"]
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: 127.0.0.1:9115}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, blackbox, prometheus string
		wantCode                   int
	}{
		{"complete", filepath.Join(blackboxTestdata, "readme", "blackbox.yml"), complete, importComplete},
		{"left behind", filepath.Join(blackboxTestdata, "left", "blackbox.yml"), filepath.Join(blackboxTestdata, "left", "prometheus.yml"), importPartial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run([]string{"import", "blackbox", "--config", tc.blackbox, "--prometheus", tc.prometheus}, &out, &errOut)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, errOut.String())
			}
			cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
			if err := os.WriteFile(cfgFile, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			var checkOut, checkErr bytes.Buffer
			if c := run([]string{"check", cfgFile}, &checkOut, &checkErr); c != 0 {
				t.Fatalf("lookout check on the imported config: exit %d: %s\n%s", c, checkErr.String(), out.String())
			}
			cfg, err := config.Load(cfgFile)
			if err != nil || len(cfg.Probes) == 0 {
				t.Fatalf("the imported config has no probes (%v):\n%s", err, out.String())
			}
			if strings.Contains(errOut.String(), "lookout check will say") {
				t.Errorf("the command found the config it wrote wrong:\n%s", errOut.String())
			}
			if tc.wantCode == importComplete && errOut.Len() > 0 {
				t.Errorf("nothing was left behind, yet stderr says:\n%s", errOut.String())
			}
			if tc.wantCode == importPartial {
				if !strings.Contains(errOut.String(), "items left behind:") || !strings.Contains(errOut.String(), "scrape_configs[0].file_sd_configs") {
					t.Errorf("stderr does not list what was left behind, by place:\n%s", errOut.String())
				}
			}
		})
	}

	var out, errOut bytes.Buffer
	missing := filepath.Join(t.TempDir(), "nope.yml")
	if code := run([]string{"import", "blackbox", "--config", missing,
		"--prometheus", filepath.Join(blackboxTestdata, "readme", "prometheus.yml")}, &out, &errOut); code != importFailed || out.Len() > 0 || !strings.Contains(errOut.String(), "nope.yml") {
		t.Errorf("a missing file: exit %d, stdout %q, stderr %q; want 2, nothing written, and the file named", code, out.String(), errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"import", "blackbox", "--config", missing}, &out, &errOut); code != importFailed || !strings.Contains(errOut.String(), "--prometheus") {
		t.Errorf("without --prometheus: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"import", "nagios"}, &out, &errOut); code != importFailed || !strings.Contains(errOut.String(), `unknown tool "nagios"`) {
		t.Errorf("an unknown tool: exit %d, stderr %q", code, errOut.String())
	}
}

// TestImportGatus: `lookout import gatus` writes a config that `lookout
// check` passes, exits 0 when everything was carried over and 1, with
// each item on stderr, when something was not; a missing file or extra
// arguments write nothing and exit 2.
func TestImportGatus(t *testing.T) {
	// Gatus's .examples/tcp: everything in it has its equivalent.
	complete := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(complete, []byte(`endpoints:
  - name: redis
    url: "tcp://127.0.0.1:6379"
    interval: 30s
    conditions:
      - "[CONNECTED] == true"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		wantCode   int
	}{
		{"complete", complete, importComplete},
		{"left behind", "internal/importer/gatus/testdata/readme.yaml", importPartial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run([]string{"import", "gatus", tc.file}, &out, &errOut); code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, errOut.String())
			}
			cfgFile := filepath.Join(t.TempDir(), "lookout.yml")
			if err := os.WriteFile(cfgFile, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			var checkOut, checkErr bytes.Buffer
			if c := run([]string{"check", cfgFile}, &checkOut, &checkErr); c != 0 {
				t.Fatalf("lookout check on the imported config: exit %d: %s\n%s", c, checkErr.String(), out.String())
			}
			if tc.wantCode == importComplete && errOut.Len() > 0 {
				t.Errorf("nothing was left behind, yet stderr says:\n%s", errOut.String())
			}
			if tc.wantCode == importPartial && !strings.Contains(errOut.String(), "endpoints[3].conditions[10]: [IP] == 127.0.0.1") {
				t.Errorf("stderr does not list what was left behind, by place:\n%s", errOut.String())
			}
		})
	}
	for _, args := range [][]string{
		{"import", "gatus", filepath.Join(t.TempDir(), "nope.yaml")},
		{"import", "gatus"},
		{"import", "gatus", complete, "extra"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != importFailed || out.Len() > 0 || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2, nothing written, and why", args, code, out.String(), errOut.String())
		}
	}
}

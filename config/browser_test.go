package config

import (
	"slices"
	"testing"
	"time"
)

// TestBrowserLoads: a browser probe and the browser section load as the
// README writes them, with each step's kind and default name, and the
// values of secret steps among the probe's secrets.
func TestBrowserLoads(t *testing.T) {
	cfg, err := loadTestdata(t, "testdata/browser.yml")
	if err != nil {
		t.Fatal(err)
	}
	home, pricing := cfg.Probes[0].Browser, cfg.Probes[1].Browser
	var kinds []string
	for _, s := range home.Steps {
		kinds = append(kinds, s.Kind+":"+s.Name)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"kind", cfg.Probes[0].Kind(), "browser"},
		{"executable", cfg.Browser.Executable, "/bin/sh"},
		{"max concurrent", cfg.Browser.MaxConcurrent, 2},
		{"artifacts", cfg.Browser.Artifacts, Artifacts{Path: "data/artifacts", KeepPerProbe: 5, MaxBytes: 200 << 20}},
		{"url", home.URL.String(), "https://www.example.com/"},
		{"timeout", cfg.Probes[0].Timeout.Std(), 45 * time.Second},
		{"throttle", *home.Throttle, Throttle{CPU: 4, Network: "slow-4g"}},
		{"steps", slices.Equal(kinds, []string{"wait_for:wait_for 1", "click:click 2", "fill:fill 3", "fill:fill 4", "press:press 5", "wait_for:wait_for 6"}), true},
		{"wait timeout", home.Steps[5].WaitFor.Timeout.Std(), 10 * time.Second},
		{"asserts compiled", home.Assert[0].Program != nil && home.DegradedIf[0].Program != nil, true},
		{"password is a secret", slices.Contains(cfg.Probes[0].Secrets, "pr0be-pa55word"), true},
		{"a secret literal is a secret", slices.Contains(cfg.Probes[1].Secrets, "SPRING-24"), true},
		{"a plain value is not", slices.Contains(cfg.Probes[0].Secrets, "probe@example.com"), false},
		{"default device without viewport", home.Device, DeviceDesktop},
		{"default wait_until", home.WaitUntil, WaitLoad},
		{"wait_until", pricing.WaitUntil, WaitNetworkIdle},
		{"viewport", *pricing.Viewport, Viewport{Width: 390, Height: 844}},
		{"named step", pricing.Steps[0].Name, "open the menu"},
		{"default artifacts folder", defaultArtifacts(t), "data/artifacts"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

// defaultArtifacts is where a browser probe's evidence goes when the
// config says nothing: inside the storage folder.
func defaultArtifacts(t *testing.T) string {
	t.Helper()
	cfg, err := Parse("lookout.yml", []byte("browser: {executable: /bin/sh}\nprobes:\n  - {name: home, browser: {url: \"https://www.example.com/\"}}\n"), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Browser.Artifacts.Path
}

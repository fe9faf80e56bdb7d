package config

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// BrowserSettings is the `browser:` section: the one Chromium that every
// browser probe shares, and where a failing run's evidence is kept.
type BrowserSettings struct {
	// Executable is Chromium's binary; default: the first of
	// BrowserExecutables found on PATH.
	Executable string `yaml:"executable"`
	// RemoteURL is a browser already running elsewhere (a sidecar),
	// ws://HOST:PORT or http://HOST:PORT of its DevTools endpoint; then
	// Lookout starts none.
	RemoteURL     string    `yaml:"remote_url"`
	MaxConcurrent int       `yaml:"max_concurrent"`
	Artifacts     Artifacts `yaml:"artifacts"`
}

// Artifacts bounds the evidence of failing browser runs: a screenshot,
// the console and the request list of each.
type Artifacts struct {
	Path         string   `yaml:"path"`
	KeepPerProbe int      `yaml:"keep_per_probe"`
	MaxBytes     ByteSize `yaml:"max_bytes"`
}

// BrowserExecutables are the names a Chromium is looked up by on PATH.
var BrowserExecutables = []string{"chromium", "chromium-browser", "google-chrome"}

// Defaults of the browser section.
const (
	DefaultBrowserConcurrent   = 2
	DefaultArtifactsPerProbe   = 5
	DefaultArtifactsMaxBytes   = ByteSize(200 << 20)
	defaultArtifactsFolderName = "artifacts" // in the storage folder
)

// Browser loads a page in headless Chromium, runs steps on it, and
// measures it (probes[].browser).
type Browser struct {
	URL URL `yaml:"url"`
	// Device is desktop or mobile (viewport, device pixel ratio, touch,
	// user agent); Viewport sets the size instead.
	Device   string    `yaml:"device"`
	Viewport *Viewport `yaml:"viewport"`
	Throttle *Throttle `yaml:"throttle"`
	// WaitUntil is when, after the steps, the page is measured: at once
	// (load: the page's load event was the navigation's end) or once the
	// network has been idle (networkidle).
	WaitUntil  string        `yaml:"wait_until"`
	Steps      []BrowserStep `yaml:"steps"`
	Assert     []Expr        `yaml:"assert"`
	DegradedIf []Expr        `yaml:"degraded_if"`
}

// The devices a browser probe emulates.
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
)

// When a browser probe measures its page after the steps, as Playwright's
// waitUntil names them.
const (
	WaitLoad        = "load"        // default: the navigation ends at the load event
	WaitNetworkIdle = "networkidle" // and then no request for 500 ms (at most 2 s)
)

// Viewport is a window size in CSS pixels.
type Viewport struct {
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
}

// Throttle slows the CPU by a factor and the network to a preset, so
// that runs compare with one another.
type Throttle struct {
	CPU     float64 `yaml:"cpu"`
	Network string  `yaml:"network"`
}

// NetworkProfile is a network preset's latency and throughput.
type NetworkProfile struct {
	Latency     time.Duration
	DownloadBps float64 // bytes per second
	UploadBps   float64
}

// NetworkProfiles are the presets throttle.network names: DevTools' and
// Lighthouse's.
var NetworkProfiles = map[string]NetworkProfile{
	"slow-3g": {Latency: 2000 * time.Millisecond, DownloadBps: 400e3 / 8, UploadBps: 400e3 / 8},
	"slow-4g": {Latency: 150 * time.Millisecond, DownloadBps: 1.6e6 / 8, UploadBps: 750e3 / 8}, // Lighthouse's mobile
	"fast-4g": {Latency: 40 * time.Millisecond, DownloadBps: 9e6 / 8, UploadBps: 1.5e6 / 8},
}

// BrowserStep is one action of a browser probe: exactly one of its kinds.
type BrowserStep struct {
	Name    string     `yaml:"name"` // default: the kind and its number, like "click 2"
	WaitFor *WaitFor   `yaml:"wait_for"`
	Click   *Selection `yaml:"click"`
	Fill    *Fill      `yaml:"fill"`
	Press   *Press     `yaml:"press"`
	// Kind is the kind set: wait_for, click, fill or press.
	Kind string `yaml:"-"`
}

// WaitFor waits until a selector matches a visible element, or a text
// shows in the page; Timeout bounds it within the probe's.
type WaitFor struct {
	Selector string   `yaml:"selector"`
	Text     string   `yaml:"text"`
	Timeout  Duration `yaml:"timeout"`
}

// Selection is the element a step acts on.
type Selection struct {
	Selector string `yaml:"selector"`
}

// Fill types Value into the element; Secret hides it as *** in every
// output (a ${VAR} value is hidden anyway).
type Fill struct {
	Selector string `yaml:"selector"`
	Value    string `yaml:"value"`
	Secret   bool   `yaml:"secret"`
}

// Press presses a key: one character, or one of BrowserKeys.
type Press struct {
	Key string `yaml:"key"`
}

// BrowserKeys are the keys a press step names besides single characters,
// by their DOM names.
var BrowserKeys = []string{
	"Enter", "Tab", "Escape", "Backspace", "Delete", "Space",
	"ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown",
	"F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9", "F10", "F11", "F12",
}

func (b *BrowserSettings) check(d *decoder, c *Config) {
	const at = "browser"
	if b.MaxConcurrent == 0 {
		b.MaxConcurrent = DefaultBrowserConcurrent
	} else if b.MaxConcurrent < 0 {
		d.errorAt(at+".max_concurrent", "%d is negative; want how many browser runs may be in flight at once, at least 1", b.MaxConcurrent)
	}
	a := &b.Artifacts
	if a.Path == "" {
		a.Path = filepath.Join(c.Storage.Path, defaultArtifactsFolderName)
	}
	if a.KeepPerProbe == 0 {
		a.KeepPerProbe = DefaultArtifactsPerProbe
	} else if a.KeepPerProbe < 0 {
		d.errorAt(at+".artifacts.keep_per_probe", "%d is negative; want how many failing runs' evidence to keep per probe, like 5", a.KeepPerProbe)
	}
	if a.MaxBytes == 0 {
		a.MaxBytes = DefaultArtifactsMaxBytes
	}
	if !slices.ContainsFunc(c.Probes, func(p Probe) bool { return p.Browser != nil }) {
		return
	}
	switch {
	case b.RemoteURL != "":
		u, err := url.Parse(b.RemoteURL)
		if err != nil || !slices.Contains([]string{"ws", "wss", "http", "https"}, u.Scheme) || u.Host == "" {
			d.errorAt(at+".remote_url", "%q is not a DevTools endpoint; want ws://HOST:PORT (or http://HOST:PORT) of a running Chromium", redactURL(b.RemoteURL))
		}
		if b.Executable != "" {
			d.errorAt(at+".executable", "is set beside remote_url; want one of them: Lookout starts the executable, or uses the browser at remote_url")
		}
	case b.Executable != "":
		if info, err := os.Stat(b.Executable); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			d.errorAt(at+".executable", "%q is not an executable file; want Chromium's binary, like /usr/bin/chromium", b.Executable)
		}
	default:
		for _, name := range BrowserExecutables {
			if p, err := exec.LookPath(name); err == nil {
				b.Executable = p
				break
			}
		}
		if b.Executable == "" {
			d.errorAt(at, "browser probes need Chromium, and none of %s is on PATH; install it (Debian: apt-get install chromium), or set browser.executable or browser.remote_url", strings.Join(BrowserExecutables, ", "))
		}
	}
}

func (b *Browser) check(d *decoder, x exprs, path string) {
	if b.URL.URL == nil && !d.has(path+".url") {
		d.errorAt(path+".url", "missing; want the page to load, like https://www.example.com/")
	}
	switch {
	case b.Device != "" && b.Viewport != nil:
		d.errorAt(path+".viewport", "is set beside device; want one of them")
	case b.Device == "" && b.Viewport == nil:
		b.Device = DeviceDesktop
	case b.Device != "":
		if err := oneOf(b.Device, DeviceDesktop, DeviceMobile); err != nil {
			d.errorAt(path+".device", "%v", err)
		}
	}
	if b.WaitUntil == "" {
		b.WaitUntil = WaitLoad
	} else if err := oneOf(b.WaitUntil, WaitLoad, WaitNetworkIdle); err != nil {
		d.errorAt(path+".wait_until", "%v", err)
	}
	if v := b.Viewport; v != nil && (v.Width < 1 || v.Width > 10000 || v.Height < 1 || v.Height > 10000) {
		d.errorAt(path+".viewport", "%dx%d is not a window size; want width and height from 1 to 10000 CSS pixels", v.Width, v.Height)
	}
	if t := b.Throttle; t != nil {
		if t.CPU != 0 && (t.CPU < 1 || t.CPU > 20) {
			d.errorAt(path+".throttle.cpu", "%g is not a slowdown; want a factor from 1 to 20, like 4", t.CPU)
		}
		if t.Network != "" {
			if _, ok := NetworkProfiles[t.Network]; !ok {
				d.errorAt(path+".throttle.network", "%q is not a network preset; want one of %s%s", t.Network, strings.Join(sortedKeys(NetworkProfiles), ", "), suggest(t.Network, sortedKeys(NetworkProfiles)))
			}
		}
	}
	names := map[string]int{}
	for i := range b.Steps {
		s := &b.Steps[i]
		p := fmt.Sprintf("%s.steps[%d]", path, i)
		s.check(d, p, i)
		if j, dup := names[s.Name]; dup && s.Kind != "" {
			d.errorAt(p+".name", "%q is the name of steps[%d] too; give each step a name of its own", s.Name, j)
		}
		names[s.Name] = i
	}
	x.compile(d, path, b.Assert, b.DegradedIf)
}

func (s *BrowserStep) check(d *decoder, at string, i int) {
	var kinds []string
	if s.WaitFor != nil {
		kinds = append(kinds, "wait_for")
		w := s.WaitFor
		switch {
		case w.Selector == "" && w.Text == "":
			d.errorAt(at+".wait_for", "has neither selector nor text; want what to wait for, like {selector: \"h1\"} or {text: \"Welcome back\"}")
		case w.Selector != "" && w.Text != "":
			d.errorAt(at+".wait_for.text", "is set beside selector; want one of them per step")
		}
		if w.Timeout < 0 {
			d.errorAt(at+".wait_for.timeout", "%s is negative; want how long to wait at most, like 10s", w.Timeout.Std())
		}
	}
	if s.Click != nil {
		kinds = append(kinds, "click")
		if s.Click.Selector == "" {
			d.errorAt(at+".click.selector", "missing; want a CSS selector of the element to click, like \"a[href='/login']\"")
		}
	}
	if s.Fill != nil {
		kinds = append(kinds, "fill")
		if s.Fill.Selector == "" {
			d.errorAt(at+".fill.selector", "missing; want a CSS selector of the field to fill, like \"#email\"")
		}
	}
	if s.Press != nil {
		kinds = append(kinds, "press")
		switch k := s.Press.Key; {
		case k == "":
			d.errorAt(at+".press.key", "missing; want a key, like Enter or Tab")
		case utf8.RuneCountInString(k) > 1 && !slices.Contains(BrowserKeys, k):
			d.errorAt(at+".press.key", "%q is not a key; want one character or a key name: %s%s", k, strings.Join(BrowserKeys, ", "), suggest(k, BrowserKeys))
		}
	}
	switch len(kinds) {
	case 0:
		d.errorAt(at, "has no action; want one of wait_for, click, fill, press")
		return
	case 1:
		s.Kind = kinds[0]
	default:
		d.errorAt(at, "has %d actions (%s); want exactly one per step", len(kinds), strings.Join(kinds, ", "))
		return
	}
	if s.Name == "" {
		s.Name = fmt.Sprintf("%s %d", s.Kind, i+1)
	}
}

// secrets adds the values of steps marked secret to a probe's secrets.
func (b *Browser) secrets(have []string) []string {
	for _, s := range b.Steps {
		if s.Fill != nil && s.Fill.Secret && s.Fill.Value != "" {
			have = append(have, s.Fill.Value)
		}
	}
	return longestFirst(have)
}

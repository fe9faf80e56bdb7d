// Package config loads and checks lookout.yml. Every problem in a file is
// reported together, each naming file:line:col, the field path and what
// would be valid. The package imports none of Lookout's other packages.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// Config is the whole of lookout.yml.
type Config struct {
	Server    Server    `yaml:"server"`
	Scheduler Scheduler `yaml:"scheduler"`
	Runtime   Runtime   `yaml:"runtime"`
	Storage   Storage   `yaml:"storage"`
	Alerting  Alerting  `yaml:"alerting"`
	Telemetry Telemetry `yaml:"telemetry"`
	WebVitals WebVitals `yaml:"webvitals"`
	MongoDB   []MongoDB `yaml:"mongodb"`
	// Browser is the Chromium that browser probes share.
	Browser BrowserSettings `yaml:"browser"`
	Probes  []Probe         `yaml:"probes"`

	StatusPages []StatusPage  `yaml:"status_pages"`
	Maintenance []Maintenance `yaml:"maintenance"`
	// RemoteWrite pushes Lookout's own series to remote-write receivers.
	RemoteWrite []RemoteWrite `yaml:"remote_write"`
	// Cluster, when set, makes this one replica of several sharing a
	// MongoDB state store; nil: a single replica on bbolt.
	Cluster *Cluster `yaml:"cluster"`
}

// Scheduler bounds how probes run.
type Scheduler struct {
	// MaxConcurrent is how many probe runs may be in flight at once.
	MaxConcurrent int `yaml:"max_concurrent"`
}

// Runtime tunes the Go runtime Lookout runs on.
type Runtime struct {
	// GOGC is the garbage collector's target: the heap may grow this many
	// percent over what is live before a collection. The GOGC environment
	// variable, when set, wins.
	GOGC int `yaml:"gogc"`
}

// Probe is one check Lookout runs on its own schedule.
type Probe struct {
	Name             string            `yaml:"name"`
	Interval         Duration          `yaml:"interval"`
	Schedule         *Schedule         `yaml:"schedule"`
	Timeout          Duration          `yaml:"timeout"`
	Retries          int               `yaml:"retries"`
	FailureThreshold FailureThreshold  `yaml:"failure_threshold"`
	Labels           map[string]string `yaml:"labels"`
	// Replicas is how many replicas of a cluster run the probe; Quorum is
	// how many of them must see it down for it to be down.
	Replicas Replicas `yaml:"replicas"`
	Quorum   int      `yaml:"quorum"`
	// The probe's kind: exactly one of these sections is set.
	HTTP      *HTTP      `yaml:"http"`
	TCP       *TCP       `yaml:"tcp"`
	TLS       *TLSCheck  `yaml:"tls"`
	DNS       *DNS       `yaml:"dns"`
	ICMP      *ICMP      `yaml:"icmp"`
	GRPC      *GRPC      `yaml:"grpc"`
	WebSocket *WebSocket `yaml:"websocket"`
	Heartbeat *Heartbeat `yaml:"heartbeat"`
	Flow      *Flow      `yaml:"flow"`
	Browser   *Browser   `yaml:"browser"`
	// Secrets are the values that ${VAR} references put into this probe's
	// fields, longest first, each once (empty values are not kept): what
	// its output shows as ***.
	Secrets []string `yaml:"-"`
}

// FailureThreshold damps flapping: a probe is down only when Failures of
// its last Of runs failed.
type FailureThreshold struct {
	Failures int `yaml:"failures"`
	Of       int `yaml:"of"`
}

// Defaults.
const (
	DefaultListen        = "127.0.0.1:9477"
	DefaultInterval      = Duration(60e9)
	DefaultTimeout       = Duration(10e9)
	DefaultMaxConcurrent = 512
	// DefaultGOGC is lower than Go's 100: Lookout's heap is mostly
	// long-lived probe state, so collecting more often costs little CPU
	// and keeps the resident set near 1.5 times the live heap, not 2.
	DefaultGOGC         = 50
	DefaultBodyLimit    = ByteSize(1 << 20)
	DefaultMaxRedirects = 10
)

// Load reads, decodes and checks the config file at path. Environment
// references are expanded with os.LookupEnv.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse decodes and checks a config file's contents; file names it in
// errors. On failure the error is an Errors holding every problem found.
func Parse(file string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	d := newDecoder(file, lookupEnv)
	d.lines = bytes.Split(data, []byte("\n"))
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, Errors{yamlSyntaxError(file, data, err)}
	}
	cfg := &Config{}
	if root.Kind != 0 {
		d.decode(&root, reflect.ValueOf(cfg).Elem(), "")
	}
	cfg.check(d)
	cfg.checkStatusPages(d)
	cfg.checkMaintenance(d)
	cfg.checkServer(d)
	cfg.checkCluster(d)
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	return cfg, nil
}

// Fingerprint identifies a probe's settings: two probes with the same
// fingerprint behave the same, so a reload keeps the running one.
func (p Probe) Fingerprint() [sha256.Size]byte { return Fingerprint(p) }

// Fingerprint identifies the settings in v, a part of a Config: equal
// settings give equal fingerprints. It is a hash, so ten thousand probes
// keep 32 bytes each, and settings holding secrets can be compared
// without being kept.
func Fingerprint(v any) [sha256.Size]byte {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte("unmarshalable: " + err.Error())
	}
	return sha256.Sum256(b)
}

package config

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cel.dev/cel-go/cel"
	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// check fills defaults and applies the rules that span fields.
func (c *Config) check(d *decoder) {
	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	} else if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		d.errorAt("server.listen", "%q is not host:port; want an address like 127.0.0.1:9477 or :9477", c.Server.Listen)
	}
	if c.Scheduler.MaxConcurrent == 0 {
		c.Scheduler.MaxConcurrent = DefaultMaxConcurrent
	} else if c.Scheduler.MaxConcurrent < 0 {
		d.errorAt("scheduler.max_concurrent", "%d is negative; want a number of concurrent probe runs, at least 1", c.Scheduler.MaxConcurrent)
	}
	if c.Runtime.GOGC == 0 {
		c.Runtime.GOGC = DefaultGOGC
	} else if c.Runtime.GOGC < 0 {
		d.errorAt("runtime.gogc", "%d is negative; want a percentage of heap growth between collections, at least 1 (default %d)", c.Runtime.GOGC, DefaultGOGC)
	}
	if c.Storage.Path == "" {
		c.Storage.Path = DefaultStoragePath
	}
	c.Alerting.check(d, "alerting")
	c.WebVitals.check(d, "webvitals")
	checkMongoDBs(d, c.MongoDB)
	checkRemoteWrites(d, c.RemoteWrite)
	if c.Telemetry.Sentry != nil {
		c.Telemetry.Sentry.check(d, "telemetry.sentry")
	}
	if c.Telemetry.Tracing != nil {
		c.Telemetry.Tracing.check(d, "telemetry.tracing")
	}
	first := map[string]int{}
	for i := range c.Probes {
		p := &c.Probes[i]
		path := fmt.Sprintf("probes[%d]", i)
		if j, dup := first[p.Name]; dup && p.Name != "" {
			d.errorAt(path+".name", "duplicate probe name %q, first used by probes[%d]; names must be unique", p.Name, j)
		} else {
			first[p.Name] = i
		}
		p.check(d, path)
		p.Secrets = d.secretsOf(path)
		if p.Browser != nil {
			p.Secrets = p.Browser.secrets(p.Secrets)
		}
	}
	checkRestoreTests(d, c)
	c.Browser.check(d, c)
}

var (
	labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	methodRE    = regexp.MustCompile(`^[A-Z]+$`)
)

// reservedLabels are set by Lookout or Prometheus on probe metrics.
var reservedLabels = []string{"probe", "phase", "version", "result", "le", "job", "instance", "serving_status", "stat", "kind", "step"}

func (p *Probe) check(d *decoder, path string) {
	if p.Name == "" {
		d.errorAt(path+".name", "missing; every probe needs a unique name")
	}
	interval := p.Interval
	switch {
	case p.Schedule != nil && d.has(path+".interval"):
		d.errorAt(path+".schedule", "interval and schedule are both set; want one of them")
	case p.Schedule != nil:
		if every, ok := p.Schedule.Schedule.(cron.ConstantDelaySchedule); ok {
			interval = Duration(every.Delay)
		}
	case p.Interval == 0 && d.has(path+".interval"):
		d.errorAt(path+".interval", "is 0; want a positive duration like 30s")
	case p.Interval == 0:
		p.Interval, interval = DefaultInterval, DefaultInterval
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
		if interval > 0 {
			p.Timeout = min(DefaultTimeout, interval*4/5)
		}
	}
	if interval > 0 && p.Timeout >= interval {
		d.errorAt(path+".timeout", "%s is not less than the interval %s; want a timeout shorter than the interval", p.Timeout.Std(), interval.Std())
	}
	if p.Retries < 0 {
		d.errorAt(path+".retries", "%d is negative; want 0 or more", p.Retries)
	}
	p.FailureThreshold.check(d, path+".failure_threshold")
	for _, name := range sortedKeys(p.Labels) {
		lpath := path + ".labels." + name
		switch {
		case !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__"):
			d.errorAtKey(lpath, "%q is not a valid label name; want letters, digits and _, not starting with a digit or __", name)
		case slices.Contains(reservedLabels, name):
			d.errorAtKey(lpath, "%q is set by Lookout; choose another label name (reserved: %s)", name, strings.Join(reservedLabels, ", "))
		}
	}
	var set []string
	for _, k := range p.kinds() {
		if k.set || d.has(path+"."+k.name) {
			set = append(set, k.name)
		}
		if k.set {
			k.check(d, exprs{d.exprEnv(k.name, path+"."+k.name)}, path+"."+k.name)
		}
	}
	switch {
	case len(set) == 0:
		d.errorAt(path, "probe has no type; want one of: %s", strings.Join(probeKindNames(), ", "))
	case len(set) > 1:
		d.errorAt(path+"."+set[1], "%s and %s are both set; want exactly one kind per probe", set[0], set[1])
	}
}

// probeKind is one kind's section of a probe: its name, whether it is
// set, and its checks.
type probeKind struct {
	name  string
	set   bool
	check func(d *decoder, x exprs, path string)
}

// kinds lists every probe kind's config section, one line each.
func (p *Probe) kinds() []probeKind {
	return []probeKind{
		{"http", p.HTTP != nil, func(d *decoder, x exprs, path string) { p.HTTP.check(d, x.env, path) }},
		{"tcp", p.TCP != nil, func(d *decoder, x exprs, path string) { p.TCP.check(d, x, path) }},
		{"tls", p.TLS != nil, func(d *decoder, x exprs, path string) { p.TLS.check(d, x, path) }},
		{"dns", p.DNS != nil, func(d *decoder, x exprs, path string) { p.DNS.check(d, x, path) }},
		{"icmp", p.ICMP != nil, func(d *decoder, x exprs, path string) { p.ICMP.check(d, x, path) }},
		{"grpc", p.GRPC != nil, func(d *decoder, x exprs, path string) { p.GRPC.check(d, x, path) }},
		{"websocket", p.WebSocket != nil, func(d *decoder, x exprs, path string) { p.WebSocket.check(d, x, path) }},
		{"heartbeat", p.Heartbeat != nil, func(d *decoder, x exprs, path string) { p.Heartbeat.check(d, x, path) }},
		{"flow", p.Flow != nil, func(d *decoder, x exprs, path string) { p.Flow.check(d, x, path, p.Timeout) }},
		{"browser", p.Browser != nil, func(d *decoder, x exprs, path string) { p.Browser.check(d, x, path) }},
	}
}

func probeKindNames() []string {
	var names []string
	for _, k := range (&Probe{}).kinds() {
		names = append(names, k.name)
	}
	return names
}

// Kind names the probe's kind: its one section (http, tcp, …).
func (p Probe) Kind() string {
	for _, k := range p.kinds() {
		if k.set {
			return k.name
		}
	}
	return ""
}

func (t *FailureThreshold) check(d *decoder, path string) {
	if !d.has(path) {
		t.Failures, t.Of = 1, 1
		return
	}
	if t.Of == 0 && !d.has(path+".of") {
		t.Of = max(t.Failures, 1)
	}
	switch {
	case t.Failures < 1:
		d.errorAt(path+".failures", "%d is below 1; want how many failed runs make the probe down", t.Failures)
	case t.Of < t.Failures || t.Of > 100:
		d.errorAt(path+".of", "%d is not between failures (%d) and 100; want the size of the window of recent runs", t.Of, t.Failures)
	}
}

func (h *HTTP) check(d *decoder, env *cel.Env, path string) {
	if h.URL.URL == nil && !d.has(path+".url") {
		d.errorAt(path+".url", "missing; want the URL to request, like https://api.example.com/health")
	}
	if h.Method == "" {
		h.Method = "GET"
	} else if !methodRE.MatchString(h.Method) {
		d.errorAt(path+".method", "%q is not an HTTP method; want upper case, like GET, HEAD or POST", h.Method)
	}
	checkHeaders(d, path+".headers", h.Headers)
	if h.BasicAuth != nil && h.BearerToken != "" {
		d.errorAt(path+".bearer_token", "basic_auth and bearer_token are both set; want at most one")
	}
	if h.FollowRedirects == nil {
		yes := true
		h.FollowRedirects = &yes
	}
	if h.MaxRedirects == 0 && !d.has(path+".max_redirects") {
		h.MaxRedirects = DefaultMaxRedirects
	} else if h.MaxRedirects < 0 {
		d.errorAt(path+".max_redirects", "%d is negative; want 0 or more", h.MaxRedirects)
	}
	if h.IPProtocol == "" {
		h.IPProtocol = IPAny
	}
	if h.IPFallback == nil {
		yes := true
		h.IPFallback = &yes
	}
	if h.PropagateTrace == nil {
		yes := true
		h.PropagateTrace = &yes
	}
	if h.BodySizeLimit == 0 {
		h.BodySizeLimit = DefaultBodyLimit
	}
	if h.SecurityHeaders == "" {
		h.SecurityHeaders = SecurityHeadersOff
	}
	if len(h.Expect.Status) == 0 {
		h.Expect.Status = []StatusRange{{200, 299}}
	}
	exprs{env}.compile(d, path, h.Assert, h.DegradedIf)
	h.TLS.check(d, path+".tls")
}

func (t *TLS) check(d *decoder, path string) {
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		switch {
		case err != nil:
			d.errorAt(path+".ca_file", "cannot read %q: %v; want a readable PEM file of CA certificates", t.CAFile, unwrapPathError(err))
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			d.errorAt(path+".ca_file", "%q holds no PEM certificate; want a PEM file of CA certificates", t.CAFile)
		}
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		d.errorAt(path+".cert_file", "cert_file and key_file go together; set both for a client certificate, or neither")
	case t.CertFile != "":
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			d.errorAt(path+".cert_file", "cannot load the client certificate %q with key %q: %v", t.CertFile, t.KeyFile, unwrapPathError(err))
		}
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// yamlSyntaxError turns the YAML parser's error into an Error. The parser
// names the line where the enclosing block starts, which can be far from
// the mistake; the first prefix of the file that fails with the same
// message ends on the line that holds it.
func yamlSyntaxError(file string, data []byte, err error) *Error {
	line, msg := splitYAMLError(err)
	if n := problemLine(data, msg); n > 0 {
		line = n
	}
	e := &Error{File: file, Msg: "invalid YAML: " + msg}
	if line > 0 {
		e.Line, e.Col = line, 1
	}
	return e
}

func splitYAMLError(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, tail, _ := strings.Cut(rest, ": ")
		if n, convErr := strconv.Atoi(num); convErr == nil {
			return n, tail
		}
	}
	return 0, msg
}

func problemLine(data []byte, msg string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	end := 0
	for i, l := range lines {
		end += len(l)
		var n yaml.Node
		err := yaml.Unmarshal(data[:end], &n)
		if err == nil {
			continue
		}
		if _, m := splitYAMLError(err); m == msg {
			return i + 1
		}
	}
	return 0
}

package config

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/exporter-toolkit/web"
	yamlv2 "go.yaml.in/yaml/v2"
	"go.yaml.in/yaml/v3"
)

// Server is Lookout's HTTP listeners. The admin listener serves /metrics,
// the API, /-/reload and /debug/pprof/; the public one, when set, serves
// only what the internet must reach (Web Vitals beacons, Slack's button
// requests), and the admin listener then does not. Without Public those
// routes are served on the admin listener, open, as before.
type Server struct {
	Listen string `yaml:"listen"`
	// WebConfigFile holds TLS, mTLS and bcrypt basic_auth_users in the
	// format of prometheus/exporter-toolkit. Like APITokensFile it is
	// relative to the config file's folder; after Load it holds the
	// resolved path.
	WebConfigFile string `yaml:"web_config_file"`
	// APITokensFile holds bearer tokens (see APIToken).
	APITokensFile string `yaml:"api_tokens_file"`
	// ReadUsers are basic_auth_users of WebConfigFile that may only read;
	// every other user is an admin.
	ReadUsers []string `yaml:"read_users"`
	// MetricsAuth false leaves /metrics open to scrapers without
	// credentials. Default true.
	MetricsAuth *bool `yaml:"metrics_auth"`
	// AllowedHosts, when set, are the only Host header values (names or
	// addresses, the port aside) either listener answers, against DNS
	// rebinding.
	AllowedHosts   []string `yaml:"allowed_hosts"`
	MaxConnections int      `yaml:"max_connections"`
	Public         *Public  `yaml:"public"`

	warnings []string
}

// Public is the listener for what the internet must reach. It takes no
// credentials: browsers and jobs call it.
type Public struct {
	Listen string `yaml:"listen"`
	// WebConfigFile is TLS only, in exporter-toolkit's format; it may not
	// hold basic_auth_users.
	WebConfigFile string `yaml:"web_config_file"`
	// TrustedProxies are the addresses whose X-Forwarded-For is believed,
	// for per-client rate limits.
	TrustedProxies []Prefix `yaml:"trusted_proxies"`
	MaxConnections int      `yaml:"max_connections"`
}

// Defaults of server. Prometheus's --web.max-connections is 512 too; the
// public listener faces browsers, each of which may hold a connection for
// the two-minute idle timeout.
const (
	DefaultMaxConnections       = 512
	DefaultPublicMaxConnections = 1024
)

// Role is what credentials may do: read may GET, admin may also change
// state (silences, reload) and profile.
type Role string

const (
	RoleRead  Role = "read"
	RoleAdmin Role = "admin"
)

func (r *Role) parseScalar(s string) error {
	if err := oneOf(s, string(RoleRead), string(RoleAdmin)); err != nil {
		return err
	}
	*r = Role(s)
	return nil
}

// APIToken is one bearer token of the api_tokens_file. The file holds the
// token's SHA-256, never the token.
type APIToken struct {
	Name   string    `yaml:"name"`
	SHA256 SHA256Sum `yaml:"sha256"`
	Role   Role      `yaml:"role"`
}

// SHA256Sum is a SHA-256 digest written as 64 hex digits.
type SHA256Sum [sha256.Size]byte

func (s *SHA256Sum) parseScalar(v string) error {
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != sha256.Size {
		return errors.New("is not a SHA-256 digest; want 64 hex digits, as `printf %s TOKEN | sha256sum` prints (the value is not shown)")
	}
	copy(s[:], b)
	return nil
}

// MarshalText writes the digest in hex.
func (s SHA256Sum) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(s[:])), nil }

// Prefix is an IP network (10.0.0.0/8) or a single address.
type Prefix struct {
	netip.Prefix
}

// NetPrefixes are ps as netip prefixes.
func NetPrefixes(ps []Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = p.Prefix
	}
	return out
}

func (p *Prefix) parseScalar(s string) error {
	if a, err := netip.ParseAddr(s); err == nil {
		p.Prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		return nil
	}
	pr, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("%q is not an address or network; want one like 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32", s)
	}
	p.Prefix = pr.Masked()
	return nil
}

// Warnings are what Load accepts but a deployment should not do: the admin
// API without credentials on an address beyond this machine. lookout check
// prints them and lookout run logs them.
func (s *Server) Warnings() []string { return s.warnings }

// checkServer applies the rules of the server section, reading the files it
// names, and records its warnings.
func (c *Config) checkServer(d *decoder) {
	s := &c.Server
	dir := filepath.Dir(d.file)
	if s.MetricsAuth == nil {
		yes := true
		s.MetricsAuth = &yes
	}
	s.MaxConnections = checkMaxConnections(d, "server.max_connections", s.MaxConnections, DefaultMaxConnections)
	var users []string
	mtls, tlsOn := false, false
	if s.WebConfigFile != "" {
		s.WebConfigFile = resolvePath(dir, s.WebConfigFile)
		if wc, err := LoadWebConfig(s.WebConfigFile); err != nil {
			d.errorAt("server.web_config_file", "%v", err)
		} else {
			for u := range wc.Users {
				users = append(users, u)
			}
			mtls, tlsOn = VerifiesClientCerts(&wc.TLSConfig), wc.TLSConfig.IsEnabled()
		}
	}
	for i, u := range s.ReadUsers {
		if s.WebConfigFile != "" && !slices.Contains(users, u) && !d.hasErrorAt("server.web_config_file") {
			d.errorAt(fmt.Sprintf("server.read_users[%d]", i), "%q is not in basic_auth_users of %s; want one of its users", u, s.WebConfigFile)
		}
	}
	if len(s.ReadUsers) > 0 && s.WebConfigFile == "" {
		d.errorAt("server.read_users", "read_users name basic_auth_users of server.web_config_file, which is not set")
	}
	if s.APITokensFile != "" {
		s.APITokensFile = resolvePath(dir, s.APITokensFile)
		_, err := LoadAPITokens(s.APITokensFile)
		var errs Errors
		switch {
		case errors.As(err, &errs):
			for _, e := range errs {
				d.errorAt("server.api_tokens_file", "%v", e)
			}
		case err != nil:
			d.errorAt("server.api_tokens_file", "%v", err)
		}
	}
	for i, h := range s.AllowedHosts {
		if !validHost(h) {
			d.errorAt(fmt.Sprintf("server.allowed_hosts[%d]", i), "%q is not a host; want a name or address without scheme or port, like lookout.example.com or 127.0.0.1", h)
		}
	}
	if p := s.Public; p != nil {
		p.check(d, dir, s.Listen)
	}
	authenticated := len(users) > 0 || s.APITokensFile != "" || mtls
	if authenticated && !tlsOn && !IsLoopback(s.Listen) {
		c.warnServer(d, "server.listen", "%s is not a loopback address and has no TLS (no tls_server_config in server.web_config_file): passwords and tokens cross the network in the clear", s.Listen)
	}
	if !authenticated && !IsLoopback(s.Listen) {
		c.warnServer(d, "server.listen", "%s is not a loopback address and the admin API takes no credentials (no basic_auth_users in server.web_config_file, no server.api_tokens_file): anyone who reaches it can silence alerts and reload", s.Listen)
		if exposed := c.publicRoutes(); s.Public == nil && len(exposed) > 0 {
			c.warnServer(d, "server.listen", "%s also serves the public routes (%s) without server.public: whoever must reach them reaches the unauthenticated admin API too; set server.public or credentials", s.Listen, strings.Join(exposed, ", "))
		}
	}
}

func (p *Public) check(d *decoder, dir, adminListen string) {
	const path = "server.public"
	switch {
	case p.Listen == "":
		d.errorAt(path+".listen", "missing; want the address the internet reaches, like 0.0.0.0:9478")
	case !validListen(p.Listen):
		d.errorAt(path+".listen", "%q is not host:port; want an address like 0.0.0.0:9478 or :9478", p.Listen)
	case sameListen(p.Listen, adminListen):
		d.errorAt(path+".listen", "%q takes the port of server.listen %q; want another port", p.Listen, adminListen)
	}
	p.MaxConnections = checkMaxConnections(d, path+".max_connections", p.MaxConnections, DefaultPublicMaxConnections)
	if p.WebConfigFile != "" {
		p.WebConfigFile = resolvePath(dir, p.WebConfigFile)
		wc, err := LoadWebConfig(p.WebConfigFile)
		switch {
		case err != nil:
			d.errorAt(path+".web_config_file", "%v", err)
		case len(wc.Users) > 0:
			d.errorAt(path+".web_config_file", "%s has basic_auth_users; the public listener takes no credentials (browsers and jobs call it), so want TLS settings only", p.WebConfigFile)
		}
	}
}

func checkMaxConnections(d *decoder, path string, n, def int) int {
	switch {
	case n == 0 && !d.has(path):
		return def
	case n < 1:
		d.errorAt(path, "%d is below 1; want how many connections the listener holds at once (default %d)", n, def)
	}
	return n
}

// warnServer records a warning at the node of path.
func (c *Config) warnServer(d *decoder, path, format string, args ...any) {
	e := &Error{File: d.file, Path: path, Msg: "warning: " + fmt.Sprintf(format, args...)}
	if n, ok := d.nodes[path]; ok {
		e.Line, e.Col = n.Line, n.Column
	}
	c.Server.warnings = append(c.Server.warnings, e.Error())
}

// publicRoutes names the routes of this config that the public listener
// serves.
func (c *Config) publicRoutes() []string {
	var routes []string
	if c.WebVitals.Enabled {
		routes = append(routes, "/v1/vitals")
	}
	if slices.ContainsFunc(c.Probes, func(p Probe) bool { return p.Heartbeat != nil }) {
		routes = append(routes, "/v1/heartbeat/")
	}
	for _, r := range c.Alerting.Receivers {
		if r.Slack != nil && r.Slack.SigningSecret != "" {
			routes = append(routes, "/slack/"+r.Name+"/interactions")
		}
	}
	for _, p := range c.StatusPages {
		routes = append(routes, p.Path, p.Path+StatusPageJSON)
	}
	if len(c.StatusPages) > 0 {
		routes = append(routes, "/badge/")
	}
	return routes
}

// hasErrorAt reports whether a problem was already reported at path.
func (d *decoder) hasErrorAt(path string) bool {
	return slices.ContainsFunc(d.errs, func(e *Error) bool { return e.Path == path })
}

func resolvePath(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func validListen(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}

// sameListen reports whether two listen addresses would take the same
// port: equal ports (not 0) on equal hosts or where either is every
// interface.
func sameListen(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	every := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || every(ha) || every(hb)
}

// IsLoopback reports whether a listen address (host:port) is reachable
// from this machine only: localhost or a loopback address. An empty host
// is every interface.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

var hostNameRE = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$`)

func validHost(h string) bool {
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return true
	}
	return hostNameRE.MatchString(h)
}

// LoadWebConfig reads a web config file in exporter-toolkit's format:
// checked by the toolkit (TLS files load, bcrypt hashes, headers), then
// decoded as the toolkit decodes it, with relative paths in it resolved
// against its folder. lookout check and the listeners both use it.
func LoadWebConfig(path string) (*web.Config, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, unwrapPathError(err))
	}
	if err := web.Validate(path); err != nil {
		return nil, fmt.Errorf("%s: %s", path, oneLine(err.Error()))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, unwrapPathError(err))
	}
	c := &web.Config{
		TLSConfig:  web.TLSConfig{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13},
		HTTPConfig: web.HTTPConfig{HTTP2: true},
	}
	if err := yamlv2.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("%s: %s", path, oneLine(err.Error()))
	}
	c.TLSConfig.SetDirectory(filepath.Dir(path))
	return c, nil
}

// VerifiesClientCerts reports whether a web config's TLS checks client
// certificates against its client CA (mTLS), which then authenticate.
func VerifiesClientCerts(t *web.TLSConfig) bool {
	return t.ClientAuth == "VerifyClientCertIfGiven" || t.ClientAuth == "RequireAndVerifyClientCert"
}

// apiTokensFile is the api_tokens_file:
//
//	tokens:
//	  - {name: ci, sha256: 5e88…, role: admin}
type apiTokensFile struct {
	Tokens []APIToken `yaml:"tokens"`
}

// LoadAPITokens reads and checks an api_tokens_file: names unique, each
// sha256 64 hex digits, each role read or admin. On failure the error is
// an Errors naming path:line:col.
func LoadAPITokens(path string) ([]APIToken, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, unwrapPathError(err))
	}
	d := newDecoder(path, func(string) (string, bool) { return "", false })
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{yamlSyntaxError(path, data, err)}
	}
	var f apiTokensFile
	if root.Kind != 0 {
		d.decode(&root, reflect.ValueOf(&f).Elem(), "")
	}
	first := map[string]int{}
	for i, t := range f.Tokens {
		p := fmt.Sprintf("tokens[%d]", i)
		if t.Name == "" {
			d.errorAt(p+".name", "missing; every token needs a unique name, which logs show")
		} else if j, dup := first[t.Name]; dup {
			d.errorAt(p+".name", "duplicate token name %q, first used by tokens[%d]; names must be unique", t.Name, j)
		} else {
			first[t.Name] = i
		}
		if !d.has(p + ".sha256") {
			d.errorAt(p+".sha256", "missing; want the token's SHA-256 in hex, as `printf %%s TOKEN | sha256sum` prints")
		}
		if t.Role == "" && !d.has(p+".role") {
			d.errorAt(p+".role", "missing; want read or admin")
		}
	}
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	return f.Tokens, nil
}

// Package blackbox imports a blackbox_exporter config and the Prometheus
// scrape jobs that use it into Lookout probes: one probe per target of
// every job, checking what the job's module checked, as blackbox_exporter
// does. What Lookout cannot check the same way is left behind: a comment
// in the output where it would have been, and an importer.Left.
//
// Prometheus' part is read as Prometheus reads it: the job's params, its
// static targets and their labels, relabelled by the job's own rules, give
// each target's target, module and hostname parameters and its labels.
package blackbox

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer"
	"github.com/lookout-dev/lookout/config"
)

// Convert reads a blackbox_exporter config and a Prometheus config and returns Lookout config (YAML, commented where a setting had no exact equivalent), one probe per target of every scrape job that uses a module, and the items it left behind.
// promDir is the folder of the Prometheus config, where the files of its
// file_sd_configs are looked for as Prometheus does; "" reads none.
func Convert(blackboxYAML, prometheusYAML []byte, promDir string) (out []byte, left []importer.Left, err error) {
	modules, err := readModules(blackboxYAML)
	if err != nil {
		return nil, nil, fmt.Errorf("read blackbox_exporter config: %w", err)
	}
	var ls leftSet
	jobs, err := readJobs(prometheusYAML, promDir, &ls)
	if err != nil {
		return nil, nil, fmt.Errorf("read Prometheus config: %w", err)
	}
	var probes []probeOut
	used := map[string]bool{}
	for _, j := range jobs {
		var made []probeOut
		for _, t := range j.targets {
			m, ok := modules.byName[t.module]
			if !ok {
				ls.addTop(importer.Left{Where: t.where, Item: "module " + t.module,
					Why: "not a module of the blackbox_exporter config, so blackbox_exporter refuses the scrape (or the job scrapes another exporter's /probe)"})
				continue
			}
			used[t.module] = true
			if p, ok := convertProbe(j, t, m, &ls); ok {
				made = append(made, p)
			}
		}
		nameProbes(j, made, probes)
		probes = append(probes, made...)
	}
	var unused []string
	for _, m := range modules.list {
		if !used[m.name] {
			unused = append(unused, m.name)
		}
	}
	out, err = render(probes, ls.top, unused)
	if err != nil {
		return nil, nil, err
	}
	return out, ls.list, nil
}

// leftSet gathers what was left behind, each item once, in the order
// found; top are the comments for items no probe carries.
type leftSet struct {
	list []importer.Left
	seen map[importer.Left]bool
	top  []string
}

// add records l; new is whether it was not recorded before. An item of no
// probe is also a comment at the top of the output.
func (s *leftSet) add(l importer.Left) (isNew bool) {
	if s.seen[l] {
		return false
	}
	if s.seen == nil {
		s.seen = map[importer.Left]bool{}
	}
	s.seen[l] = true
	s.list = append(s.list, l)
	return true
}

// addTop records l, also as a comment at the top of the output.
func (s *leftSet) addTop(l importer.Left) {
	if s.add(l) {
		s.top = append(s.top, l.String())
	}
}

// module is one module of the blackbox_exporter config.
type module struct {
	name string
	node *yaml.Node
}

type moduleSet struct {
	list   []module
	byName map[string]module
}

// readModules reads the modules of a blackbox_exporter config; the error
// is for a file that cannot be read at all.
func readModules(data []byte) (moduleSet, error) {
	set := moduleSet{byName: map[string]module{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return set, err
	}
	doc := deref(&root)
	if doc == nil {
		return set, nil
	}
	if doc.Kind != yaml.MappingNode {
		return set, fmt.Errorf("line %d: the file is not a YAML mapping; want modules: {NAME: {prober: …}}", doc.Line)
	}
	for _, f := range fields(doc, "") {
		if f.key != "modules" {
			continue
		}
		if f.value.Kind != yaml.MappingNode {
			return set, fmt.Errorf("line %d: modules is not a mapping of module names to modules", f.value.Line)
		}
		for _, m := range fields(f.value, "modules") {
			mod := module{name: m.key, node: m.value}
			set.list = append(set.list, mod)
			set.byName[m.key] = mod
		}
	}
	return set, nil
}

// probeOut is one probe of the output.
type probeOut struct {
	name              string
	job, module, from string // where it came from, for its comment
	interval, timeout time.Duration
	labels            map[string]string
	kind              string
	section           *yaml.Node
	notes             []string // what was left behind, as comments
}

// convertProbe makes the probe of target t of job j, which uses module m;
// ok is false when it cannot be made (the reason is in ls).
func convertProbe(j job, t target, m module, ls *leftSet) (probeOut, bool) {
	c := &conv{ls: ls, where: "modules." + m.name}
	p := probeOut{job: j.name, module: m.name, from: t.target, interval: j.interval}
	if m.node.Kind != yaml.MappingNode {
		ls.addTop(importer.Left{Where: c.where, Why: "cannot be read: a module is a mapping with prober: and its settings"})
		return p, false
	}
	var prober, timeout string
	sections := map[string]field{}
	for _, f := range fields(m.node, c.where) {
		switch f.key {
		case "prober":
			prober, _ = c.str(f)
		case "timeout":
			timeout, _ = c.str(f)
		default:
			// A prober's section; blackbox_exporter reads only its
			// prober's.
			sections[f.key] = f
		}
	}
	build, ok := kinds[prober]
	if !ok {
		ls.addTop(importer.Left{Where: c.where + ".prober", Item: prober,
			Why: "Lookout has no such prober; its kinds are http, tcp, tls, dns, icmp, grpc, websocket, heartbeat, flow and browser"})
		return p, false
	}
	var moduleTimeout time.Duration
	if timeout != "" {
		d, err := time.ParseDuration(timeout)
		if err != nil {
			c.leave(c.where+".timeout", timeout, "not a duration; the scrape timeout is used")
		}
		moduleTimeout = d
	}
	p.timeout = probeTimeout(j.timeout, moduleTimeout)
	sec := sections[prober]
	if sec.value == nil {
		sec = field{key: prober, value: &yaml.Node{Kind: yaml.MappingNode}, path: c.where + "." + prober}
	}
	if sec.value.Kind != yaml.MappingNode && !isNull(sec.value) {
		ls.addTop(importer.Left{Where: sec.path, Why: "cannot be read: not a mapping of settings"})
		return p, false
	}
	c.where = sec.path
	section, ok := build(c, sec.value, t)
	if !ok {
		return p, false
	}
	p.labels = probeLabels(t, c)
	p.kind, p.section, p.notes = prober, section, c.notes
	return p, true
}

// kinds converts each prober's section, given the target.
var kinds = map[string]func(c *conv, sec *yaml.Node, t target) (*yaml.Node, bool){
	"http": (*conv).http,
	"tcp":  (*conv).tcp,
	"dns":  (*conv).dns,
	"icmp": (*conv).icmp,
	"grpc": (*conv).grpc,
}

// probeTimeout is the timeout blackbox_exporter gives a probe: the
// module's when it is shorter than the scrape timeout less the offset,
// else the scrape timeout less the offset.
func probeTimeout(scrapeTimeout, moduleTimeout time.Duration) time.Duration {
	limit := scrapeTimeout - timeoutOffset
	if moduleTimeout > 0 && moduleTimeout < limit || limit <= 0 {
		if moduleTimeout > 0 {
			return moduleTimeout
		}
		return scrapeTimeout
	}
	return limit
}

// reservedLabels are labels Lookout or Prometheus set on a probe's series
// themselves; job and instance are Prometheus' own and go without a word.
var reservedLabels = []string{"probe", "phase", "version", "result", "le", "serving_status", "stat", "kind", "step"}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// probeLabels are the target's labels a probe can carry.
func probeLabels(t target, c *conv) map[string]string {
	out := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(t.labels)) {
		v := t.labels[name]
		switch {
		case name == "job" || name == "instance":
		case !labelNameRE.MatchString(name):
			c.leave(t.where, "label "+name, "not a label name Lookout takes (letters, digits and _)")
		case slices.Contains(reservedLabels, name):
			c.leave(t.where, "label "+name, "Lookout sets this label on a probe's series itself")
		case strings.Contains(v, "{{"):
			c.leave(t.where, "label "+name, templateWhy)
		default:
			out[name] = v
		}
	}
	return out
}

// nameProbes names a job's probes after the job and the target, and the
// module when the job probes with several: "websites/shop.example.org",
// the target without its scheme and credentials unless two targets would
// then read alike. earlier are the probes of the jobs before, whose names
// are taken.
func nameProbes(j job, made, earlier []probeOut) {
	taken := map[string]bool{}
	for _, p := range earlier {
		taken[p.name] = true
	}
	mods := map[string]bool{}
	for _, p := range made {
		mods[p.module] = true
	}
	base := func(p probeOut, short bool) string {
		t := shortTarget(p.from, short)
		if len(mods) > 1 {
			return j.name + "/" + p.module + "/" + t
		}
		return j.name + "/" + t
	}
	alike := map[string]int{}
	for _, p := range made {
		alike[base(p, true)]++
	}
	for i := range made {
		p := &made[i]
		b := base(*p, true)
		if alike[b] > 1 {
			b = base(*p, false)
		}
		b = strings.ReplaceAll(b, "{{", "{ {") // "{{" would read as a template
		name := b
		for n := 2; taken[name]; n++ {
			name = fmt.Sprintf("%s (%d)", b, n)
		}
		taken[name] = true
		p.name = name
	}
}

// shortTarget is a target as a probe's name shows it: without user and
// password, and when short without its http:// or https:// and a
// trailing /.
func shortTarget(t string, short bool) string {
	if u, err := url.Parse(t); err == nil && u.User != nil && u.Host != "" {
		u.User = nil
		t = u.String()
	}
	if !short {
		return t
	}
	for _, scheme := range []string{"http://", "https://"} {
		if rest, ok := strings.CutPrefix(t, scheme); ok {
			return strings.TrimSuffix(rest, "/")
		}
	}
	return t
}

// conv converts one module's section for one target. Its leave records
// what Lookout cannot check the same way, both as an importer.Left and as
// a comment of the probe.
type conv struct {
	ls    *leftSet
	where string // the section's path
	notes []string
}

func (c *conv) leave(where, item, why string) {
	l := importer.Left{Where: where, Item: item, Why: why}
	c.ls.add(l)
	c.notes = append(c.notes, l.String())
}

// templateWhy says why a value holding "{{" cannot be written.
const templateWhy = `holds "{{", which Lookout refuses outside a flow step's templates; put the text in an environment variable and write ${VAR} in its place`

// str reads a string setting; ok is false, and the setting left behind,
// when it is not a string or holds "{{".
func (c *conv) str(f field) (string, bool) {
	if isNull(f.value) {
		return "", true
	}
	if f.value.Kind != yaml.ScalarNode {
		c.leave(f.path, "", "cannot be read: not a string")
		return "", false
	}
	if strings.Contains(f.value.Value, "{{") {
		c.leave(f.path, "", templateWhy)
		return "", false
	}
	return f.value.Value, true
}

func (c *conv) boolean(f field) (bool, bool) {
	var b bool
	if isNull(f.value) {
		return false, true
	}
	if err := f.value.Decode(&b); err != nil {
		c.leave(f.path, "", "cannot be read: not true or false")
		return false, false
	}
	return b, true
}

// list reads a list of strings, each through str.
func (c *conv) list(f field) []string {
	if isNull(f.value) {
		return nil
	}
	if f.value.Kind != yaml.SequenceNode {
		c.leave(f.path, "", "cannot be read: not a list")
		return nil
	}
	var out []string
	for i, n := range f.value.Content {
		if s, ok := c.str(field{key: f.key, value: deref(n), path: fmt.Sprintf("%s[%d]", f.path, i)}); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// regexps reads a list of regular expressions; one that does not compile
// (blackbox_exporter refuses it too) is left behind.
func (c *conv) regexps(f field) []string {
	var out []string
	for i, re := range c.list(f) {
		if _, err := regexp.Compile(re); err != nil {
			c.leave(fmt.Sprintf("%s[%d]", f.path, i), re, "not a valid regular expression")
			continue
		}
		out = append(out, re)
	}
	return out
}

// other handles a setting the importer does not carry over: one left at
// its zero value changes nothing and goes without a word.
func (c *conv) other(f field, why string) {
	if isZero(f.value) {
		return
	}
	c.leave(f.path, shown(f), why)
}

// ipProtocol converts preferred_ip_protocol and ip_protocol_fallback of a
// kind whose ip_protocol has no fallback: blackbox_exporter's default, ip6
// falling back to ip4, is Lookout's any.
func (c *conv) ipProtocol(pref field, fallback field) string {
	p, fb, ok := c.readIP(pref, fallback)
	switch {
	case !ok || pref.value == nil && fb:
		return ""
	case fb:
		c.leave(pref.path, p, fmt.Sprintf("Lookout asks for %s only; blackbox_exporter fell back to the other family when the host had no %s address (set ip_protocol: any for either)", p, p))
	}
	return p
}

// readIP reads the preferred family (ip6 unless set) and the fallback
// (true unless set).
func (c *conv) readIP(pref, fallback field) (p string, fb, ok bool) {
	p, fb = "ip6", true
	if pref.value != nil {
		s, ok := c.str(pref)
		if !ok {
			return "", false, false
		}
		// blackbox_exporter takes anything but ip6 as ip4.
		if s != "" && s != "ip6" {
			p = "ip4"
		}
	}
	if fallback.value != nil {
		b, ok := c.boolean(fallback)
		if !ok {
			return "", false, false
		}
		fb = b
	}
	return p, fb, true
}

// tlsOut is a converted tls_config.
type tlsOut struct {
	caFile, certFile, keyFile, serverName string
	insecure                              bool
}

func (t tlsOut) isZero() bool { return t == tlsOut{} }

func (t tlsOut) node() *yaml.Node {
	m := newMapping()
	for _, kv := range [][2]string{{"ca_file", t.caFile}, {"cert_file", t.certFile}, {"key_file", t.keyFile}, {"server_name", t.serverName}} {
		if kv[1] != "" {
			add(m, kv[0], str(kv[1]))
		}
	}
	if t.insecure {
		add(m, "insecure_skip_verify", scalar(true))
	}
	return m
}

// tlsConfig converts a tls_config: its files, server name and
// insecure_skip_verify; certificates written inline and version limits
// are left behind.
func (c *conv) tlsConfig(f field) tlsOut {
	var t tlsOut
	if f.value == nil || isNull(f.value) {
		return t
	}
	if f.value.Kind != yaml.MappingNode {
		c.leave(f.path, "", "cannot be read: not a mapping")
		return t
	}
	for _, g := range fields(f.value, f.path) {
		switch g.key {
		case "ca_file":
			t.caFile, _ = c.str(g)
		case "cert_file":
			t.certFile, _ = c.str(g)
		case "key_file":
			t.keyFile, _ = c.str(g)
		case "server_name":
			t.serverName, _ = c.str(g)
		case "insecure_skip_verify":
			t.insecure, _ = c.boolean(g)
		case "ca", "cert", "key":
			c.other(g, "Lookout reads certificates and keys from files only; write it to a file and set "+g.key+"_file")
		case "min_version", "max_version":
			c.other(g, "Lookout's client TLS takes Go's default versions (1.2 to 1.3); a tls probe checks min_version")
		default:
			c.other(g, "no equivalent in Lookout")
		}
	}
	return t
}

// cel is s as a CEL string literal: raw when it can be.
func cel(s string) string {
	if !strings.ContainsAny(s, "\n\r") {
		if !strings.Contains(s, `"`) {
			return `r"` + s + `"`
		}
		if !strings.Contains(s, `'`) {
			return `r'` + s + `'`
		}
	}
	return strconv.Quote(s)
}

// anyOf is one regular expression matching where any of res matches.
func anyOf(res []string) string {
	if len(res) == 1 {
		return res[0]
	}
	parts := make([]string, len(res))
	for i, re := range res {
		parts[i] = "(?:" + re + ")"
	}
	return strings.Join(parts, "|")
}

// matchesAll is a CEL condition that v matches every one of res.
func matchesAll(v string, res []string, join string) string {
	parts := make([]string, len(res))
	for i, re := range res {
		parts[i] = v + ".matches(" + cel(re) + ")"
	}
	return strings.Join(parts, join)
}

// celCompiles reports whether Lookout accepts expr as an http probe's
// assert, and why not.
func celCompiles(expr string) error {
	probe := newMapping()
	add(probe, "name", str("check"))
	h := newMapping()
	add(h, "url", str("http://check.invalid"))
	add(h, "assert", seq(str(expr)))
	add(probe, "http", h)
	root := newMapping()
	add(root, "probes", seq(probe))
	b, err := yaml.Marshal(root)
	if err != nil {
		return err
	}
	_, err = config.Parse("check", b, func(string) (string, bool) { return "", false })
	var errs config.Errors
	if errors.As(err, &errs) && len(errs) > 0 {
		return errors.New(errs[0].Msg)
	}
	return err
}

// targetURL is the URL blackbox_exporter's http prober requests for
// target: http:// unless the target names its scheme.
func targetURL(target string) (*url.URL, error) {
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = "http://" + target
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Host == "" {
		return nil, errors.New("a URL without a host")
	}
	return u, nil
}

// hostPort splits target into host and port, with def for a target
// without a port.
func hostPort(target, def string) (string, string) {
	if h, p, err := net.SplitHostPort(target); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(target, "["), "]"), def
}

// validPort reports whether p is a port number Lookout takes.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// byteSize converts a size as blackbox_exporter reads it (units of 1024:
// KB and KiB alike) to one Lookout reads.
func byteSize(s string) (string, bool) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return "", false
	}
	unit := strings.TrimSuffix(strings.TrimSpace(s[i:]), "B")
	unit = strings.TrimSuffix(unit, "i")
	shift := map[string]int{"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}
	sh, ok := shift[unit]
	if !ok || n <= 0 || sh > 0 && n > (1<<62)>>sh {
		return "", false
	}
	b := n << sh
	for _, u := range []struct {
		name  string
		shift int
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if b%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d%s", b>>u.shift, u.name), true
		}
	}
	return strconv.FormatInt(b, 10), true
}

// httpOut is a converted http section.
type httpOut struct {
	url, method       string
	headers           [][2]string
	body              string
	basicAuth         *[2]string
	bearer            string
	follow            *bool
	ipProtocol        string
	ipFallback        *bool
	bodySizeLimit     string
	status            []int
	anyStatus         bool
	expectHeaders     [][2]string
	bodyRegex         []string // each must match: fail_if_body_not_matches_regexp
	bodyNotRegex      []string // none may match: fail_if_body_matches_regexp
	assert            []string
	tls               tlsOut
	compression       string
	acceptEncodingSet bool
}

var methodRE = regexp.MustCompile(`^[A-Z]+$`)

// http converts an http section; the target is the URL.
func (c *conv) http(sec *yaml.Node, t target) (*yaml.Node, bool) {
	u, err := targetURL(t.target)
	if err != nil {
		c.ls.addTop(importer.Left{Where: t.where, Item: redact(t.target), Why: "blackbox_exporter's http prober cannot request it: " + err.Error()})
		return nil, false
	}
	h := httpOut{url: t.target}
	if !strings.HasPrefix(t.target, "http://") && !strings.HasPrefix(t.target, "https://") {
		h.url = "http://" + t.target
	}
	var pref, fallback field
	var noFollow, follow *bool
	for _, f := range fields(sec, c.where) {
		switch f.key {
		case "valid_status_codes":
			h.status = c.statuses(f)
		case "accept_any_response":
			h.anyStatus, _ = c.boolean(f)
		case "valid_http_versions":
			if vs := c.list(f); len(vs) > 0 {
				c.leave(f.path, "["+strings.Join(vs, ", ")+"]", "Lookout does not check a response's HTTP version")
			}
		case "preferred_ip_protocol":
			pref = f
		case "ip_protocol_fallback":
			fallback = f
		case "no_follow_redirects":
			if b, ok := c.boolean(f); ok && !isNull(f.value) {
				noFollow = &b
			}
		case "follow_redirects":
			if b, ok := c.boolean(f); ok && !isNull(f.value) {
				follow = &b
			}
		case "fail_if_ssl":
			if b, _ := c.boolean(f); b {
				h.assert = append(h.assert, "tls == null")
			}
		case "fail_if_not_ssl":
			if b, _ := c.boolean(f); b {
				h.assert = append(h.assert, "tls != null")
			}
		case "method":
			h.method = c.method(f)
		case "headers":
			h.headers = c.stringMap(f)
		case "body":
			h.body, _ = c.str(f)
		case "fail_if_body_matches_regexp":
			h.bodyNotRegex = append(h.bodyNotRegex, c.regexps(f)...)
		case "fail_if_body_not_matches_regexp":
			h.bodyRegex = append(h.bodyRegex, c.regexps(f)...)
		case "fail_if_body_json_matches_cel":
			if e := c.celSetting(f); e != "" {
				h.assert = append(h.assert, "!("+e+")")
			}
		case "fail_if_body_json_not_matches_cel":
			if e := c.celSetting(f); e != "" {
				h.assert = append(h.assert, e)
			}
		case "fail_if_header_matches":
			c.headerMatches(f, &h, true)
		case "fail_if_header_not_matches":
			c.headerMatches(f, &h, false)
		case "compression":
			h.compression, _ = c.str(f)
		case "body_size_limit":
			c.bodySizeLimit(f, &h)
		case "basic_auth":
			c.basicAuth(f, &h)
		case "authorization":
			c.authorization(f, &h)
		case "bearer_token":
			h.bearer, _ = c.str(f)
		case "tls_config":
			h.tls = c.tlsConfig(f)
		case "proxy_from_environment":
			// Lookout always takes HTTP_PROXY, HTTPS_PROXY and NO_PROXY from
			// its environment.
		case "proxy_url", "no_proxy", "proxy_connect_header", "skip_resolve_phase_with_proxy", "use_proxy_dns":
			c.other(f, "Lookout has no proxy of its own per probe; it takes HTTP_PROXY, HTTPS_PROXY and NO_PROXY from its environment")
		case "bearer_token_file", "body_file":
			what := strings.TrimSuffix(f.key, "_file")
			c.other(f, fmt.Sprintf("Lookout reads no file for it; set http.%s (${VAR} takes it from the environment)", what))
		case "oauth2":
			c.other(f, "Lookout has no OAuth 2.0 client; fetch a token and set bearer_token: ${TOKEN}")
		case "enable_http2":
			if b, ok := c.boolean(f); ok && !b && !isNull(f.value) {
				c.leave(f.path, "false", "Lookout speaks HTTP/2 whenever the server offers it over TLS")
			}
		case "enable_http3":
			c.other(f, "Lookout does not speak HTTP/3")
		case "http_headers":
			c.other(f, "Lookout has no http_headers; set the headers in http.headers")
		default:
			c.other(f, "no equivalent in Lookout")
		}
	}
	if noFollow != nil {
		follow = new(!*noFollow)
	}
	if follow != nil && !*follow {
		h.follow = follow
	}
	if p, fb, ok := c.readIP(pref, fallback); ok && (pref.value != nil || !fb) {
		h.ipProtocol = p
		if !fb {
			h.ipFallback = new(false)
		}
	}
	host := ""
	for _, kv := range h.headers {
		if strings.EqualFold(kv[0], "Host") {
			host = kv[1]
		}
	}
	if t.hostname != "" {
		if host != "" && host != t.hostname {
			c.ls.addTop(importer.Left{Where: t.where, Item: "hostname " + t.hostname,
				Why: fmt.Sprintf("the module's Host header is %s, so blackbox_exporter refuses the scrape", host)})
			return nil, false
		}
		if host == "" {
			h.headers = append(h.headers, [2]string{"Host", t.hostname})
		}
		host = t.hostname
	}
	if host != "" && u.Scheme == "https" && h.tls.serverName == "" {
		// blackbox_exporter names the Host header's host in the handshake.
		h.tls.serverName = host
	}
	c.compression(&h)
	if h.basicAuth != nil && h.bearer != "" {
		c.leave(c.where+".bearer_token", "bearer_token", "set with basic_auth; Lookout sends one of them, basic_auth")
		h.bearer = ""
	}
	return h.node(), true
}

// statuses reads valid_status_codes.
func (c *conv) statuses(f field) []int {
	var codes []int
	if err := f.value.Decode(&codes); err != nil {
		c.leave(f.path, "", "cannot be read: not a list of status codes; 2xx is expected")
		return nil
	}
	out := codes[:0]
	for _, code := range codes {
		if code < 100 || code > 599 {
			c.leave(f.path, strconv.Itoa(code), "not an HTTP status: no response has it")
			continue
		}
		out = append(out, code)
	}
	return out
}

// method reads the request method; Lookout writes methods upper case.
func (c *conv) method(f field) string {
	m, ok := c.str(f)
	if !ok || m == "" {
		return ""
	}
	if up := strings.ToUpper(m); up != m && methodRE.MatchString(up) {
		c.leave(f.path, m, "Lookout sends methods upper case: "+up)
		return up
	}
	if !methodRE.MatchString(m) {
		c.leave(f.path, m, "not a method Lookout sends (letters A to Z)")
		return ""
	}
	return m
}

// stringMap reads a mapping of strings, in the order written.
func (c *conv) stringMap(f field) [][2]string {
	if isNull(f.value) {
		return nil
	}
	if f.value.Kind != yaml.MappingNode {
		c.leave(f.path, "", "cannot be read: not a mapping")
		return nil
	}
	var out [][2]string
	for _, g := range fields(f.value, f.path) {
		if v, ok := c.str(g); ok {
			out = append(out, [2]string{g.key, v})
		}
	}
	return out
}

// celSetting reads a CEL expression over the body's JSON; Lookout's body
// is the same JSON, and one Lookout does not compile is left behind.
func (c *conv) celSetting(f field) string {
	e, ok := c.str(f)
	if !ok || e == "" {
		return ""
	}
	if err := celCompiles(e); err != nil {
		c.leave(f.path, e, "Lookout's CEL does not take it: "+err.Error())
		return ""
	}
	return e
}

// headerMatches converts fail_if_header_matches (fail) or
// fail_if_header_not_matches: a header that must match, without
// allow_missing, is expect.headers; the rest are assertions over headers.
func (c *conv) headerMatches(f field, h *httpOut, fail bool) {
	if isNull(f.value) {
		return
	}
	if f.value.Kind != yaml.SequenceNode {
		c.leave(f.path, "", "cannot be read: not a list of {header, regexp, allow_missing}")
		return
	}
	for i, n := range f.value.Content {
		path := fmt.Sprintf("%s[%d]", f.path, i)
		var name, re string
		var allowMissing, ok = false, true
		for _, g := range fields(n, path) {
			switch g.key {
			case "header":
				name, ok = c.str(g)
			case "regexp":
				re, ok = c.str(g)
			case "allow_missing":
				allowMissing, ok = c.boolean(g)
			default:
				c.other(g, "no equivalent in Lookout")
			}
			if !ok {
				break
			}
		}
		if !ok {
			continue
		}
		if _, err := regexp.Compile(re); err != nil || name == "" || re == "" {
			c.leave(path, name, "cannot be read: want a header and a valid regexp")
			continue
		}
		key := strconv.Quote(strings.ToLower(name))
		has := key + " in headers"
		some := "headers[" + key + "].exists(v, v.matches(" + cel(re) + "))"
		taken := slices.ContainsFunc(h.expectHeaders, func(kv [2]string) bool { return strings.EqualFold(kv[0], name) })
		switch {
		case fail && allowMissing:
			h.assert = append(h.assert, "!("+has+") || !"+some)
		case fail:
			h.assert = append(h.assert, has+" && !"+some)
		case allowMissing:
			h.assert = append(h.assert, "!("+has+") || "+some)
		case !taken:
			h.expectHeaders = append(h.expectHeaders, [2]string{name, re})
		default:
			h.assert = append(h.assert, has+" && "+some)
		}
	}
}

func (c *conv) bodySizeLimit(f field, h *httpOut) {
	s, ok := c.str(f)
	if !ok || s == "" || s == "0" {
		return // 0: no limit, but Lookout's default limit applies
	}
	if size, ok := byteSize(s); ok {
		h.bodySizeLimit = size
		return
	}
	c.leave(f.path, s, "not a size Lookout reads; its default limit of 1MiB applies")
}

func (c *conv) basicAuth(f field, h *httpOut) {
	var user, pass string
	for _, g := range fields(f.value, f.path) {
		switch g.key {
		case "username":
			user, _ = c.str(g)
		case "password":
			pass, _ = c.str(g)
		case "password_file", "username_file":
			what := strings.TrimSuffix(g.key, "_file")
			c.other(g, fmt.Sprintf("Lookout reads no file for it; set basic_auth.%s (${VAR} takes it from the environment)", what))
		default:
			c.other(g, "no equivalent in Lookout")
		}
	}
	if user != "" || pass != "" {
		h.basicAuth = &[2]string{user, pass}
	}
}

// authorization converts an Authorization header of a type and
// credentials: a Bearer one is bearer_token, another a header.
func (c *conv) authorization(f field, h *httpOut) {
	typ, creds := "Bearer", ""
	for _, g := range fields(f.value, f.path) {
		switch g.key {
		case "type":
			if s, _ := c.str(g); s != "" {
				typ = s
			}
		case "credentials":
			creds, _ = c.str(g)
		case "credentials_file":
			c.other(g, "Lookout reads no file for it; set the credentials (${VAR} takes them from the environment)")
		default:
			c.other(g, "no equivalent in Lookout")
		}
	}
	switch {
	case creds == "":
	case strings.EqualFold(typ, "Bearer"):
		h.bearer = creds
	default:
		h.headers = append(h.headers, [2]string{"Authorization", typ + " " + creds})
	}
}

// compression: blackbox_exporter decompresses the body with the
// configured algorithm before its checks, and fails a body it cannot.
// Lookout asks for gzip itself and decompresses a gzip body, as long as no
// Accept-Encoding header is set.
func (c *conv) compression(h *httpOut) {
	where := c.where + ".compression"
	switch strings.ToLower(h.compression) {
	case "", "identity":
	case "gzip":
		c.leave(where, "gzip", "Lookout asks for gzip and decompresses a gzip body before its checks, but does not fail a body that is not compressed")
		h.headers = slices.DeleteFunc(h.headers, func(kv [2]string) bool {
			if !strings.EqualFold(kv[0], "Accept-Encoding") {
				return false
			}
			c.leave(c.where+".headers."+kv[0], kv[0]+": "+kv[1], "not sent: with it set Lookout would check the compressed body; it sends Accept-Encoding: gzip itself")
			return true
		})
	default:
		c.leave(where, h.compression, "Lookout decompresses gzip only; its checks would see this body compressed")
	}
}

func (h *httpOut) node() *yaml.Node {
	m := newMapping()
	add(m, "url", str(h.url))
	if h.method != "" && h.method != "GET" {
		add(m, "method", str(h.method))
	}
	if len(h.headers) > 0 {
		hm := newMapping()
		for _, kv := range h.headers {
			add(hm, kv[0], str(kv[1]))
		}
		add(m, "headers", hm)
	}
	if h.body != "" {
		add(m, "body", str(h.body))
	}
	if h.basicAuth != nil {
		ba := newMapping()
		add(ba, "username", str(h.basicAuth[0]))
		add(ba, "password", str(h.basicAuth[1]))
		add(m, "basic_auth", ba)
	}
	if h.bearer != "" {
		add(m, "bearer_token", str(h.bearer))
	}
	if h.follow != nil {
		add(m, "follow_redirects", scalar(*h.follow))
	}
	if h.ipProtocol != "" {
		add(m, "ip_protocol", str(h.ipProtocol))
	}
	if h.ipFallback != nil {
		add(m, "ip_protocol_fallback", scalar(*h.ipFallback))
	}
	if h.bodySizeLimit != "" {
		add(m, "body_size_limit", str(h.bodySizeLimit))
	}
	expect := newMapping()
	switch {
	case h.anyStatus:
		add(expect, "status", seq(str("100-599")))
	case len(h.status) > 0:
		s := seq()
		for _, code := range h.status {
			s.Content = append(s.Content, scalar(code))
		}
		add(expect, "status", s)
	}
	if len(h.expectHeaders) > 0 {
		hm := newMapping()
		for _, kv := range h.expectHeaders {
			add(hm, kv[0], str(kv[1]))
		}
		add(expect, "headers", hm)
	}
	assert := slices.Clone(h.assert)
	if len(h.bodyRegex) > 0 {
		add(expect, "body_regex", str(h.bodyRegex[0]))
		for _, re := range h.bodyRegex[1:] {
			assert = append(assert, "text.matches("+cel(re)+")")
		}
	}
	if len(h.bodyNotRegex) > 0 {
		add(expect, "body_not_regex", str(anyOf(h.bodyNotRegex)))
	}
	if len(expect.Content) > 0 {
		add(m, "expect", expect)
	}
	if len(assert) > 0 {
		a := seq()
		for _, e := range assert {
			a.Content = append(a.Content, str(e))
		}
		add(m, "assert", a)
	}
	if !h.tls.isZero() {
		add(m, "tls", h.tls.node())
	}
	return m
}

// tcp converts a tcp section; the target is host:port.
func (c *conv) tcp(sec *yaml.Node, t target) (*yaml.Node, bool) {
	host, port, err := net.SplitHostPort(t.target)
	if err != nil || host == "" || !validPort(port) {
		c.ls.addTop(importer.Left{Where: t.where, Item: t.target, Why: "not host:port with a port number, which Lookout's tcp probe connects to"})
		return nil, false
	}
	var pref, fallback, tlsField, qr field
	useTLS := false
	for _, f := range fields(sec, c.where) {
		switch f.key {
		case "preferred_ip_protocol":
			pref = f
		case "ip_protocol_fallback":
			fallback = f
		case "tls":
			useTLS, _ = c.boolean(f)
		case "tls_config":
			tlsField = f
		case "query_response":
			qr = f
		case "source_ip_address":
			c.other(f, "Lookout connects from the address the system chooses")
		default:
			c.other(f, "no equivalent in Lookout")
		}
	}
	ip := c.ipProtocol(pref, fallback)
	tc := c.tlsConfig(tlsField)
	if t.hostname != "" && tc.serverName == "" {
		tc.serverName = t.hostname
	}
	send, expect := c.queryResponse(qr)
	m := newMapping()
	add(m, "address", str(t.target))
	switch {
	case useTLS && tc.isZero():
		add(m, "tls", scalar(true))
	case useTLS:
		add(m, "tls", tc.node())
	}
	if send != "" {
		add(m, "send", str(send))
	}
	if expect != "" {
		k := add(m, "expect", str(expect))
		if strings.HasPrefix(expect, "(?m)") {
			k.LineComment = `# (?m) and \r?$: blackbox_exporter matches each line, without its line end`
		}
	}
	if ip != "" {
		add(m, "ip_protocol", str(ip))
	}
	return m, true
}

// qrStep is one step of a query_response.
type qrStep struct {
	expect, send string
	starttls     bool
	labels       bool
}

// queryResponse converts the steps of a TCP conversation. Lookout sends
// once, then matches what it reads once: the sends before the first
// expect are its send (each ended by a newline, as blackbox_exporter
// sends them), the first expect its expect; the rest is left behind.
func (c *conv) queryResponse(f field) (send, expect string) {
	if f.value == nil || isNull(f.value) {
		return "", ""
	}
	if f.value.Kind != yaml.SequenceNode {
		c.leave(f.path, "", "cannot be read: not a list of steps")
		return "", ""
	}
	var steps []qrStep
	for i, n := range f.value.Content {
		var s qrStep
		for _, g := range fields(n, fmt.Sprintf("%s[%d]", f.path, i)) {
			switch g.key {
			case "expect":
				s.expect, _ = c.str(g)
			case "send":
				s.send, _ = c.str(g)
			case "starttls":
				s.starttls, _ = c.boolean(g)
			case "labels":
				s.labels = !isZero(g.value)
			default:
				c.other(g, "no equivalent in Lookout")
			}
		}
		steps = append(steps, s)
	}
	i := 0
	var sb strings.Builder
	for ; i < len(steps) && steps[i].expect == "" && !steps[i].starttls && !steps[i].labels; i++ {
		if steps[i].send != "" {
			sb.WriteString(steps[i].send + "\n")
		}
	}
	send = sb.String()
	rest, restSend := i, false
	if i < len(steps) && steps[i].expect != "" && !steps[i].starttls {
		s := steps[i]
		if _, err := regexp.Compile(s.expect); err != nil {
			c.leave(fmt.Sprintf("%s[%d].expect", f.path, i), s.expect, "not a valid regular expression")
			return send, ""
		}
		expect = s.expect
		if hasTextAnchor(expect) {
			expect = lineAnchored(expect)
		}
		if s.labels {
			c.leave(fmt.Sprintf("%s[%d].labels", f.path, i), "", "Lookout has no probe_expect_info; the response is in the probe's facts")
		}
		rest, restSend = i+1, s.send != ""
	}
	if rest >= len(steps) && !restSend {
		return send, expect
	}
	var what []string
	onlySends := true
	if restSend {
		what = append(what, "send")
	}
	for _, s := range steps[rest:] {
		if s.expect != "" {
			what, onlySends = append(what, fmt.Sprintf("expect %q", s.expect)), false
		}
		if s.send != "" {
			what = append(what, "send")
		}
		if s.starttls {
			what, onlySends = append(what, "starttls"), false
		}
	}
	where := fmt.Sprintf("%s[%d]", f.path, rest)
	if restSend {
		where = fmt.Sprintf("%s[%d].send", f.path, rest-1)
	}
	why := "Lookout's tcp probe sends once and then matches what it reads once; the rest of the conversation is not checked"
	if onlySends {
		why = "Lookout's tcp probe sends before it reads, so what blackbox_exporter sent after the match is not sent (nothing after it was checked)"
	}
	c.leave(where, strings.Join(what, ", "), why)
	return send, expect
}

// hasTextAnchor reports whether re has a ^ or $ that matches at the start
// or end of the text only: blackbox_exporter matches each line, so (?m)
// makes them match at each line of what Lookout reads.
func hasTextAnchor(re string) bool {
	t, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return false
	}
	var walk func(*syntax.Regexp) bool
	walk = func(r *syntax.Regexp) bool {
		if r.Op == syntax.OpBeginText || r.Op == syntax.OpEndText {
			return true
		}
		return slices.ContainsFunc(r.Sub, walk)
	}
	return walk(t)
}

// lineAnchored makes re match as blackbox_exporter matches it against
// each line read, without the line's end (\n or \r\n): ^ and $ match at
// lines ((?m)), and $ after a \r. Lookout matches what it has read so far.
func lineAnchored(re string) string {
	var b strings.Builder
	b.WriteString("(?m)")
	inClass := false
	for i := 0; i < len(re); i++ {
		ch := re[i]
		switch {
		case ch == '\\' && i+1 < len(re):
			if re[i+1] == 'Q' {
				return "(?m)" + re // quoted text: $ may be a literal
			}
			b.WriteString(re[i : i+2])
			i++
			continue
		case inClass && ch == '[' && strings.HasPrefix(re[i:], "[:"):
			if end := strings.Index(re[i:], ":]"); end > 0 {
				b.WriteString(re[i : i+end+2])
				i += end + 1
				continue
			}
		case inClass:
			inClass = ch != ']'
		case ch == '[':
			inClass = true
			b.WriteByte(ch)
			if strings.HasPrefix(re[i+1:], "^") {
				b.WriteByte('^')
				i++
			}
			if strings.HasPrefix(re[i+1:], "]") {
				b.WriteByte(']')
				i++
			}
			continue
		case ch == '$':
			b.WriteString(`\r?$`)
			continue
		}
		b.WriteByte(ch)
	}
	if _, err := regexp.Compile(b.String()); err != nil {
		return "(?m)" + re
	}
	return b.String()
}

// icmp converts an icmp section; the target is the host.
func (c *conv) icmp(sec *yaml.Node, t target) (*yaml.Node, bool) {
	var pref, fallback field
	payload := 0
	for _, f := range fields(sec, c.where) {
		switch f.key {
		case "preferred_ip_protocol":
			pref = f
		case "ip_protocol_fallback":
			fallback = f
		case "payload_size":
			if err := f.value.Decode(&payload); err != nil || payload < 0 || payload > 65000 {
				c.leave(f.path, shown(f), "not a size from 0 to 65000 bytes, which Lookout sends")
				payload = 0
			}
		case "ttl":
			var ttl int
			if err := f.value.Decode(&ttl); err != nil || ttl != 64 && ttl != 0 {
				c.leave(f.path, shown(f), "Lookout sends with the system's TTL")
			}
		case "dont_fragment":
			c.other(f, "Lookout does not set the don't-fragment bit")
		case "source_ip_address":
			c.other(f, "Lookout sends from the address the system chooses")
		default:
			c.other(f, "no equivalent in Lookout")
		}
	}
	ip := c.ipProtocol(pref, fallback)
	m := newMapping()
	add(m, "host", str(t.target))
	if payload > 0 {
		add(m, "payload_size", scalar(payload))
	}
	if ip != "" {
		add(m, "ip_protocol", str(ip))
	}
	return m, true
}

// dnsOut is a converted dns section.
type dnsOut struct {
	name, qtype, transport, rcode string
	noRecursion                   bool
	tls                           tlsOut
	expect                        map[string][]string // by section
	assert                        []string
}

// dnsSections are the record sections: blackbox_exporter's validator,
// Lookout's name.
var dnsSections = [][2]string{{"validate_answer_rrs", "answers"}, {"validate_authority_rrs", "authority"}, {"validate_additional_rrs", "additional"}}

// dns converts a dns section; the target is the server.
func (c *conv) dns(sec *yaml.Node, t target) (*yaml.Node, bool) {
	d := dnsOut{qtype: "ANY", transport: "udp", expect: map[string][]string{}}
	var pref, fallback, tlsField field
	overTLS, typeSet := false, false
	for _, f := range fields(sec, c.where) {
		switch f.key {
		case "preferred_ip_protocol":
			pref = f
		case "ip_protocol_fallback":
			fallback = f
		case "query_name":
			d.name, _ = c.str(f)
		case "query_type":
			if s, _ := c.str(f); s != "" {
				d.qtype, typeSet = s, true
			}
		case "query_class":
			if s, _ := c.str(f); s != "" && s != "IN" {
				c.leave(f.path, s, "Lookout asks in class IN")
			}
		case "transport_protocol":
			if s, _ := c.str(f); s != "" {
				d.transport = s
			}
		case "dns_over_tls":
			overTLS, _ = c.boolean(f)
		case "tls_config":
			tlsField = f
		case "recursion_desired":
			b, ok := c.boolean(f)
			d.noRecursion = ok && !b && !isNull(f.value)
		case "valid_rcodes":
			d.rcode = c.rcode(f)
		case "source_ip_address":
			c.other(f, "Lookout asks from the address the system chooses")
		default:
			if i := slices.IndexFunc(dnsSections, func(s [2]string) bool { return s[0] == f.key }); i >= 0 {
				c.rrValidator(f, dnsSections[i][1], &d)
				continue
			}
			c.other(f, "no equivalent in Lookout")
		}
	}
	if d.name == "" {
		c.ls.addTop(importer.Left{Where: c.where + ".query_name", Why: "missing; blackbox_exporter refuses a dns module without it"})
		return nil, false
	}
	switch up := strings.ToUpper(d.qtype); {
	case up == "ANY":
		item := "ANY"
		if !typeSet {
			item = "ANY (the default)"
		}
		c.leave(c.where+".query_type", item, "Lookout asks for one record type: "+strings.Join(config.DNSTypes, ", ")+"; this probe asks for A")
		d.qtype = "A"
	case slices.Contains(config.DNSTypes, up):
		d.qtype = up
	default:
		c.ls.addTop(importer.Left{Where: c.where + ".query_type", Item: d.qtype, Why: "Lookout's dns probe asks for " + strings.Join(config.DNSTypes, ", ") + " only"})
		return nil, false
	}
	port := "53"
	switch {
	case d.transport != "udp" && d.transport != "tcp":
		c.ls.addTop(importer.Left{Where: c.where + ".transport_protocol", Item: d.transport, Why: "not udp or tcp, so blackbox_exporter fails every probe"})
		return nil, false
	case overTLS && d.transport != "tcp":
		c.ls.addTop(importer.Left{Where: c.where + ".dns_over_tls", Why: "DNS over TLS needs transport_protocol: tcp, so blackbox_exporter fails every probe"})
		return nil, false
	case overTLS:
		d.transport, port = "tls", "853"
		d.tls = c.tlsConfig(tlsField)
	}
	host, p := hostPort(t.target, port)
	if !validPort(p) || host == "" {
		c.ls.addTop(importer.Left{Where: t.where, Item: t.target, Why: "not a server address with a port number, which Lookout's dns probe asks"})
		return nil, false
	}
	ip := c.ipProtocol(pref, fallback)
	return d.node(net.JoinHostPort(host, p), ip), true
}

// rcode reads valid_rcodes: Lookout expects one response code.
func (c *conv) rcode(f field) string {
	codes := c.list(f)
	if len(codes) == 0 {
		return ""
	}
	for _, rc := range codes {
		if !slices.Contains(config.DNSRCodes, rc) {
			c.leave(f.path, rc, "Lookout's dns probe expects one of "+strings.Join(config.DNSRCodes, ", "))
		}
	}
	pick := codes[0]
	if slices.Contains(codes, "NOERROR") {
		pick = "NOERROR"
	}
	if !slices.Contains(config.DNSRCodes, pick) {
		return ""
	}
	if len(codes) > 1 {
		c.leave(f.path, "["+strings.Join(codes, ", ")+"]", "Lookout's dns probe expects one response code: "+pick)
	}
	return pick
}

// rrValidator converts the checks of one section's records: "none
// matches" is expect (a record must match), the others assertions over
// the section's records as zone-file text, which both write alike.
func (c *conv) rrValidator(f field, section string, d *dnsOut) {
	for _, g := range fields(f.value, f.path) {
		res := c.regexps(g)
		if len(res) == 0 {
			continue
		}
		switch g.key {
		case "fail_if_matches_regexp":
			d.assert = append(d.assert, "!"+section+".exists(rr, "+matchesAll("rr", res, " || ")+")")
		case "fail_if_all_match_regexp":
			d.assert = append(d.assert, "!"+section+".all(rr, "+matchesAll("rr", res, " && ")+")")
		case "fail_if_not_matches_regexp":
			d.assert = append(d.assert, section+".size() > 0 && "+section+".all(rr, "+matchesAll("rr", res, " && ")+")")
		case "fail_if_none_matches_regexp":
			d.expect[section] = append(d.expect[section], anyOf(res))
		default:
			c.other(g, "no equivalent in Lookout")
		}
	}
}

func (d *dnsOut) node(server, ip string) *yaml.Node {
	m := newMapping()
	add(m, "name", str(d.name))
	add(m, "type", str(d.qtype))
	add(m, "server", str(server))
	if d.transport != "udp" {
		add(m, "transport", str(d.transport))
	}
	if d.noRecursion {
		add(m, "recursion_desired", scalar(false))
	}
	if ip != "" {
		add(m, "ip_protocol", str(ip))
	}
	if !d.tls.isZero() {
		add(m, "tls", d.tls.node())
	}
	expect := newMapping()
	if d.rcode != "" && d.rcode != "NOERROR" {
		add(expect, "rcode", str(d.rcode))
	}
	for _, s := range dnsSections {
		if res := d.expect[s[1]]; len(res) > 0 {
			l := seq()
			for _, re := range res {
				l.Content = append(l.Content, str(re))
			}
			add(expect, s[1], l)
		}
	}
	if len(expect.Content) > 0 {
		add(m, "expect", expect)
	}
	if len(d.assert) > 0 {
		a := seq()
		for _, e := range d.assert {
			a.Content = append(a.Content, str(e))
		}
		add(m, "assert", a)
	}
	return m
}

// grpc converts a grpc section; the target is host[:port], maybe behind
// http:// or https://, with port 443 with TLS and 80 without by default.
func (c *conv) grpc(sec *yaml.Node, t target) (*yaml.Node, bool) {
	var pref, fallback, tlsField field
	service, useTLS := "", false
	for _, f := range fields(sec, c.where) {
		switch f.key {
		case "service":
			service, _ = c.str(f)
		case "tls":
			useTLS, _ = c.boolean(f)
		case "tls_config":
			tlsField = f
		case "preferred_ip_protocol":
			pref = f
		case "ip_protocol_fallback":
			fallback = f
		default:
			c.other(f, "no equivalent in Lookout")
		}
	}
	hostpart := strings.TrimPrefix(strings.TrimPrefix(t.target, "http://"), "https://")
	hostpart, _, _ = strings.Cut(hostpart, "/")
	def := "80"
	if useTLS {
		def = "443"
	}
	host, port := hostPort(hostpart, def)
	if host == "" || !validPort(port) {
		c.ls.addTop(importer.Left{Where: t.where, Item: t.target, Why: "not host:port with a port number, which Lookout's grpc probe connects to"})
		return nil, false
	}
	ip := c.ipProtocol(pref, fallback)
	tc := c.tlsConfig(tlsField)
	m := newMapping()
	add(m, "address", str(net.JoinHostPort(host, port)))
	if service != "" {
		add(m, "service", str(service))
	}
	switch {
	case useTLS && tc.isZero():
		add(m, "tls", scalar(true))
	case useTLS:
		add(m, "tls", tc.node())
	}
	if ip != "" {
		add(m, "ip_protocol", str(ip))
	}
	return m, true
}

// render writes the probes as lookout.yml, with top the comments on what
// no probe carries, and unused the modules no job probes with.
func render(probes []probeOut, top, unused []string) ([]byte, error) {
	head := []string{
		"Lookout probes imported from a blackbox_exporter config and the Prometheus",
		"jobs that probe through it: one probe per target of each job. What",
		"Lookout cannot check as blackbox_exporter did is in a comment where it was.",
	}
	if len(top) > 0 {
		head = append(head, "", "Not carried over:")
		for _, t := range top {
			head = append(head, "  "+t)
		}
	}
	if len(unused) > 0 {
		head = append(head, "", "Modules no job probes with: "+strings.Join(unused, ", "))
	}
	list := seq()
	for _, p := range probes {
		list.Content = append(list.Content, p.node())
	}
	root := newMapping()
	add(root, "probes", list).HeadComment = comment(head)
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("write Lookout config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write Lookout config: %w", err)
	}
	return []byte(b.String()), nil
}

func (p *probeOut) node() *yaml.Node {
	m := newMapping()
	m.HeadComment = comment([]string{fmt.Sprintf("job %s, module %s, target %s", p.job, p.module, redact(p.from))})
	add(m, "name", str(p.name))
	add(m, "interval", str(promText(p.interval)))
	add(m, "timeout", str(promText(p.timeout)))
	if len(p.labels) > 0 {
		l := newMapping()
		for _, k := range slices.Sorted(maps.Keys(p.labels)) {
			add(l, k, str(p.labels[k]))
		}
		add(m, "labels", l)
	}
	add(m, p.kind, p.section)
	if len(p.notes) > 0 && len(p.section.Content) > 0 {
		lines := []string{"Not carried over:"}
		for _, n := range p.notes {
			lines = append(lines, "  "+n)
		}
		p.section.Content[0].HeadComment = comment(lines)
	}
	return m
}

// comment is lines as a YAML comment.
func comment(lines []string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimRight("# "+l, " ")
	}
	return strings.Join(out, "\n")
}

// promText writes a duration as Prometheus does: 1m, 30s, 1m30s, 9.5s.
func promText(d time.Duration) string {
	if d%time.Second != 0 {
		return d.String()
	}
	return wholeSeconds(d)
}

// wholeSeconds writes a whole number of seconds without zero units.
func wholeSeconds(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// redact hides the password of a URL.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// field is one key of a YAML mapping: its value and its path.
type field struct {
	key   string
	value *yaml.Node
	path  string
}

// fields are the keys of mapping n, merge keys (<<) resolved, in the order
// written; path is n's path.
func fields(n *yaml.Node, path string) []field {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []field
	at := map[string]int{}
	put := func(f field) {
		if i, ok := at[f.key]; ok {
			out[i] = f
			return
		}
		at[f.key] = len(out)
		out = append(out, f)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Tag == "!!merge" {
			v := deref(n.Content[i+1])
			merged := []*yaml.Node{v}
			if v != nil && v.Kind == yaml.SequenceNode {
				merged = v.Content
			}
			for _, m := range merged {
				for _, f := range fields(m, path) {
					put(f)
				}
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Tag == "!!merge" {
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		put(field{key: k.Value, value: deref(n.Content[i+1]), path: p})
	}
	return out
}

// deref follows aliases and documents to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) > 0:
			n = n.Content[0]
		case n.Kind == yaml.DocumentNode || n.Kind == 0: // 0: an empty file
			return nil
		default:
			return n
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// isZero reports whether a setting is at its zero value: null, false, 0,
// "" or empty.
func isZero(n *yaml.Node) bool {
	switch {
	case isNull(n):
		return true
	case n.Kind == yaml.ScalarNode:
		return n.Value == "" || n.Value == "0" || n.Tag == "!!bool" && strings.EqualFold(n.Value, "false")
	default:
		return len(n.Content) == 0
	}
}

// shown is a setting's value as written, shortened; "" for a mapping or a
// list, and for a value that may be a secret.
func shown(f field) string {
	k := strings.ToLower(f.key)
	if f.value.Kind != yaml.ScalarNode || k == "key" || strings.Contains(k, "password") || strings.Contains(k, "secret") || strings.Contains(k, "token") || strings.Contains(k, "credential") {
		return ""
	}
	v := f.value.Value
	if len(v) > 60 {
		v = v[:57] + "…"
	}
	return v
}

func yamlReason(err error) string { return strings.TrimPrefix(err.Error(), "yaml: ") }

func newMapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

// add appends key: v to mapping m and returns the key's node.
func add(m *yaml.Node, key string, v *yaml.Node) *yaml.Node {
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
	m.Content = append(m.Content, k, v)
	return k
}

// scalar is v as a YAML scalar.
func scalar(v any) *yaml.Node {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		panic(fmt.Sprintf("blackbox: encode %T: %v", v, err)) // only bools, ints and strings
	}
	return &n
}

// str is a string value of lookout.yml: a "$" that Lookout would read as
// the start of ${VAR} or $$ is written $$.
func str(s string) *yaml.Node {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '$' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '$') {
			b.WriteByte('$')
		}
	}
	return scalar(b.String())
}

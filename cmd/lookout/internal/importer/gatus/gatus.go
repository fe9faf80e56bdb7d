// Package gatus converts a Gatus config (config.yaml) into Lookout's
// lookout.yml, for `lookout import gatus`. Endpoints become probes of the
// matching kind, their conditions plain expectations or CEL assertions,
// external endpoints heartbeats, the alerts' thresholds flap damping, the
// Slack and custom alerting providers receivers with a route per alert,
// and maintenance windows maintenance. Whatever has no equivalent is
// written as a comment where it stood and returned as an importer.Left;
// secrets are carried into the config, never into a Left.
//
// Where Lookout's checks differ from Gatus's in ways a user could meet:
// pat() patterns match '/' as written (Gatus drops every '/' from the
// pattern and the text before matching); a path missing from a JSON body
// fails a CEL assertion, also under != (Gatus compares the text
// "(INVALID)"); len() of a JSON object counts its keys (Gatus: the
// characters of its JSON); a DNS answer is accepted when any record
// matches (Gatus compares the last record only), and the response code
// must be NOERROR unless a [DNS_RCODE] condition names another; a grpc
// probe is down unless the answer is SERVING, whatever the conditions;
// a tcp probe's [BODY] is read until the pattern matches, up to 4 KiB
// (Gatus: one read of up to 1024 bytes); certificate expiry is that of
// the chain's earliest certificate (Gatus: the server's own).
//
// And in alerting: failure-threshold F with success-threshold S become
// failure_threshold {failures: F, of: F+S-1}, so a probe is down after F
// failures in a row and up again after S successes, as in Gatus, but is
// also down when F runs of such a window fail apart; ProbeDown pages
// after the probe has been down for 1m; Lookout notifies when an alert
// resolves, and repeats a firing one every 4h unless
// minimum-reminder-interval says otherwise (Gatus: no reminders).
package gatus

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lookout-dev/lookout/cmd/lookout/internal/importer"
)

// Convert reads a Gatus config and returns Lookout config (YAML, with
// comments where a setting had no exact equivalent) and the items it left
// behind.
func Convert(src []byte) (out []byte, left []importer.Left, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, nil, fmt.Errorf("gatus config: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil, nil, errors.New("gatus config: the file is empty; want a Gatus config with endpoints")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("gatus config: line %d: want a mapping with endpoints, found %s", root.Line, kindName(root))
	}
	c := &converter{names: map[string]int{}}
	c.alerting.providers, c.alerting.names, c.alerting.certs = map[string]*provider{}, map[string]bool{}, map[string]string{}
	if err := c.read(root); err != nil {
		return nil, nil, err
	}
	out, err = c.render()
	if err != nil {
		return nil, nil, err
	}
	return out, c.left, nil
}

// converter holds what has been read, and what is left behind.
type converter struct {
	left []importer.Left
	// head are comments for the top of the file: top-level sections left
	// behind.
	head        []string
	concurrency int
	probes      []*probeOut
	maintenance []*yaml.Node
	alerting    alerting
	names       map[string]int // probe names taken, by probes index
}

// probeOut is one probe of the output, or a disabled endpoint written as
// a comment.
type probeOut struct {
	node     *yaml.Node
	notes    []string // comments above the probe
	disabled bool
}

// leave records an item left behind; note, if not nil, also gets the
// comment.
func (c *converter) leave(notes *[]string, where, item, why string) {
	c.left = append(c.left, importer.Left{Where: where, Item: shorten(item), Why: why})
	text := why
	if item != "" {
		text = shorten(item) + ": " + why
	}
	if i := strings.Index(where, "]."); i >= 0 && notes != nil {
		text = where[i+2:] + ": " + text
	} else if notes != nil && !strings.Contains(where, "[") {
		text = where + ": " + text
	}
	if notes != nil {
		*notes = append(*notes, "not carried over: "+text)
	} else {
		c.head = append(c.head, "not carried over: "+where+": "+text)
	}
}

// shorten keeps an item short enough for one line of a report.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 100 {
		return s[:97] + "..."
	}
	return s
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// read walks the top-level sections; alerting first, as endpoints' alerts
// refer to its providers.
func (c *converter) read(root *yaml.Node) error {
	sections := map[string]*yaml.Node{}
	var order []string
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i].Value
		sections[k] = root.Content[i+1]
		order = append(order, k)
	}
	if sections["endpoints"] == nil && sections["external-endpoints"] == nil && sections["suites"] == nil {
		return fmt.Errorf("gatus config: line %d: no endpoints, external-endpoints or suites; want a Gatus config", root.Line)
	}
	if n := sections["alerting"]; n != nil {
		if err := c.readAlerting(n); err != nil {
			return err
		}
	}
	for _, k := range order {
		n := sections[k]
		var err error
		switch k {
		case "alerting":
		case "endpoints":
			err = c.readEndpoints(n)
		case "external-endpoints":
			err = c.readExternalEndpoints(n)
		case "maintenance":
			err = c.readGlobalMaintenance(n)
		case "concurrency":
			err = n.Decode(&c.concurrency)
		case "metrics", "disable-monitoring-lock", "skip-invalid-config-update":
			// Lookout always serves /metrics, runs probes concurrently
			// and keeps the running config when a new one is invalid.
		default:
			if n.Anchor != "" {
				// A block only anchored for the endpoints that merge
				// it (<<: *defaults), which Gatus does not read itself.
				break
			}
			why, ok := sectionsLeft[k]
			if !ok {
				why = "not a Gatus setting Lookout knows"
			}
			c.leave(nil, k, "", why)
		}
		if err != nil {
			return fmt.Errorf("gatus config: %s: %w", k, err)
		}
	}
	return nil
}

// sectionsLeft are the top-level Gatus sections Lookout has no
// counterpart of, and why.
var sectionsLeft = map[string]string{
	"debug":         "Lookout's log level is the --log.level flag",
	"storage":       "Lookout keeps its own state in storage.path; Gatus's results are not imported",
	"web":           "Lookout listens on server.listen (default 127.0.0.1:9477); set it, and who may call what, in server",
	"ui":            "Lookout's status pages are configured in status_pages",
	"security":      "Lookout's API access is configured in server (tokens, basic auth, mTLS)",
	"announcements": "Lookout's incidents are opened through POST /api/v1/incidents",
	"suites":        "suites are not converted; a Lookout flow probe runs steps in order and passes values between them",
	"remote":        "Lookout does not read other Gatus instances",
	"connectivity":  "Lookout has no connectivity check; its clustered replicas judge a probe together (cluster, quorum)",
	"tunneling":     "Lookout probes do not go through SSH tunnels",
}

// decodeStrict decodes n into v, returning the keys of the mapping n that
// v has no field for.
func decodeStrict(n *yaml.Node, v any) ([]*yaml.Node, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping, found %s", n.Line, kindName(n))
	}
	if err := n.Decode(v); err != nil {
		return nil, err
	}
	known := yamlKeys(reflect.TypeOf(v).Elem())
	var unknown []*yaml.Node
	for _, k := range mappingKeys(n) {
		if !known[k.Value] && !slices.ContainsFunc(unknown, func(u *yaml.Node) bool { return u.Value == k.Value }) {
			unknown = append(unknown, k)
		}
	}
	return unknown, nil
}

// valueOf is the value of key in the mapping n, also when a merge key
// brings it in; nil when there is none.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	var merged *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Value == key:
			return v
		case k.Value == "<<" && merged == nil:
			for _, m := range append([]*yaml.Node{v}, v.Content...) {
				if m.Kind == yaml.AliasNode && m.Alias != nil {
					if found := valueOf(m.Alias, key); found != nil && merged == nil {
						merged = found
					}
				}
			}
		}
	}
	return merged
}

// mappingKeys are the keys of a mapping, with those a YAML merge key
// (<<: *defaults) brings in.
func mappingKeys(n *yaml.Node) []*yaml.Node {
	var keys []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value != "<<" || k.Tag != "!!merge" && k.Style != 0 {
			keys = append(keys, k)
			continue
		}
		merged := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			merged = v.Content
		}
		for _, m := range merged {
			if m.Kind == yaml.AliasNode && m.Alias != nil {
				m = m.Alias
			}
			if m.Kind == yaml.MappingNode {
				keys = append(keys, mappingKeys(m)...)
			}
		}
	}
	return keys
}

func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

// seq returns the items of a list.
func seq(n *yaml.Node) ([]*yaml.Node, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list, found %s", n.Line, kindName(n))
	}
	return n.Content, nil
}

// lookoutEnv rewrites Gatus's environment references for Lookout: $NAME
// becomes ${NAME}; ${NAME} and $$ (a literal $) mean the same in both.
func lookoutEnv(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$' || next == '{':
			b.WriteString(s[i : i+2])
			i++
		case next == '_' || next >= 'a' && next <= 'z' || next >= 'A' && next <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			b.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envRef finds a Gatus environment reference ($NAME or ${NAME}).
var envRef = regexp.MustCompile(`\$(\{|[A-Za-z_])`)

// lookoutLiteral writes s, which holds no environment reference, so that
// Lookout reads it as it is: a $ that would start ${ or $$ is doubled.
func lookoutLiteral(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && (s[i+1] == '$' || s[i+1] == '{') {
			b.WriteString("$$")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// redactedURL is what a comment or a Left may show of a URL: its scheme
// and host, never its credentials, path or query.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		scheme, _, _ := strings.Cut(raw, "://")
		if scheme == raw {
			return "…"
		}
		return scheme + "://…"
	}
	shown := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		shown += "/…"
	}
	return shown
}

// duration reads a Gatus duration (Go's syntax, like 5m or 1h30m).
func duration(s string) (time.Duration, bool) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	return d, err == nil && d > 0
}

// newToken makes a heartbeat token for a job whose Gatus token Lookout
// cannot take.
func newToken() string { return strings.ToLower(rand.Text()) }

// probeName returns a name no other probe has: the Gatus name, or the
// group and name when another group has the same.
func (c *converter) probeName(group, name string) string {
	candidates := []string{name}
	if group != "" {
		candidates = append(candidates, group+"-"+name)
	}
	for _, n := range candidates {
		if _, taken := c.names[n]; !taken {
			c.names[n] = len(c.probes)
			return n
		}
	}
	for i := 2; ; i++ {
		n := fmt.Sprintf("%s-%d", candidates[len(candidates)-1], i)
		if _, taken := c.names[n]; !taken {
			c.names[n] = len(c.probes)
			return n
		}
	}
}

// hostPort splits host:port, with a default port.
func hostPort(addr, defaultPort string) (string, bool) {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr, true
	}
	if defaultPort == "" || strings.Contains(strings.Trim(addr, "[]"), "/") {
		return "", false
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), defaultPort), true
}

// These write the output: YAML nodes with comments.

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
func integer(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}
func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}
func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }
func list(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}
func flowList(items ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range items {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// set adds key: v to the mapping m and returns the key's node, for a
// comment.
func set(m *yaml.Node, key string, v *yaml.Node) *yaml.Node {
	k := str(key)
	m.Content = append(m.Content, k, v)
	return k
}

// stringMap writes a map in key order.
func stringMap(kv map[string]string) *yaml.Node {
	m := mapping()
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		set(m, k, str(kv[k]))
	}
	return m
}

// withComment sets a node's line comment and returns the node.
func withComment(n *yaml.Node, comment string) *yaml.Node {
	n.LineComment = comment
	return n
}

// render writes the Lookout config.
func (c *converter) render() ([]byte, error) {
	root := mapping()
	if c.concurrency > 0 {
		s := mapping()
		set(s, "max_concurrent", withComment(integer(c.concurrency), "Gatus's concurrency"))
		set(root, "scheduler", s)
	}
	var pending []string // disabled endpoints, as comments for what follows
	probes := list()
	for _, p := range c.probes {
		text, err := encode(p.node)
		if err != nil {
			return nil, err
		}
		if p.disabled {
			pending = append(pending, p.notes...)
			pending = append(pending, indentLines("- ", text)...)
			continue
		}
		p.node.HeadComment = strings.Join(append(pending, p.notes...), "\n")
		pending = nil
		probes.Content = append(probes.Content, p.node)
	}
	set(root, "probes", probes)
	if len(c.maintenance) > 0 {
		k := set(root, "maintenance", list(c.maintenance...))
		k.HeadComment, pending = strings.Join(pending, "\n"), nil
	}
	if a := c.alerting.node(); a != nil {
		k := set(root, "alerting", a)
		k.HeadComment = strings.Join(append(pending, c.alerting.notes...), "\n")
		pending = nil
	}
	head := "Converted from a Gatus config by `lookout import gatus`. Check it with `lookout check`."
	if len(c.head) > 0 {
		head += "\n\n" + strings.Join(c.head, "\n")
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}, HeadComment: head,
		FootComment: strings.Join(pending, "\n")}
	return encode(doc)
}

// indentLines turns YAML text into comment lines of a list item.
func indentLines(first string, text []byte) []string {
	lines := strings.Split(strings.TrimRight(string(text), "\n"), "\n")
	for i := range lines {
		if i == 0 {
			lines[i] = first + lines[i]
		} else {
			lines[i] = strings.Repeat(" ", len(first)) + lines[i]
		}
	}
	return lines
}

func encode(n *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("write the Lookout config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write the Lookout config: %w", err)
	}
	return b.Bytes(), nil
}

// endpoint is a Gatus endpoint, as far as Lookout can use it.
type endpoint struct {
	Enabled            *bool               `yaml:"enabled"`
	Name               string              `yaml:"name"`
	Group              string              `yaml:"group"`
	URL                string              `yaml:"url"`
	Method             string              `yaml:"method"`
	Body               string              `yaml:"body"`
	GraphQL            bool                `yaml:"graphql"`
	Headers            map[string]string   `yaml:"headers"`
	ExtraLabels        map[string]string   `yaml:"extra-labels"`
	Interval           string              `yaml:"interval"`
	Conditions         []string            `yaml:"conditions"`
	Alerts             []alert             `yaml:"alerts"`
	MaintenanceWindows []maintenanceWindow `yaml:"maintenance-windows"`
	DNS                *struct {
		QueryType string `yaml:"query-type"`
		QueryName string `yaml:"query-name"`
	} `yaml:"dns"`
	SSH *struct {
		Username   string `yaml:"username"`
		Password   string `yaml:"password"`
		PrivateKey string `yaml:"private-key"`
	} `yaml:"ssh"`
	Client *client `yaml:"client"`
}

// client is an endpoint's client settings.
type client struct {
	Insecure       bool      `yaml:"insecure"`
	IgnoreRedirect bool      `yaml:"ignore-redirect"`
	Timeout        string    `yaml:"timeout"`
	Network        string    `yaml:"network"`
	DNSResolver    yaml.Node `yaml:"dns-resolver"`
	ProxyURL       yaml.Node `yaml:"proxy-url"`
	OAuth2         yaml.Node `yaml:"oauth2"`
	IAP            yaml.Node `yaml:"identity-aware-proxy"`
	Tunnel         yaml.Node `yaml:"tunnel"`
	StoreCookies   yaml.Node `yaml:"store-cookies"`
	TLS            *struct {
		CertificateFile string    `yaml:"certificate-file"`
		PrivateKeyFile  string    `yaml:"private-key-file"`
		Renegotiation   yaml.Node `yaml:"renegotiation"`
	} `yaml:"tls"`
}

// endpointKeysLeft are endpoint settings Lookout has no counterpart of.
var endpointKeysLeft = map[string]string{
	"ui":         "Lookout's probe results have no display settings; a status page shows reasons only with show_reasons",
	"store":      "suites are not converted",
	"always-run": "suites are not converted",
}

// clientKeysLeft are client settings Lookout has no counterpart of.
var clientKeysLeft = map[string]string{
	"dns-resolver":         "Lookout's probes use the system's resolver",
	"proxy-url":            "Lookout's HTTP probes use the proxy of HTTPS_PROXY, HTTP_PROXY and NO_PROXY",
	"oauth2":               "Lookout's HTTP probes fetch no OAuth2 tokens; a flow probe can fetch one and send it",
	"identity-aware-proxy": "Lookout's HTTP probes fetch no Identity-Aware-Proxy tokens",
	"tunnel":               "Lookout probes do not go through SSH tunnels",
	"store-cookies":        "Lookout's HTTP probes keep no cookies between runs",
	"tls.renegotiation":    "Lookout's probes do not renegotiate TLS",
}

func (c *converter) readEndpoints(n *yaml.Node) error {
	items, err := seq(n)
	if err != nil {
		return err
	}
	for i, item := range items {
		path := fmt.Sprintf("endpoints[%d]", i)
		var ep endpoint
		unknown, err := decodeStrict(item, &ep)
		if err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
		b := &probeBuilder{c: c, ep: &ep, path: path}
		for _, k := range unknown {
			why, ok := endpointKeysLeft[k.Value]
			if !ok {
				why = "not an endpoint setting Lookout knows"
			}
			c.leave(&b.notes, path+"."+k.Value, "", why)
		}
		if ep.Client != nil {
			if err := b.clientKeys(item); err != nil {
				return fmt.Errorf("[%d].client: %w", i, err)
			}
		}
		b.build()
	}
	return nil
}

// clientKeys leaves behind the client settings Lookout has no counterpart
// of.
func (b *probeBuilder) clientKeys(item *yaml.Node) error {
	if n := valueOf(item, "client"); n != nil {
		var cl client
		unknown, err := decodeStrict(n, &cl)
		if err != nil {
			return err
		}
		var keys []string
		for _, k := range unknown {
			keys = append(keys, k.Value)
		}
		for k := range clientKeysLeft {
			if k == "tls.renegotiation" {
				if cl.TLS != nil && !cl.TLS.Renegotiation.IsZero() {
					keys = append(keys, k)
				}
				continue
			}
			if f := clientField(&cl, k); f != nil && !f.IsZero() {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			why, ok := clientKeysLeft[k]
			if !ok {
				why = "not a client setting Lookout knows"
			}
			b.c.leave(&b.notes, b.path+".client."+k, "", why)
		}
	}
	return nil
}

func clientField(cl *client, key string) *yaml.Node {
	switch key {
	case "dns-resolver":
		return &cl.DNSResolver
	case "proxy-url":
		return &cl.ProxyURL
	case "oauth2":
		return &cl.OAuth2
	case "identity-aware-proxy":
		return &cl.IAP
	case "tunnel":
		return &cl.Tunnel
	case "store-cookies":
		if cl.StoreCookies.Value == "false" {
			return nil
		}
		return &cl.StoreCookies
	}
	return nil
}

// probeBuilder turns one endpoint into probes.
type probeBuilder struct {
	c       *converter
	ep      *endpoint
	path    string
	name    string
	kind    string // the Lookout kind
	notes   []string
	node    *yaml.Node // the probe
	sect    *yaml.Node // its kind's section
	sectKey *yaml.Node
	checks  checks
	// cert is the tls probe that checks an HTTP endpoint's certificate,
	// when a condition asks about it, and certName its name.
	cert     *yaml.Node
	certName string
	interval time.Duration
}

// build converts the endpoint into a probe (and a tls probe for an HTTP
// endpoint's certificate).
func (b *probeBuilder) build() {
	ep := b.ep
	if strings.TrimSpace(ep.Name) == "" {
		b.c.leave(nil, b.path, redactedURL(ep.URL), "an endpoint without a name, which Gatus refuses")
		return
	}
	kind, ok := b.kindOf()
	if !ok {
		return
	}
	b.kind = kind
	b.name = b.c.probeName(lookoutEnv(ep.Group), lookoutEnv(ep.Name))
	b.node = mapping()
	set(b.node, "name", str(b.name))
	b.interval = time.Minute
	if ep.Interval != "" {
		if d, ok := duration(ep.Interval); ok {
			b.interval = d
			set(b.node, "interval", str(ep.Interval))
		} else {
			b.c.leave(&b.notes, b.path+".interval", ep.Interval, "not a duration; the probe runs every 60s")
		}
	}
	b.timeout()
	damping := b.c.alerting.endpointAlerts(b.c, &b.notes, b.path, b.name, ep.Group, ep.Alerts)
	if damping != nil {
		set(b.node, "failure_threshold", damping)
	}
	b.labels()
	b.sect = mapping()
	b.sectKey = set(b.node, kind, b.sect)
	b.kindSettings()
	for j, src := range ep.Conditions {
		b.condition(fmt.Sprintf("%s.conditions[%d]", b.path, j), src)
	}
	b.writeChecks()
	b.c.addMaintenance(&b.notes, b.path, b.probeNames(), ep.MaintenanceWindows)
	out := &probeOut{node: b.node, notes: b.notes, disabled: ep.Enabled != nil && !*ep.Enabled}
	if out.disabled {
		out.notes = append([]string{fmt.Sprintf("%s is disabled in Gatus (enabled: false); remove the comment marks to run it:", b.name)}, out.notes...)
	}
	b.c.probes = append(b.c.probes, out)
	if b.cert != nil {
		b.c.alerting.certs[b.name] = b.certName
		b.c.probes = append(b.c.probes, &probeOut{node: b.cert, disabled: out.disabled,
			notes: []string{fmt.Sprintf("%s: the certificate of %s, which Gatus's [CERTIFICATE_EXPIRATION] checked", b.certName, b.name)}})
	}
}

// probeNames are the probes the endpoint became, for matchers.
func (b *probeBuilder) probeNames() []string {
	if b.cert != nil {
		return []string{b.name, b.certName}
	}
	return []string{b.name}
}

// kindOf picks the Lookout kind from the URL as Gatus picks its type.
func (b *probeBuilder) kindOf() (string, bool) {
	ep := b.ep
	u := ep.URL
	scheme, _, _ := strings.Cut(u, "://")
	switch {
	case ep.DNS != nil:
		return "dns", true
	case scheme == "tcp", scheme == "starttls", scheme == "ssh":
		return "tcp", true
	case scheme == "icmp":
		return "icmp", true
	case scheme == "tls":
		return "tls", true
	case scheme == "http", scheme == "https":
		return "http", true
	case scheme == "grpc", scheme == "grpcs":
		return "grpc", true
	case scheme == "ws", scheme == "wss":
		return "websocket", true
	}
	why := "Lookout has no probe for this kind of endpoint"
	switch scheme {
	case "udp":
		why = "Lookout has no UDP probe"
	case "sctp":
		why = "Lookout has no SCTP probe"
	case u:
		why = "not a URL Gatus monitors (http://, https://, tcp://, icmp://, tls://, grpc://, ws://, …)"
	}
	b.c.leave(nil, b.path, ep.Name+" ("+redactedURL(u)+")", why)
	return "", false
}

// timeout carries client.timeout, which Lookout wants shorter than the
// interval.
func (b *probeBuilder) timeout() {
	if b.ep.Client == nil || b.ep.Client.Timeout == "" {
		return
	}
	d, ok := duration(b.ep.Client.Timeout)
	switch {
	case !ok:
		b.c.leave(&b.notes, b.path+".client.timeout", b.ep.Client.Timeout, "not a duration; Lookout's default applies")
	case d >= b.interval:
		short := b.interval * 4 / 5
		k := set(b.node, "timeout", str(shortDuration(short)))
		k.LineComment = "Gatus: " + b.ep.Client.Timeout
		b.c.leave(&b.notes, b.path+".client.timeout", b.ep.Client.Timeout,
			fmt.Sprintf("Lookout wants a timeout shorter than the interval; %s is used", shortDuration(short)))
	default:
		set(b.node, "timeout", str(b.ep.Client.Timeout))
	}
}

// reservedLabels are labels Lookout sets itself.
var reservedLabels = []string{"probe", "phase", "version", "result", "le", "job", "instance", "serving_status", "stat", "kind", "step"}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// labels carries group and extra-labels.
func (b *probeBuilder) labels() {
	labels := map[string]string{}
	if b.ep.Group != "" {
		labels["group"] = lookoutEnv(b.ep.Group)
	}
	for k, v := range b.ep.ExtraLabels {
		switch {
		case !labelName.MatchString(k) || strings.HasPrefix(k, "__"):
			b.c.leave(&b.notes, b.path+".extra-labels."+k, "", "not a valid label name")
		case slices.Contains(reservedLabels, k) || k == "group" && b.ep.Group != "":
			b.c.leave(&b.notes, b.path+".extra-labels."+k, "", "a label Lookout sets itself")
		default:
			labels[k] = lookoutEnv(v)
		}
	}
	if len(labels) > 0 {
		m := stringMap(labels)
		m.Style = yaml.FlowStyle
		set(b.node, "labels", m)
	}
}

// kindSettings writes the kind's section, but for its checks.
func (b *probeBuilder) kindSettings() {
	ep := b.ep
	u := ep.URL
	_, rest, _ := strings.Cut(u, "://")
	s := b.sect
	cl := ep.Client
	if cl == nil {
		cl = &client{}
	}
	switch b.kind {
	case "http":
		b.http(cl)
	case "dns":
		b.dns()
	case "icmp":
		set(s, "host", str(lookoutEnv(rest)))
		b.ipProtocol(cl)
	case "tcp":
		b.tcp(rest)
	case "tls":
		if addr, ok := hostPort(rest, ""); ok {
			set(s, "address", str(lookoutEnv(addr)))
		} else {
			set(s, "address", str(lookoutEnv(rest)))
		}
		if cl.Insecure {
			set(s, "insecure_skip_verify", boolean(true))
		}
		b.clientCert(s, cl)
		if ep.Body != "" {
			b.c.leave(&b.notes, b.path+".body", "", "Lookout's tls probe sends nothing after the handshake")
		}
	case "grpc":
		set(s, "address", str(lookoutEnv(rest)))
		if strings.HasPrefix(u, "grpcs://") {
			t := mapping()
			if cl.Insecure {
				set(t, "insecure_skip_verify", boolean(true))
			}
			b.clientCert(t, cl)
			if len(t.Content) == 0 {
				set(s, "tls", boolean(true))
			} else {
				set(s, "tls", t)
			}
		}
	case "websocket":
		set(s, "url", str(lookoutEnv(u)))
		if len(ep.Headers) > 0 {
			set(s, "headers", b.headers(ep.Headers))
		}
		if ep.Body != "" {
			set(s, "send", str(lookoutEnv(b.parsedBody())))
		}
		t := mapping()
		if cl.Insecure {
			set(t, "insecure_skip_verify", boolean(true))
		}
		b.clientCert(t, cl)
		if len(t.Content) > 0 {
			set(s, "tls", t)
		}
	}
}

func (b *probeBuilder) http(cl *client) {
	ep, s := b.ep, b.sect
	set(s, "url", str(lookoutEnv(ep.URL)))
	if m := strings.ToUpper(ep.Method); m != "" && m != "GET" {
		set(s, "method", str(m))
	}
	headers := maps(ep.Headers)
	body := b.parsedBody()
	if ep.GraphQL {
		q, _ := jsonString(body)
		body = `{"query":` + q + `}`
		if !hasHeader(headers, "Content-Type") {
			headers["Content-Type"] = "application/json"
		}
	}
	if len(headers) > 0 {
		set(s, "headers", b.headers(headers))
	}
	if body != "" {
		if strings.Contains(body, "{{") {
			b.c.leave(&b.notes, b.path+".body", "", "holds {{, which Lookout refuses outside a flow's templates; put the body in an environment variable and write body: ${VAR}")
		} else {
			set(s, "body", str(lookoutEnv(body)))
		}
	}
	if cl.IgnoreRedirect {
		set(s, "follow_redirects", boolean(false))
	}
	b.ipProtocol(cl)
	t := mapping()
	if cl.Insecure {
		set(t, "insecure_skip_verify", boolean(true))
	}
	b.clientCert(t, cl)
	if len(t.Content) > 0 {
		set(s, "tls", t)
	}
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// headers writes request headers; Gatus's default User-Agent is its own
// and is not carried.
func (b *probeBuilder) headers(h map[string]string) *yaml.Node {
	out := map[string]string{}
	for k, v := range h {
		if strings.Contains(v, "{{") {
			b.c.leave(&b.notes, b.path+".headers."+k, "", "holds {{, which Lookout refuses outside a flow's templates; put the value in an environment variable")
			continue
		}
		out[k] = lookoutEnv(v)
	}
	return stringMap(out)
}

// parsedBody fills in the body placeholders Gatus fills in from the
// endpoint; the random and local-address ones are left behind.
func (b *probeBuilder) parsedBody() string {
	ep := b.ep
	body := strings.NewReplacer("[ENDPOINT_NAME]", ep.Name, "[ENDPOINT_GROUP]", ep.Group, "[ENDPOINT_URL]", ep.URL).Replace(ep.Body)
	for _, ph := range []string{"[RANDOM_STRING_", "[LOCAL_ADDRESS]"} {
		if strings.Contains(body, ph) {
			b.c.leave(&b.notes, b.path+".body", strings.TrimSuffix(ph, "_")+"]", "Lookout sends the body as written, without filling in this placeholder")
		}
	}
	return body
}

func jsonString(s string) (string, error) {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// clientCert carries the client certificate of mTLS.
func (b *probeBuilder) clientCert(t *yaml.Node, cl *client) {
	if cl.TLS == nil || cl.TLS.CertificateFile == "" && cl.TLS.PrivateKeyFile == "" {
		return
	}
	set(t, "cert_file", str(lookoutEnv(cl.TLS.CertificateFile)))
	set(t, "key_file", str(lookoutEnv(cl.TLS.PrivateKeyFile)))
}

// ipProtocol carries client.network.
func (b *probeBuilder) ipProtocol(cl *client) {
	switch cl.Network {
	case "ip4", "ip6":
		set(b.sect, "ip_protocol", str(cl.Network))
	case "", "ip":
	default:
		b.c.leave(&b.notes, b.path+".client.network", cl.Network, "not ip, ip4 or ip6")
	}
}

func (b *probeBuilder) dns() {
	ep, s := b.ep, b.sect
	set(s, "name", str(lookoutEnv(strings.TrimSuffix(ep.DNS.QueryName, "."))))
	qtype := strings.ToUpper(ep.DNS.QueryType)
	if qtype != "A" {
		set(s, "type", str(qtype))
	}
	if !slices.Contains([]string{"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "SOA", "PTR", "CAA"}, qtype) {
		b.c.leave(&b.notes, b.path+".dns.query-type", ep.DNS.QueryType, "Lookout's dns probe asks for A, AAAA, CNAME, MX, TXT, NS, SRV, SOA, PTR or CAA")
		s.Content = s.Content[:len(s.Content)-2]
	}
	if addr, ok := hostPort(ep.URL, "53"); ok {
		set(s, "server", str(lookoutEnv(addr)))
	}
}

func (b *probeBuilder) tcp(rest string) {
	ep, s := b.ep, b.sect
	scheme, _, _ := strings.Cut(ep.URL, "://")
	port := ""
	if scheme == "ssh" {
		port = "22"
	}
	addr, ok := hostPort(rest, port)
	if !ok {
		addr = rest
	}
	set(s, "address", str(lookoutEnv(addr)))
	switch scheme {
	case "starttls":
		set(s, "expect", withComment(str("^220"), "the SMTP greeting"))
		b.c.leave(&b.notes, b.path+".url", redactedURL(ep.URL), "Lookout does not upgrade a connection with STARTTLS: the probe checks the SMTP greeting, not the certificate")
	case "ssh":
		set(s, "expect", withComment(str("^SSH-"), "the SSH banner"))
		if ep.SSH != nil && (ep.SSH.Username != "" || ep.SSH.Password != "" || ep.SSH.PrivateKey != "") {
			b.c.leave(&b.notes, b.path+".ssh", "", "Lookout does not log in over SSH or run commands: the probe checks the SSH banner")
		}
	default:
		if ep.Body != "" {
			set(s, "send", str(lookoutEnv(b.parsedBody())))
		}
	}
}

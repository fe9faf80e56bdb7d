package gatus

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file converts Gatus's alerting: the Slack and custom providers
// become receivers, each endpoint's alerts a route to them and the
// probe's flap damping.

// alert is one of an endpoint's alerts, or a provider's default-alert.
type alert struct {
	Type                    string    `yaml:"type"`
	Enabled                 *bool     `yaml:"enabled"`
	FailureThreshold        int       `yaml:"failure-threshold"`
	SuccessThreshold        int       `yaml:"success-threshold"`
	MinimumReminderInterval string    `yaml:"minimum-reminder-interval"`
	SendOnResolved          *bool     `yaml:"send-on-resolved"`
	Description             *string   `yaml:"description"`
	ProviderOverride        yaml.Node `yaml:"provider-override"`
}

// Gatus's defaults of an alert.
const (
	defaultFailureThreshold = 3
	defaultSuccessThreshold = 2
)

// withDefaults fills what a is missing from the provider's default-alert
// and Gatus's defaults.
func (a alert) withDefaults(d *alert) alert {
	if d != nil {
		if a.Enabled == nil {
			a.Enabled = d.Enabled
		}
		if a.FailureThreshold == 0 {
			a.FailureThreshold = d.FailureThreshold
		}
		if a.SuccessThreshold == 0 {
			a.SuccessThreshold = d.SuccessThreshold
		}
		if a.SendOnResolved == nil {
			a.SendOnResolved = d.SendOnResolved
		}
		if a.Description == nil {
			a.Description = d.Description
		}
		if a.MinimumReminderInterval == "" {
			a.MinimumReminderInterval = d.MinimumReminderInterval
		}
	}
	if a.FailureThreshold <= 0 {
		a.FailureThreshold = defaultFailureThreshold
	}
	if a.SuccessThreshold <= 0 {
		a.SuccessThreshold = defaultSuccessThreshold
	}
	return a
}

// alerting is what Gatus's alerting became.
type alerting struct {
	notes     []string // comments above alerting
	providers map[string]*provider
	receivers []*yaml.Node
	names     map[string]bool // receiver names taken
	routes    []route
	// certs are, by probe, the tls probe that checks its certificate,
	// which its routes also select.
	certs map[string]string
}

// provider is one configured alerting provider.
type provider struct {
	typ string
	// receiver is the receiver its alerts go to; "" when Lookout cannot
	// deliver them.
	receiver string
	// groups are the receivers of its overrides, by endpoint group.
	groups   map[string]string
	defaults *alert
}

// route is one alert's route.
type route struct {
	probe, receiver string
	repeat          string
	comment         string
}

// slackProvider is alerting.slack, and one of its overrides.
type slackProvider struct {
	WebhookURL   string          `yaml:"webhook-url"`
	Title        string          `yaml:"title"`
	DefaultAlert *alert          `yaml:"default-alert"`
	Overrides    []slackOverride `yaml:"overrides"`
}

type slackOverride struct {
	Group      string `yaml:"group"`
	WebhookURL string `yaml:"webhook-url"`
}

// customProvider is alerting.custom.
type customProvider struct {
	URL          string            `yaml:"url"`
	Method       string            `yaml:"method"`
	Body         string            `yaml:"body"`
	Headers      map[string]string `yaml:"headers"`
	Client       *yaml.Node        `yaml:"client"`
	Placeholders *yaml.Node        `yaml:"placeholders"`
	DefaultAlert *alert            `yaml:"default-alert"`
	Overrides    []customOverride  `yaml:"overrides"`
}

type customOverride struct {
	Group string `yaml:"group"`
	URL   string `yaml:"url"`
}

// otherProvider is any other provider, as far as its alerts' defaults
// go.
type otherProvider struct {
	DefaultAlert *alert `yaml:"default-alert"`
}

// readAlerting reads the providers.
func (c *converter) readAlerting(n *yaml.Node) error {
	a := &c.alerting
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping of providers, found %s", n.Line, kindName(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		typ, v := n.Content[i].Value, n.Content[i+1]
		path := "alerting." + typ
		p := &provider{typ: typ, groups: map[string]string{}}
		var err error
		switch typ {
		case "slack":
			err = c.readSlack(p, path, v)
		case "custom":
			err = c.readCustom(p, path, v)
		default:
			var o otherProvider
			if err = v.Decode(&o); err == nil {
				p.defaults = o.DefaultAlert
			}
			a.leave(c, path, "", fmt.Sprintf("Lookout has no %s integration; its receivers are slack, webhook (Alertmanager's JSON), sentry, log and alertmanager", typ))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		a.providers[typ] = p
	}
	return nil
}

// leave leaves an alerting item behind, with a comment above alerting.
func (a *alerting) leave(c *converter, where, item, why string) {
	c.leave(&a.notes, where, item, why)
}

// receiver adds a receiver named name (or name-2, …) and returns its
// name.
func (a *alerting) receiver(name, integration string, settings *yaml.Node) string {
	n := name
	for i := 2; a.names[n]; i++ {
		n = fmt.Sprintf("%s-%d", name, i)
	}
	a.names[n] = true
	r := mapping()
	set(r, "name", str(n))
	set(r, integration, settings)
	a.receivers = append(a.receivers, r)
	return n
}

func (c *converter) readSlack(p *provider, path string, v *yaml.Node) error {
	var s slackProvider
	unknown, err := decodeStrict(v, &s)
	if err != nil {
		return err
	}
	a := &c.alerting
	for _, k := range unknown {
		a.leave(c, path+"."+k.Value, "", "not a Slack setting Lookout knows")
	}
	p.defaults = s.DefaultAlert
	if s.Title != "" {
		a.leave(c, path+".title", s.Title, "Lookout's Slack messages have a layout of their own")
	}
	if s.WebhookURL == "" {
		a.leave(c, path+".webhook-url", "", "missing, so Gatus sends no Slack alerts; neither does Lookout")
	} else {
		p.receiver = a.receiver("slack", "slack", slackSettings(s.WebhookURL))
	}
	for j, o := range s.Overrides {
		if o.Group == "" || o.WebhookURL == "" {
			a.leave(c, fmt.Sprintf("%s.overrides[%d]", path, j), "", "an override needs a group and a webhook-url")
			continue
		}
		p.groups[o.Group] = a.receiver("slack-"+receiverName(o.Group), "slack", slackSettings(o.WebhookURL))
	}
	return nil
}

func slackSettings(webhook string) *yaml.Node {
	m := mapping()
	set(m, "webhook_url", str(lookoutEnv(webhook)))
	return m
}

// receiverName makes a name part of a receiver's name.
func receiverName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

func (c *converter) readCustom(p *provider, path string, v *yaml.Node) error {
	var s customProvider
	unknown, err := decodeStrict(v, &s)
	if err != nil {
		return err
	}
	a := &c.alerting
	for _, k := range unknown {
		a.leave(c, path+"."+k.Value, "", "not a custom alerting setting Lookout knows")
	}
	p.defaults = s.DefaultAlert
	if m := strings.ToUpper(s.Method); m != "" && m != "POST" {
		a.leave(c, path+".method", s.Method, "Lookout's webhook receiver always POSTs")
	}
	if s.Body != "" {
		a.leave(c, path+".body", "", "Lookout's webhook receiver posts Alertmanager's webhook JSON (version 4), not a body of your own; the receiving end must read that")
	}
	if s.Placeholders != nil {
		a.leave(c, path+".placeholders", "", "Lookout's webhook JSON says firing or resolved in its status field")
	}
	if s.Client != nil {
		a.leave(c, path+".client", "", "Lookout's webhook receiver has no client settings")
	}
	if s.URL == "" {
		a.leave(c, path+".url", "", "missing, so Gatus sends no custom alerts; neither does Lookout")
	} else {
		p.receiver = a.receiver("custom", "webhook", c.webhookSettings(path, s.URL, s.Headers))
	}
	for j, o := range s.Overrides {
		if o.Group == "" || o.URL == "" {
			a.leave(c, fmt.Sprintf("%s.overrides[%d]", path, j), "", "an override needs a group and a url")
			continue
		}
		p.groups[o.Group] = a.receiver("custom-"+receiverName(o.Group), "webhook",
			c.webhookSettings(fmt.Sprintf("%s.overrides[%d]", path, j), o.URL, s.Headers))
	}
	return nil
}

// webhookSettings writes a webhook receiver's url and headers.
func (c *converter) webhookSettings(path, u string, headers map[string]string) *yaml.Node {
	a := &c.alerting
	if strings.Contains(u, "[") {
		a.leave(c, path+".url", redactedURL(u), "Lookout does not fill Gatus's placeholders ([ENDPOINT_NAME], …) into the URL; the webhook JSON carries the alert's labels instead")
	}
	m := mapping()
	set(m, "url", str(lookoutEnv(u)))
	h := map[string]string{}
	for k, v := range headers {
		if strings.EqualFold(k, "Content-Type") {
			a.leave(c, path+".headers."+k, "", "Lookout's webhook receiver sends its own Content-Type (application/json)")
			continue
		}
		h[k] = lookoutEnv(v)
	}
	if len(h) > 0 {
		set(m, "headers", stringMap(h))
	}
	return m
}

// endpointAlerts converts an endpoint's alerts: a route each to the
// receiver of its provider, and the probe's flap damping from the
// thresholds (nil when there is none).
func (a *alerting) endpointAlerts(c *converter, notes *[]string, path, name, group string, alerts []alert) *yaml.Node {
	var damping *alert
	for i, raw := range alerts {
		where := fmt.Sprintf("%s.alerts[%d]", path, i)
		p := a.providers[raw.Type]
		if p == nil {
			c.leave(notes, where, raw.Type, fmt.Sprintf("no alerting.%s provider is configured, so Gatus ignores this alert", raw.Type))
			continue
		}
		al := raw.withDefaults(p.defaults)
		if al.Enabled != nil && !*al.Enabled {
			c.leave(notes, where, raw.Type, "disabled in Gatus (enabled: false)")
			continue
		}
		switch {
		case damping == nil:
			d := al
			damping = &d
		case al.FailureThreshold != damping.FailureThreshold || al.SuccessThreshold != damping.SuccessThreshold:
			c.leave(notes, where+".failure-threshold", fmt.Sprintf("%d, success-threshold %d", al.FailureThreshold, al.SuccessThreshold),
				fmt.Sprintf("Lookout damps a probe once, so every alert of %s uses the first alert's thresholds (%d, %d)", name, damping.FailureThreshold, damping.SuccessThreshold))
		}
		receiver := p.receiver
		if r, ok := p.groups[group]; ok && group != "" {
			receiver = r
		}
		if !raw.ProviderOverride.IsZero() {
			receiver = a.override(c, notes, where+".provider-override", p, name, &raw.ProviderOverride)
		}
		if receiver == "" {
			c.leave(notes, where, raw.Type, fmt.Sprintf("Lookout cannot deliver alerts of type %s (see alerting.%s)", raw.Type, raw.Type))
			continue
		}
		a.addRoute(c, notes, where, name, receiver, al)
	}
	if damping == nil || damping.FailureThreshold == 1 && damping.SuccessThreshold == 1 {
		return nil
	}
	of := damping.FailureThreshold + damping.SuccessThreshold - 1
	if of > 100 {
		c.leave(notes, path+".alerts", fmt.Sprintf("failure-threshold %d, success-threshold %d", damping.FailureThreshold, damping.SuccessThreshold),
			"Lookout's failure_threshold looks at 100 runs at most")
		of = 100
	}
	failures := min(damping.FailureThreshold, of)
	m := mapping()
	m.Style = yaml.FlowStyle
	set(m, "failures", integer(failures))
	set(m, "of", integer(of))
	return withComment(m, fmt.Sprintf("Gatus: failure-threshold %d, success-threshold %d", damping.FailureThreshold, damping.SuccessThreshold))
}

// override makes a receiver of an alert's provider-override.
func (a *alerting) override(c *converter, notes *[]string, where string, p *provider, probe string, n *yaml.Node) string {
	var o struct {
		WebhookURL string `yaml:"webhook-url"`
		URL        string `yaml:"url"`
	}
	unknown, err := decodeStrict(n, &o)
	if err != nil {
		c.leave(notes, where, "", err.Error())
		return p.receiver
	}
	for _, k := range unknown {
		c.leave(notes, where+"."+k.Value, "", "not an override Lookout can carry")
	}
	switch {
	case p.typ == "slack" && o.WebhookURL != "":
		return a.receiver("slack-"+receiverName(probe), "slack", slackSettings(o.WebhookURL))
	case p.typ == "custom" && o.URL != "":
		return a.receiver("custom-"+receiverName(probe), "webhook", c.webhookSettings(where, o.URL, nil))
	}
	return p.receiver
}

// addRoute adds an alert's route, once per probe and receiver.
func (a *alerting) addRoute(c *converter, notes *[]string, where, probe, receiver string, al alert) {
	if al.SendOnResolved == nil || !*al.SendOnResolved {
		c.leave(notes, where+".send-on-resolved", "false", "Lookout also notifies when an alert resolves")
	}
	r := route{probe: probe, receiver: receiver}
	if al.MinimumReminderInterval != "" && al.MinimumReminderInterval != "0" {
		if d, ok := duration(al.MinimumReminderInterval); ok {
			r.repeat = shortDuration(d)
		} else {
			c.leave(notes, where+".minimum-reminder-interval", al.MinimumReminderInterval, "not a duration; Lookout repeats every 4h")
		}
	}
	if al.Description != nil && *al.Description != "" {
		r.comment = "Gatus: " + shorten(*al.Description)
		c.leave(notes, where+".description", *al.Description, "Lookout's notifications say what the ProbeDown rule says; the description is a comment on the route")
	}
	if slices.ContainsFunc(a.routes, func(o route) bool { return o.probe == probe && o.receiver == receiver }) {
		return
	}
	a.routes = append(a.routes, r)
}

// node writes the alerting section; nil when Gatus had no alerting.
func (a *alerting) node() *yaml.Node {
	if len(a.receivers) == 0 && len(a.notes) == 0 {
		return nil
	}
	out := mapping()
	root := mapping()
	set(root, "receiver", withComment(str(a.logReceiver()), "alerts of probes without a Gatus alert are logged only"))
	if len(a.routes) > 0 {
		routes := list()
		for _, r := range a.routes {
			names := []string{r.probe}
			if cert := a.certs[r.probe]; cert != "" {
				names = append(names, cert)
			}
			m := mapping()
			set(m, "matchers", flowList(matcherFor(names)))
			set(m, "receiver", str(r.receiver))
			if r.repeat != "" {
				set(m, "repeat_interval", withComment(str(r.repeat), "Gatus: minimum-reminder-interval"))
			}
			set(m, "continue", boolean(true))
			m.HeadComment = r.comment
			routes.Content = append(routes.Content, m)
		}
		set(root, "routes", routes)
	}
	set(out, "route", root)
	set(out, "receivers", list(a.receivers...))
	return out
}

// logReceiver adds the receiver that only logs, for the root route.
func (a *alerting) logReceiver() string {
	name := "log"
	for i := 2; a.names[name]; i++ {
		name = fmt.Sprintf("log-%d", i)
	}
	a.names[name] = true
	r := mapping()
	set(r, "name", str(name))
	set(r, "log", mapping())
	a.receivers = append([]*yaml.Node{r}, a.receivers...)
	return name
}

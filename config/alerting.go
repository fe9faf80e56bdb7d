package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Storage is where Lookout keeps what must survive a restart: alert
// state, silences and the notification outbox.
type Storage struct {
	// Path is a directory; Lookout keeps lookout.db in it.
	Path string `yaml:"path"`
}

// Alerting configures rule evaluation and notification routing. Field
// names follow Prometheus and Alertmanager so their configs carry over.
type Alerting struct {
	EvaluationInterval Duration `yaml:"evaluation_interval"`
	RuleFiles          []string `yaml:"rule_files"`
	// BuiltinRules turns Lookout's default rule pack on (the default) or off.
	BuiltinRules *bool `yaml:"builtin_rules"`
	// DisabledRules names rules (alert or record names) not to evaluate,
	// for turning off single built-in rules.
	DisabledRules         []string      `yaml:"disabled_rules"`
	ExternalURL           *URL          `yaml:"external_url"`
	SendResolvedWhenMuted *bool         `yaml:"send_resolved_when_muted"`
	Route                 *Route        `yaml:"route"`
	InhibitRules          []InhibitRule `yaml:"inhibit_rules"`
	Receivers             []Receiver    `yaml:"receivers"`
	Silences              Silences      `yaml:"silences"`
}

// Route is a node of the routing tree.
type Route struct {
	Receiver       string    `yaml:"receiver"`
	GroupBy        []string  `yaml:"group_by"`
	GroupWait      *Duration `yaml:"group_wait"`
	GroupInterval  *Duration `yaml:"group_interval"`
	RepeatInterval *Duration `yaml:"repeat_interval"`
	Matchers       []Matcher `yaml:"matchers"`
	Continue       bool      `yaml:"continue"`
	Routes         []*Route  `yaml:"routes"`
}

// InhibitRule mutes target alerts while a source alert with the same
// values of the equal labels fires.
type InhibitRule struct {
	SourceMatchers []Matcher `yaml:"source_matchers"`
	TargetMatchers []Matcher `yaml:"target_matchers"`
	Equal          []string  `yaml:"equal"`
}

// Receiver is a named destination for notifications. It may combine
// integrations, as Alertmanager's receivers do; each delivers and retries
// on its own.
type Receiver struct {
	Name    string   `yaml:"name"`
	Slack   *Slack   `yaml:"slack"`
	Sentry  *Sentry  `yaml:"sentry"`
	Webhook *Webhook `yaml:"webhook"`
	Log     *LogRcv  `yaml:"log"`
	// Alertmanager forwards the alerts routed here to an Alertmanager
	// cluster, as Prometheus does, instead of notifying.
	Alertmanager *AlertmanagerRcv `yaml:"alertmanager"`
}

// AlertmanagerRcv forwards alerts to an existing Alertmanager cluster the
// way Prometheus does: every evaluation, each alert routed to the
// receiver is POSTed to /api/v2/alerts of every URL, a firing one with an
// endsAt a few evaluations ahead (Alertmanager resolves it if Lookout
// stops sending it), a resolved one with its end. Alertmanager groups,
// silences and notifies; group_wait and the other timers of Lookout's
// route do not apply.
type AlertmanagerRcv struct {
	// URLs are the Alertmanagers of one cluster, each sent every alert:
	// http://alertmanager:9093, or with a path prefix. They may hold
	// credentials, so they never appear in errors or logs.
	URLs []URL `yaml:"urls"`
	// Timeout bounds one POST; check fills in DefaultWebhookTimeout.
	Timeout     Duration   `yaml:"timeout"`
	BasicAuth   *BasicAuth `yaml:"basic_auth"`
	BearerToken string     `yaml:"bearer_token"`
	TLS         TLS        `yaml:"tls"`
}

// Slack posts one message per alert group, threads what follows, and edits
// the message when the group resolves. With webhook_url instead of a
// token it posts through an incoming webhook (no threads, no edits).
type Slack struct {
	// Token is the bot token (xoxb-…); with it, Channel is required. It
	// never appears in errors or logs.
	Token string `yaml:"token"`
	// Channel is where messages go: "#oncall" or an ID.
	Channel string `yaml:"channel"`
	// SigningSecret (token only) adds the "Silence 1h" and "Acknowledge"
	// buttons; Slack signs the button requests with it.
	SigningSecret string `yaml:"signing_secret"`
	// Mention is who is mentioned on firing messages: "@here",
	// "@channel", "@everyone", or a Slack mention such as "<@U123>".
	Mention []string `yaml:"mention"`
	// APIURL is the Web API's base, for proxies and tests; check fills in
	// DefaultSlackAPIURL.
	APIURL *URL `yaml:"api_url"`
	// WebhookURL is an incoming webhook, instead of Token. It is a secret
	// and never appears in errors or logs.
	WebhookURL string `yaml:"webhook_url"`
}

// Sentry sends each alert as a Sentry event, one issue per alert.
type Sentry struct {
	// DSN holds the project's key, so it never appears in errors or logs.
	DSN         string `yaml:"dsn"`
	Environment string `yaml:"environment"`
}

// Telemetry is where Lookout reports its own errors and panics, and
// where it sends the traces of its probe runs.
type Telemetry struct {
	Sentry  *Sentry  `yaml:"sentry"`
	Tracing *Tracing `yaml:"tracing"`
}

// Webhook posts Alertmanager's webhook JSON.
type Webhook struct {
	// URL may hold credentials or tokens, so it never appears in errors or
	// logs.
	URL URL `yaml:"url"`
	// Timeout bounds one POST; check fills in DefaultWebhookTimeout.
	Timeout Duration `yaml:"timeout"`
	// MaxAlerts caps the alerts in one payload (0: all).
	MaxAlerts int `yaml:"max_alerts"`
	// Headers are added to each request; values may be secrets.
	Headers map[string]string `yaml:"headers"`
}

// LogRcv writes one structured log line per notification.
type LogRcv struct{}

// Matcher is an Alertmanager-style label matcher: severity="page",
// team=~"api|web", env!="dev".
type Matcher struct {
	*labels.Matcher
}

func (m *Matcher) parseScalar(s string) error {
	lm, err := ParseMatcher(s)
	if err != nil {
		return fmt.Errorf("%q is not a matcher (%v); want one like severity=\"page\", team=~\"api|web\" or env!=\"dev\"", s, err)
	}
	m.Matcher = lm
	return nil
}

// matcherSyntax splits one matcher into name, operator and value. The
// operators are tried longest first, so `a!=b` is never read as `a!` `=`.
var matcherSyntax = regexp.MustCompile(`^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$`)

// ParseMatcher parses one Alertmanager-style matcher: `severity="page"`,
// `team=~"api|web"`, `env!="dev"`, `host!~"db.*"`, optionally in braces.
// The value may be left unquoted (`severity=page`), in which case it is
// taken literally up to the end of the string, surrounding spaces
// trimmed. Quoted values follow PromQL string rules (double, single or
// back quotes, Go escapes). Regular expressions are anchored, as
// everywhere in Prometheus. The syntax is checked by PromQL's own
// metric-selector parser, so rules and routes accept the same strings.
func ParseMatcher(s string) (*labels.Matcher, error) {
	s = strings.TrimSpace(s)
	if inner, ok := strings.CutPrefix(s, "{"); ok {
		if s, ok = strings.CutSuffix(inner, "}"); !ok {
			return nil, errors.New("missing closing brace")
		}
	}
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty matcher")
	}
	parts := matcherSyntax.FindStringSubmatch(s)
	if parts == nil {
		return nil, errors.New(`want label, operator (=, !=, =~ or !~) and value, like severity="page"`)
	}
	name, op, value := parts[1], parts[2], parts[3]
	if !model.LabelName(name).IsValidLegacy() {
		return nil, fmt.Errorf("invalid label name %q: want letters, digits and underscores, not starting with a digit", name)
	}
	if strings.HasPrefix(value, "=") || strings.HasPrefix(value, "~") {
		return nil, fmt.Errorf("operator %q is not one of =, !=, =~, !~", op+value[:1])
	}
	if value == "" || !strings.ContainsRune("\"'`", rune(value[0])) {
		value = strconv.Quote(value)
	}
	ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector("{" + name + op + value + "}")
	if err != nil {
		return nil, matcherParseError(err)
	}
	if len(ms) != 1 {
		return nil, fmt.Errorf("want one matcher, got %d; list each in its own string", len(ms))
	}
	return ms[0], nil
}

// matcherParseError drops the parser's line:column prefix, which counts
// positions in the selector built around the matcher, not in the input.
func matcherParseError(err error) error {
	var perrs parser.ParseErrors
	if errors.As(err, &perrs) && len(perrs) > 0 && perrs[0].Err != nil {
		return perrs[0].Err
	}
	return err
}

// MarshalText writes the matcher.
func (m Matcher) MarshalText() ([]byte, error) {
	if m.Matcher == nil {
		return nil, nil
	}
	return []byte(m.String()), nil
}

// Defaults of alerting.
const (
	DefaultEvaluationInterval = Duration(15e9)
	DefaultGroupWait          = Duration(30e9)
	DefaultGroupInterval      = Duration(5 * 60e9)
	DefaultRepeatInterval     = Duration(4 * 3600e9)
	DefaultStoragePath        = "data"
	// DefaultSlackAPIURL is Slack's Web API, the default slack.api_url.
	DefaultSlackAPIURL = "https://slack.com/api/"
	// DefaultWebhookTimeout bounds one POST of a webhook receiver.
	DefaultWebhookTimeout = Duration(10e9)
)

func (a *Alerting) check(d *decoder, path string) {
	if a.EvaluationInterval == 0 {
		a.EvaluationInterval = DefaultEvaluationInterval
	}
	yes := true
	if a.BuiltinRules == nil {
		a.BuiltinRules = &yes
	}
	if a.SendResolvedWhenMuted == nil {
		a.SendResolvedWhenMuted = &yes
	}
	a.Silences.check(d, path+".silences")
	if a.Route == nil && len(a.Receivers) == 0 {
		// With nothing configured, alerts go to the log (and the API).
		a.Receivers = []Receiver{{Name: "log", Log: &LogRcv{}}}
		a.Route = &Route{Receiver: "log"}
	}
	names := map[string]int{}
	for i := range a.Receivers {
		a.Receivers[i].check(d, fmt.Sprintf("%s.receivers[%d]", path, i), names, i)
	}
	if a.Route == nil {
		d.errorAt(path+".route", "missing; want a route with at least a receiver, like route: {receiver: %s}", firstName(a.Receivers))
		return
	}
	root := a.Route
	if root.GroupWait == nil {
		v := DefaultGroupWait
		root.GroupWait = &v
	}
	if root.GroupInterval == nil {
		v := DefaultGroupInterval
		root.GroupInterval = &v
	}
	if root.RepeatInterval == nil {
		v := DefaultRepeatInterval
		root.RepeatInterval = &v
	}
	if len(root.Matchers) > 0 {
		d.errorAt(path+".route.matchers", "the root route matches every alert; move matchers to a child route")
	}
	root.check(d, path+".route", names, true)
}

func (r *Route) check(d *decoder, path string, receivers map[string]int, root bool) {
	switch {
	case r.Receiver == "" && root:
		d.errorAt(path+".receiver", "missing; the root route needs a receiver")
	case r.Receiver != "":
		if _, ok := receivers[r.Receiver]; !ok {
			d.errorAt(path+".receiver", "no receiver named %q; want one of: %s", r.Receiver, strings.Join(sortedKeys(receivers), ", "))
		}
	}
	for i, child := range r.Routes {
		child.check(d, fmt.Sprintf("%s.routes[%d]", path, i), receivers, false)
	}
}

func (r *Receiver) check(d *decoder, path string, names map[string]int, i int) {
	switch j, dup := names[r.Name]; {
	case r.Name == "":
		d.errorAt(path+".name", "missing; every receiver needs a unique name")
	case dup:
		d.errorAt(path+".name", "duplicate receiver name %q, first used by receivers[%d]", r.Name, j)
	default:
		names[r.Name] = i
	}
	kinds := 0
	if r.Slack != nil {
		kinds++
		r.Slack.check(d, path+".slack")
		if r.Slack.SigningSecret != "" && r.Name != "" && !pathSegment.MatchString(r.Name) {
			d.errorAt(path+".name", "%q cannot be a URL path segment, and Slack's buttons post to /slack/NAME/interactions; want letters, digits, '-', '_' or '.'", r.Name)
		}
	}
	if r.Sentry != nil {
		kinds++
		r.Sentry.check(d, path+".sentry")
	}
	if r.Webhook != nil {
		kinds++
		r.Webhook.check(d, path+".webhook")
	}
	if r.Log != nil {
		kinds++
	}
	if r.Alertmanager != nil {
		r.Alertmanager.check(d, path+".alertmanager")
		if kinds > 0 {
			d.errorAt(path+".alertmanager", "forwards every evaluation and cannot share a receiver with slack, sentry, webhook or log, which Lookout groups; give it a receiver of its own and route to both with continue: true")
		}
		kinds++
	}
	if kinds == 0 && r.Name != "" {
		d.errorAt(path, "receiver %q has no integration; want at least one of: slack, sentry, webhook, log, alertmanager", r.Name)
	}
}

func (a *AlertmanagerRcv) check(d *decoder, path string) {
	if len(a.URLs) == 0 && !d.has(path+".urls") {
		d.errorAt(path+".urls", "missing; want the URLs of the Alertmanagers of one cluster, like [\"http://alertmanager:9093\"]")
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultWebhookTimeout
	}
	if a.BasicAuth != nil && a.BearerToken != "" {
		d.errorAt(path+".bearer_token", "basic_auth and bearer_token are both set; want one of them")
	}
	a.TLS.check(d, path+".tls")
}

func (s *Slack) check(d *decoder, path string) {
	switch {
	case s.Token == "" && s.WebhookURL == "":
		d.errorAt(path, "neither token nor webhook_url is set; want a bot token (with channel) or an incoming webhook_url")
	case s.Token != "" && s.WebhookURL != "":
		d.errorAt(path+".webhook_url", "token and webhook_url are both set; want one of them")
	case s.Token != "" && s.Channel == "":
		d.errorAt(path+".channel", "missing; a bot token needs the channel to post to, like \"#oncall\"")
	}
	if s.WebhookURL != "" {
		if problem := secretURLProblem(s.WebhookURL); problem != "" {
			d.errorAt(path+".webhook_url", "%s; want the incoming webhook URL Slack gave you (the value is not shown: it is a secret)", problem)
		}
	}
	if s.SigningSecret != "" && s.Token == "" {
		d.errorAt(path+".signing_secret", "buttons need a bot token; set token, or drop signing_secret")
	}
	for i, m := range s.Mention {
		if strings.TrimSpace(m) == "" || strings.ContainsAny(m, "\r\n") {
			d.errorAt(fmt.Sprintf("%s.mention[%d]", path, i), "%q is not a mention; want @here, @channel, @everyone or a Slack mention like <@U123>", m)
		}
	}
	if s.APIURL == nil {
		u, err := url.Parse(DefaultSlackAPIURL)
		if err != nil {
			panic(err) // a constant
		}
		s.APIURL = &URL{u}
	}
}

// secretURLProblem says what is wrong with an http(s) URL that is a
// secret, without quoting any of it; "" when nothing is.
func secretURLProblem(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "is not an http(s) URL"
	case u.Host == "":
		return "has no host"
	}
	return ""
}

// check validates a DSN without ever showing it: it holds a key. A DSN it
// accepts, sentry-go's NewDsn accepts too (TestSentryDSNAsSentryGo).
func (s *Sentry) check(d *decoder, path string) {
	if s.DSN == "" {
		d.errorAt(path+".dsn", "missing; want the project's DSN, like ${SENTRY_DSN}")
		return
	}
	if problem := dsnProblem(s.DSN); problem != "" {
		d.errorAt(path+".dsn", "is not a Sentry DSN (%s); want the form https://PUBLIC_KEY@HOST/PROJECT_ID (the value is not shown: it holds a key)", problem)
	}
}

// dsnProblem says what is wrong with a Sentry DSN without quoting any of
// it; "" when nothing is.
func dsnProblem(dsn string) string {
	u, err := url.Parse(dsn)
	switch {
	case err != nil:
		return "not a valid URL"
	case u.Scheme != "https" && u.Scheme != "http":
		return "not http:// or https://"
	case u.User.Username() == "":
		return "no public key"
	case u.Hostname() == "":
		return "no host"
	case u.Path == "" || strings.HasSuffix(u.Path, "/"):
		return "no project ID"
	}
	return ""
}

func (w *Webhook) check(d *decoder, path string) {
	if w.URL.URL == nil && !d.has(path+".url") {
		d.errorAt(path+".url", "missing; want the URL to post to")
	}
	if w.Timeout == 0 {
		w.Timeout = DefaultWebhookTimeout
	}
	if w.MaxAlerts < 0 {
		d.errorAt(path+".max_alerts", "%d is negative; want 0 (all) or more", w.MaxAlerts)
	}
	checkHeaders(d, path+".headers", w.Headers, "Content-Type")
}

// pathSegment is a receiver name that can stand in a URL path as it is.
var pathSegment = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)

func firstName(rs []Receiver) string {
	if len(rs) > 0 && rs[0].Name != "" {
		return rs[0].Name
	}
	return "NAME"
}

// Package rules evaluates Prometheus rule files (alerting and recording
// rules) with Prometheus's own PromQL engine over Lookout's store, and
// keeps each alert's state: inactive, pending, firing, resolved.
package rules

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"

	"github.com/lookout-dev/lookout/alerting"
)

// Rule is an alerting or a recording rule.
type Rule interface {
	Name() string
	Query() string
	Eval(ctx context.Context, ts time.Time, query QueryFunc, expand Expander) (promql.Vector, error)
}

// ruleHealth is what the API reports of a rule's last evaluation.
type ruleHealth struct {
	mu       sync.Mutex
	lastErr  string
	lastEval time.Time
	duration time.Duration
}

func (h *ruleHealth) set(ts time.Time, d time.Duration, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastEval, h.duration, h.lastErr = ts, d, ""
	if err != nil {
		h.lastErr = err.Error()
	}
}

func healthOf(r Rule) *ruleHealth {
	switch r := r.(type) {
	case *AlertingRule:
		return &r.health
	case *RecordingRule:
		return &r.health
	}
	return &ruleHealth{}
}

// Group is a list of rules evaluated in order at one interval.
type Group struct {
	Name     string
	File     string
	Interval time.Duration
	Rules    []Rule

	lastEval time.Time
	// previous holds, per rule, the series it wrote last time, so series
	// that stop get a staleness marker as in Prometheus.
	previous []map[uint64]labels.Labels
}

// Key identifies the group across reloads.
func (g *Group) Key() string { return g.File + ";" + g.Name }

// Storage is where rules read series and write what they record: float
// samples, and native histograms (which the storage may keep, but never
// modifies).
type Storage interface {
	storage.Queryable
	Append(ts time.Time, l labels.Labels, v float64) error
	AppendHistogram(ts time.Time, l labels.Labels, h *histogram.FloatHistogram) error
}

// Sender takes the alerts of every evaluation (the dispatcher).
type Sender interface {
	Put(alerts ...alerting.Alert)
}

// Options configure a Manager.
type Options struct {
	Storage Storage
	Sender  Sender
	// Interval is the base evaluation tick (alerting.evaluation_interval).
	Interval time.Duration
	// Ingest, when set, runs at each tick before any group is evaluated,
	// so rules see Lookout's series as of that tick.
	Ingest func(ts time.Time)
	// AfterTick, when set, runs after each tick's evaluations (the daemon
	// saves alert state there).
	AfterTick      func(ts time.Time)
	ExternalLabels map[string]string
	// ExternalURL is $externalURL in alert templates, and what their
	// externalURL and pathPrefix functions return (alerting.external_url).
	ExternalURL *url.URL
	Logger      *slog.Logger
	// QueryTimeout bounds one rule's query.
	QueryTimeout time.Duration
	// MaxSamples is the most samples one rule's query may load at once,
	// as in Prometheus's --query.max-samples; default DefaultMaxSamples.
	MaxSamples int
}

// DefaultMaxSamples is Options.MaxSamples unless set, as Prometheus's
// default --query.max-samples.
const DefaultMaxSamples = 50_000_000

// Manager evaluates rule groups on their intervals.
type Manager struct {
	opts   Options
	engine *promql.Engine
	expand Expander

	mu       sync.Mutex
	groups   []*Group
	names    map[string]bool // see MetricNames
	allNames bool
	// loaded are the names of the groups Update loaded: the rule_group
	// values that have series.
	loaded map[string]bool

	evalDuration prometheus.Histogram
	failures     *prometheus.CounterVec
	lastEval     *prometheus.GaugeVec
}

// NewManager returns a manager with no groups; its metrics go to reg.
func NewManager(opts Options, reg prometheus.Registerer) *Manager {
	if opts.QueryTimeout == 0 {
		opts.QueryTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxSamples == 0 {
		opts.MaxSamples = DefaultMaxSamples
	}
	m := &Manager{
		opts: opts,
		engine: promql.NewEngine(promql.EngineOpts{
			MaxSamples: opts.MaxSamples, Timeout: opts.QueryTimeout, LookbackDelta: 5 * time.Minute,
			EnableAtModifier: true, EnableNegativeOffset: true,
			NoStepSubqueryIntervalFn: func(int64) int64 { return opts.Interval.Milliseconds() },
		}),
		evalDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "lookout_rule_evaluation_duration_seconds", Help: "How long evaluating one rule took.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lookout_rule_evaluation_failures_total", Help: "Rule evaluations that failed.",
		}, []string{"rule_group"}),
		lastEval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "lookout_rule_group_last_evaluation_timestamp_seconds", Help: "When each rule group was last evaluated.",
		}, []string{"rule_group"}),
	}
	m.expand = Expander{Query: m.query, ExternalLabels: opts.ExternalLabels, ExternalURL: opts.ExternalURL}
	reg.MustRegister(m.evalDuration, m.failures, m.lastEval)
	return m
}

// query runs an instant query against the store; a scalar result becomes
// a one-sample vector, as in Prometheus.
func (m *Manager) query(ctx context.Context, q string, ts time.Time) (promql.Vector, error) {
	qry, err := m.engine.NewInstantQuery(ctx, m.opts.Storage, nil, q, ts)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		return promql.Vector{promql.Sample{T: v.T, F: v.V}}, nil
	}
	return nil, fmt.Errorf("rule result is a %s, want a vector or scalar", res.Value.Type())
}

// Update replaces the groups. An alerting rule with the same group, name
// and expression as before keeps its alerts, so a reload neither loses
// pending `for` clocks nor pages again. Each group's
// lookout_rule_evaluation_failures_total is there at 0 from now, as
// Prometheus does for its rule groups, so increase() counts the first
// failure; a group that is gone loses its series.
func (m *Manager) Update(groups []*Group) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groupSeries(groups)
	old := map[string]*AlertingRule{}
	for _, g := range m.groups {
		for _, r := range g.Rules {
			if ar, ok := r.(*AlertingRule); ok {
				old[g.Key()+";"+ar.name+";"+ar.Query()] = ar
			}
		}
	}
	for _, g := range groups {
		for _, r := range g.Rules {
			if ar, ok := r.(*AlertingRule); ok {
				if prev, ok := old[g.Key()+";"+ar.name+";"+ar.Query()]; ok {
					ar.Restore(prev.Alerts(), time.Time{})
				}
			}
		}
		if g.previous == nil {
			g.previous = make([]map[uint64]labels.Labels, len(g.Rules))
		}
	}
	m.groups = groups
	m.names, m.allNames = metricNames(groups)
}

// groupSeries makes the failure counter of every group in groups, at 0
// for a new one, and deletes the series of the loaded groups that are not
// in groups (by name: the rule_group label). m.mu is held.
func (m *Manager) groupSeries(groups []*Group) {
	keep := make(map[string]bool, len(groups))
	for _, g := range groups {
		keep[g.Name] = true
		m.failures.WithLabelValues(g.Name)
	}
	for name := range m.loaded {
		if !keep[name] {
			m.failures.DeleteLabelValues(name)
			m.lastEval.DeleteLabelValues(name)
		}
	}
	m.loaded = keep
}

// recordGroup runs record, which updates the series of the group named
// name, if Update has it loaded. Under m.mu, so an evaluation that a
// reload overtook cannot bring back the series of a group it removed.
func (m *Manager) recordGroup(name string, record func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loaded[name] {
		record()
	}
}

// Groups returns the current groups.
func (m *Manager) Groups() []*Group {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.groups
}

// Run ticks at the base interval until ctx is done: it ingests, then
// evaluates each group whose own interval has come round.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			// Evaluate at the planned time, not the ticker's jittery one:
			// evenly spaced timestamps compress to a bit each in the store.
			k := (now.Sub(start) + m.opts.Interval/2) / m.opts.Interval
			m.Tick(ctx, start.Add(k*m.opts.Interval))
		}
	}
}

// Tick ingests and evaluates the groups due at ts.
func (m *Manager) Tick(ctx context.Context, ts time.Time) {
	if m.opts.Ingest != nil {
		m.opts.Ingest(ts)
	}
	for _, g := range m.Groups() {
		interval := g.Interval
		if interval == 0 {
			interval = m.opts.Interval
		}
		if !g.lastEval.IsZero() && ts.Sub(g.lastEval) < interval-m.opts.Interval/2 {
			continue
		}
		m.EvalGroup(ctx, g, ts)
	}
	if m.opts.AfterTick != nil {
		m.opts.AfterTick(ts)
	}
}

// Logger is the manager's logger.
func (m *Manager) Logger() *slog.Logger { return m.opts.Logger }

// EvalGroup evaluates every rule of g at ts, writes recorded and ALERTS
// series to the store, and hands the alerts to the sender. The group's
// metrics count only while Update has a group of its name loaded.
func (m *Manager) EvalGroup(ctx context.Context, g *Group, ts time.Time) {
	g.lastEval = ts
	m.recordGroup(g.Name, func() { m.lastEval.WithLabelValues(g.Name).Set(float64(ts.UnixNano()) / 1e9) })
	if len(g.previous) != len(g.Rules) {
		g.previous = make([]map[uint64]labels.Labels, len(g.Rules))
	}
	for i, r := range g.Rules {
		start := time.Now()
		qctx, cancel := context.WithTimeout(ctx, m.opts.QueryTimeout)
		vec, err := r.Eval(qctx, ts, m.query, m.expand)
		cancel()
		took := time.Since(start)
		m.evalDuration.Observe(took.Seconds())
		healthOf(r).set(ts, took, err)
		if err != nil {
			m.recordGroup(g.Name, func() { m.failures.WithLabelValues(g.Name).Inc() })
			m.opts.Logger.Warn("rule evaluation failed", "group", g.Name, "rule", r.Name(), "err", err)
			continue
		}
		g.previous[i] = m.write(ts, vec, g.previous[i])
		if ar, ok := r.(*AlertingRule); ok && m.opts.Sender != nil {
			if alerts := ar.toSend(); len(alerts) > 0 {
				m.opts.Sender.Put(alerts...)
			}
		}
	}
}

// write appends vec, floats and native histograms, and a staleness
// marker for each series written last time but not now; it returns the
// series written.
func (m *Manager) write(ts time.Time, vec promql.Vector, previous map[uint64]labels.Labels) map[uint64]labels.Labels {
	now := make(map[uint64]labels.Labels, len(vec))
	for _, s := range vec {
		var err error
		if s.H != nil {
			err = m.opts.Storage.AppendHistogram(ts, s.Metric, s.H)
		} else {
			err = m.opts.Storage.Append(ts, s.Metric, s.F)
		}
		if err != nil {
			m.opts.Logger.Warn("store rule result", "series", s.Metric.String(), "err", err)
			continue
		}
		now[s.Metric.Hash()] = s.Metric
	}
	for h, l := range previous {
		if _, ok := now[h]; !ok {
			_ = m.opts.Storage.Append(ts, l, math.Float64frombits(value.StaleNaN))
		}
	}
	return now
}

// Health is what the API shows of a rule's last evaluation.
type Health struct {
	LastEvaluation time.Time     `json:"lastEvaluation"`
	EvaluationTime time.Duration `json:"-"`
	LastError      string        `json:"lastError,omitempty"`
}

// HealthOf returns the last evaluation of r.
func HealthOf(r Rule) Health {
	h := healthOf(r)
	h.mu.Lock()
	defer h.mu.Unlock()
	return Health{LastEvaluation: h.lastEval, EvaluationTime: h.duration, LastError: h.lastErr}
}

// MetricNames returns the metric names the rules' expressions select,
// so the daemon can keep only those series in the store. all is true when
// some selector has no fixed name (such as {job="x"} or {__name__=~"..."}):
// then every series is needed. It is worked out once per Update.
func (m *Manager) MetricNames() (names map[string]bool, all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.names, m.allNames
}

// metricNames walks the groups' expressions for MetricNames.
func metricNames(groups []*Group) (names map[string]bool, all bool) {
	names = map[string]bool{}
	for _, g := range groups {
		for _, r := range g.Rules {
			var expr parser.Expr
			switch r := r.(type) {
			case *AlertingRule:
				expr = r.expr
			case *RecordingRule:
				expr = r.expr
			default:
				return nil, true
			}
			parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
				vs, ok := node.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				named := false
				for _, lm := range vs.LabelMatchers {
					if lm.Name == labels.MetricName && lm.Type == labels.MatchEqual {
						names[lm.Value], named = true, true
					}
				}
				if !named {
					all = true
				}
				return nil
			})
		}
	}
	return names, all
}

// Package ruletest runs unit tests of rule files written in promtool's
// format (`rule_files`, `evaluation_interval`, `group_eval_order`,
// `fuzzy_compare`, and `tests` with `input_series`, `alert_rule_test` and
// `promql_expr_test`, native histograms, `external_labels`, `external_url`
// and `start_timestamp`) against Lookout's own rule engine and store, so
// teams can test their rules in CI with `lookout test rules`.
//
// A file gets promtool v0.316.0's verdict: input series and recorded
// histograms read back as from promtool's storage; values compare as
// promtool compares them, exactly or, with fuzzy_compare, within one ULP,
// and NaN equals nothing; a query may load promtool's 10,000 samples at
// most; a series given twice is the last one given. What promtool lets
// pass but is likely a mistake (a rule_files pattern that matches
// nothing, an alert test naming no alerting rule, a file without tests)
// passes with a warning. The reports are Lookout's own: every problem in
// a file at once, with file:line:col, and what differs in a failure.
package ruletest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"

	"github.com/lookout-dev/lookout/alerting/rules"
	"github.com/lookout-dev/lookout/alerting/store"
)

// epoch is where a test's time starts unless it sets start_timestamp,
// as in promtool.
var epoch = time.Unix(0, 0).UTC()

// Summary counts what Run did.
type Summary struct {
	Files, Tests int
	// Failed counts failed tests, plus files that could not be run.
	Failed int
}

// OK reports whether every test passed.
func (s Summary) OK() bool { return s.Failed == 0 }

// Run runs the tests in each file and writes a report to w: per file
// SUCCESS, or FAILED with each failure's test, time, alert or expression,
// and what was expected and got.
func Run(ctx context.Context, w io.Writer, files ...string) Summary {
	var sum Summary
	for _, f := range files {
		sum.Files++
		fmt.Fprintf(w, "Unit testing: %s\n", f)
		s, warnings, err := loadSuite(f)
		for _, warning := range warnings {
			fmt.Fprintf(w, "  WARNING: %s\n", warning)
		}
		if err != nil {
			sum.Failed++
			fmt.Fprintf(w, "  FAILED:\n%s\n\n", indent(err.Error(), "    "))
			continue
		}
		var failures []string
		for _, t := range s.tests {
			sum.Tests++
			if fs := s.run(ctx, t); len(fs) > 0 {
				sum.Failed++
				failures = append(failures, fs...)
			}
		}
		if len(failures) == 0 {
			fmt.Fprintf(w, "  SUCCESS: %d tests\n\n", len(s.tests))
			continue
		}
		fmt.Fprintf(w, "  FAILED:\n")
		for _, f := range failures {
			fmt.Fprintf(w, "%s\n\n", indent(f, "    "))
		}
	}
	fmt.Fprintf(w, "%d files, %d tests, %d failed\n", sum.Files, sum.Tests, sum.Failed)
	return sum
}

// run runs one test on a fresh store and fresh rules, and returns its
// failures.
func (s *suite) run(ctx context.Context, t *test) []string {
	groups, err := rules.Load(s.ruleFiles, nil)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", t.name, err)}
	}
	slices.SortStableFunc(groups, func(a, b *rules.Group) int { return cmp.Compare(s.order[a.Name], s.order[b.Name]) })
	for _, g := range groups {
		for i, r := range g.Rules {
			g.Rules[i] = withExternalURL{Rule: r, url: t.externalURL}
		}
	}
	st := store.New(store.Options{Retention: 100 * 365 * 24 * time.Hour})
	warns := &warnings{}
	m := rules.NewManager(rules.Options{
		Storage: newHeadStorage(st), Interval: s.evalInterval, ExternalLabels: t.externalLabels, Logger: slog.New(warns),
		MaxSamples: maxSamples, QueryTimeout: queryTimeout,
	}, prometheus.NewRegistry())

	in := newLoader(t.series)
	alerts := slices.SortedFunc(slices.Values(t.alerts), func(a, b alertTestCase) int { return cmp.Compare(a.EvalTime, b.EvalTime) })
	var failures []string
	for ts := time.Duration(0); ts <= t.maxEval; ts += s.evalInterval {
		if err := in.appendTill(st, t.start.Add(ts)); err != nil {
			return append(failures, fmt.Sprintf("%s: load input series: %v", t.name, err))
		}
		for _, g := range groups {
			m.EvalGroup(ctx, g, t.start.Add(ts))
		}
		if ws := warns.take(); len(ws) > 0 {
			for _, w := range ws {
				failures = append(failures, fmt.Sprintf("%s, time: %s: %s", t.name, model.Duration(ts), w))
			}
			return failures
		}
		// An alert test at eval_time is checked against the evaluation at
		// ts if ts <= eval_time < ts+evaluation_interval, as promtool does.
		for len(alerts) > 0 && time.Duration(alerts[0].EvalTime) < ts+s.evalInterval {
			if f := checkAlerts(groups, alerts[0]); f != "" {
				failures = append(failures, t.name+", "+f)
			}
			alerts = alerts[1:]
		}
	}
	// Expressions see the input loaded by the last evaluation, as in
	// promtool: an eval_time between evaluations sees no later sample.
	engine := newEngine(s.evalInterval)
	eq := floatEqual(s.fuzzy)
	for _, c := range t.exprs {
		if f := checkExpr(ctx, engine, st, t.start, c, eq); f != "" {
			failures = append(failures, t.name+", "+f)
		}
	}
	return failures
}

// promtool evaluates rules and expressions with promqltest's engine,
// which loads at most 10,000 samples per query and gives up on one after
// 100 s: a test it refuses for too many samples fails here the same way.
const (
	maxSamples   = 10_000
	queryTimeout = 100 * time.Second
)

// newEngine is a PromQL engine set up as the rule manager's.
func newEngine(interval time.Duration) *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		MaxSamples: maxSamples, Timeout: queryTimeout, LookbackDelta: 5 * time.Minute,
		EnableAtModifier: true, EnableNegativeOffset: true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return interval.Milliseconds() },
	})
}

// loader appends the input series to the store as time goes on, so rules
// that write to the store never write before an input sample.
type loader struct {
	series []series
	next   []int
}

func newLoader(s []series) *loader { return &loader{series: s, next: make([]int, len(s))} }

// appendTill appends the samples up to ts, in milliseconds as promtool
// counts them.
func (l *loader) appendTill(st *store.Store, ts time.Time) error {
	till := int64(ts.Sub(epoch) / time.Millisecond)
	for i, s := range l.series {
		for ; l.next[i] < len(s.samples) && s.samples[l.next[i]].t <= till; l.next[i]++ {
			smp := s.samples[l.next[i]]
			var err error
			if smp.h != nil {
				err = st.AppendHistogram(time.UnixMilli(smp.t), s.labels, smp.h)
			} else {
				err = st.Append(time.UnixMilli(smp.t), s.labels, smp.v)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// withExternalURL gives a rule's templates the test's external_url as
// $externalURL, as promtool does; the externalURL and pathPrefix
// template functions have no URL there.
type withExternalURL struct {
	rules.Rule
	url string
}

func (r withExternalURL) Eval(ctx context.Context, ts time.Time, query rules.QueryFunc, expand rules.Expander) (promql.Vector, error) {
	expand.ExternalURLVar = r.url
	return r.Rule.Eval(ctx, ts, query, expand)
}

// warnings is a slog handler that keeps the warnings and errors the rule
// manager logs, such as a rule whose evaluation failed.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w *warnings) WithGroup(string) slog.Handler                { return w }

func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, ", %s: %v", a.Key, a.Value)
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, b.String())
	return nil
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

package ruletest

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lookout-dev/lookout/alerting/rules"
)

// suite is a checked test file, ready to run.
type suite struct {
	file         string
	ruleFiles    []string
	evalInterval time.Duration
	order        map[string]int // group_eval_order
	tests        []*test
}

// test is one entry of tests:, its input expanded to samples.
type test struct {
	name           string // for reports: tests[i] and its name, if any
	series         []series
	alerts         []alertTestCase
	exprs          []exprCheck
	externalLabels map[string]string
	maxEval        time.Duration
}

// series is one input series and its samples, oldest first.
type series struct {
	labels  labels.Labels
	samples []sample
}

type sample struct {
	t time.Duration // since epoch 0
	v float64       // may be a staleness marker
}

type exprCheck struct {
	expr     string
	evalTime time.Duration
	want     []gotSample
}

// loadSuite reads and checks a test file: every problem in it is
// returned, each with file:line:col.
func loadSuite(file string) (*suite, error) {
	d, err := decodeFile(file)
	if err != nil {
		return nil, err
	}
	s := &suite{file: file, evalInterval: time.Duration(d.tf.EvaluationInterval), order: map[string]int{}}
	if s.evalInterval == 0 {
		s.evalInterval = time.Minute
	}
	ruleFiles, err := d.ruleFiles()
	errs := []error{err}
	s.ruleFiles = ruleFiles
	var alertNames map[string]bool // nil if the rules did not load
	if err == nil {
		groups, err := rules.Load(ruleFiles, nil)
		if err != nil {
			return nil, err
		}
		alertNames = map[string]bool{}
		for _, g := range groups {
			for _, r := range g.Rules {
				if _, ok := r.(*rules.AlertingRule); ok {
					alertNames[r.Name()] = true
				}
			}
		}
	}
	for i, name := range d.tf.GroupEvalOrder {
		if _, dup := s.order[name]; dup {
			errs = append(errs, d.errAt(fmt.Sprintf("group_eval_order[%d]", i), "group %q is listed twice", name))
		}
		s.order[name] = i
	}
	if len(d.tf.Tests) == 0 {
		errs = append(errs, d.errAt("tests", "no tests; want at least one"))
	}
	p := rules.NewParser()
	for i := range d.tf.Tests {
		t, err := d.test(i, s.evalInterval, alertNames, p)
		errs = append(errs, err)
		s.tests = append(s.tests, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// test checks tests[i] and expands its input series. An alert test must
// name an alerting rule in alertNames, unless that is nil.
func (d *decoded) test(i int, evalInterval time.Duration, alertNames map[string]bool, p parser.Parser) (*test, error) {
	tg := d.tf.Tests[i]
	path := fmt.Sprintf("tests[%d]", i)
	t := &test{name: path, externalLabels: tg.ExternalLabels}
	if tg.Name != "" {
		t.name = fmt.Sprintf("%s %q", path, tg.Name)
	}
	interval := time.Duration(tg.Interval)
	if interval == 0 {
		interval = evalInterval
	}
	var errs []error
	if tg.ExternalURL != "" {
		errs = append(errs, d.errAt(path+".external_url", "not supported by lookout test rules; remove it"))
	}
	if tg.StartTimestamp != "" {
		errs = append(errs, d.errAt(path+".start_timestamp", "not supported by lookout test rules; tests start at epoch 0"))
	}
	seen := map[uint64]int{}
	for j, in := range tg.InputSeries {
		sp := fmt.Sprintf("%s.input_series[%d]", path, j)
		ser, err := expandSeries(in, interval, p)
		if err != nil {
			errs = append(errs, d.errAt(sp+".values", "%v", err))
			continue
		}
		if k, dup := seen[ser.labels.Hash()]; dup {
			errs = append(errs, d.errAt(sp+".series", "%s is given already in input_series[%d]", ser.labels, k))
			continue
		}
		seen[ser.labels.Hash()] = j
		t.series = append(t.series, ser)
	}
	for j, a := range tg.AlertRuleTests {
		ap := fmt.Sprintf("%s.alert_rule_test[%d]", path, j)
		switch {
		case a.Alertname == "":
			errs = append(errs, d.errAt(ap, "alertname is missing; want the name of an alerting rule"))
		case alertNames != nil && !alertNames[a.Alertname]:
			errs = append(errs, d.errAt(ap+".alertname", "no alerting rule %q in rule_files", a.Alertname))
		}
		t.alerts = append(t.alerts, a)
		t.maxEval = max(t.maxEval, time.Duration(a.EvalTime))
	}
	for j, e := range tg.PromQLExprTests {
		c, err := d.exprCheck(fmt.Sprintf("%s.promql_expr_test[%d]", path, j), e, p)
		errs = append(errs, err)
		t.exprs = append(t.exprs, c)
		t.maxEval = max(t.maxEval, c.evalTime)
	}
	return t, errors.Join(errs...)
}

// exprCheck checks a promql_expr_test at path and parses its samples.
func (d *decoded) exprCheck(path string, e exprTestCase, p parser.Parser) (exprCheck, error) {
	c := exprCheck{expr: e.Expr, evalTime: time.Duration(e.EvalTime)}
	var errs []error
	if _, err := p.ParseExpr(e.Expr); err != nil {
		errs = append(errs, d.errAt(path+".expr", "%v", err))
	}
	for k, smp := range e.ExpSamples {
		sp := fmt.Sprintf("%s.exp_samples[%d]", path, k)
		if smp.Histogram != "" {
			errs = append(errs, d.errAt(sp+".histogram", "native histograms are not supported by lookout test rules"))
			continue
		}
		l, err := p.ParseMetric(smp.Labels)
		if err != nil {
			errs = append(errs, d.errAt(sp+".labels", "%q: %v; want labels like '{job=\"api\"}' or 'up{job=\"api\"}'", smp.Labels, err))
			continue
		}
		c.want = append(c.want, gotSample{labels: l, value: smp.Value})
	}
	return c, errors.Join(errs...)
}

// expandSeries expands promtool's series notation: sample k is at
// k*interval; `_` leaves a gap and `stale` writes a staleness marker.
func expandSeries(in inputSeries, interval time.Duration, p parser.Parser) (series, error) {
	l, vals, err := p.ParseSeriesDesc(in.Series + " " + in.Values)
	if err != nil {
		return series{}, fmt.Errorf("series %q values %q: %w", in.Series, in.Values, err)
	}
	if l.IsEmpty() {
		return series{}, fmt.Errorf("series %q has no labels; want one like 'up{job=\"api\"}'", in.Series)
	}
	s := series{labels: l}
	for k, v := range vals {
		switch {
		case v.Omitted:
			continue
		case v.Histogram != nil:
			return series{}, errors.New("native histogram values are not supported by lookout test rules")
		}
		s.samples = append(s.samples, sample{t: time.Duration(k) * interval, v: v.Value})
	}
	return s, nil
}

// almostEqual compares values with a small relative tolerance; NaN
// equals NaN.
func almostEqual(a, b float64) bool {
	if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
		return true
	}
	const eps = 1e-9
	return math.Abs(a-b) <= eps*max(math.Abs(a), math.Abs(b)) || math.Abs(a-b) < 1e-12
}

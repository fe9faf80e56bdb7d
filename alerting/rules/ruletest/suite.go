package ruletest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
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
	fuzzy        bool           // fuzzy_compare
	tests        []*test
}

// test is one entry of tests:, its input expanded to samples.
type test struct {
	name           string    // for reports: tests[i] and its name, if any
	start          time.Time // start_timestamp; eval_time counts from it
	series         []series
	alerts         []alertTestCase
	exprs          []exprCheck
	externalLabels map[string]string
	externalURL    string
	maxEval        time.Duration
}

// series is one input series and its samples, oldest first.
type series struct {
	labels  labels.Labels
	samples []sample
}

type sample struct {
	t int64                     // milliseconds since epoch 0
	v float64                   // may be a staleness marker
	h *histogram.FloatHistogram // a native histogram sample, if set
}

type exprCheck struct {
	expr     string
	evalTime time.Duration
	want     []gotSample
}

// loadSuite reads and checks a test file: every problem in it is
// returned, each with file:line:col, and so is each warning: what
// promtool lets pass but is likely a mistake.
func loadSuite(file string) (*suite, []string, error) {
	d, err := decodeFile(file)
	if err != nil {
		return nil, nil, err
	}
	s, err := d.suite()
	return s, d.warnings, err
}

func (d *decoded) suite() (*suite, error) {
	s := &suite{file: d.file, evalInterval: time.Duration(d.tf.EvaluationInterval), order: map[string]int{}, fuzzy: d.tf.FuzzyCompare}
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
		d.warn("tests", "no tests; the file passes without any, as in promtool")
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

// test checks tests[i] and expands its input series. An alert test that
// names no alerting rule in alertNames (unless that is nil) gets a
// warning: promtool runs it, and it passes if it expects no alert.
func (d *decoded) test(i int, evalInterval time.Duration, alertNames map[string]bool, p parser.Parser) (*test, error) {
	tg := d.tf.Tests[i]
	path := fmt.Sprintf("tests[%d]", i)
	t := &test{name: path, start: epoch, externalLabels: tg.ExternalLabels, externalURL: tg.ExternalURL}
	if tg.Name != "" {
		t.name = fmt.Sprintf("%s %q", path, tg.Name)
	}
	interval := time.Duration(tg.Interval)
	if interval == 0 {
		interval = evalInterval
	}
	var errs []error
	if n := d.pos[path+".start_timestamp"]; n != nil && n.Tag != "!!null" {
		start, err := parseStart(tg.StartTimestamp)
		switch {
		case err != nil:
			errs = append(errs, d.errAt(path+".start_timestamp", "%q is not a time; want RFC 3339, like 2024-01-01T00:00:00Z, or Unix seconds, like 1704067200", tg.StartTimestamp))
		case !start.IsZero():
			t.start = start
		}
	}
	// A series given twice is the last one given, as in promtool, which
	// says nothing of it: the first is not even checked beyond its syntax.
	type input struct {
		path string
		parsedInput
	}
	var inputs []input
	last := map[uint64]int{} // index in inputs, by labels
	for j, in := range tg.InputSeries {
		sp := fmt.Sprintf("%s.input_series[%d]", path, j)
		pi, err := parseInput(in, p)
		if err != nil {
			errs = append(errs, d.errAt(sp+".values", "%v", err))
			continue
		}
		if k, dup := last[pi.labels.Hash()]; dup {
			inputs[k] = input{sp, pi}
			continue
		}
		last[pi.labels.Hash()] = len(inputs)
		inputs = append(inputs, input{sp, pi})
	}
	for _, in := range inputs {
		ser, err := in.expand(t.start, interval)
		if err != nil {
			errs = append(errs, d.errAt(in.path+".values", "%v", err))
			continue
		}
		t.series = append(t.series, ser)
	}
	for j, a := range tg.AlertRuleTests {
		ap := fmt.Sprintf("%s.alert_rule_test[%d]", path, j)
		switch {
		case a.Alertname == "":
			errs = append(errs, d.errAt(ap, "alertname is missing; want the name of an alerting rule"))
		case alertNames != nil && !alertNames[a.Alertname]:
			d.warn(ap+".alertname", "no alerting rule %q in rule_files, so no alert of that name can fire", a.Alertname)
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
		want := gotSample{value: smp.Value}
		var err error
		if want.labels, err = p.ParseMetric(smp.Labels); err != nil {
			errs = append(errs, d.errAt(sp+".labels", "%q: %v; want labels like '{job=\"api\"}' or 'up{job=\"api\"}'", smp.Labels, err))
		}
		if smp.Histogram != "" {
			h, herr := parseHistogram(smp.Histogram, p)
			if herr != nil {
				errs = append(errs, d.errAt(sp+".histogram", "%q: %v; want one histogram like '{{schema:0 count:4 sum:5 buckets:[1 2 1]}}'", smp.Histogram, herr))
			} else {
				want.hist = h.TestExpression()
			}
			err = errors.Join(err, herr)
		}
		if err == nil {
			c.want = append(c.want, want)
		}
	}
	return c, errors.Join(errs...)
}

// parseHistogram parses one histogram in series notation, as promtool
// parses an expected one: it is not validated, since query results may
// hold negative buckets.
func parseHistogram(s string, p parser.Parser) (*histogram.FloatHistogram, error) {
	_, vals, err := p.ParseSeriesDesc("{} " + s)
	switch {
	case err != nil:
		return nil, err
	case len(vals) != 1:
		return nil, fmt.Errorf("%d values", len(vals))
	case vals[0].Histogram == nil:
		return nil, errors.New("not a histogram")
	}
	return vals[0].Histogram, nil
}

// parseStart parses start_timestamp as promtool does: Unix seconds, with
// a fraction if need be, or RFC 3339.
func parseStart(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// parsedInput is an input series in promtool's series notation, parsed.
type parsedInput struct {
	in     inputSeries
	labels labels.Labels
	vals   []parser.SequenceValue
}

// parseInput parses an input series, floats and native histograms.
func parseInput(in inputSeries, p parser.Parser) (parsedInput, error) {
	l, vals, err := p.ParseSeriesDesc(in.Series + " " + in.Values)
	if err != nil {
		return parsedInput{}, fmt.Errorf("series %q values %q: %w", in.Series, in.Values, err)
	}
	if l.IsEmpty() {
		return parsedInput{}, fmt.Errorf("series %q has no labels; want one like 'up{job=\"api\"}'", in.Series)
	}
	return parsedInput{in: in, labels: l, vals: vals}, nil
}

// expand expands the series' values: sample k is at start+k*interval;
// `_` leaves a gap and `stale` writes a staleness marker. A histogram
// must be valid, as Prometheus's TSDB wants it, and gets the counter
// reset hint the TSDB would give it (see headHints).
func (pi parsedInput) expand(start time.Time, interval time.Duration) (series, error) {
	s := series{labels: pi.labels}
	for k, v := range pi.vals {
		if v.Omitted {
			continue
		}
		at := time.Duration(k) * interval
		if v.Histogram != nil {
			if err := v.Histogram.Validate(); err != nil {
				return series{}, fmt.Errorf("series %q: the histogram at %s is invalid: %w", pi.in.Series, model.Duration(at), err)
			}
		}
		s.samples = append(s.samples, sample{t: start.Add(at).UnixNano() / int64(time.Millisecond), v: v.Value, h: v.Histogram})
	}
	headHints(s.samples)
	return s, nil
}

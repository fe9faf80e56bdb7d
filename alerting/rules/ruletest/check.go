package ruletest

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/lookout-dev/lookout/alerting/rules"
)

// firing is an alert as a test states it: its labels without alertname,
// and its annotations.
type firing struct {
	labels, annotations labels.Labels
}

func (f firing) String() string {
	return f.labels.String() + " annotations " + f.annotations.String()
}

// checkAlerts compares the firing alerts named tc.Alertname, across every
// group, with tc's expected alerts, in any order. It returns "" when they
// match, or what differs.
func checkAlerts(groups []*rules.Group, tc alertTestCase) string {
	var got []firing
	for _, g := range groups {
		for _, r := range g.Rules {
			if w, ok := r.(withExternalURL); ok {
				r = w.Rule
			}
			ar, ok := r.(*rules.AlertingRule)
			if !ok || ar.Name() != tc.Alertname {
				continue
			}
			for _, a := range ar.Alerts() {
				if a.State == rules.StateFiring {
					l := labels.NewBuilder(a.Labels).Del(labels.AlertName).Labels()
					got = append(got, firing{labels: l, annotations: a.Annotations})
				}
			}
		}
	}
	want := make([]firing, 0, len(tc.ExpAlerts))
	for _, e := range tc.ExpAlerts {
		l := labels.NewBuilder(labels.FromMap(e.ExpLabels)).Del(labels.AlertName).Labels()
		want = append(want, firing{labels: l, annotations: labels.FromMap(e.ExpAnnotations)})
	}
	same := func(a, b firing) bool {
		return labels.Equal(a.labels, b.labels) && labels.Equal(a.annotations, b.annotations)
	}
	missing, unexpected := diff(want, got, same)
	if len(missing) == 0 && len(unexpected) == 0 {
		return ""
	}
	out := fmt.Sprintf("alertname: %s, time: %s:\n%s", tc.Alertname, tc.EvalTime,
		report("firing alerts", want, got, missing, unexpected))
	if len(missing) == 1 && len(unexpected) == 1 {
		d := append(labelDiff("label ", missing[0].labels, unexpected[0].labels),
			labelDiff("annotation ", missing[0].annotations, unexpected[0].annotations)...)
		out += "\n  differs in: " + strings.Join(d, "; ")
	}
	return out
}

// gotSample is one sample of a query result, or an expected one.
type gotSample struct {
	labels labels.Labels
	value  float64 // 0 for a histogram sample
	// hist is a native histogram in promtool's notation, which is how
	// promtool compares them: exactly, with the counter reset hint; ""
	// for a float sample.
	hist string
}

func (s gotSample) String() string {
	if s.hist != "" && s.value != 0 {
		return s.labels.String() + " " + s.hist + " value " + fmtFloat(s.value)
	}
	if s.hist != "" {
		return s.labels.String() + " " + s.hist
	}
	return s.labels.String() + " " + fmtFloat(s.value)
}

// floatEqual is how values compare: exactly, as promtool does, or, with
// fuzzy_compare, within one ULP (math.Nextafter either way), as
// promtool's fuzzy comparer does. Either way NaN equals nothing, not even
// NaN, as with promtool's == (a staleness marker is never in a query
// result).
func floatEqual(fuzzy bool) func(a, b float64) bool {
	if !fuzzy {
		return func(a, b float64) bool { return a == b }
	}
	return func(a, b float64) bool { return a == b || oneULP(a, b) }
}

// oneULP reports whether b is the float next to a.
func oneULP(a, b float64) bool {
	return math.Nextafter(a, math.Inf(-1)) == b || math.Nextafter(a, math.Inf(1)) == b
}

// checkExpr runs c's instant query at start plus its eval_time and
// compares the result with the expected samples, in any order; eq
// compares values.
func checkExpr(ctx context.Context, engine *promql.Engine, q storage.Queryable, start time.Time, c exprCheck, eq func(a, b float64) bool) string {
	head := fmt.Sprintf("expr: %q, time: %s", c.expr, model.Duration(c.evalTime))
	qry, err := engine.NewInstantQuery(ctx, q, nil, c.expr, start.Add(c.evalTime))
	if err != nil {
		return head + ": " + err.Error()
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return head + ": " + res.Err.Error()
	}
	var got []gotSample
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			g := gotSample{labels: s.Metric, value: s.F}
			if s.H != nil {
				g.hist = s.H.TestExpression()
			}
			got = append(got, g)
		}
	case promql.Scalar:
		got = append(got, gotSample{labels: labels.EmptyLabels(), value: v.V})
	default:
		return fmt.Sprintf("%s: result is a %s; want a vector or a scalar", head, res.Value.Type())
	}
	same := func(a, b gotSample) bool {
		return labels.Equal(a.labels, b.labels) && a.hist == b.hist && eq(a.value, b.value)
	}
	missing, unexpected := diff(c.want, got, same)
	if len(missing) == 0 && len(unexpected) == 0 {
		return ""
	}
	out := head + ":\n" + report("samples", c.want, got, missing, unexpected)
	if len(missing) == 1 && len(unexpected) == 1 {
		w, g := missing[0], unexpected[0]
		d := labelDiff("label ", w.labels, g.labels)
		if w.hist != g.hist {
			d = append(d, fmt.Sprintf("histogram: expected %s, got %s", orNone(w.hist), orNone(g.hist)))
		}
		if !eq(w.value, g.value) {
			d = append(d, fmt.Sprintf("value: expected %s, got %s%s", fmtFloat(w.value), fmtFloat(g.value), valueHint(w.value, g.value)))
		}
		out += "\n  differs in: " + strings.Join(d, "; ")
	}
	return out
}

// valueHint says why two values that look alike differ.
func valueHint(want, got float64) string {
	switch {
	case math.IsNaN(want) || math.IsNaN(got):
		return " (NaN equals nothing, not even NaN, as in promtool)"
	case oneULP(want, got):
		return " (one ULP apart: fuzzy_compare: true accepts that)"
	}
	return ""
}

// labelDiff names each label whose value differs between want and got.
func labelDiff(kind string, want, got labels.Labels) []string {
	var out []string
	quote := func(l labels.Labels, name string) string {
		if !l.Has(name) {
			return "none"
		}
		return strconv.Quote(l.Get(name))
	}
	names := map[string]bool{}
	for _, l := range []labels.Labels{want, got} {
		l.Range(func(lb labels.Label) { names[lb.Name] = true })
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		if w, g := quote(want, n), quote(got, n); w != g {
			out = append(out, fmt.Sprintf("%s%s: expected %s, got %s", kind, n, w, g))
		}
	}
	return out
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// diff matches want and got one to one and returns what is left of each.
func diff[T any](want, got []T, same func(a, b T) bool) (missing, unexpected []T) {
	unexpected = slices.Clone(got)
	for _, w := range want {
		i := slices.IndexFunc(unexpected, func(g T) bool { return same(w, g) })
		if i < 0 {
			missing = append(missing, w)
			continue
		}
		unexpected = slices.Delete(unexpected, i, i+1)
	}
	return missing, unexpected
}

// report writes expected and got in full, then what is missing and what
// is unexpected, so a one-label difference stands out.
func report[T fmt.Stringer](what string, want, got, missing, unexpected []T) string {
	var b strings.Builder
	list := func(title string, xs []T) {
		fmt.Fprintf(&b, "  %s (%d):", title, len(xs))
		if len(xs) == 0 {
			b.WriteString(" none")
		}
		for _, x := range xs {
			fmt.Fprintf(&b, "\n    %s", x)
		}
		b.WriteString("\n")
	}
	list("expected "+what, want)
	list("got "+what, got)
	// Worth saying only when some did match.
	if len(missing) > 0 && len(missing) < len(want) {
		list("missing", missing)
	}
	if len(unexpected) > 0 && len(unexpected) < len(got) {
		list("unexpected", unexpected)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

package rules

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// RecordingRule stores the result of an expression as a new series.
type RecordingRule struct {
	name   string
	expr   parser.Expr
	labels labels.Labels
	file   string
	health ruleHealth
}

// NewRecordingRule builds a recording rule.
func NewRecordingRule(name string, expr parser.Expr, lbls labels.Labels, file string) *RecordingRule {
	return &RecordingRule{name: name, expr: expr, labels: lbls, file: file}
}

// Name is the recorded metric name.
func (r *RecordingRule) Name() string { return r.name }

// Query is the rule's expression.
func (r *RecordingRule) Query() string { return r.expr.String() }

// Eval evaluates the rule at ts and returns the samples to record.
func (r *RecordingRule) Eval(ctx context.Context, ts time.Time, query QueryFunc, _ Expander) (promql.Vector, error) {
	vec, err := query(ctx, r.expr.String(), ts)
	if err != nil {
		return nil, err
	}
	seen := make(map[uint64]bool, len(vec))
	for i := range vec {
		lb := labels.NewBuilder(vec[i].Metric)
		lb.Set(labels.MetricName, r.name)
		r.labels.Range(func(l labels.Label) { lb.Set(l.Name, l.Value) })
		vec[i].Metric = lb.Labels()
		h := vec[i].Metric.Hash()
		if seen[h] {
			return nil, errors.New("vector contains metrics with the same labelset after applying rule labels")
		}
		seen[h] = true
	}
	return vec, nil
}
